"""Late ticks on the real stack: within grace they revise the bar and its rollups, beyond it they are
dead-lettered as ``late``; rollups are session-aligned and stored beside the 1m bars.

Runs after test_restart.py on the session stack, whose watermark is then at 2024-06-13 ~16:31 New
York: this file's ticks come after that (post-market session). The test stack's grace is 5 minutes.
"""

from __future__ import annotations

import csv
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from marketpipe import db

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
SYMBOL = "ZZREV"


def _ns(h: int, m: int, s: int) -> int:
    return int(datetime(2024, 6, 13, h, m, s, tzinfo=NY).timestamp()) * 1_000_000_000


def _write(path: Path, rows: list[tuple[int, float, int]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "symbol", "price", "size", "exchange", "conditions", "trade_id"])
        for i, (ts, price, size) in enumerate(rows):
            w.writerow([ts, SYMBOL, price, size, "P", "@", f"{path.stem}-{i}"])
    return path


def _bar(stack: Any, table: str, h: int, m: int) -> tuple[Any, ...] | None:
    with db.connect(stack.settings) as conn:
        return conn.execute(
            f"SELECT open, high, low, close, volume, trade_count, revision, session FROM {table} "
            "WHERE symbol = %s AND bar_start = %s",
            (SYMBOL, datetime(2024, 6, 13, h, m, tzinfo=NY)),
        ).fetchone()


def _wait(stack: Any, table: str, h: int, m: int, revision: int, timeout: float = 120) -> tuple[Any, ...]:
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = _bar(stack, table, h, m)
        if row is not None and row[6] >= revision:
            return row
        time.sleep(1)
    raise AssertionError(f"{table} {h}:{m:02d} never reached revision {revision}: {row}")


def test_late_ticks_revise_within_grace_and_dead_letter_beyond(
    stack: Any, replayed: dict[str, Any], tmp_path: Path
) -> None:
    first = [(_ns(17, m, 10), 10.0 + m, 100) for m in range(6)] + [(_ns(17, 5, 40), 16.0, 100)]
    stack.cli("replay", str(_write(tmp_path / "first.csv", first)), "--wait", "--quiet")
    # the watermark is now ~17:06:43: bars 17:00-17:05 and the 5m bar 17:00-17:05 are out
    before = _wait(stack, "bars_1m", 17, 4, 0)
    assert before[:7] == (14.0, 14.0, 14.0, 14.0, 100, 1, 0)
    assert before[7] == "post"
    five = _wait(stack, "bars_5m", 17, 0, 0)
    assert five[:7] == (10.0, 14.0, 10.0, 14.0, 500, 5, 0)

    # in grace / beyond grace (17.0 is within the outlier band around the recent prices 12-16)
    late = [(_ns(17, 4, 30), 17.0, 50), (_ns(17, 0, 30), 1.0, 7)]
    stack.cli("replay", str(_write(tmp_path / "late.csv", late)), "--quiet")

    revised = _wait(stack, "bars_1m", 17, 4, 1)
    assert revised[:7] == (14.0, 17.0, 14.0, 17.0, 150, 2, 1)
    five = _wait(stack, "bars_5m", 17, 0, 1)
    assert five[:7] == (10.0, 17.0, 10.0, 17.0, 550, 6, 1)
    untouched = _bar(stack, "bars_1m", 17, 0)
    assert untouched is not None and untouched[:7] == (10.0, 10.0, 10.0, 10.0, 100, 1, 0)

    deadline = time.monotonic() + 60
    reasons: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline and not reasons:
        with db.connect(stack.settings) as conn:
            reasons = conn.execute(
                "SELECT reason, payload FROM ticks_dlq WHERE symbol = %s", (SYMBOL,)
            ).fetchall()
        time.sleep(1)
    assert [r[0] for r in reasons] == ["late"]
    assert '"price":1.0' in reasons[0][1].replace(" ", "")


def test_rollups_are_session_aligned(stack: Any, replayed: dict[str, Any]) -> None:
    with db.connect(stack.settings) as conn:
        hours = conn.execute(
            "SELECT DISTINCT to_char(bar_start AT TIME ZONE 'America/New_York', 'HH24:MI') FROM bars_1h "
            "WHERE session = 'regular' ORDER BY 1"
        ).fetchall()
        daily = conn.execute(
            "SELECT symbol, to_char(bar_start AT TIME ZONE 'America/New_York', 'HH24:MI'), open, high, low, "
            "close, volume FROM bars_1d ORDER BY symbol"
        ).fetchall()
        from_1m = {
            r[0]: r[1:] for r in conn.execute(
                "SELECT symbol, (array_agg(open ORDER BY bar_start))[1], max(high), min(low), "
                "(array_agg(close ORDER BY bar_start DESC))[1], sum(volume) FROM bars_1m "
                "WHERE session = 'regular' AND session_date = DATE '2024-06-13' GROUP BY symbol"
            ).fetchall()
        }
    assert hours and all(h[0].endswith(":30") for h in hours), hours
    assert daily, "no 1d bars"
    for symbol, label, *ohlcv in daily:
        assert label == "09:30"
        assert tuple(ohlcv) == tuple(from_1m[symbol]), symbol
