-- ============================================================================================
-- 06 · Kafka topics downstream of the raw feed (JSON values, keyed by symbol where there is one)
--   ticks.clean  clean ticks        ticks.dlq  rejected ticks with a reason
--   bars.1m      one-minute bars    signals    strategy decisions
-- ============================================================================================

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

CREATE TABLE kafka_signals (
    symbol STRING, bar_start TIMESTAMP(3), strategy STRING, action STRING, reason STRING,
    `close` DOUBLE, macd_hist DOUBLE, rsi_14 DOUBLE
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_signals}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    'key.format' = 'raw', 'key.fields' = 'symbol', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

INSERT INTO kafka_ticks_clean
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id FROM ticks_clean;

INSERT INTO kafka_ticks_dlq SELECT * FROM ticks_rejected;

INSERT INTO kafka_bars_1m
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count FROM bars_1m;

INSERT INTO kafka_signals
SELECT symbol, bar_start, strategy, action, reason, `close`, macd_hist, rsi_14 FROM signals;
