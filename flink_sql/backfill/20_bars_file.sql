-- @jobs: backfill
-- ============================================================================================
-- backfill/20 · `marketpipe backfill --bars FILE --timeframe TF` — source: stored bars
-- Replaces 20_bars_source.sql in a batch run; 21–23 are the same files the streaming job runs.
-- marketpipe/backfill.py writes FILE's bars in this canonical CSV (bar start as epoch ms UTC).
-- ============================================================================================

CREATE TABLE bars_{{timeframe}} (
    symbol        STRING,
    bar_start_ms  BIGINT,
    `open`        DOUBLE,
    high          DOUBLE,
    low           DOUBLE,
    `close`       DOUBLE,
    volume        BIGINT,
    vwap          DOUBLE,
    bar_start AS CAST(TO_TIMESTAMP_LTZ(bar_start_ms, 3) AS TIMESTAMP(3)),
    rowtime   AS TO_TIMESTAMP_LTZ(bar_start_ms, 3)
) WITH (
    'connector' = 'filesystem',
    'path'      = '{{backfill_path}}',
    'format'    = 'csv'
);
