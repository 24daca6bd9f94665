-- @jobs: indicators, backfill
-- ============================================================================================
-- 23 · Job `indicators` (and `marketpipe backfill`) — sinks
-- PostgreSQL tables indicators_{{timeframe}} and signals (JDBC upsert on the key, the JDBC options of
-- 13); Iceberg gold.indicators_{{timeframe}} and gold.signals (append-only, a commit per checkpoint, or
-- at the end of a batch backfill). The Kafka topic `signals` is in 24 (streaming only). The indicator
-- and signal rows (columns, key) are declared once, in udfs/schema.py.
-- ============================================================================================

-- ---- PostgreSQL

CREATE TABLE pg_indicators (
    {{indicator_columns_ddl}},
    PRIMARY KEY ({{indicator_key}}) NOT ENFORCED
) WITH ({{jdbc_sink_options}}, 'table-name' = '{{pg_schema}}.indicators_{{timeframe}}');

CREATE TABLE pg_signals (
    {{signal_columns_ddl}},
    PRIMARY KEY ({{signal_key}}) NOT ENFORCED
) WITH ({{jdbc_sink_options}}, 'table-name' = '{{pg_schema}}.signals');

-- ---- Iceberg

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.{{lake_gold}}.indicators_{{timeframe}} (
    {{indicator_columns_lake_ddl}}
);

CREATE TABLE IF NOT EXISTS {{iceberg_catalog}}.{{lake_gold}}.signals (
    {{signal_columns_lake_ddl}}
);

-- ---- what flows where

-- A signal row names the timeframe of the bars it was decided on.
CREATE VIEW signal_rows AS SELECT *, CAST('{{timeframe}}' AS STRING) AS timeframe FROM signals;

INSERT INTO pg_indicators SELECT {{indicator_columns}} FROM indicators_{{timeframe}};

INSERT INTO pg_signals SELECT {{signal_columns}} FROM signal_rows;

INSERT INTO {{iceberg_catalog}}.{{lake_gold}}.indicators_{{timeframe}}
SELECT {{indicator_columns_ltz}} FROM indicators_{{timeframe}};

INSERT INTO {{iceberg_catalog}}.{{lake_gold}}.signals SELECT {{signal_columns_ltz}} FROM signal_rows;
