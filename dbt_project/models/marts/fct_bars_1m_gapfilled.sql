-- One row per symbol and minute of every session segment (pre, regular, post) a symbol traded in,
-- for charting: minutes without a bar in bars_1m (policy MARKETPIPE_BARS_EMPTY_MINUTES=none, the
-- default) become flat bars at the previous close with volume 0 and is_gap_fill = true; minutes with
-- a bar keep it. The span runs from the symbol's first to its last bar of that segment, so nothing is
-- invented before the first trade or after the last one.
with bars as (
    select * from {{ ref('stg_bars') }} where timeframe = '1m'
),

spans as (
    select symbol, session_date, session, min(bar_start) as first_start, max(bar_start) as last_start
    from bars
    group by symbol, session_date, session
),

minutes as (
    select s.symbol, s.session_date, s.session, m.bar_start
    from spans s
    cross join lateral generate_series(s.first_start, s.last_start, interval '1 minute') as m(bar_start)
),

joined as (
    select
        m.symbol, m.session_date, m.session, m.bar_start,
        b.open_price, b.high_price, b.low_price, b.close_price, b.volume, b.vwap, b.trade_count,
        b.is_filled,
        count(b.close_price) over (
            partition by m.symbol, m.session_date, m.session order by m.bar_start
        ) as close_group
    from minutes m
    left join bars b on b.symbol = m.symbol and b.bar_start = m.bar_start
),

filled as (
    select
        *,
        first_value(close_price) over (
            partition by symbol, session_date, session, close_group order by bar_start
        ) as carried_close
    from joined
)

select
    symbol,
    session_date,
    session,
    bar_start,
    bar_start + interval '1 minute'               as bar_end,
    coalesce(open_price, carried_close)           as open_price,
    coalesce(high_price, carried_close)           as high_price,
    coalesce(low_price, carried_close)            as low_price,
    coalesce(close_price, carried_close)          as close_price,
    coalesce(volume, 0)                           as volume,
    coalesce(vwap, carried_close)                 as vwap,
    coalesce(trade_count, 0)                      as trade_count,
    close_price is null or coalesce(is_filled, false) as is_gap_fill
from filled
