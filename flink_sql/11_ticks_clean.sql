-- ============================================================================================
-- 11 · Clean and normalize
-- Every trade record ends in exactly one of two places:
--   ticks_clean     typed, symbol upper-cased, price and size positive and finite, timestamp known
--   ticks_rejected  the record as received, with the first rule it broke as `reason`
-- Reasons, checked in this order:
--   malformed_json   the value is not a JSON object
--   missing_symbol   no symbol, or only blanks
--   bad_timestamp    ts_ns missing or not an integer
--   bad_price        price missing or not a number
--   invalid_price    price not a positive finite number below 1e9
--   bad_size         size missing or not an integer
--   invalid_size     size not positive
-- A clean trade can still end up in no bar (late beyond the grace period, market closed, an official
-- report, ...): the bar step decides that by market rules and dead-letters it there (12_bars.sql).
-- ============================================================================================

CREATE VIEW ticks_parsed AS
SELECT
    *,
    CASE
        WHEN NOT (payload IS JSON OBJECT)                      THEN 'malformed_json'
        WHEN symbol IS NULL OR symbol = ''                     THEN 'missing_symbol'
        WHEN ts_ns IS NULL                                     THEN 'bad_timestamp'
        WHEN price IS NULL                                     THEN 'bad_price'
        WHEN NOT (price > 0 AND price < 1e9)                   THEN 'invalid_price'
        WHEN size IS NULL                                      THEN 'bad_size'
        WHEN size <= 0                                         THEN 'invalid_size'
    END AS reject_reason
FROM (
    SELECT
        kafka_partition,
        kafka_offset,
        kafka_ts,
        payload,
        ts_ns,
        event_time,
        UPPER(TRIM(JSON_VALUE(payload, '$.symbol')))                 AS symbol,
        TRY_CAST(JSON_VALUE(payload, '$.price') AS DOUBLE)           AS price,
        TRY_CAST(JSON_VALUE(payload, '$.size') AS BIGINT)            AS size,
        NULLIF(TRIM(JSON_VALUE(payload, '$.exchange')), '')          AS exchange,
        NULLIF(TRIM(JSON_VALUE(payload, '$.conditions')), '')        AS conditions,
        JSON_VALUE(payload, '$.trade_id')                            AS trade_id,
        JSON_VALUE(payload, '$.source')                              AS source
    FROM ticks_raw
    WHERE kind <> 'heartbeat'
);

CREATE VIEW ticks_clean AS
SELECT symbol, event_time, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, kafka_offset,
       source
FROM ticks_parsed
WHERE reject_reason IS NULL;

CREATE VIEW ticks_rejected AS
SELECT kafka_partition, kafka_offset, reject_reason AS reason, symbol, payload, kafka_ts AS received_at
FROM ticks_parsed
WHERE reject_reason IS NOT NULL;
