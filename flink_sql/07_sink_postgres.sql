-- ============================================================================================
-- 07 · PostgreSQL serving tables (JDBC upsert on the primary key: INSERT ... ON CONFLICT DO UPDATE)
-- Tables are created by `marketpipe stack up` (marketpipe/stack/postgres_schema.sql). Rows are flushed
-- every {{jdbc_flush_interval_ms}} ms, after 500 rows, and on every checkpoint; at-least-once delivery is
-- made idempotent by the key.
-- ============================================================================================

CREATE TABLE pg_bars_1m (
    symbol STRING, bar_start TIMESTAMP(3), bar_end TIMESTAMP(3), `open` DOUBLE, high DOUBLE, low DOUBLE,
    `close` DOUBLE, volume BIGINT, vwap DOUBLE, trade_count BIGINT,
    PRIMARY KEY (symbol, bar_start) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = 'bars_1m',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

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

CREATE TABLE pg_ticks_dlq (
    kafka_partition INT, kafka_offset BIGINT, reason STRING, symbol STRING, payload STRING,
    received_at TIMESTAMP(3),
    PRIMARY KEY (kafka_partition, kafka_offset) NOT ENFORCED
) WITH (
    'connector' = 'jdbc', 'url' = '{{jdbc_url}}', 'table-name' = 'ticks_dlq',
    'username' = '{{postgres_user}}', 'password' = '{{postgres_password}}',
    'sink.buffer-flush.interval' = '{{jdbc_flush_interval_ms}}ms', 'sink.buffer-flush.max-rows' = '500'
);

INSERT INTO pg_bars_1m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count FROM bars_1m;

INSERT INTO pg_indicators_1m
SELECT symbol, bar_start, `close`, ema_12, ema_26, rsi_14, macd, macd_signal, macd_hist, is_warm
FROM indicators_1m;

INSERT INTO pg_signals
SELECT symbol, bar_start, strategy, action, reason, `close`, macd_hist, rsi_14 FROM signals;

INSERT INTO pg_ticks_dlq
SELECT kafka_partition, kafka_offset, reason, symbol, payload, CAST(received_at AS TIMESTAMP(3))
FROM ticks_rejected;
