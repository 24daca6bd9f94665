select
    kafka_partition::integer        as kafka_partition,
    raw_records::bigint             as raw_records,
    clean::bigint                   as clean_records,
    rejected::bigint                as rejected_records,
    heartbeats::bigint              as heartbeat_records,
    dlq_clean_stage::bigint         as dead_letters_clean_stage,
    dlq_bars_stage::bigint          as dead_letters_bars_stage,
    clean_in_bars::bigint           as clean_in_bars,
    balanced::boolean               as is_balanced
from {{ source('serving', 'tick_accounting') }}
