-- ============================================================================================
-- 23 · Job `indicators` (and `marketpipe backfill`) — sinks
-- PostgreSQL tables indicators_{{timeframe}} and signals (JDBC upsert on the key); Iceberg
-- gold.indicators_{{timeframe}} and gold.signals (append-only, a commit per checkpoint, or at the end
-- of a batch backfill). The Kafka topic `signals` is in 24 (streaming only).
-- ============================================================================================

-- ---- PostgreSQL

CREATE TABLE pg_indicators (
    symbol STRING, bar_start TIMESTAMP(3), `close` DOUBLE, volume BIGINT,
    ema_12 DOUBLE,
    ema_26 DOUBLE,
    rsi_14 DOUBLE,
    rsi_14_prev DOUBLE,
    macd DOUBLE,
    macd_signal DOUBLE,
    macd_hist DOUBLE,
    macd_hist_prev DOUBLE,
    sma_20 DOUBLE,
    bb_middle DOUBLE,
    bb_upper DOUBLE,
    bb_lower DOUBLE,
    atr_14 DOUBLE,
    stoch_k DOUBLE,
    stoch_d DOUBLE,
    vwap_session DOUBLE,
    volume_sma_20 DOUBLE,
    is_warm BOOLEAN,
    ema_12_warm BOOLEAN,
    ema_26_warm BOOLEAN,
    rsi_14_warm BOOLEAN,
    macd_warm BOOLEAN,
    sma_20_warm BOOLEAN,
    bb_warm BOOLEAN,
    atr_14_warm BOOLEAN,
    stoch_warm BOOLEAN,
    vwap_warm BOOLEAN,
    volume_sma_20_warm BOOLEAN,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.indicators_{{timeframe}}',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_signals (
    symbol STRING, timeframe STRING, bar_start TIMESTAMP(3), strategy STRING, action STRING, reason STRING,
    `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE,
    PRIMARY KEY (symbol, timeframe, bar_start, strategy) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.signals',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

-- ---- Iceberg

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.{{lake_gold}}.indicators_{{timeframe}} (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), `close` DOUBLE, volume BIGINT,
    ema_12 DOUBLE,
    ema_26 DOUBLE,
    rsi_14 DOUBLE,
    rsi_14_prev DOUBLE,
    macd DOUBLE,
    macd_signal DOUBLE,
    macd_hist DOUBLE,
    macd_hist_prev DOUBLE,
    sma_20 DOUBLE,
    bb_middle DOUBLE,
    bb_upper DOUBLE,
    bb_lower DOUBLE,
    atr_14 DOUBLE,
    stoch_k DOUBLE,
    stoch_d DOUBLE,
    vwap_session DOUBLE,
    volume_sma_20 DOUBLE,
    is_warm BOOLEAN,
    ema_12_warm BOOLEAN,
    ema_26_warm BOOLEAN,
    rsi_14_warm BOOLEAN,
    macd_warm BOOLEAN,
    sma_20_warm BOOLEAN,
    bb_warm BOOLEAN,
    atr_14_warm BOOLEAN,
    stoch_warm BOOLEAN,
    vwap_warm BOOLEAN,
    volume_sma_20_warm BOOLEAN
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.{{lake_gold}}.signals (
    symbol STRING, timeframe STRING, bar_start TIMESTAMP_LTZ(6), strategy STRING, action STRING,
    reason STRING, `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE
);

-- ---- what flows where

INSERT INTO pg_indicators
SELECT symbol, bar_start, `close`, volume, ema_12, ema_26, rsi_14, rsi_14_prev, macd, macd_signal, macd_hist, macd_hist_prev, sma_20, bb_middle, bb_upper, bb_lower, atr_14, stoch_k, stoch_d, vwap_session, volume_sma_20, is_warm, ema_12_warm, ema_26_warm, rsi_14_warm, macd_warm, sma_20_warm, bb_warm, atr_14_warm, stoch_warm, vwap_warm, volume_sma_20_warm
FROM indicators_{{timeframe}};

INSERT INTO pg_signals
SELECT symbol, '{{timeframe}}', bar_start, strategy, action, reason, `close`, macd_hist, rsi_14 FROM signals;

INSERT INTO {{iceberg_catalog}}.{{lake_gold}}.indicators_{{timeframe}}
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), `close`, volume, ema_12, ema_26, rsi_14, rsi_14_prev, macd, macd_signal, macd_hist, macd_hist_prev, sma_20, bb_middle, bb_upper, bb_lower, atr_14, stoch_k, stoch_d, vwap_session, volume_sma_20, is_warm, ema_12_warm, ema_26_warm, rsi_14_warm, macd_warm, sma_20_warm, bb_warm, atr_14_warm, stoch_warm, vwap_warm, volume_sma_20_warm
FROM indicators_{{timeframe}};

INSERT INTO {{iceberg_catalog}}.{{lake_gold}}.signals
SELECT symbol, '{{timeframe}}', CAST(bar_start AS TIMESTAMP_LTZ(3)), strategy, action, reason, `close`,
       macd_hist, rsi_14
FROM signals;
