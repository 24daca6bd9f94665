-- @jobs: indicators
-- ============================================================================================
-- 24 · Job `indicators` — the Kafka topic `signals` (streaming only; a backfill does not re-announce
-- history to live consumers). Written in Kafka transactions committed with each checkpoint (exactly
-- once, as the topics of 14): read it with isolation.level=read_committed. Values are Avro registered in
-- the schema registry, the schema derived from the signal row of udfs/schema.py, as this table is
-- (marketpipe/contracts, docs/contracts.md). `signal_rows` is the view of 23.
-- ============================================================================================

CREATE TABLE kafka_signals (
    {{signal_columns_ddl}}
) WITH (
    'connector' = 'kafka', 'topic' = '{{topic_signals}}',
    'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = 'marketpipe-signals',
    'properties.transaction.timeout.ms' = '{{kafka_transaction_timeout_ms}}',
    'properties.bootstrap.servers' = '{{kafka_bootstrap}}',
    {{kafka_security_options}}
    'properties.linger.ms' = '20', 'properties.batch.size' = '262144',
    'key.format' = 'raw', 'key.fields' = 'symbol',
    {{value_format_signals}}, 'value.fields-include' = 'ALL'
);

INSERT INTO kafka_signals SELECT {{signal_columns}} FROM signal_rows;
