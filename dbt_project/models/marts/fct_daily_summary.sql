-- One row per symbol and trading day from the providers' daily bars: how the day moved.
--
-- "Previous" means the symbol's previous row in daily_bars (the previous trading day it has data
-- for), not the previous calendar day: weekends and holidays have no rows. A gap in the loaded
-- history therefore shows as prev_session_date further back than one trading day.
--
-- The 20-day volume average covers the 20 rows strictly before the day, so a spike does not dilute
-- its own baseline; it stays NULL until 20 prior days exist.
with

days as (
    select * from {{ ref('stg_daily_bars') }}
),

with_history as (
    select
        days.*,
        lag(session_date)    over w as prev_session_date,
        lag(close_price)     over w as prev_close_price,
        lag(adj_close_price) over w as prev_adj_close_price,
        avg(volume)   over w20 as volume_avg_20d,
        count(volume) over w20 as volume_days_20d
    from days
    window
        w   as (partition by symbol order by session_date),
        w20 as (partition by symbol order by session_date rows between 20 preceding and 1 preceding)
)

select
    symbol,
    session_date,
    bar_start,
    open_price,
    high_price,
    low_price,
    close_price,
    volume,
    adj_close_price,
    coalesce(adj_close_price, close_price)                        as adj_or_close_price,
    dividend,
    split_factor,
    prev_session_date,
    prev_close_price,
    close_price / nullif(prev_close_price, 0) - 1                 as daily_return,
    adj_close_price / nullif(prev_adj_close_price, 0) - 1         as adj_daily_return,
    open_price / nullif(prev_close_price, 0) - 1                  as gap_return,
    high_price - low_price                                        as range_abs,
    (high_price - low_price) / nullif(close_price, 0)             as range_pct,
    case when volume_days_20d = 20 then volume_avg_20d::double precision end as volume_avg_20d,
    case when volume_days_20d = 20
         then volume / nullif(volume_avg_20d, 0)::double precision end       as volume_ratio_20d,
    data_source,
    loaded_at
from with_history
