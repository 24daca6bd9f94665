-- Every buy and sell signal with what the price did afterwards: the return from the signal bar's
-- close to the close 1, 5 and 20 bars later in the same symbol and timeframe (NULL until that bar
-- exists). The bars are int_bars: filled (no-trade) bars count as bars, and 1d signals are measured
-- on the providers' daily bars where those exist.
--
-- signed_return_* turns the move into the signal's favour: the return for a buy, its negative for a
-- sell, so averaging it per strategy says whether the strategy was right.
with

bars as (
    select
        symbol,
        timeframe,
        bar_start,
        close_price,
        lead(close_price, 1)  over w as close_price_1,
        lead(close_price, 5)  over w as close_price_5,
        lead(close_price, 20) over w as close_price_20,
        lead(bar_start, 1)    over w as bar_start_1,
        lead(bar_start, 5)    over w as bar_start_5,
        lead(bar_start, 20)   over w as bar_start_20
    from {{ ref('int_bars') }}
    window w as (partition by symbol, timeframe order by bar_start)
),

trade_signals as (
    select * from {{ ref('stg_signals') }}
    where action in ('buy', 'sell')
),

joined as (
    select
        trade_signals.symbol,
        trade_signals.timeframe,
        trade_signals.bar_start,
        trade_signals.strategy,
        trade_signals.action,
        trade_signals.signal_reason,
        case trade_signals.action when 'buy' then 1 else -1 end          as direction,
        coalesce(bars.close_price, trade_signals.close_price)            as entry_price,
        bars.close_price_1 / nullif(bars.close_price, 0) - 1            as forward_return_1,
        bars.close_price_5 / nullif(bars.close_price, 0) - 1            as forward_return_5,
        bars.close_price_20 / nullif(bars.close_price, 0) - 1           as forward_return_20,
        bars.bar_start_1,
        bars.bar_start_5,
        bars.bar_start_20,
        trade_signals.rsi_14,
        trade_signals.macd_hist
    from trade_signals
    left join bars
        on bars.symbol = trade_signals.symbol
       and bars.timeframe = trade_signals.timeframe
       and bars.bar_start = trade_signals.bar_start
)

select
    symbol,
    timeframe,
    bar_start,
    strategy,
    action,
    signal_reason,
    direction,
    entry_price,
    forward_return_1,
    forward_return_5,
    forward_return_20,
    direction * forward_return_1  as signed_return_1,
    direction * forward_return_5  as signed_return_5,
    direction * forward_return_20 as signed_return_20,
    bar_start_1,
    bar_start_5,
    bar_start_20,
    rsi_14,
    macd_hist
from joined
