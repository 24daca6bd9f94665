-- ============================================================================================
-- 20 · Job `indicators` — source: bars from Kafka (topic bars.1m, written by job `bars`)
-- Bars of a symbol share a partition and arrive in bar order, which is the order the recursive
-- indicators need. Event time is the bar's start; nothing downstream waits on it, it only travels
-- with each row.
-- ============================================================================================

CREATE TABLE bars_{{timeframe}} (
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
    rowtime AS CAST(bar_start AS TIMESTAMP_LTZ(3)),
    WATERMARK FOR rowtime AS rowtime
) WITH (
    'connector'                     = 'kafka',
    'topic'                         = '{{topic_bars}}',
    'properties.bootstrap.servers'  = '{{kafka_bootstrap}}',
    'properties.group.id'           = 'marketpipe-indicators',
    'scan.startup.mode'             = 'earliest-offset',
    'key.format'                    = 'raw',
    'key.fields'                    = 'symbol',
    'value.format'                  = 'json',
    'value.fields-include'          = 'ALL'
);
