-- @jobs: bars
-- ============================================================================================
-- 14 · Job `bars` — Kafka topics and the Iceberg lake (streaming only: a backfill of data the stream
-- already saw would duplicate it in the append-only lake and on the topics)
-- Kafka (keyed by symbol where there is one):
--   ticks.clean   clean ticks           ticks.dlq     dead-lettered ticks with a reason (JSON)
--   bars.1m       one-minute bars       bars.rollups  5m / 15m / 1h / 1d bars (`timeframe` field)
--   The values of ticks.clean, bars.1m and bars.rollups are Avro registered in the schema registry
--   (keyed_value_*: avro-confluent with the schema marketpipe/contracts derives from the same rows of
--   udfs/schema.py as these tables, docs/contracts.md; JSON when settings.schema_registry is off). Times are UTC
--   TIMESTAMP(3), Avro timestamp-millis: the avro-confluent format has no mapping for TIMESTAMP_LTZ.
--   A revised bar is sent again with its `revision` one higher: consumers keep the highest.
--   Exactly once: every topic is written in Kafka transactions committed with the checkpoint, so a
--   restart from a checkpoint never shows a record twice to a `read_committed` consumer (the
--   indicators job is one; 20_bars_source.sql). Records become visible at each checkpoint.
--   The options every Kafka sink shares (exactly once, security, batching) are `kafka_sink_options`
--   and the key and value formats of a contract topic `keyed_value_<topic>` (marketpipe/jobs/sql.py):
--   each table below adds its topic and transactional id.
-- Iceberg lake, append-only, a commit per checkpoint: bronze.ticks_raw (every record as received,
-- heartbeats included), silver.ticks_clean, silver.bars (every timeframe; a revision is a new row
-- with a higher `revision`: readers take the highest per key — pyiceberg cannot read the equality
-- deletes an in-place update would need). Times are stored as timestamptz (UTC).
-- ============================================================================================

-- ---- Kafka

CREATE TABLE kafka_ticks_clean ({{clean_tick_columns_ddl}}) WITH ({{kafka_sink_options}},
    'topic' = '{{topic_clean}}', 'sink.transactional-id-prefix' = 'marketpipe-clean', {{keyed_value_clean}});

CREATE TABLE kafka_ticks_dlq ({{dead_letter_columns_ltz_ddl}}) WITH ({{kafka_sink_options}},
    'topic' = '{{topic_dlq}}', 'sink.transactional-id-prefix' = 'marketpipe-dlq', 'format' = 'json');

-- a bar without its timeframe: the topic holds one
CREATE TABLE kafka_bars_1m ({{timeframe_bar_columns_ddl}}) WITH ({{kafka_sink_options}},
    'topic' = '{{topic_bars}}', 'sink.transactional-id-prefix' = 'marketpipe-bars', {{keyed_value_bars}});

CREATE TABLE kafka_bars_rollups ({{bar_columns_ddl}}) WITH ({{kafka_sink_options}},
    'topic' = '{{topic_rollups}}', 'sink.transactional-id-prefix' = 'marketpipe-rollups', {{keyed_value_rollups}});

-- ---- Iceberg

-- The tick tables hold mostly unique values (payloads, nanosecond times, offsets): a Parquet dictionary
-- of at most 64 KB per column gives up on them early instead of hashing every value into 2 MB of it.
CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.bronze.ticks_raw (
    payload STRING, kind STRING, ts_ns BIGINT, kafka_partition INT, kafka_offset BIGINT,
    kafka_ts TIMESTAMP_LTZ(6)
) WITH ('write.parquet.dict-size-bytes' = '65536');

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.ticks_clean (
    {{lake_clean_tick_columns_lake_ddl}}
) WITH ('write.parquet.dict-size-bytes' = '65536');

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.silver.bars (
    {{bar_columns_lake_ddl}}
);

-- ---- what flows where

INSERT INTO kafka_ticks_clean
SELECT {{clean_tick_columns_utc}} FROM ticks_clean;

INSERT INTO kafka_ticks_dlq SELECT {{dead_letter_columns_ltz}} FROM ticks_dead;

INSERT INTO kafka_bars_1m SELECT {{timeframe_bar_columns}} FROM bars_1m;

INSERT INTO kafka_bars_rollups SELECT {{bar_columns}} FROM bars WHERE timeframe <> '1m';

INSERT INTO {{iceberg_catalog}}.bronze.ticks_raw
SELECT payload, kind, ts_ns, kafka_partition, kafka_offset, kafka_ts FROM ticks_parsed;

INSERT INTO {{iceberg_catalog}}.silver.ticks_clean SELECT {{lake_clean_tick_columns}} FROM ticks_clean;

INSERT INTO {{iceberg_catalog}}.silver.bars SELECT {{bar_columns_ltz}} FROM bars;
