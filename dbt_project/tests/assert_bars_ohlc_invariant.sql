-- A 1-minute bar's low and high bound every trade in it, so low <= open, close <= high.
-- Returns the bars that break it (the test fails when any row comes back).
select
    symbol,
    bar_start,
    open_price,
    high_price,
    low_price,
    close_price
from {{ ref('stg_bars_1m') }}
where low_price > high_price
   or open_price  not between low_price and high_price
   or close_price not between low_price and high_price
