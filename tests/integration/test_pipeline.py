"""End to end on the real local stack: replay a deterministic tick file, check every sink.

The expected bars are aggregated here with DuckDB straight from the CSV, independently of the replay
code and of Flink; the expected indicators come from TA-Lib over those bars.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
import talib

from marketpipe import db, lake
from tests.integration.oracle import expected_bars

pytestmark = pytest.mark.integration


def _pg(stack: Any, sql: str) -> list[tuple[Any, ...]]:
    with db.connect(stack.settings) as conn:
        return conn.execute(sql).fetchall()


def _close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def test_bars_equal_an_independent_aggregation(stack: Any, replayed: dict[str, Any]) -> None:
    expected = expected_bars(replayed["path"])
    actual = _pg(
        stack,
        "SELECT symbol, (extract(epoch FROM bar_start) * 1000)::bigint, open, high, low, close, "
        "volume, vwap, trade_count, (extract(epoch FROM bar_end - bar_start))::int "
        "FROM bars_1m ORDER BY 1, 2",
    )
    fixture = replayed["fixture"]
    assert 0 < len(expected) <= len(fixture.bars)  # odd-lot-only first minutes carry forward
    assert [r[:2] for r in actual] == [r[:2] for r in expected]
    for got, want in zip(actual, expected, strict=True):
        assert got[9] == 60, f"{got[:2]}: bar is not [T, T+60s)"
        assert got[2] == want[2] and got[5] == want[5], f"{got[:2]} open/close {got[2:6]} != {want[2:6]}"
        assert got[3] == want[3] and got[4] == want[4], f"{got[:2]} high/low"
        assert got[6] == want[6] and got[8] == want[8], f"{got[:2]} volume/count"
        assert _close(got[7], want[7]), f"{got[:2]} vwap {got[7]} != {want[7]}"


def test_every_tick_is_clean_or_dead_lettered(stack: Any, replayed: dict[str, Any]) -> None:
    fixture = replayed["fixture"]
    clean = _pg(stack, "SELECT sum(trade_count) FROM bars_1m")[0][0]
    reasons = dict(_pg(stack, "SELECT reason, count(*) FROM ticks_dlq GROUP BY reason"))
    assert clean == fixture.valid_rows
    assert clean + sum(reasons.values()) == fixture.rows
    assert reasons == fixture.bad_rows
    # The dead-lettered rows also went to the ticks.dlq topic and keep the payload as received.
    payloads = [json.loads(p) for (p,) in _pg(stack, "SELECT payload FROM ticks_dlq")]
    assert all(p.get("kind") == "trade" for p in payloads)


def test_indicators_equal_talib(stack: Any, replayed: dict[str, Any]) -> None:
    rows = _pg(
        stack,
        "SELECT b.symbol, b.close, i.close, i.ema_12, i.ema_26, i.rsi_14, i.macd, i.macd_signal, "
        "i.macd_hist, i.is_warm FROM bars_1m b LEFT JOIN indicators_1m i USING (symbol, bar_start) "
        "ORDER BY b.symbol, b.bar_start",
    )
    by_symbol: dict[str, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_symbol.setdefault(r[0], []).append(r)
    assert len(by_symbol) == len(replayed["fixture"].symbols)
    for symbol, rs in by_symbol.items():
        closes = np.array([r[1] for r in rs], dtype=float)
        assert all(r[2] == r[1] for r in rs), f"{symbol}: an indicator row is missing or has another close"
        want = {
            3: talib.EMA(closes, 12),
            4: talib.EMA(closes, 26),
            5: talib.RSI(closes, 14),
        }
        macd, signal, hist = talib.MACD(closes, 12, 26, 9)
        want.update({6: macd, 7: signal, 8: hist})
        for col, series in want.items():
            for i, r in enumerate(rs):
                w = None if np.isnan(series[i]) else float(series[i])
                assert _close(r[col], w), f"{symbol} bar {i} column {col}: {r[col]} != {w}"
        assert [r[9] for r in rs] == [i >= 33 for i in range(len(rs))]


def test_signals_follow_the_rule(stack: Any, replayed: dict[str, Any]) -> None:
    rows = _pg(
        stack,
        "SELECT s.action, s.reason, i.macd_hist, i.rsi_14 FROM signals s "
        "JOIN indicators_1m i USING (symbol, bar_start) WHERE s.strategy = 'macd_rsi'",
    )
    warm = _pg(stack, "SELECT count(*) FROM indicators_1m WHERE is_warm")[0][0]
    assert len(rows) == warm > 0
    actions = {r[0] for r in rows}
    assert actions <= {"buy", "sell", "hold"} and "hold" in actions
    for action, reason, hist, rsi in rows:
        if action == "buy":
            assert hist > 0 and rsi < 70 and "crossed above" in reason
        elif action == "sell":
            assert hist < 0 and rsi > 30 and "crossed below" in reason


def test_iceberg_lake_holds_the_same_bars(stack: Any, replayed: dict[str, Any]) -> None:
    expected = {(r[0], r[1]): r for r in expected_bars(replayed["path"])}
    deadline = time.monotonic() + 120
    table = None
    while time.monotonic() < deadline:  # commits happen on checkpoints
        table = lake.read_table(stack.settings, "silver.bars")
        table = table.filter(pc.equal(table["timeframe"], "1m"))
        if table.num_rows >= len(expected):
            break
        time.sleep(2)
    assert table is not None
    got = {
        (r["symbol"], int(r["bar_start"].timestamp() * 1000)): r for r in table.to_pylist()
    }
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert got[key]["open"] == want[2] and got[key]["close"] == want[5]
        assert got[key]["volume"] == want[6]
    counts = lake.row_counts(stack.settings)
    assert counts["silver.ticks_clean"] == replayed["fixture"].valid_rows
    assert counts["bronze.ticks_raw"] >= replayed["fixture"].rows  # plus heartbeats
    assert counts["gold.indicators_1m"] == len(expected)


def test_stack_status_json_and_idempotent_up(stack: Any) -> None:
    before = json.loads(stack.cli("stack", "status", "--json").stdout)
    assert before["healthy"]
    assert before["postgres_dsn"].startswith("postgresql://")
    assert before["kafka_bootstrap"] == f"127.0.0.1:{stack.settings.kafka_port}"
    stack.cli("stack", "up")
    after = json.loads(stack.cli("stack", "status", "--json").stdout)
    def pids(status: dict[str, Any]) -> dict[str, int]:
        return {x["name"]: x["pid"] for x in status["services"]}

    assert pids(before) == pids(after)
    jobs = json.loads(stack.cli("jobs", "status", "--json").stdout)
    running = {j["name"] for j in jobs if j["state"] == "RUNNING"}
    assert {"marketpipe-bars", "marketpipe-indicators"} <= running
