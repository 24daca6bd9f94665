-- @jobs: backfill-ticks
-- ============================================================================================
-- backfill/10 · `marketpipe backfill --ticks FILE` — source: a tick file instead of Kafka
-- Replaces 10_ticks_source.sql in a batch run; 11 (clean), 12 (bars) and 13 (PostgreSQL) are the
-- same files the streaming job runs (14, topics and lake, is left out), so replay and backfill build
-- bars with the same rules. marketpipe/backfill.py
-- writes FILE as this canonical CSV: each tick as the JSON value a producer would send, with its row
-- number standing in for the Kafka offset (it orders ticks with equal timestamps, as the offset does)
-- and partition -1 marking "from a file" in the dead-letter table.
-- ============================================================================================

-- The same functions as 10_ticks_source.sql (event time 0 when the time is not sane, so 11 rejects it).
CREATE TEMPORARY SYSTEM FUNCTION mp_tick_event_time AS 'dev.marketpipe.flink.TickEventTime' LANGUAGE JAVA;
CREATE TEMPORARY SYSTEM FUNCTION mp_parse_tick AS 'dev.marketpipe.flink.ParseTick' LANGUAGE JAVA;

CREATE TABLE ticks_file (
    kafka_partition  INT,
    kafka_offset     BIGINT,
    payload          STRING
) WITH (
    'connector' = 'filesystem',
    'path'      = '{{backfill_path}}',
    'format'    = 'csv'
);

CREATE VIEW ticks_raw AS
SELECT
    payload,
    kafka_partition,
    kafka_offset,
    CAST(NULL AS TIMESTAMP_LTZ(3))                                AS kafka_ts,
    mp_tick_event_time(payload, {{min_event_time_ms}}, {{max_future_s}}) AS event_time
FROM ticks_file;
