-- The serving objects that are not a row of udfs/schema.py. marketpipe/stack/pg_schema.py runs this
-- after creating the row tables (bars, indicators_1m/_1d, signals, ticks_dlq, tick_counts) and before
-- the views bars_1m ... bars_1d, on every `marketpipe stack up`; idempotent.

-- Earlier versions kept one table per bar timeframe (bars_1m, bars_5m, bars_15m, bars_1h, bars_1d,
-- keyed by symbol and bar_start). Their rows move into `bars` with their timeframe (the columns the
-- two have in common; a column the old table lacked gets its default), then the table goes and a view
-- of the same name takes its place. Objects built on an old table (dbt's staging views, which the next
-- `dbt run` rebuilds) are dropped with it, each named in a WARNING that `marketpipe stack up` logs.
-- Nothing happens once they are views.
DO $$
DECLARE
  tf text;
  old text;
  cols text;
  deps text;
BEGIN
  FOREACH tf IN ARRAY ARRAY['1m', '5m', '15m', '1h', '1d'] LOOP
    old := 'bars_' || tf;
    CONTINUE WHEN NOT EXISTS (
      SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relname = old AND c.relkind = 'r');
    SELECT string_agg(quote_ident(o.column_name), ', ' ORDER BY o.ordinal_position) INTO cols
    FROM information_schema.columns o
    JOIN information_schema.columns b
      ON b.table_schema = o.table_schema AND b.table_name = 'bars' AND b.column_name = o.column_name
    WHERE o.table_schema = current_schema() AND o.table_name = old;
    EXECUTE format('INSERT INTO bars (timeframe, %s) SELECT %L, %s FROM %I ON CONFLICT DO NOTHING',
                   cols, tf, cols, old);
    -- Say by name what goes with the table (a BI user's own view must be made again on the new view).
    SELECT string_agg(DISTINCT v.oid::regclass::text, ', ') INTO deps
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
    WHERE d.refobjid = format('%I', old)::regclass AND v.oid <> format('%I', old)::regclass;
    IF deps IS NOT NULL THEN
      RAISE WARNING 'dropping %, built on the old table %: create it again on the view % (dbt rebuilds its own)',
        deps, old, old;
    END IF;
    EXECUTE format('DROP TABLE %I CASCADE', old);
    RAISE NOTICE 'moved the rows of % into bars (timeframe %); % is now a view', old, tf, old;
  END LOOP;
END $$;

-- Revised bars are rare: the exporter's revision totals per timeframe (marketpipe/monitoring/slis.py)
-- read this small partial index instead of scanning the table on every scrape.
CREATE INDEX IF NOT EXISTS bars_revised ON bars (timeframe, revision) WHERE revision > 0;

-- Dead letters by stage and reason (the exporter's counts, docs/monitoring.md): an index-only count.
CREATE INDEX IF NOT EXISTS ticks_dlq_stage_reason ON ticks_dlq (stage, reason);

-- Daily OHLCV loaded in batch from data providers (Stooq, Tiingo, local files) by the Dagster assets
-- (orchestration/); one row per symbol and trading day of the exchange calendar, replaced when the
-- day's partition is re-run. bar_start is the regular session's open (09:30 New York for XNYS).
CREATE TABLE IF NOT EXISTS daily_bars (
    symbol        text             NOT NULL,
    session_date  date             NOT NULL,
    bar_start     timestamptz      NOT NULL,
    open          double precision NOT NULL,
    high          double precision NOT NULL,
    low           double precision NOT NULL,
    close         double precision NOT NULL,
    volume        bigint           NOT NULL,
    adj_close     double precision,           -- the provider's adjusted close, when it offers one
    dividend      double precision,           -- cash dividend with ex-date on this day, when offered
    split_factor  double precision,           -- split ratio effective this day, when offered
    source        text             NOT NULL,  -- stooq, tiingo, file:<name>
    loaded_at     timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, session_date)
);

-- Every record accounted for, per partition: `balanced` when the counts add up and every rejected
-- record is in ticks_dlq. Exact once the pipeline is idle (the sinks flush every second and on
-- checkpoints); `clean_in_bars` is what reached a bar. (tick_counts: raw_records = clean + rejected +
-- heartbeats per raw-topic partition, docs/ticks.md.)
CREATE OR REPLACE VIEW tick_accounting AS
SELECT
    c.kafka_partition,
    c.raw_records,
    c.clean,
    c.rejected,
    c.heartbeats,
    coalesce(d.dlq_clean, 0)                    AS dlq_clean_stage,
    coalesce(d.dlq_bars, 0)                     AS dlq_bars_stage,
    c.clean - coalesce(d.dlq_bars, 0)           AS clean_in_bars,
    c.raw_records = c.clean + c.rejected + c.heartbeats
        AND c.rejected = coalesce(d.dlq_clean, 0) AS balanced,
    c.max_offset
FROM tick_counts c
LEFT JOIN (
    SELECT kafka_partition,
           count(*) FILTER (WHERE stage = 'clean') AS dlq_clean,
           count(*) FILTER (WHERE stage = 'bars')  AS dlq_bars
    FROM ticks_dlq
    GROUP BY kafka_partition
) d USING (kafka_partition);
