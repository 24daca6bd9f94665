-- @jobs: indicators
-- ============================================================================================
-- 24 · Job `indicators` — the Kafka topic `signals` (streaming only; a backfill does not re-announce
-- history to live consumers). Written in Kafka transactions committed with each checkpoint (exactly
-- once, as the topics of 14): read it with isolation.level=read_committed. Values are Avro registered in
-- the schema registry, the schema derived from the signal row of udfs/schema.py, as this table is
-- (marketpipe/contracts, docs/contracts.md). `signal_rows` is the view of 23.
-- ============================================================================================

CREATE TABLE kafka_signals ({{signal_columns_ddl}}) WITH ({{kafka_sink_options}},
    'topic' = '{{topic_signals}}', 'sink.transactional-id-prefix' = 'marketpipe-signals', {{keyed_value_signals}});

INSERT INTO kafka_signals SELECT {{signal_columns}} FROM signal_rows;
