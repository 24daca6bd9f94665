select
    symbol::text                    as symbol,
    bar_start::timestamptz          as bar_start,
    close::double precision         as close_price,
    ema_12::double precision        as ema_12,
    ema_26::double precision        as ema_26,
    rsi_14::double precision        as rsi_14,
    macd::double precision          as macd,
    macd_signal::double precision   as macd_signal,
    macd_hist::double precision     as macd_hist,
    is_warm::boolean                as is_warm
from {{ source('serving', 'indicators_1m') }}
