-- One row per symbol, timeframe and bar: OHLCV, the bar's indicators and the signals emitted on it.
--
-- Indicators exist for 1m (streaming job) and 1d (daily backfill); bars of the other timeframes carry
-- NULL indicators. Signals are those emitted on this exact bar (a plain join on the key), not where a
-- strategy stands since its last signal: that is dim_latest_signal for now and fct_signal_history for
-- the past.
with

bars as (
    select * from {{ ref('int_bars') }}
),

indicators as (
    select '1m'::text as timeframe, * from {{ ref('stg_indicators_1m') }}
    union all
    select '1d'::text as timeframe, * from {{ ref('stg_indicators_1d') }}
),

signals_per_bar as (
    select
        symbol,
        timeframe,
        bar_start,
        jsonb_object_agg(strategy, action order by strategy)  as signals,
        count(*) filter (where action = 'buy')                as buy_signals,
        count(*) filter (where action = 'sell')               as sell_signals
    from {{ ref('stg_signals') }}
    group by symbol, timeframe, bar_start
)

select
    bars.symbol,
    bars.timeframe,
    bars.bar_start,
    bars.bar_end,
    bars.session,
    bars.session_date,
    bars.open_price,
    bars.high_price,
    bars.low_price,
    bars.close_price,
    bars.volume,
    bars.vwap,
    bars.trade_count,
    bars.is_filled,
    bars.bar_source,
    indicators.ema_12,
    indicators.ema_26,
    indicators.rsi_14,
    indicators.macd,
    indicators.macd_signal,
    indicators.macd_hist,
    indicators.sma_20,
    indicators.bb_middle,
    indicators.bb_upper,
    indicators.bb_lower,
    indicators.atr_14,
    indicators.stoch_k,
    indicators.stoch_d,
    indicators.vwap_session,
    indicators.volume_sma_20,
    coalesce(indicators.is_warm, false)               as is_warm,
    coalesce(signals_per_bar.signals, '{}'::jsonb)    as signals,
    coalesce(signals_per_bar.buy_signals, 0)          as buy_signals,
    coalesce(signals_per_bar.sell_signals, 0)         as sell_signals
from bars
left join indicators
    on indicators.symbol = bars.symbol
   and indicators.timeframe = bars.timeframe
   and indicators.bar_start = bars.bar_start
left join signals_per_bar
    on signals_per_bar.symbol = bars.symbol
   and signals_per_bar.timeframe = bars.timeframe
   and signals_per_bar.bar_start = bars.bar_start
