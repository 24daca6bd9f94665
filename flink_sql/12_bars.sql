-- @jobs: bars, backfill-ticks
-- ============================================================================================
-- 12 · Bars by market rules: 1m from ticks, 5m / 15m / 1h / 1d rolled up from 1m
-- Every rule is in docs/bars.md with its reason. In short:
--   * a bar covers [T, T+60s) in event time, labelled by its start, and is emitted when the watermark
--     passes its end; a trade arriving within the grace period after that revises the bar (the row is
--     re-emitted with revision + 1), a later one is dead-lettered with reason `late`;
--   * each trade's sale conditions decide, per session, whether it may set open/close, high/low and
--     volume (the condition table, CTA/UTP by default, docs/conditions.md);
--   * the listing exchange's opening print sets the open of the first regular-hours bar, its closing
--     print the close of the last one (even when it prints after 16:00); official open/close reports
--     are not trades;
--   * every bar carries its session (pre, regular, post) of the symbol's exchange calendar; nothing is
--     built on closed days; rollups are session-aligned and 1d is the regular session.
-- The rules need per-symbol state, timers and a calendar that SQL windows do not have, so this step is a
-- keyed function: udfs/flink/bars.py:build_bars runs the JVM port of the engine (jvm/udfs,
-- dev.marketpipe.flink.BarStep; no tick crosses into Python), held row-for-row identical to the Python
-- reference udfs/bars/ by tests/unit/test_bars_java.py (MARKETPIPE_BARS_ENGINE=python runs that one).
-- Its input is the clean ticks; the rules and reference files come from the settings (MARKETPIPE_BARS_*).
-- ============================================================================================

CREATE VIEW bar_input AS
SELECT symbol, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, kafka_offset, source,
       event_time
FROM ticks_clean;

-- Two outputs: the bars, and `ticks_unbarred`, the clean trades that are in no bar, with the reason.
-- @python bars_all, ticks_unbarred = udfs.flink.bars:build_bars(bar_input)

-- The bar row of udfs/schema.py from the binding's (times as epoch ms, the session date as ISO text).
CREATE VIEW bars AS SELECT {{bar_from_binding}} FROM bars_all;

CREATE VIEW bars_1m AS SELECT * FROM bars WHERE timeframe = '1m';

-- The dead-letter path: records that failed cleaning (11, stage 'clean') and clean trades in no bar
-- (above, stage 'bars'). A trade in no bar is written back as JSON of its clean fields.
-- raw = clean + stage 'clean' dead letters + heartbeats; clean = trades in bars + stage 'bars' ones.
CREATE VIEW ticks_dead AS
SELECT kafka_partition, kafka_offset, 'clean' AS stage, reason, symbol, payload,
       CAST(received_at AS TIMESTAMP(3)) AS received_at
FROM ticks_rejected
UNION ALL
SELECT
    kafka_partition, kafka_offset, 'bars' AS stage, reason, symbol,
    JSON_OBJECT(
        'symbol' VALUE symbol, 'ts_ns' VALUE ts_ns, 'price' VALUE price, 'size' VALUE size,
        'exchange' VALUE exchange, 'conditions' VALUE conditions, 'trade_id' VALUE trade_id
    ) AS payload,
    CAST(TO_TIMESTAMP_LTZ(ts_ns / 1000000, 3) AS TIMESTAMP(3)) AS received_at
FROM ticks_unbarred;
