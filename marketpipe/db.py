"""Queries against the serving tables in PostgreSQL (counts, waits, samples)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg.conninfo import conninfo_to_dict

from marketpipe.exceptions import ServiceError, WaitTimeout
from marketpipe.settings import Settings

SERVING_TABLES = ("bars_1m", "indicators_1m", "signals", "ticks_dlq")


def connect(settings: Settings) -> psycopg.Connection[Any]:
    """An autocommit connection as the application user (TLS as ``postgres_sslmode`` asks)."""
    return psycopg.connect(settings.postgres_dsn, autocommit=True, connect_timeout=10)


def display_dsn(settings: Settings) -> str:
    """``settings.postgres_dsn`` without the password: what may be printed, logged or shown in status.

    psql and libpq take the password from ``PGPASSWORD`` or ``~/.pgpass`` when the DSN has none.
    """
    params = conninfo_to_dict(settings.postgres_dsn)
    params.pop("password", None)
    query = urlencode(
        {k: str(v) for k, v in params.items() if k.startswith("ssl")}, safe="/", quote_via=quote
    )
    return (
        f"postgresql://{quote(str(params['user']), safe='')}@{params['host']}:{params['port']}/"
        f"{params['dbname']}" + (f"?{query}" if query else "")
    )


def one(
    conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
) -> tuple[Any, ...]:
    """The row of a query that always returns exactly one (an aggregate: count, sum, max)."""
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise ServiceError(f"PostgreSQL returned no row for: {query}")
    return tuple(row)


def scalar(
    conn: psycopg.Connection[Any], query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
) -> Any:
    """The first column of :func:`one`."""
    return one(conn, query, params)[0]


def table_counts(settings: Settings) -> dict[str, int]:
    """Row count of every serving table."""
    with connect(settings) as conn:
        return {t: int(scalar(conn, f"SELECT count(*) FROM {t}")) for t in SERVING_TABLES}


def last_bar_end(settings: Settings) -> datetime | None:
    """End of the latest bar in ``bars_1m`` (None when empty)."""
    with connect(settings) as conn:
        row = conn.execute("SELECT max(bar_end) FROM bars_1m").fetchone()
    return row[0] if row else None


def run_counts(
    settings: Settings, bars: Iterable[tuple[str, int]], received_since: datetime
) -> dict[str, int]:
    """Counts of one run: its bars (by key, beside how many were expected), their trades, their signals,
    and DLQ rows since a time."""
    keys = sorted(set(bars))
    symbols = [s for s, _ in keys]
    starts = [datetime.fromtimestamp(ms / 1000, UTC) for _, ms in keys]
    with connect(settings) as conn:
        n_bars, clean = one(
            conn,
            "SELECT count(*), coalesce(sum(trade_count), 0) FROM bars_1m "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS k(symbol, bar_start) USING (symbol, bar_start)",
            (symbols, starts),
        )
        n_signals = scalar(
            conn,
            "SELECT count(*) FROM signals "
            "JOIN unnest(%s::text[], %s::timestamptz[]) AS k(symbol, bar_start) USING (symbol, bar_start)",
            (symbols, starts),
        )
        dlq = scalar(conn, "SELECT count(*) FROM ticks_dlq WHERE received_at >= %s", (received_since,))
    return {
        "bars": n_bars,
        "bars_expected": len(keys),
        "ticks_clean": int(clean),
        "signals": n_signals,
        "ticks_dead_lettered": dlq,
    }


def missing_bars(
    settings: Settings, expected: Iterable[tuple[str, int]], table: str = "bars_1m"
) -> set[tuple[str, int]]:
    """Which ``(symbol, bar_start epoch ms)`` are not in ``table`` (bars_1m or indicators_1m), key by key."""
    if table not in ("bars_1m", "indicators_1m"):
        raise ValueError(f"not a bar-keyed table: {table}")
    keys = sorted(set(expected))
    if not keys:
        return set()
    symbols = [s for s, _ in keys]
    starts = [datetime.fromtimestamp(ms / 1000, UTC) for _, ms in keys]
    millis = [ms for _, ms in keys]
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT k.symbol, k.ms FROM unnest(%s::text[], %s::timestamptz[], %s::bigint[]) "
            f"AS k(symbol, bar_start, ms) WHERE NOT EXISTS (SELECT 1 FROM {table} t "
            "WHERE t.symbol = k.symbol AND t.bar_start = k.bar_start)",
            (symbols, starts, millis),
        ).fetchall()
    return {(s, int(ms)) for s, ms in rows}


@dataclass(frozen=True)
class BarCheck:
    """The outcome of comparing expected ``(symbol, bar_start ms)`` keys with a table, as last queried."""

    table: str
    expected: int
    missing: frozenset[tuple[str, int]]

    @property
    def found(self) -> int:
        """Expected keys that are in the table."""
        return self.expected - len(self.missing)

    @property
    def complete(self) -> bool:
        """True when something was expected and all of it is there (an empty expectation is not)."""
        return self.expected > 0 and not self.missing

    def missing_sample(self, n: int = 5) -> str:
        """A few missing keys as ``SYMBOL@YYYY-MM-DD HH:MM`` (UTC), for messages."""
        return ", ".join(
            f"{s}@{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}" for s, ms in sorted(self.missing)[:n]
        )


def check_bars(settings: Settings, expected: Iterable[tuple[str, int]], table: str = "bars_1m") -> BarCheck:
    """Compare ``expected`` with what ``table`` holds now."""
    want = set(expected)
    return BarCheck(table, len(want), frozenset(missing_bars(settings, want, table)))


def wait_for_bars(
    settings: Settings,
    expected: Iterable[tuple[str, int]],
    *,
    timeout: float,
    progress: bool = True,
    table: str = "bars_1m",
    poll_s: float = 1.0,
) -> BarCheck:
    """Block until every expected bar is in ``table`` and return the final comparison.

    An empty ``expected`` returns at once with ``expected == 0`` (``complete`` False): there was
    nothing to wait for, which callers must say rather than report success. After ``timeout`` s,
    :class:`WaitTimeout` names how many keys are missing and a few of them.
    """
    from tqdm import tqdm

    want = set(expected)
    if not want:
        return BarCheck(table, 0, frozenset())
    deadline = time.monotonic() + timeout
    desc = f"{table} in postgres"
    with tqdm(total=len(want), desc=desc, unit="bar", disable=None if progress else True) as bar:
        for _ in range(int(timeout / max(poll_s, 0.01)) + 2):
            check = check_bars(settings, want, table)
            bar.n = check.found
            bar.refresh()
            if check.complete or time.monotonic() > deadline:
                break
            time.sleep(poll_s)
    if not check.complete:
        raise WaitTimeout(
            f"{len(check.missing)} of {check.expected} expected bars still missing from {table} after "
            f"{timeout:.0f}s (e.g. {check.missing_sample()}); are the jobs running? (`marketpipe jobs status`)"
        )
    return check
