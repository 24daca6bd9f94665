-- ============================================================================================
-- 23 · Job `indicators` — sinks
-- Kafka topic `signals`; PostgreSQL tables indicators_1m and signals (JDBC upsert on the key);
-- Iceberg gold.indicators_1m and gold.signals (append-only, a commit per checkpoint).
-- ============================================================================================

-- ---- Kafka

CREATE TABLE kafka_signals (
    symbol STRING, bar_start TIMESTAMP(3), strategy STRING, action STRING, reason STRING,
    `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_signals}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'key.format' = 'raw', 'key.fields' = 'symbol', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

-- ---- PostgreSQL

CREATE TABLE pg_indicators_1m (
    symbol STRING, bar_start TIMESTAMP(3), `close` DOUBLE, ema_12 DOUBLE, ema_26 DOUBLE, rsi_14 DOUBLE,
    macd DOUBLE, macd_signal DOUBLE, macd_hist DOUBLE, is_warm BOOLEAN,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = 'indicators_1m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_signals (
    symbol STRING, bar_start TIMESTAMP(3), strategy STRING, action STRING, reason STRING,
    `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE,
    PRIMARY KEY (symbol, bar_start, strategy) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = 'signals',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

-- ---- Iceberg

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.gold.indicators_1m (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), `close` DOUBLE, ema_12 DOUBLE, ema_26 DOUBLE,
    rsi_14 DOUBLE, macd DOUBLE, macd_signal DOUBLE, macd_hist DOUBLE, is_warm BOOLEAN
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.gold.signals (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), strategy STRING, action STRING, reason STRING,
    `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE
);

-- ---- what flows where

INSERT INTO kafka_signals
SELECT symbol, bar_start, strategy, action, reason, `close`, macd_hist, rsi_14 FROM signals;

INSERT INTO pg_indicators_1m
SELECT symbol, bar_start, `close`, ema_12, ema_26, rsi_14, macd, macd_signal, macd_hist, is_warm
FROM indicators_1m;

INSERT INTO pg_signals
SELECT symbol, bar_start, strategy, action, reason, `close`, macd_hist, rsi_14 FROM signals;

INSERT INTO {{iceberg_catalog}}.gold.indicators_1m
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), `close`, ema_12, ema_26, rsi_14, macd, macd_signal,
       macd_hist, is_warm
FROM indicators_1m;

INSERT INTO {{iceberg_catalog}}.gold.signals
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), strategy, action, reason, `close`, macd_hist, rsi_14
FROM signals;
