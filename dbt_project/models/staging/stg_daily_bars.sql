select
    symbol::text                    as symbol,
    session_date::date              as session_date,
    bar_start::timestamptz          as bar_start,
    {{ stg_ohlcv() }},
    adj_close::double precision     as adj_close_price,
    dividend::double precision      as dividend,
    split_factor::double precision  as split_factor,
    source::text                    as data_source,
    loaded_at::timestamptz          as loaded_at
from {{ source('serving', 'daily_bars') }}
