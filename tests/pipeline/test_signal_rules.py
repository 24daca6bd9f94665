"""The signal rules of flink_sql/22_signals.sql, run by Flink itself on hand-made indicator rows."""

from __future__ import annotations

from typing import Any

import pytest

from marketpipe.jobs.sql import SQL_DIR, render, split_statements, template_variables
from marketpipe.settings import Settings

pytestmark = pytest.mark.pipeline

# (case, macd_hist_prev, macd_hist, rsi_14, is_warm) -> expected action and a phrase of the reason
CASES = [
    ("cross up, rsi ok", -0.5, 0.2, 55.0, True, "buy", "crossed above"),
    ("cross up from zero", 0.0, 0.1, 40.0, True, "buy", "crossed above"),
    ("cross up, overbought", -0.5, 0.2, 75.0, True, "hold", "overbought"),
    ("cross down, rsi ok", 0.4, -0.1, 45.0, True, "sell", "crossed below"),
    ("cross down, oversold", 0.4, -0.1, 25.0, True, "hold", "oversold"),
    ("no cross, positive", 0.3, 0.5, 50.0, True, "hold", "no MACD crossover"),
    ("no cross, negative", -0.3, -0.5, 50.0, True, "hold", "no MACD crossover"),
    ("first warm bar", None, 0.5, 50.0, True, "hold", "no MACD crossover"),
    ("not warm", -0.5, 0.2, 55.0, False, None, None),
]


@pytest.fixture(scope="module")
def signals() -> dict[str, tuple[Any, ...]]:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.get_config().set("parallelism.default", "1")
    values = ",\n".join(
        f"('{case}', TIMESTAMP '2024-06-13 13:{i:02d}:00', 100.0, "
        f"{'CAST(NULL AS DOUBLE)' if prev is None else prev}, {hist}, {rsi}, {str(warm).upper()})"
        for i, (case, prev, hist, rsi, warm, *_rest) in enumerate(CASES)
    )
    t_env.execute_sql(
        "CREATE TEMPORARY VIEW indicators_1m AS SELECT symbol, bar_start, `close`, "
        "CAST(NULL AS DOUBLE) AS ema_12, CAST(NULL AS DOUBLE) AS ema_26, rsi_14, "
        "CAST(NULL AS DOUBLE) AS macd, CAST(NULL AS DOUBLE) AS macd_signal, macd_hist, macd_hist_prev, "
        "is_warm, CAST(bar_start AS TIMESTAMP_LTZ(3)) AS rowtime FROM (VALUES\n"
        f"{values}\n) AS t(symbol, bar_start, `close`, macd_hist_prev, macd_hist, rsi_14, is_warm)"
    )
    text = render((SQL_DIR / "22_signals.sql").read_text(), template_variables(Settings()))
    for st in split_statements(text, source="22_signals.sql"):
        t_env.execute_sql(st.sql)
    table = t_env.sql_query("SELECT symbol, strategy, action, reason FROM signals")
    with table.execute().collect() as results:
        return {row[0]: tuple(row) for row in results}


@pytest.mark.parametrize("case", [c for c in CASES], ids=[c[0] for c in CASES])
def test_signal_rule(signals: dict[str, tuple[Any, ...]], case: tuple[Any, ...]) -> None:
    name, *_inputs, action, phrase = case
    if action is None:
        assert name not in signals, "signals must only come from warm bars"
        return
    _, strategy, got_action, reason = signals[name]
    assert strategy == "macd_rsi"
    assert got_action == action, reason
    assert phrase in reason
