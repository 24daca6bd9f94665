-- ============================================================================================
-- 22 · Job `indicators` — signals: rule-based buy / sell / hold, one row per warm bar and strategy
-- Strategy `macd_rsi`: MACD crossover filtered by RSI.
--   buy   the MACD line crosses above its signal line (histogram goes from <= 0 to > 0) and RSI(14) < 70
--   sell  the MACD line crosses below its signal line (histogram goes from >= 0 to < 0) and RSI(14) > 30
--   hold  otherwise; the reason says which rule held it back
-- Only bars whose indicators are all warm produce signals.
-- To change the logic, edit this file and restart the jobs (`make jobs-restart`).
-- ============================================================================================

CREATE VIEW signals AS
SELECT
    symbol,
    bar_start,
    'macd_rsi' AS strategy,
    CASE
        WHEN crossed_up   AND rsi_14 < 70 THEN 'buy'
        WHEN crossed_down AND rsi_14 > 30 THEN 'sell'
        ELSE 'hold'
    END AS action,
    CASE
        WHEN crossed_up AND rsi_14 < 70
            THEN 'MACD crossed above signal (hist ' || hist_txt || ') with RSI ' || rsi_txt || ' < 70'
        WHEN crossed_up
            THEN 'MACD crossed above signal but RSI ' || rsi_txt || ' >= 70 (overbought)'
        WHEN crossed_down AND rsi_14 > 30
            THEN 'MACD crossed below signal (hist ' || hist_txt || ') with RSI ' || rsi_txt || ' > 30'
        WHEN crossed_down
            THEN 'MACD crossed below signal but RSI ' || rsi_txt || ' <= 30 (oversold)'
        ELSE 'no MACD crossover (hist ' || hist_txt || ')'
    END AS reason,
    `close`,
    macd_hist,
    rsi_14,
    rowtime
FROM (
    SELECT
        *,
        COALESCE(macd_hist_prev <= 0 AND macd_hist > 0, FALSE) AS crossed_up,
        COALESCE(macd_hist_prev >= 0 AND macd_hist < 0, FALSE) AS crossed_down,
        CAST(ROUND(COALESCE(macd_hist_prev, macd_hist), 4) AS STRING) || ' -> '
            || CAST(ROUND(macd_hist, 4) AS STRING)              AS hist_txt,
        CAST(ROUND(rsi_14, 2) AS STRING)                         AS rsi_txt
    FROM indicators_1m
    WHERE is_warm
);
