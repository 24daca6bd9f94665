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

-- The bar columns the indicator step reads (the row `indicator_input` of udfs/schema.py, bar start as
-- epoch ms) and the event time.
CREATE VIEW indicator_input AS SELECT {{indicator_input_to_binding}}, rowtime FROM bars_{{timeframe}};

-- @python indicator_output = udfs.flink.indicators:attach_indicators(indicator_input)

-- The indicator row of udfs/schema.py: symbol, bar_start, close, volume, then the indicator set's
-- outputs (the fields of udfs.IndicatorRow): the values (ema_12, ..., rsi_14_prev, macd_hist, ...,
-- volume_sma_20), then the flags. Every value is NULL while its indicator warms up; `<name>_warm` says so
-- explicitly, and `is_warm` means EMA(12), EMA(26), RSI(14) and MACD all have values. `*_prev` is the
-- previous bar's value.
CREATE VIEW indicators_{{timeframe}} AS SELECT {{indicator_from_binding}}, rowtime FROM indicator_output;
