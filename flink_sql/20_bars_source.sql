-- @jobs: indicators
-- ============================================================================================
-- 20 · Job `indicators` — source: bars from Kafka (topic bars.1m, written by job `bars`)
-- Bars of a symbol share a partition and arrive in bar order, which is the order the recursive
-- indicators need. Event time is the bar's start; nothing downstream waits on it, it only travels
-- with each row. A bar revised by a late tick (revision > 0, docs/bars.md) is re-emitted on the topic;
-- indicators are recursive and were already computed from the first emission, so they skip revisions.
-- Should a bar still arrive twice, the indicator step ignores a bar_start it has already applied.
-- ============================================================================================

CREATE TABLE bars_topic (
    symbol       STRING,
    bar_start    TIMESTAMP(3),
    bar_end      TIMESTAMP(3),
    `open`       DOUBLE,
    high         DOUBLE,
    low          DOUBLE,
    `close`      DOUBLE,
    volume       BIGINT,
    vwap         DOUBLE,
    trade_count  BIGINT,
    revision     INT,
    rowtime AS CAST(bar_start AS TIMESTAMP_LTZ(3)),
    WATERMARK FOR rowtime AS rowtime
) WITH (
    'connector'                     = 'kafka',
    'topic'                         = '{{topic_bars}}',
    'properties.bootstrap.servers'  = '{{kafka_bootstrap}}',
    {{kafka_security_options}}
    'properties.group.id'           = 'marketpipe-indicators',
    -- only bars of committed transactions: a bar the bars job wrote before a crash and then rewrote
    -- after restoring its checkpoint is seen once
    'properties.isolation.level'    = 'read_committed',
    'scan.startup.mode'             = 'earliest-offset',
    'key.format'                    = 'raw',
    'key.fields'                    = 'symbol',
    -- avro-confluent: the writer schema comes from the registry by the id in each record, the reader
    -- schema is these columns (Avro resolution skips the fields not listed); JSON without a registry
    {{value_format_bars_source}},
    'value.fields-include'          = 'ALL'
);

CREATE VIEW bars_{{timeframe}} AS
SELECT symbol, bar_start, bar_end, `open`, high, low, `close`, volume, vwap, trade_count, rowtime
FROM bars_topic
WHERE revision = 0 OR revision IS NULL;
