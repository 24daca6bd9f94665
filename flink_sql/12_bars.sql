-- ============================================================================================
-- 12 · One-minute OHLCV bars in event time
-- A bar covers [T, T+60s) and is labelled by its start T (UTC). It is emitted once, when the watermark
-- passes T+60s. Open and close are the prices of the earliest and latest tick by event time, ties broken
-- by Kafka offset (all ticks of a symbol share a partition, so the offset is arrival order):
-- FIRST_VALUE/LAST_VALUE follow arrival order, so instead the minimum/maximum of a fixed-width
-- "ts_ns|offset" prefix followed by the price picks them exactly, whatever order ticks arrive in.
-- ============================================================================================

CREATE VIEW ticks_ordered AS
SELECT
    *,
    LPAD(CAST(ts_ns AS STRING), 20, '0') || LPAD(CAST(kafka_offset AS STRING), 20, '0')
        || CAST(price AS STRING) AS order_key    -- 40-character prefix, then the price
FROM ticks_clean;

CREATE VIEW bars_1m AS
SELECT
    symbol,
    window_start                                              AS bar_start,
    window_end                                                AS bar_end,
    CAST(SUBSTRING(MIN(order_key) FROM 41) AS DOUBLE)         AS `open`,
    MAX(price)                                                AS high,
    MIN(price)                                                AS low,
    CAST(SUBSTRING(MAX(order_key) FROM 41) AS DOUBLE)         AS `close`,
    SUM(size)                                                 AS volume,
    SUM(price * size) / SUM(size)                             AS vwap,
    COUNT(*)                                                  AS trade_count,
    window_time                                               AS rowtime   -- keeps the event-time attribute
FROM TABLE(TUMBLE(TABLE ticks_ordered, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY symbol, window_start, window_end, window_time;
