"""Queries against the serving tables in PostgreSQL (counts, waits, samples)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from marketpipe.exceptions import WaitTimeout
from marketpipe.settings import Settings

SERVING_TABLES = ("bars_1m", "indicators_1m", "signals", "ticks_dlq")


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection as the application user."""
    return psycopg.connect(settings.postgres_dsn, autocommit=True, connect_timeout=10)


def table_counts(settings: Settings) -> dict[str, int]:
    """Row count of every serving table."""
    with connect(settings) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in SERVING_TABLES
        }


def last_bar_end(settings: Settings) -> datetime | None:
    """End of the latest bar in ``bars_1m`` (None when empty)."""
    with connect(settings) as conn:
        row = conn.execute("SELECT max(bar_end) FROM bars_1m").fetchone()
    return row[0] if row else None


def run_counts(
    settings: Settings, bars: Iterable[tuple[str, int]], received_since: datetime
) -> dict[str, int]:
    """Counts of one run: its bars (by key), their trades, their signals, and DLQ rows since a time."""
    keys = sorted(set(bars))
    symbols = [s for s, _ in keys]
    starts = [datetime.fromtimestamp(ms / 1000, UTC) for _, ms in keys]
    with connect(settings) as conn:
        n_bars, clean = conn.execute(
            "SELECT count(*), coalesce(sum(trade_count), 0) FROM bars_1m "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS k(symbol, bar_start) USING (symbol, bar_start)",
            (symbols, starts),
        ).fetchone()  # type: ignore[misc]
        n_signals = conn.execute(
            "SELECT count(*) FROM signals "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS k(symbol, bar_start) USING (symbol, bar_start)",
            (symbols, starts),
        ).fetchone()[0]  # type: ignore[index]
        dlq = conn.execute(
            "SELECT count(*) FROM ticks_dlq WHERE received_at >= %s", (received_since,)
        ).fetchone()[0]  # type: ignore[index]
    return {"bars": n_bars, "ticks_clean": int(clean), "signals": n_signals, "ticks_dead_lettered": dlq}


def missing_bars(
    settings: Settings, expected: Iterable[tuple[str, int]], table: str = "bars_1m"
) -> set[tuple[str, int]]:
    """Which ``(symbol, bar_start epoch ms)`` are not yet in ``table`` (bars_1m or indicators_1m)."""
    if table not in ("bars_1m", "indicators_1m"):
        raise ValueError(f"not a bar-keyed table: {table}")
    want = set(expected)
    if not want:
        return set()
    lo = min(ms for _, ms in want)
    hi = max(ms for _, ms in want)
    with connect(settings) as conn:
        rows = conn.execute(
            f"SELECT symbol, (extract(epoch FROM bar_start) * 1000)::bigint FROM {table} "
            "WHERE bar_start BETWEEN %s AND %s",
            (datetime.fromtimestamp(lo / 1000, UTC), datetime.fromtimestamp(hi / 1000, UTC)),
        ).fetchall()
    return want - {(s, int(ms)) for s, ms in rows}


def wait_for_bars(
    settings: Settings,
    expected: Iterable[tuple[str, int]],
    *,
    timeout: float,
    progress: bool = True,
    table: str = "bars_1m",
) -> None:
    """Block until every expected bar is in ``table``; :class:`WaitTimeout` after ``timeout`` s."""
    from tqdm import tqdm

    want = set(expected)
    deadline = time.monotonic() + timeout
    desc = f"{table} in postgres"
    with tqdm(total=len(want), desc=desc, unit="bar", disable=None if progress else True) as bar:
        while True:
            missing = missing_bars(settings, want, table)
            bar.n = len(want) - len(missing)
            bar.refresh()
            if not missing:
                return
            if time.monotonic() > deadline:
                sample = ", ".join(
                    f"{s}@{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}"
                    for s, ms in sorted(missing)[:5]
                )
                raise WaitTimeout(
                    f"{len(missing)} of {len(want)} rows still missing from {table} after "
                    f"{timeout:.0f}s (e.g. {sample}); are the jobs running? (`marketpipe jobs status`)"
                )
            time.sleep(1.0)
