-- ============================================================================================
-- 21 · Job `indicators` — indicators: EMA(12), EMA(26), RSI(14, Wilder), MACD(12, 26, 9)
-- The one step that is not SQL. Indicators are recursive and keep per-symbol state, which a general
-- Python UDAF cannot do in a streaming OVER window, so the bars go through a Python KeyedProcessFunction
-- (udfs/flink.py) keyed by symbol, holding udfs.IndicatorSet in checkpointed keyed state. The math is
-- pure Python in udfs/indicators/ and follows TA-Lib's conventions.
-- Times cross the Python boundary as epoch milliseconds.
-- ============================================================================================

CREATE VIEW indicator_input AS
SELECT
    symbol,
    TIMESTAMPDIFF(SECOND, TIMESTAMP '1970-01-01 00:00:00', bar_start) * CAST(1000 AS BIGINT) AS bar_start_ms,
    `close`,
    rowtime
FROM bars_1m;

-- @python indicator_output = udfs.flink:attach_indicators(indicator_input)

CREATE VIEW indicators_1m AS
SELECT
    symbol,
    CAST(TO_TIMESTAMP_LTZ(bar_start_ms, 3) AS TIMESTAMP(3)) AS bar_start,
    `close`,
    ema_12,
    ema_26,
    rsi_14,
    macd,
    macd_signal,
    macd_hist,
    macd_hist_prev,
    is_warm,
    rowtime
FROM indicator_output;
