-- ============================================================================================
-- 13 · Job `bars` — sinks
-- Kafka (JSON values, keyed by symbol where there is one):
--   ticks.clean  clean ticks        ticks.dlq  rejected ticks with a reason        bars.1m  one-minute bars
-- PostgreSQL (JDBC upsert on the primary key: INSERT ... ON CONFLICT DO UPDATE; tables created by
-- `marketpipe stack up` from marketpipe/stack/postgres_schema.sql). Rows are flushed every
-- {{jdbc_flush_interval_ms}} ms, after 500 rows and on every checkpoint; at-least-once delivery is made
-- idempotent by the key.
-- Iceberg lake, append-only, a commit per checkpoint: bronze.ticks_raw (every record as received,
-- heartbeats included), silver.ticks_clean, silver.bars_1m. Times are stored as timestamptz (UTC).
-- ============================================================================================

-- ---- Kafka

CREATE TABLE kafka_ticks_clean (
    symbol STRING, event_time TIMESTAMP_LTZ(3), ts_ns BIGINT, price DOUBLE, size BIGINT,
    exchange STRING, conditions STRING, trade_id STRING
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_clean}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'key.format' = 'raw', 'key.fields' = 'symbol', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TABLE kafka_ticks_dlq (
    kafka_partition INT, kafka_offset BIGINT, reason STRING, symbol STRING, payload STRING,
    received_at TIMESTAMP_LTZ(3)
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_dlq}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'format' = 'json'
);

CREATE TABLE kafka_bars_1m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_bars}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'key.format' = 'raw', 'key.fields' = 'symbol', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

-- ---- PostgreSQL

CREATE TABLE pg_bars_1m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = 'bars_1m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_ticks_dlq (
    kafka_partition INT, kafka_offset BIGINT, reason STRING, symbol STRING, payload STRING,
    received_at TIMESTAMP(3),
    PRIMARY KEY (kafka_partition, kafka_offset) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = 'ticks_dlq',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

-- ---- Iceberg

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.bronze.ticks_raw (
    payload STRING, kind STRING, ts_ns BIGINT, kafka_partition INT, kafka_offset BIGINT,
    kafka_ts TIMESTAMP_LTZ(6)
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.ticks_clean (
    symbol STRING, event_time TIMESTAMP_LTZ(6), ts_ns BIGINT, price DOUBLE, size BIGINT,
    exchange STRING, conditions STRING, trade_id STRING, kafka_partition INT, kafka_offset BIGINT
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.bars_1m (
    symbol STRING, bar_start TIMESTAMP_LTZ(6), bar_end TIMESTAMP_LTZ(6), `open` DOUBLE, high DOUBLE,
    low DOUBLE, `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT
);

-- ---- what flows where

INSERT INTO kafka_ticks_clean
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id FROM ticks_clean;

INSERT INTO kafka_ticks_dlq SELECT * FROM ticks_rejected;

INSERT INTO kafka_bars_1m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count FROM bars_1m;

INSERT INTO pg_bars_1m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count FROM bars_1m;

INSERT INTO pg_ticks_dlq
SELECT kafka_partition, kafka_offset, reason, symbol, payload, CAST(received_at AS TIMESTAMP(3))
FROM ticks_rejected;

INSERT INTO {{iceberg_catalog}}.bronze.ticks_raw
SELECT payload, kind, ts_ns, kafka_partition, kafka_offset, kafka_ts FROM ticks_raw;

INSERT INTO {{iceberg_catalog}}.silver.ticks_clean
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, kafka_offset
FROM ticks_clean;

INSERT INTO {{iceberg_catalog}}.silver.bars_1m
SELECT symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), CAST(bar_end AS TIMESTAMP_LTZ(3)), `open`, high, low,
       `close`, volume, vwap, trade_count
FROM bars_1m;
