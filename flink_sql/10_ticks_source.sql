-- @jobs: bars
-- ============================================================================================
-- 10 · Job `bars` — source: raw ticks from Kafka
-- Each record value is one JSON object (see docs/ticks.md). It is read as an opaque string so that a
-- malformed record cannot fail the job or vanish inside the JSON format: 11_ticks_clean.sql parses it
-- (once, with mp_parse_tick) and anything unusable becomes a dead-letter row with a reason.
--
-- Event time is the tick's own timestamp (epoch nanoseconds); the watermark trails the largest event
-- time seen by the out-of-orderness bound, and is the minimum over partitions. Heartbeat records
-- (kind = 'heartbeat') carry only a time: our producers send them to every partition periodically and at
-- the end of a file, so an empty partition never holds the watermark back and the last minute closes.
-- The watermark only trusts sane times: mp_tick_event_time gives a record's ts_ns (a JSON integer) when
-- it lies between {{min_event_time_ms}} ms (settings min_event_time) and {{max_future_s}} s ahead of the
-- wall clock (max_future_s); anything else — a 1970 or a 2100 stamp, on a trade or on a heartbeat, no
-- time at all, a malformed record — gets event time 0 (1970) here, so it can never move the watermark,
-- and 11_ticks_clean.sql dead-letters it (timestamp_out_of_range / bad_heartbeat / ...).
--
-- The two functions are marketpipe's own Java (jvm/udfs, dev.marketpipe.flink): JSON parsed in the JVM,
-- once per purpose, instead of a JSON path query per field.
-- ============================================================================================

CREATE TEMPORARY SYSTEM FUNCTION mp_tick_event_time AS 'dev.marketpipe.flink.TickEventTime' LANGUAGE JAVA;
CREATE TEMPORARY SYSTEM FUNCTION mp_parse_tick AS 'dev.marketpipe.flink.ParseTick' LANGUAGE JAVA;

CREATE TABLE ticks_kafka (
    payload          STRING,
    kafka_partition  INT              METADATA FROM 'partition' VIRTUAL,
    kafka_offset     BIGINT           METADATA FROM 'offset'    VIRTUAL,
    kafka_ts         TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    event_time AS mp_tick_event_time(payload, {{min_event_time_ms}}, {{max_future_s}}),
    WATERMARK FOR event_time AS event_time - INTERVAL '{{watermark_delay_s}}' SECOND
) WITH (
    {{kafka_source_options}},
    'topic' = '{{topic_raw}}', 'properties.group.id' = 'marketpipe-pipeline', 'format' = 'raw'
);

-- 11_ticks_clean.sql parses and classifies this stream once and shares the result with every sink and
-- the bar step (udfs/flink/source.py:read_once), so the topic is read and parsed once.
CREATE VIEW ticks_raw AS SELECT * FROM ticks_kafka;
