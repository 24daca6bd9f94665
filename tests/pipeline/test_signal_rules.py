"""The signal rules of flink_sql/22_signals.sql, run by Flink itself on hand-made indicator rows.

Each case is one bar of a hand-made indicator view (``indicators_{{timeframe}}``, i.e.
``indicators_1m`` with the default settings) with every column of the real one. A case switches on
the warm flags of the strategy it exercises; an indicator whose flag is off is NULL, as in the
pipeline, unless the case sets a value on purpose (the "not warm" cases give values that would
trigger a signal, to prove the strategy's WHERE filters on its own flags). All cases run in one
Flink batch job; results are keyed by (case, strategy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from marketpipe.jobs.sql import SQL_DIR, render, split_statements, template_variables
from marketpipe.settings import Settings

pytestmark = pytest.mark.pipeline

# The columns of indicators_1m (flink_sql/21_indicators.sql) after symbol and bar_start, with a
# neutral value used when the case does not care. rowtime is derived from bar_start.
DOUBLE_DEFAULTS: dict[str, float | None] = {
    "close": 100.0,
    "ema_12": 100.0,
    "ema_26": 100.0,
    "rsi_14": 50.0,
    "rsi_14_prev": None,
    "macd": 0.0,
    "macd_signal": 0.0,
    "macd_hist": 0.0,
    "macd_hist_prev": None,
    "sma_20": 100.0,
    "bb_middle": 100.0,
    "bb_upper": 104.0,
    "bb_lower": 96.0,
    "atr_14": 1.0,
    "stoch_k": 50.0,
    "stoch_d": 50.0,
    "vwap_session": 100.0,
    "volume_sma_20": 1000.0,
}
# Each per-indicator warm flag and the value columns that are NULL while it is off.
WARM_FLAGS: dict[str, tuple[str, ...]] = {
    "ema_12_warm": ("ema_12",),
    "ema_26_warm": ("ema_26",),
    "rsi_14_warm": ("rsi_14",),
    "macd_warm": ("macd", "macd_signal", "macd_hist"),
    "sma_20_warm": ("sma_20",),
    "bb_warm": ("bb_middle", "bb_upper", "bb_lower"),
    "atr_14_warm": ("atr_14",),
    "stoch_warm": ("stoch_k", "stoch_d"),
    "vwap_warm": ("vwap_session",),
    "volume_sma_20_warm": ("volume_sma_20",),
}
MACD_RSI = ("ema_12_warm", "ema_26_warm", "rsi_14_warm", "macd_warm")
RSI = ("rsi_14_warm",)
BB = ("bb_warm", "volume_sma_20_warm")

Expected = tuple[str, str]  # (action, a phrase of the reason)


@dataclass(frozen=True)
class Case:
    """One bar: which flags are warm, the values that matter, and what each strategy must say.

    ``expect`` lists every strategy that must produce a row for this bar; any other row is an error.
    """

    name: str
    warm: tuple[str, ...]
    values: dict[str, float | int | None] = field(default_factory=dict)
    expect: dict[str, Expected] = field(default_factory=dict)


# Each strategy: the warm flags a case of it switches on, and the input columns a row of SINGLE_STRATEGY
# gives values for, in order.
STRATEGIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "macd_rsi": (MACD_RSI, ("macd_hist_prev", "macd_hist", "rsi_14")),  # MACD and RSI warm, so is_warm
    "rsi_reversion": (RSI, ("rsi_14_prev", "rsi_14")),
    # the bands are 96 .. 104 and the average volume 1000 (confirmation needs > 1500)
    "bb_breakout": (BB, ("close", "volume")),
}

# One bar each on which exactly one strategy must emit: (strategy, case, its inputs, action, a phrase of the reason).
SINGLE_STRATEGY: list[tuple[str, str, tuple[float | None, ...], str, str]] = [
    # ---- macd_rsi (unchanged rules)
    ("macd_rsi", "cross up, rsi ok", (-0.5, 0.2, 55.0), "buy", "crossed above"),
    ("macd_rsi", "cross up from zero", (0.0, 0.1, 40.0), "buy", "crossed above"),
    ("macd_rsi", "cross up, overbought", (-0.5, 0.2, 75.0), "hold", "overbought"),
    ("macd_rsi", "cross down, rsi ok", (0.4, -0.1, 45.0), "sell", "crossed below"),
    ("macd_rsi", "cross down, oversold", (0.4, -0.1, 25.0), "hold", "oversold"),
    ("macd_rsi", "no cross, positive", (0.3, 0.5, 50.0), "hold", "no MACD crossover"),
    ("macd_rsi", "no cross, negative", (-0.3, -0.5, 50.0), "hold", "no MACD crossover"),
    ("macd_rsi", "first warm bar", (None, 0.5, 50.0), "hold", "no MACD crossover"),
    # ---- rsi_reversion
    ("rsi_reversion", "rsi crosses up through 30", (28.123456, 31.987654), "buy",
     "RSI crossed back above 30 (28.12 -> 31.99)"),
    ("rsi_reversion", "rsi reaches exactly 30", (29.0, 30.0), "buy", "crossed back above 30"),
    ("rsi_reversion", "rsi crosses down through 70", (72.5, 68.25), "sell",
     "RSI crossed back below 70 (72.5 -> 68.25)"),
    ("rsi_reversion", "rsi below 30, still falling", (27.1, 25.3), "hold", "RSI 25.3 below 30 (prev 27.1)"),
    ("rsi_reversion", "rsi below 30, rising", (22.0, 26.0), "hold", "below 30"),
    ("rsi_reversion", "rsi above 70, still rising", (72.0, 75.0), "hold", "RSI 75.0 above 70"),
    ("rsi_reversion", "rsi leaves 30 downwards", (30.0, 29.0), "hold", "below 30"),
    ("rsi_reversion", "rsi in the middle", (48.0, 52.0), "hold", "between 30 and 70"),
    # ---- bb_breakout
    ("bb_breakout", "breakout up with volume", (106.5, 2000), "buy",
     "close 106.5 above upper band 104.0 on volume 2000, 2.0x its 20-bar average 1000"),
    ("bb_breakout", "breakout up without volume", (106.5, 1200), "hold",
     "above upper band 104.0 but only volume 1200, 1.2x"),
    ("bb_breakout", "breakout up, volume exactly 1.5x", (106.5, 1500), "hold", "needs > 1.5x"),
    ("bb_breakout", "breakdown with volume", (93.25, 3000), "sell", "close 93.25 below lower band 96.0 on volume 3000"),
    ("bb_breakout", "breakdown without volume", (93.25, 900), "hold", "below lower band 96.0 but only"),
    ("bb_breakout", "inside bands", (101.0, 5000), "hold", "close 101.0 inside the bands (96.0 .. 104.0)"),
    ("bb_breakout", "close on the upper band", (104.0, 5000), "hold", "inside the bands"),
]


def single_strategy(strategy: str, name: str, inputs: tuple[float | None, ...], action: str, phrase: str) -> Case:
    """A bar with ``strategy``'s warm flags on and its ``inputs`` set; only ``strategy`` is expected."""
    warm, columns = STRATEGIES[strategy]
    return Case(name, warm, dict(zip(columns, inputs, strict=True)), {strategy: (action, phrase)})


CASES = [
    *(single_strategy(*row) for row in SINGLE_STRATEGY),
    # ---- a strategy's inputs would trigger it, but its own flags are off (or it has no previous RSI)
    Case("macd not warm", (), {"macd_hist_prev": -0.5, "macd_hist": 0.2, "rsi_14": 55.0}),
    Case("rsi not warm", (), {"rsi_14_prev": 28.0, "rsi_14": 32.0}),
    Case("rsi warm, no previous value", RSI, {"rsi_14": 32.0}),
    Case("bb not warm", ("volume_sma_20_warm",), {"close": 106.5, "volume": 2000, "bb_upper": 104.0}),
    Case("volume average not warm", ("bb_warm",),
         {"close": 106.5, "volume": 2000, "volume_sma_20": 1000.0}),
    # ---- everything warm: every strategy speaks on the same bar
    Case(
        "all warm",
        tuple(WARM_FLAGS),
        {"macd_hist_prev": -0.1, "macd_hist": 0.1, "rsi_14_prev": 28.0, "rsi_14": 35.0,
         "close": 105.0, "volume": 1600},
        {
            "macd_rsi": ("buy", "crossed above"),
            "rsi_reversion": ("buy", "crossed back above 30"),
            "bb_breakout": ("buy", "1.6x"),
        },
    ),
]
EXPECTED = {(c.name, strategy): exp for c in CASES for strategy, exp in c.expect.items()}


def _double(v: float | int | None) -> str:
    """A typed DOUBLE literal, so VALUES never infers DECIMAL."""
    return "CAST(NULL AS DOUBLE)" if v is None else f"CAST({float(v)!r} AS DOUBLE)"


def _row(i: int, case: Case) -> str:
    """The VALUES row of ``case``, bar ``i`` minutes after 13:00."""
    values: dict[str, Any] = dict(DOUBLE_DEFAULTS)
    for flag, columns in WARM_FLAGS.items():
        if flag not in case.warm:
            values.update(dict.fromkeys(columns))
    values.update({k: v for k, v in case.values.items() if k != "volume"})
    flags = {flag: flag in case.warm for flag in WARM_FLAGS}
    is_warm = all(flags[f] for f in MACD_RSI)
    volume = int(case.values.get("volume") or 1000)
    cells = [
        f"'{case.name}'",
        f"TIMESTAMP '2024-06-13 {13 + i // 60:02d}:{i % 60:02d}:00'",
        _double(values["close"]),
        f"CAST({volume} AS BIGINT)",
        *(_double(values[c]) for c in DOUBLE_DEFAULTS if c != "close"),
        str(is_warm).upper(),
        *(str(flags[f]).upper() for f in WARM_FLAGS),
    ]
    return "(" + ", ".join(cells) + ")"


COLUMNS = ["symbol", "bar_start", "`close`", "volume",
           *(c for c in DOUBLE_DEFAULTS if c != "close"), "is_warm", *WARM_FLAGS]


def run_signals(sql: str) -> dict[tuple[str, str], tuple[str, str]]:
    """``(symbol, strategy) -> (action, reason)`` of the view ``signals`` that ``sql`` (22_signals.sql,
    unrendered) makes of the cases, run by Flink in batch mode."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    t_env.get_config().set("table.local-time-zone", "UTC")
    t_env.get_config().set("parallelism.default", "1")
    variables = template_variables(Settings())
    values = ",\n".join(_row(i, case) for i, case in enumerate(CASES))
    t_env.execute_sql(
        f"CREATE TEMPORARY VIEW indicators_{variables['timeframe']} AS SELECT {', '.join(COLUMNS)}, "
        "CAST(bar_start AS TIMESTAMP_LTZ(3)) AS rowtime FROM (VALUES\n"
        f"{values}\n) AS t({', '.join(COLUMNS)})"
    )
    for st in split_statements(render(sql, variables), source="22_signals.sql"):
        t_env.execute_sql(st.sql)
    table = t_env.sql_query("SELECT symbol, strategy, action, reason FROM signals")
    out: dict[tuple[str, str], tuple[str, str]] = {}
    with table.execute().collect() as results:
        for symbol, strategy, action, reason in results:
            assert (symbol, strategy) not in out, f"two rows for {(symbol, strategy)}"
            out[(symbol, strategy)] = (action, reason)
    return out


@pytest.fixture(scope="module")
def signals() -> dict[tuple[str, str], tuple[str, str]]:
    return run_signals((SQL_DIR / "22_signals.sql").read_text())


def test_the_worked_example_of_docs_signals_md_runs() -> None:
    """The strategy block docs/signals.md tells a user to append runs, and speaks only when warm."""
    docs = (SQL_DIR.parent / "docs" / "signals.md").read_text()
    example = docs[docs.index("**1. Append a block"):]
    block = example[example.index("```sql\n") + len("```sql\n"):example.index("```\n", example.index("```sql"))]
    sql = (SQL_DIR / "22_signals.sql").read_text().rstrip().removesuffix(";") + "\n\n" + block
    rows = run_signals(sql)
    added = {symbol: action for (symbol, strategy), (action, _) in rows.items() if strategy == "stoch_oversold"}
    assert added and set(added) == {c.name for c in CASES if "stoch_warm" in c.warm}
    assert set(rows) - {(s, "stoch_oversold") for s in added} == set(EXPECTED)


@pytest.mark.parametrize("key", list(EXPECTED), ids=[f"{s}: {c}" for c, s in EXPECTED])
def test_signal_rule(signals: dict[tuple[str, str], tuple[str, str]], key: tuple[str, str]) -> None:
    action, phrase = EXPECTED[key]
    assert key in signals, f"no {key[1]} row for {key[0]!r}"
    got_action, reason = signals[key]
    assert got_action == action, reason
    assert phrase in reason, reason


def test_only_warm_strategies_emit(signals: dict[tuple[str, str], tuple[str, str]]) -> None:
    """A strategy emits exactly on the bars where its own inputs are warm — no more, no fewer."""
    assert set(signals) == set(EXPECTED)


def test_strategy_names_and_actions(signals: dict[tuple[str, str], tuple[str, str]]) -> None:
    """Names and actions come out exact (no CHAR padding from the UNION ALL)."""
    assert {s for _, s in signals} == {"macd_rsi", "rsi_reversion", "bb_breakout"}
    assert {a for a, _ in signals.values()} == {"buy", "sell", "hold"}
