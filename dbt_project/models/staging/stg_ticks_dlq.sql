select
    kafka_partition::integer        as kafka_partition,
    kafka_offset::bigint            as kafka_offset,
    stage::text                     as rejection_stage,
    reason::text                    as rejection_reason,
    symbol::text                    as symbol,
    payload::text                   as raw_payload,
    received_at::timestamptz        as received_at
from {{ source('serving', 'ticks_dlq') }}
