"""Jobs stop with a savepoint and resume from it: Kafka offsets and indicator state carry over.

Runs after test_pipeline.py (same session stack): stops both jobs, starts them again, replays the
next 120 minutes, and checks that bars and indicators over BOTH files are what one uninterrupted run
would give — indicators equal TA-Lib over the whole series, so nothing was re-warmed or skipped.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import talib

from marketpipe import db
from marketpipe.feeds.fixtures import DEFAULT_START, write_fixture

pytestmark = pytest.mark.integration


def test_stop_with_savepoint_and_resume(
    stack: Any, replayed: dict[str, Any], tmp_path: Any
) -> None:
    first = replayed["fixture"]
    stopped = stack.cli("jobs", "stop").stdout
    assert stopped.count("stopped with savepoint") == 2, stopped
    assert "RUNNING" not in stack.cli("jobs", "status").stdout

    started = stack.cli("jobs", "start").stdout
    assert started.count("from savepoint") == 2, started

    later = DEFAULT_START + timedelta(minutes=300)
    second = write_fixture(tmp_path / "later.csv", symbols=list(first.symbols), minutes=120, seed=8,
                           start=later, bad_per_kind=0)
    stack.cli("replay", str(tmp_path / "later.csv"), "--wait", "--timeout", "600", "--quiet")

    want_bars = len(first.bars) + len(second.bars)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counts = db.table_counts(stack.settings)
        if counts["indicators_1m"] >= want_bars:
            break
        time.sleep(1)
    assert counts["bars_1m"] == want_bars
    assert counts["indicators_1m"] == want_bars

    with db.connect(stack.settings) as conn:
        rows = conn.execute(
            "SELECT symbol, close, ema_26, rsi_14, macd_hist FROM indicators_1m ORDER BY symbol, bar_start"
        ).fetchall()
        clean = db.scalar(conn, "SELECT sum(trade_count) FROM bars_1m")
    assert clean == first.valid_rows + second.valid_rows  # no tick read twice, none skipped
    for symbol in first.symbols:
        rs = [r for r in rows if r[0] == symbol]
        closes = np.array([r[1] for r in rs])
        for col, want in ((2, talib.EMA(closes, 26)), (3, talib.RSI(closes, 14)),
                          (4, talib.MACD(closes, 12, 26, 9)[2])):
            got = np.array([np.nan if r[col] is None else r[col] for r in rs])
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True,
                                       err_msg=f"{symbol} column {col} after restart")
