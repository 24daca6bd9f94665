-- Where every strategy stands right now on every symbol and timeframe: its most recent signal (hold
-- included: a strategy that now says hold has stepped aside) and its most recent buy or sell.
with

latest as (
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
),

latest_trade as (
    select distinct on (symbol, timeframe, strategy)
        symbol,
        timeframe,
        strategy,
        bar_start   as trade_bar_start,
        action      as trade_action,
        close_price as trade_close_price
    from {{ ref('stg_signals') }}
    where action in ('buy', 'sell')
    order by symbol, timeframe, strategy, bar_start desc
)

select
    latest.symbol,
    latest.timeframe,
    latest.strategy,
    latest.signal_bar_start,
    latest.action,
    latest.signal_reason,
    latest.close_price,
    latest.macd_hist,
    latest.rsi_14,
    latest_trade.trade_action       as last_trade_action,
    latest_trade.trade_bar_start    as last_trade_bar_start,
    latest_trade.trade_close_price  as last_trade_close_price
from latest
left join latest_trade
    on latest_trade.symbol = latest.symbol
   and latest_trade.timeframe = latest.timeframe
   and latest_trade.strategy = latest.strategy
