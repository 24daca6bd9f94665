select
    symbol::text                    as symbol,
    bar_start::timestamptz          as bar_start,
    bar_end::timestamptz            as bar_end,
    open::double precision          as open_price,
    high::double precision          as high_price,
    low::double precision           as low_price,
    close::double precision         as close_price,
    volume::bigint                  as volume,
    vwap::double precision          as vwap,
    trade_count::bigint             as trade_count
from {{ source('serving', 'bars_1m') }}
