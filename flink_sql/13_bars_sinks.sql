-- ============================================================================================
-- 13 · Job `bars` — sinks
-- Kafka (JSON values, keyed by symbol where there is one):
--   ticks.clean   clean ticks           ticks.dlq     dead-lettered ticks with a reason
--   bars.1m       one-minute bars       bars.rollups  5m / 15m / 1h / 1d bars (`timeframe` field)
--   A revised bar is sent again with its `revision` one higher: consumers keep the highest.
-- PostgreSQL (JDBC upsert on the primary key: INSERT ... ON CONFLICT DO UPDATE; tables created by
-- `marketpipe stack up` from marketpipe/stack/postgres_schema.sql): bars_1m, bars_5m, bars_15m,
-- bars_1h, bars_1d — a revision updates its row in place. Rows are flushed every
-- {{jdbc_flush_interval_ms}} ms, after 500 rows and on every checkpoint; at-least-once delivery is made
-- idempotent by the key.
-- Iceberg lake, append-only, a commit per checkpoint: bronze.ticks_raw (every record as received,
-- heartbeats included), silver.ticks_clean, silver.bars (every timeframe; a revision is a new row
-- with a higher `revision`: readers take the highest per key — pyiceberg cannot read the equality
-- deletes an in-place update would need). Times are stored as timestamptz (UTC).
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
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_bars}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'key.format' = 'raw', 'key.fields' = 'symbol', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TABLE kafka_bars_rollups (
    timeframe STRING,
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_rollups}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'key.format' = 'raw', 'key.fields' = 'symbol', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

-- ---- PostgreSQL

CREATE TABLE pg_bars_1m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = '{{pg_schema}}.bars_1m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_5m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = '{{pg_schema}}.bars_5m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_15m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = '{{pg_schema}}.bars_15m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_1h (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = '{{pg_schema}}.bars_1h',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_1d (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = '{{pg_schema}}.bars_1d',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_ticks_dlq (
    kafka_partition INT, kafka_offset BIGINT, reason STRING, symbol STRING, payload STRING,
    received_at TIMESTAMP(3),
    PRIMARY KEY (kafka_partition, kafka_offset) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = '{{pg_schema}}.ticks_dlq',
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

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.bars (
    timeframe STRING, symbol STRING, bar_start TIMESTAMP_LTZ(6), bar_end TIMESTAMP_LTZ(6), `open` DOUBLE,
    high DOUBLE, low DOUBLE, `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT,
    session STRING, session_date DATE, first_trade_at TIMESTAMP_LTZ(6), last_trade_at TIMESTAMP_LTZ(6),
    pv_sum DOUBLE, filled BOOLEAN, revision INT
);

-- ---- what flows where

INSERT INTO kafka_ticks_clean
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id FROM ticks_clean;

INSERT INTO kafka_ticks_dlq
SELECT kafka_partition, kafka_offset, reason, symbol, payload, CAST(received_at AS TIMESTAMP_LTZ(3))
FROM ticks_dead;

INSERT INTO kafka_bars_1m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, session,
       session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars_1m;

INSERT INTO kafka_bars_rollups
SELECT timeframe, symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count,
       session, session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars WHERE timeframe <> '1m';

INSERT INTO pg_bars_1m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, session,
       session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars WHERE timeframe = '1m';

INSERT INTO pg_bars_5m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, session,
       session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars WHERE timeframe = '5m';

INSERT INTO pg_bars_15m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, session,
       session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars WHERE timeframe = '15m';

INSERT INTO pg_bars_1h
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, session,
       session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars WHERE timeframe = '1h';

INSERT INTO pg_bars_1d
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, session,
       session_date, first_trade_at, last_trade_at, pv_sum, filled, revision
FROM bars WHERE timeframe = '1d';

INSERT INTO pg_ticks_dlq SELECT * FROM ticks_dead;

INSERT INTO {{iceberg_catalog}}.bronze.ticks_raw
SELECT payload, kind, ts_ns, kafka_partition, kafka_offset, kafka_ts FROM ticks_raw;

INSERT INTO {{iceberg_catalog}}.silver.ticks_clean
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, kafka_offset
FROM ticks_clean;

INSERT INTO {{iceberg_catalog}}.silver.bars
SELECT timeframe, symbol, CAST(bar_start AS TIMESTAMP_LTZ(3)), CAST(bar_end AS TIMESTAMP_LTZ(3)), `open`,
       high, low, `close`, volume, vwap, trade_count, session, session_date,
       CAST(first_trade_at AS TIMESTAMP_LTZ(3)), CAST(last_trade_at AS TIMESTAMP_LTZ(3)), pv_sum, filled,
       revision
FROM bars;
