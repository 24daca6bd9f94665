-- @jobs: bars, backfill-ticks
-- ============================================================================================
-- 11 · Clean and normalize
-- Every record read from the raw topic ends in exactly one of three places (`outcome`):
--   heartbeat       a heartbeat with a sane time: it only moves the watermark
--   clean           a trade, typed, symbol upper-cased, price and size within bounds, time known
--   rejected        the record as received (at most {{dlq_payload_chars}} characters of it), with the
--                   first rule it broke as `reason`
-- so that, per partition, raw = clean + rejected + heartbeats (tick_counts below; docs/ticks.md).
-- Reasons, checked in this order:
--   tombstone               the Kafka value is NULL
--   oversize                the value is longer than {{max_record_bytes}} characters
--   malformed_json          the value is not a JSON object
--   bad_heartbeat           a heartbeat whose time is missing, or outside the sane range of 10
--   unsupported_kind        `kind` is neither 'trade' (the default) nor 'heartbeat', e.g. a quote
--   missing_symbol          no symbol, or only blanks
--   invalid_symbol          not a ticker: a JSON string of 1-16 characters A-Z 0-9 . / - starting
--                           with a letter (after trimming and upper-casing), e.g. not 12345, "I B M"
--   bad_timestamp           ts_ns missing, not a JSON integer (a string, a float)
--   timestamp_out_of_range  ts_ns before min_event_time or more than {{max_future_s}} s in the future
--   bad_price               price missing or not a JSON number (text such as "NaN", null)
--   invalid_price           price not positive, or not below {{max_price}}
--   bad_size                size missing or not a JSON integer (100.5, "100", null)
--   invalid_size            size not positive, or above {{max_size}}
-- A clean trade can still end up in no bar (late beyond the grace period, market closed, an official
-- report, a duplicate trade id, a price outlier, ...): the bar step decides that by market rules and
-- dead-letters it there with stage 'bars' (12_bars.sql).
-- mp_parse_tick (jvm/udfs, dev.marketpipe.tick.TickJson) reads the record once: each field's value as
-- JSON_VALUE would give it, and its JSON type (string, integer, float, boolean, null, object, array;
-- NULL when absent), so 12345 and "12345" are told apart; ts_ns and size have a value only when they are
-- a JSON integer that fits a BIGINT, price only when it is a JSON number. It applies no rule: they are here.
-- ============================================================================================

CREATE VIEW ticks_classified AS
SELECT
    *,
    CASE
        WHEN reject_reason IS NOT NULL THEN 'rejected'
        WHEN kind = 'heartbeat'        THEN 'heartbeat'
        ELSE 'clean'
    END AS outcome
FROM (
    SELECT
        *,
        CASE
            WHEN payload IS NULL                                           THEN 'tombstone'
            WHEN CHAR_LENGTH(payload) > {{max_record_bytes}}               THEN 'oversize'
            WHEN NOT is_object                                             THEN 'malformed_json'
            WHEN kind = 'heartbeat' AND (ts_ns IS NULL OR event_time_unset) THEN 'bad_heartbeat'
            WHEN kind = 'heartbeat'                                        THEN CAST(NULL AS STRING)
            WHEN kind <> 'trade'                                           THEN 'unsupported_kind'
            WHEN symbol IS NULL OR symbol = ''                             THEN 'missing_symbol'
            WHEN symbol_type <> 'string'
                 OR NOT REGEXP(symbol, '{{symbol_pattern}}')               THEN 'invalid_symbol'
            WHEN ts_ns IS NULL                                             THEN 'bad_timestamp'
            WHEN event_time_unset                                          THEN 'timestamp_out_of_range'
            WHEN price IS NULL                                             THEN 'bad_price'
            WHEN NOT (price > 0 AND price < {{max_price}})                 THEN 'invalid_price'
            WHEN size IS NULL                                              THEN 'bad_size'
            WHEN NOT (size > 0 AND size <= {{max_size}})                   THEN 'invalid_size'
        END AS reject_reason
    FROM (
        SELECT
            r.kafka_partition,
            r.kafka_offset,
            r.kafka_ts,
            r.payload,
            r.event_time,
            r.event_time < TO_TIMESTAMP_LTZ(1, 3)                        AS event_time_unset,
            j.is_object,
            COALESCE(j.kind, 'trade')                                    AS kind,
            UPPER(TRIM(j.symbol))                                        AS symbol,
            j.symbol_type,
            j.ts_ns,
            j.ts_type,
            j.price,
            j.price_type,
            j.size,
            j.size_type,
            NULLIF(TRIM(j.exchange), '')                                 AS exchange,
            NULLIF(TRIM(j.conditions), '')                               AS conditions,
            j.trade_id,
            j.source
        FROM ticks_raw AS r, LATERAL TABLE(mp_parse_tick(r.payload)) AS j
    )
);

-- Every sink below reads this one classified stream: without the bridge the planner copies the parse
-- and the CASE into each sink's branch (seven parses per record, measured in the job graph).
-- @python ticks_parsed = udfs.flink.source:read_once(ticks_classified)

CREATE VIEW ticks_clean AS
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, kafka_offset,
       source
FROM ticks_parsed
WHERE outcome = 'clean';

-- A dead letter keeps the start of an oversize record, never the whole of it: the dead-letter topic
-- and table must accept every record the raw topic did.
CREATE VIEW ticks_rejected AS
SELECT
    kafka_partition,
    kafka_offset,
    reject_reason AS reason,
    CASE WHEN CHAR_LENGTH(symbol) <= 32 THEN symbol ELSE SUBSTRING(symbol, 1, 32) END AS symbol,
    CASE
        WHEN payload IS NULL THEN ''
        WHEN CHAR_LENGTH(payload) > {{dlq_payload_chars}}
            THEN SUBSTRING(payload, 1, {{dlq_payload_chars}}) || '...[truncated from '
                 || CAST(CHAR_LENGTH(payload) AS STRING) || ' characters]'
        ELSE payload
    END AS payload,
    kafka_ts AS received_at
FROM ticks_parsed
WHERE outcome = 'rejected';

-- Per partition: records read, and how they were classified (raw = clean + rejected + heartbeats).
-- An updating aggregate: the PostgreSQL sink (13) upserts one row per partition.
CREATE VIEW tick_counts AS
SELECT
    kafka_partition,
    COUNT(*)                                                AS raw_records,
    COUNT(*) FILTER (WHERE outcome = 'clean')               AS clean,
    COUNT(*) FILTER (WHERE outcome = 'rejected')            AS rejected,
    COUNT(*) FILTER (WHERE outcome = 'heartbeat')           AS heartbeats,
    MAX(kafka_offset)                                       AS max_offset
FROM ticks_parsed
GROUP BY kafka_partition;
