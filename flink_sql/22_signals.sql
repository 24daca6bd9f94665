-- @jobs: indicators, backfill
-- ============================================================================================
-- 22 · Job `indicators` — signals: rule-based buy / sell / hold, one row per bar and strategy
-- A strategy is one SELECT block below over `signal_input`: the indicator view `indicators_{{timeframe}}`
-- (21; `indicators_1m` for the default 1-minute bars) with the facts the strategies share (a MACD
-- crossing, a volume confirmation) and the rounded values their reasons quote. `signals` is the UNION
-- ALL of the blocks. Every block returns the same columns:
--   symbol, bar_start, strategy, action ('buy' | 'sell' | 'hold'), reason, close, macd_hist, rsi_14, rowtime
-- and its `reason` spells out the (rounded) indicator values that decided the action.
-- Warm-up: each block's WHERE keeps only bars on which the indicators THAT strategy reads are warm
-- (its own `<indicator>_warm` flags), so a strategy on a long-period indicator does not hold back
-- the others, and no strategy ever decides on a NULL.
-- To add a strategy, append `UNION ALL` and one more block (header comment, then the SELECT); the
-- thresholds are literals on purpose — edit them here. Validate with
-- `marketpipe jobs explain --job indicators`, apply with `make jobs-restart`. See docs/signals.md.
-- ============================================================================================

CREATE VIEW signal_input AS
SELECT
    *,
    -- MACD crossings: the histogram changes sign (on the first warm bar macd_hist_prev is NULL: no crossing)
    COALESCE(macd_hist_prev <= 0 AND macd_hist > 0, FALSE)                  AS crossed_up,
    COALESCE(macd_hist_prev >= 0 AND macd_hist < 0, FALSE)                  AS crossed_down,
    volume > 1.5 * volume_sma_20                                            AS volume_confirmed,
    -- the values a reason quotes, rounded
    CAST(ROUND(COALESCE(macd_hist_prev, macd_hist), 4) AS STRING) || ' -> '
        || CAST(ROUND(macd_hist, 4) AS STRING)                              AS hist_txt,
    CAST(ROUND(rsi_14, 2) AS STRING)                                        AS rsi_txt,
    CAST(ROUND(rsi_14_prev, 2) AS STRING)                                   AS rsi_prev_txt,
    CAST(ROUND(`close`, 4) AS STRING)                                       AS close_txt,
    CAST(ROUND(bb_upper, 4) AS STRING)                                      AS upper_txt,
    CAST(ROUND(bb_lower, 4) AS STRING)                                      AS lower_txt,
    'volume ' || CAST(volume AS STRING) || ', '
        || COALESCE(CAST(ROUND(volume / NULLIF(volume_sma_20, 0), 2) AS STRING), 'n/a')
        || 'x its 20-bar average ' || CAST(CAST(ROUND(volume_sma_20, 0) AS BIGINT) AS STRING)
                                                                            AS volume_txt
FROM indicators_{{timeframe}};

CREATE VIEW signals AS

-- ---- Strategy `macd_rsi`: MACD crossover filtered by RSI(14)
--   buy   the MACD line crosses above its signal line (histogram goes from <= 0 to > 0) and RSI(14) < 70
--   sell  the MACD line crosses below its signal line (histogram goes from >= 0 to < 0) and RSI(14) > 30
--   hold  otherwise; the reason says which rule held it back
--   warm  macd_warm AND rsi_14_warm (on the first warm bar macd_hist_prev is NULL: no crossover)
SELECT symbol, bar_start, CAST('macd_rsi' AS STRING) AS strategy,
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
    `close`, macd_hist, rsi_14, rowtime
FROM signal_input WHERE macd_warm AND rsi_14_warm

UNION ALL

-- ---- Strategy `rsi_reversion`: RSI(14) mean reversion at 30 / 70
--   buy   RSI crosses back up through 30   (previous bar < 30 and this bar >= 30)
--   sell  RSI crosses back down through 70 (previous bar > 70 and this bar <= 70)
--   hold  otherwise; the reason says where RSI is (below 30, above 70, or in between)
--   warm  rsi_14_warm AND rsi_14_prev IS NOT NULL (a crossing needs two RSI values)
SELECT symbol, bar_start, CAST('rsi_reversion' AS STRING) AS strategy,
    CASE
        WHEN rsi_14_prev < 30 AND rsi_14 >= 30 THEN 'buy'
        WHEN rsi_14_prev > 70 AND rsi_14 <= 70 THEN 'sell'
        ELSE 'hold'
    END AS action,
    CASE
        WHEN rsi_14_prev < 30 AND rsi_14 >= 30
            THEN 'RSI crossed back above 30 (' || rsi_prev_txt || ' -> ' || rsi_txt || ')'
        WHEN rsi_14_prev > 70 AND rsi_14 <= 70
            THEN 'RSI crossed back below 70 (' || rsi_prev_txt || ' -> ' || rsi_txt || ')'
        WHEN rsi_14 < 30
            THEN 'RSI ' || rsi_txt || ' below 30 (prev ' || rsi_prev_txt || '), waiting for it to turn up'
        WHEN rsi_14 > 70
            THEN 'RSI ' || rsi_txt || ' above 70 (prev ' || rsi_prev_txt || '), waiting for it to turn down'
        ELSE 'RSI ' || rsi_txt || ' between 30 and 70 (prev ' || rsi_prev_txt || '), no reversal'
    END AS reason,
    `close`, macd_hist, rsi_14, rowtime
FROM signal_input WHERE rsi_14_warm AND rsi_14_prev IS NOT NULL

UNION ALL

-- ---- Strategy `bb_breakout`: Bollinger(20, 2σ) breakout confirmed by volume
--   buy   close > upper band and volume > 1.5 × its 20-bar average (volume_sma_20)
--   sell  close < lower band and volume > 1.5 × its 20-bar average
--   hold  otherwise: a breakout without volume confirmation, or the close inside the bands
--         (touching a band counts as inside)
--   warm  bb_warm AND volume_sma_20_warm
SELECT symbol, bar_start, CAST('bb_breakout' AS STRING) AS strategy,
    CASE
        WHEN `close` > bb_upper AND volume_confirmed THEN 'buy'
        WHEN `close` < bb_lower AND volume_confirmed THEN 'sell'
        ELSE 'hold'
    END AS action,
    CASE
        WHEN `close` > bb_upper AND volume_confirmed
            THEN 'close ' || close_txt || ' above upper band ' || upper_txt || ' on ' || volume_txt
                 || ' (> 1.5x)'
        WHEN `close` > bb_upper
            THEN 'close ' || close_txt || ' above upper band ' || upper_txt || ' but only ' || volume_txt
                 || ' (needs > 1.5x)'
        WHEN `close` < bb_lower AND volume_confirmed
            THEN 'close ' || close_txt || ' below lower band ' || lower_txt || ' on ' || volume_txt
                 || ' (> 1.5x)'
        WHEN `close` < bb_lower
            THEN 'close ' || close_txt || ' below lower band ' || lower_txt || ' but only ' || volume_txt
                 || ' (needs > 1.5x)'
        ELSE 'close ' || close_txt || ' inside the bands (' || lower_txt || ' .. ' || upper_txt || ')'
    END AS reason,
    `close`, macd_hist, rsi_14, rowtime
FROM signal_input WHERE bb_warm AND volume_sma_20_warm;
