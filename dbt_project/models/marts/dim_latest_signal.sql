-- The most recent signal of every strategy on every symbol: what each strategy says right now.
select distinct on (symbol, timeframe, strategy)
    symbol,
    timeframe,
    strategy,
    bar_start as signal_bar_start,
    action,
    signal_reason,
    close_price,
    macd_hist,
    rsi_14
from {{ ref('stg_signals') }}
order by symbol, timeframe, strategy, bar_start desc
