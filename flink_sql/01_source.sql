-- ============================================================================================
-- 01 · Source: raw ticks from Kafka
-- Each record value is one JSON object (see docs/ticks.md). It is read as an opaque string so that a
-- malformed record cannot fail the job or vanish inside the JSON format: it is parsed below with
-- JSON_VALUE, and anything unusable becomes a dead-letter row with a reason (02_clean.sql).
--
-- Event time is the tick's own timestamp (epoch nanoseconds); the watermark trails the largest event
-- time seen by the out-of-orderness bound. Heartbeat records (kind = 'heartbeat') carry only a time:
-- producers send them to every partition at the end of a file so the last minute closes.
-- ============================================================================================

CREATE TABLE ticks_raw (
    payload          STRING,
    kafka_partition  INT              METADATA FROM 'partition' VIRTUAL,
    kafka_offset     BIGINT           METADATA FROM 'offset'    VIRTUAL,
    kafka_ts         TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
    kind       AS COALESCE(JSON_VALUE(payload, '$.kind'), 'trade'),
    ts_ns      AS JSON_VALUE(payload, '$.ts_ns' RETURNING BIGINT),
    event_time AS TO_TIMESTAMP_LTZ(JSON_VALUE(payload, '$.ts_ns' RETURNING BIGINT) / 1000000, 3),
    WATERMARK FOR event_time AS event_time - INTERVAL '{{watermark_delay_s}}' SECOND
) WITH (
    'connector'                     = 'kafka',
    'topic'                         = '{{topic_raw}}',
    'properties.bootstrap.servers'  = '{{kafka_bootstrap}}',
    'properties.group.id'           = 'marketpipe-pipeline',
    'scan.startup.mode'             = 'earliest-offset',
    'format'                        = 'raw'
);
