-- @jobs: bars, backfill-ticks
-- ============================================================================================
-- 13 · Job `bars` — PostgreSQL sinks (also the sinks of `marketpipe backfill --ticks`)
-- JDBC upsert on the primary key (INSERT ... ON CONFLICT DO UPDATE; tables created by
-- `marketpipe stack up`, marketpipe/stack/pg_schema.py) into schema {{pg_schema}}: bars, every
-- timeframe keyed by (symbol, timeframe, bar_start) — a revision updates its row in place; views
-- bars_1m ... bars_1d show one timeframe each — ticks_dlq and tick_counts. Each row's columns and
-- key (the `<row>_columns*` and `<row>_key` variables) are declared once, in udfs/schema.py; the JDBC
-- options, the same for every sink, are `jdbc_sink_options` (marketpipe/jobs/sql.py).
-- Rows are flushed every {{jdbc_flush_interval_ms}} ms, after 500 rows and on every checkpoint;
-- at-least-once delivery is made idempotent by the key. {{jdbc_sink_url}} is the JDBC URL with
-- reWriteBatchedInserts=true: a flushed batch goes out as multi-row INSERTs. A backfill (batch) runs this file as is, with
-- `--pg-schema` to write elsewhere, e.g. to compare it with a replay; its dead-lettered file rows have
-- partition -1.
-- ============================================================================================

-- ---- PostgreSQL

CREATE TABLE pg_bars (
    {{bar_columns_ddl}},
    PRIMARY KEY ({{bar_key}}) NOT ENFORCED
) WITH ({{jdbc_sink_options}}, 'table-name' = '{{pg_schema}}.bars');

CREATE TABLE pg_ticks_dlq (
    {{dead_letter_columns_ddl}},
    PRIMARY KEY ({{dead_letter_key}}) NOT ENFORCED
) WITH ({{jdbc_sink_options}}, 'table-name' = '{{pg_schema}}.ticks_dlq');

CREATE TABLE pg_tick_counts (
    {{tick_counts_columns_ddl}},
    PRIMARY KEY ({{tick_counts_key}}) NOT ENFORCED
) WITH ({{jdbc_sink_options}}, 'table-name' = '{{pg_schema}}.tick_counts');

-- ---- what flows where

INSERT INTO pg_bars SELECT {{bar_columns}} FROM bars;

INSERT INTO pg_ticks_dlq
SELECT kafka_partition, kafka_offset, stage, reason, symbol, payload,
       COALESCE(received_at, TIMESTAMP '1970-01-01 00:00:00')  -- a backfill's file rows have no Kafka time
FROM ticks_dead;

INSERT INTO pg_tick_counts SELECT {{tick_counts_columns}} FROM tick_counts;
