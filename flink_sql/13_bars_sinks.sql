-- ============================================================================================
-- 13 · Job `bars` — PostgreSQL sinks (also the sinks of `marketpipe backfill --ticks`)
-- JDBC upsert on the primary key (INSERT ... ON CONFLICT DO UPDATE; tables created by
-- `marketpipe stack up` from marketpipe/stack/postgres_schema.sql) into schema {{pg_schema}}:
-- bars_1m, bars_5m, bars_15m, bars_1h, bars_1d — a revision updates its row in place — and ticks_dlq.
-- Rows are flushed every {{jdbc_flush_interval_ms}} ms, after 500 rows and on every checkpoint;
-- at-least-once delivery is made idempotent by the key. {{jdbc_sink_url}} is the JDBC URL with
-- reWriteBatchedInserts=true: a flushed batch goes out as multi-row INSERTs. A backfill (batch) runs this file as is, with
-- `--pg-schema` to write elsewhere, e.g. to compare it with a replay; its dead-lettered file rows have
-- partition -1.
-- ============================================================================================

-- ---- PostgreSQL

CREATE TABLE pg_bars_1m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.bars_1m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_5m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.bars_5m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_15m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.bars_15m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_1h (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.bars_1h',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_bars_1d (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT, session STRING, session_date DATE,
    first_trade_at TIMESTAMP(3), last_trade_at TIMESTAMP(3), pv_sum DOUBLE, filled BOOLEAN, revision INT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.bars_1d',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_ticks_dlq (
    kafka_partition INT, kafka_offset BIGINT, stage STRING, reason STRING, symbol STRING, payload STRING,
    received_at TIMESTAMP(3),
    PRIMARY KEY (kafka_partition, kafka_offset) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.ticks_dlq',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

CREATE TABLE pg_tick_counts (
    kafka_partition INT, raw_records BIGINT, clean BIGINT, rejected BIGINT, heartbeats BIGINT,
    max_offset BIGINT,
    PRIMARY KEY (kafka_partition) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_sink_url}}', 'table-name' = '{{pg_schema}}.tick_counts',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

-- ---- what flows where

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

INSERT INTO pg_ticks_dlq
SELECT kafka_partition, kafka_offset, stage, reason, symbol, payload,
       COALESCE(received_at, TIMESTAMP '1970-01-01 00:00:00')  -- a backfill's file rows have no Kafka time
FROM ticks_dead;

INSERT INTO pg_tick_counts
SELECT kafka_partition, raw_records, clean, rejected, heartbeats, max_offset FROM tick_counts;
