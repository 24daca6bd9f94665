-- Every record of the raw topic accounted for, per partition and in total (docs/ticks.md): what BI
-- tools chart to see that nothing was lost. Exact once the pipeline is idle.
with partitions as (
    select * from {{ ref('stg_tick_accounting') }}
)
select
    kafka_partition::text           as scope,
    raw_records, clean_records, rejected_records, heartbeat_records,
    dead_letters_bars_stage, clean_in_bars, is_balanced
from partitions
union all
select
    'all', sum(raw_records), sum(clean_records), sum(rejected_records), sum(heartbeat_records),
    sum(dead_letters_bars_stage), sum(clean_in_bars), coalesce(bool_and(is_balanced), true)
from partitions
