select
    symbol::text                    as symbol,
    timeframe::text                 as timeframe,
    bar_start::timestamptz          as bar_start,
    strategy::text                  as strategy,
    action::text                    as action,
    reason::text                    as signal_reason,
    close::double precision         as close_price,
    macd_hist::double precision     as macd_hist,
    rsi_14::double precision        as rsi_14
from {{ source('serving', 'signals') }}
