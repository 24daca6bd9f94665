-- @jobs: backfill
-- ============================================================================================
-- backfill/20 · `marketpipe backfill --bars FILE --timeframe TF` — source: stored bars
-- Replaces 20_bars_source.sql in a batch run; 21–23 are the same files the streaming job runs.
-- marketpipe/backfill.py writes FILE's bars in this canonical CSV (bar start as epoch ms UTC).
-- ============================================================================================

-- The columns are those the indicator step reads (the row `indicator_input` of udfs/schema.py, bar
-- start as epoch ms), in that order.
CREATE TABLE bars_{{timeframe}} (
    {{indicator_input_binding_ddl}},
    bar_start AS CAST(TO_TIMESTAMP_LTZ(bar_start_ms, 3) AS TIMESTAMP(3)),
    rowtime   AS TO_TIMESTAMP_LTZ(bar_start_ms, 3)
) WITH ('connector' = 'filesystem', 'path' = '{{backfill_path}}', 'format' = 'csv');
