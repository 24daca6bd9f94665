-- One row per symbol and one-minute bar: the bar, its indicators, and where every strategy stands.
--
-- "Where a strategy stands" is its latest signal at or before the bar (an as-of join), not only a
-- signal emitted on that exact bar: a strategy that said buy two bars ago and nothing since is still
-- at buy. Bars before a strategy's first signal simply leave it out of latest_signals.
with

bars as (
    select * from {{ ref('stg_bars_1m') }}
),

indicators as (
    select * from {{ ref('stg_indicators_1m') }}
),

strategies as (
    select distinct symbol, strategy
    from {{ ref('stg_signals') }}
    where timeframe = '1m'
),

latest_signal_per_strategy as (
    select
        bars.symbol,
        bars.bar_start,
        strategies.strategy,
        latest.action,
        latest.signal_reason,
        latest.bar_start as signal_bar_start
    from bars
    inner join strategies
        on strategies.symbol = bars.symbol
    cross join lateral (
        -- referenced directly (not through a CTE) so the planner can use signals' primary key
        select sig.action, sig.signal_reason, sig.bar_start
        from {{ ref('stg_signals') }} as sig
        where sig.symbol = bars.symbol
          and sig.timeframe = '1m'
          and sig.strategy = strategies.strategy
          and sig.bar_start <= bars.bar_start
        order by sig.bar_start desc
        limit 1
    ) as latest
),

signals_per_bar as (
    select
        symbol,
        bar_start,
        jsonb_object_agg(
            strategy,
            jsonb_build_object(
                'action', action,
                'reason', signal_reason,
                'signal_bar_start', signal_bar_start
            )
        ) as latest_signals,
        count(*) filter (where action = 'buy')  as buy_strategies,
        count(*) filter (where action = 'sell') as sell_strategies,
        count(*) filter (where action = 'hold') as hold_strategies
    from latest_signal_per_strategy
    group by symbol, bar_start
)

select
    bars.symbol,
    bars.bar_start,
    bars.bar_end,
    bars.open_price,
    bars.high_price,
    bars.low_price,
    bars.close_price,
    bars.volume,
    bars.vwap,
    bars.trade_count,
    indicators.ema_12,
    indicators.ema_26,
    indicators.rsi_14,
    indicators.macd,
    indicators.macd_signal,
    indicators.macd_hist,
    coalesce(indicators.is_warm, false)               as is_warm,
    coalesce(signals_per_bar.latest_signals, '{}'::jsonb) as latest_signals,
    coalesce(signals_per_bar.buy_strategies, 0)       as buy_strategies,
    coalesce(signals_per_bar.sell_strategies, 0)      as sell_strategies,
    coalesce(signals_per_bar.hold_strategies, 0)      as hold_strategies
from bars
left join indicators
    on indicators.symbol = bars.symbol
   and indicators.bar_start = bars.bar_start
left join signals_per_bar
    on signals_per_bar.symbol = bars.symbol
   and signals_per_bar.bar_start = bars.bar_start
