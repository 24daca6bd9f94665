-- @jobs: indicators
-- ============================================================================================
-- 20 · Job `indicators` — source: bars from Kafka (topic bars.1m, written by job `bars`)
-- Bars of a symbol share a partition and arrive in bar order, which is the order the recursive
-- indicators need. Event time is the bar's start; nothing downstream waits on it, it only travels
-- with each row. A bar revised by a late tick (revision > 0, docs/bars.md) is re-emitted on the topic;
-- indicators are recursive and were already computed from the first emission, so they skip revisions.
-- Should a bar still arrive twice, the indicator step ignores a bar_start it has already applied.
-- ============================================================================================

-- The bar row of the topic (udfs/schema.py); the view below keeps what the indicator step reads.
CREATE TABLE bars_topic (
    {{timeframe_bar_columns_ddl}},
    rowtime AS CAST(bar_start AS TIMESTAMP_LTZ(3)),
    WATERMARK FOR rowtime AS rowtime
) WITH (
    {{kafka_source_options}},
    'topic' = '{{topic_bars}}', 'properties.group.id' = 'marketpipe-indicators',
    -- only bars of committed transactions: a bar the bars job wrote before a crash and then rewrote
    -- after restoring its checkpoint is seen once
    'properties.isolation.level' = 'read_committed',
    -- avro-confluent: the writer schema comes from the registry by the id in each record, the reader
    -- schema is these columns; JSON without a registry
    {{keyed_value_bars_source}}
);

CREATE VIEW bars_{{timeframe}} AS
SELECT {{indicator_input_columns}}, rowtime FROM bars_topic WHERE revision = 0 OR revision IS NULL;
