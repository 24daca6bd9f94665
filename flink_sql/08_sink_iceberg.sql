-- ============================================================================================
-- 08 · The Iceberg lake: bronze (as received), silver (clean ticks, bars), gold (indicators, signals)
-- Append-only; a commit per checkpoint. Times are stored as timestamptz (UTC).
-- Read them from Python: marketpipe.lake.load_table('silver.bars_1m') (pyiceberg SqlCatalog).
-- ============================================================================================

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.bronze.ticks_raw (
    payload STRING, kind STRING, kafka_partition INT, kafka_offset BIGINT,
    kafka_ts TIMESTAMP_LTZ(6), event_time TIMESTAMP_LTZ(6)
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.ticks_clean (
    symbol STRING, event_time TIMESTAMP_LTZ(6), ts_ns BIGINT, price DOUBLE, size BIGINT,
    exchange STRING, conditions STRING, trade_id STRING, kafka_partition INT, kafka_offset BIGINT
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.bars_1m (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), bar_end TIMESTAMP_LTZ(6), `open` DOUBLE, high DOUBLE,
    low DOUBLE, `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.gold.indicators_1m (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), `close` DOUBLE, ema_12 DOUBLE, ema_26 DOUBLE,
    rsi_14 DOUBLE, macd DOUBLE, macd_signal DOUBLE, macd_hist DOUBLE, is_warm BOOLEAN
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.gold.signals (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), strategy STRING, action STRING, reason STRING,
    `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE
);

INSERT INTO {{iceberg_catalog}}.bronze.ticks_raw
SELECT payload, kind, kafka_partition, kafka_offset, kafka_ts, event_time FROM ticks_raw;

INSERT INTO {{iceberg_catalog}}.silver.ticks_clean
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, kafka_offset
FROM ticks_clean;

INSERT INTO {{iceberg_catalog}}.silver.bars_1m
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), CAST(bar_end AS TIMESTAMP_LTZ(3)), `open`, high, low,
       `close`, volume, vwap, trade_count
FROM bars_1m;

INSERT INTO {{iceberg_catalog}}.gold.indicators_1m
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), `close`, ema_12, ema_26, rsi_14, macd, macd_signal,
       macd_hist, is_warm
FROM indicators_1m;

INSERT INTO {{iceberg_catalog}}.gold.signals
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), strategy, action, reason, `close`, macd_hist, rsi_14
FROM signals;
