-- Every bar timeframe the pipeline writes (1m from ticks, 5m..1d rolled up from 1m), one row per
-- symbol, timeframe and bar: the serving table `bars` (udfs/schema.py); renames and types only.
select
    symbol::text                    as symbol,
    timeframe::text                 as timeframe,
    bar_start::timestamptz          as bar_start,
    bar_end::timestamptz            as bar_end,
    {{ stg_ohlcv() }},
    vwap::double precision          as vwap,
    trade_count::bigint             as trade_count,
    session::text                   as session,
    session_date::date              as session_date,
    first_trade_at::timestamptz     as first_trade_at,
    last_trade_at::timestamptz      as last_trade_at,
    pv_sum::double precision        as pv_sum,
    filled::boolean                 as is_filled,
    revision::integer               as revision
from {{ source('serving', 'bars') }}
