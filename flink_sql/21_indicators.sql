-- @jobs: indicators, backfill
-- ============================================================================================
-- 21 · Job `indicators` — indicators: EMA(12), EMA(26), RSI(14, Wilder), MACD(12, 26, 9), SMA(20),
--      Bollinger(20, 2), ATR(14, Wilder), stochastic(14, 3, 3), session VWAP, SMA(20) of volume
-- The one step that is not SQL. Indicators are recursive and keep per-symbol state, which a general
-- Python UDAF cannot do in a streaming OVER window, so the bars go through a Python KeyedProcessFunction
-- (udfs/flink/indicators.py) keyed by symbol, holding udfs.indicators.IndicatorSet in checkpointed keyed state. The math is
-- pure Python in udfs/indicators/ and follows TA-Lib's conventions (docs/indicators.md). In a batch
-- backfill the same SQL runs and udfs/flink/indicators.py switches to a wrapper that hands each symbol's whole
-- series to the same Python code in one call. `{{timeframe}}` is the bar timeframe (1m, 1d, ...).
-- Times cross the Python boundary as epoch milliseconds.
-- ============================================================================================

CREATE VIEW indicator_input AS
SELECT
    symbol,
    TIMESTAMPDIFF(SECOND, TIMESTAMP '1970-01-01 00:00:00', bar_start) * CAST(1000 AS BIGINT) AS bar_start_ms,
    `open`, high, low, `close`, volume, vwap,
    rowtime
FROM bars_{{timeframe}};

-- @python indicator_output = udfs.flink.indicators:attach_indicators(indicator_input)

-- `indicator_outputs` are the indicator set's output columns (the fields of udfs.IndicatorRow, via
-- udfs/schema.py): the values (ema_12, ..., rsi_14_prev, macd_hist, ..., volume_sma_20), then the flags.
-- Every value is NULL while its indicator warms up; `<name>_warm` says so explicitly, and `is_warm`
-- means EMA(12), EMA(26), RSI(14) and MACD all have values. `*_prev` is the previous bar's value.
CREATE VIEW indicators_{{timeframe}} AS
SELECT
    symbol,
    CAST(TO_TIMESTAMP_LTZ(bar_start_ms, 3) AS TIMESTAMP(3)) AS bar_start,
    `close`,
    volume,
    {{indicator_outputs}},
    rowtime
FROM indicator_output;
