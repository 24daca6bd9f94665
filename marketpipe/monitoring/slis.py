"""The pipeline's service-level indicators, read from the serving tables in PostgreSQL at scrape time.

Every query is bounded in cost on large tables, with a 2 s ``statement_timeout`` as the backstop:

* per symbol (``bars_emitted``, ``bar_last_end_seconds``, ``symbol_in_session``, ``bars_expected``):
  the symbols come from a loose index scan of ``bars``' primary key (symbol, timeframe, bar_start) — one
  index probe per symbol, not a scan of the table — then, per symbol, its newest bar (one probe) and
  the count of keys between its session day's first and last segment bounds from the calendar (an
  index-only range scan of at most 960 keys per symbol);
* ``bar_latency_seconds``: the same per-symbol key ranges, limited to bars that started in the last
  5 minutes plus the grace period and the closing-print wait (only those can have been committed in
  the last 5 minutes as live bars; replays and backfills of old days are not live latency);
* ``bar_revisions_total``: ``sum(revision) WHERE revision > 0`` per timeframe of ``bars``, read from
  the partial index ``bars_revised`` (postgres_schema.sql; revisions are rare);
* ``ticks_dead_lettered_total``/``ticks_late_total`` and ``tick_accounting_balanced``: aggregates over
  ``ticks_dlq`` (index ``ticks_dlq_stage_reason``; the view tick_accounting counts it per partition):
  linear in dead letters, which a healthy feed keeps few. tick_counts has one row per partition.

Sessions and the minutes expected in them come from udfs.market (the owner of session rules), with
the bar rules' own settings (extended hours, pre-open and post-close times, symbol reference): a
minute is expected once it has ended, inside the segments the bar job builds bars for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from marketpipe.monitoring.families import Families
from marketpipe.rules.bar_config import bar_config
from marketpipe.settings import Settings
from udfs.bars.config import Reference
from udfs.bars.model import LATE, MINUTE_NS, TIMEFRAMES

LATENCY_WINDOW = timedelta(minutes=5)
QUANTILES = (0.5, 0.99)
REGULAR = "regular"  # SessionSlot.session of the regular segment (udfs.market.calendar)

# One row per symbol of the 1m bars, by skipping through the primary key of `bars` (symbol, timeframe,
# bar_start) (a loose index scan). These read `bars` itself, not the view bars_1m: LATENCY_SQL needs
# the row's xmin, which a view does not have.
_SYMBOLS = """
WITH RECURSIVE syms(symbol) AS (
    (SELECT symbol FROM bars WHERE timeframe = '1m' ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT b.symbol FROM bars b WHERE b.symbol > s.symbol AND b.timeframe = '1m'
            ORDER BY b.symbol LIMIT 1)
    FROM syms s WHERE s.symbol IS NOT NULL
)"""

# Each symbol's newest bar (one backward probe of the primary key per symbol).
LAST_BARS_SQL = _SYMBOLS + """
SELECT s.symbol, last.bar_end, last.session_date
FROM syms s
CROSS JOIN LATERAL (
    SELECT bar_end, session_date FROM bars b
    WHERE b.symbol = s.symbol AND b.timeframe = '1m' ORDER BY b.bar_start DESC LIMIT 1
) last
WHERE s.symbol IS NOT NULL
"""

# Bars per symbol in [lo, hi): the bounds of its session day from the calendar, so the count is an
# index-only range scan of the primary key (no heap rows read to check session_date).
SESSION_COUNTS_SQL = """
SELECT k.symbol, (SELECT count(*) FROM bars b
                  WHERE b.symbol = k.symbol AND b.timeframe = '1m' AND b.bar_start >= k.lo
                    AND b.bar_start < k.hi)
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[]) AS k(symbol, lo, hi)
"""

LATENCY_SQL = _SYMBOLS + """
SELECT count(*), percentile_cont(%(quantiles)s::float8[]) WITHIN GROUP (ORDER BY t.latency)
FROM (
    SELECT extract(epoch FROM c.committed - b.bar_end)::float8 AS latency
    FROM syms s
    CROSS JOIN LATERAL (
        SELECT xmin, bar_end FROM bars b
        WHERE b.symbol = s.symbol AND b.timeframe = '1m' AND b.bar_start >= now() - %(candidates)s::interval
    ) b
    CROSS JOIN LATERAL (SELECT pg_xact_commit_timestamp(b.xmin) AS committed) c
    WHERE s.symbol IS NOT NULL AND c.committed >= now() - %(window)s::interval
) t
"""


@dataclass(frozen=True)
class SymbolBars:
    """What bars_1m says about one symbol: its newest bar's end and session day, and how many bars
    that session day has (None until counted)."""

    symbol: str
    last_end: datetime
    session_date: date | None
    bars: int | None = None


def session_bounds(reference: Reference, symbol: str, session_date: date) -> tuple[datetime, datetime] | None:
    """The first segment's start and the last segment's end of the symbol's trading day (every bar of
    that session_date starts in between); None on a day the calendar has no session."""
    try:
        slots = reference.context(symbol).calendar.day(session_date)
    except ValueError:  # a day outside the calendar's range (exchange_calendars covers 1990..next year)
        return None
    if not slots:
        return None
    return _from_ns(slots[0].start_ns), _from_ns(slots[-1].end_ns)


def _from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def expected_minutes(reference: Reference, symbol: str, session_date: date, now: datetime) -> int:
    """Minutes of ``session_date`` that have ended by ``now`` in the segments the bar job makes bars for
    (all of pre/regular/post with extended hours, else the regular session), by the symbol's calendar."""
    calendar = reference.context(symbol).calendar
    now_ns = int(now.timestamp() * 1e9)
    total = 0
    for slot in calendar.day(session_date):
        if slot.session != REGULAR and not reference.rules.extended_hours:
            continue
        total += max(0, min(now_ns, slot.end_ns) - slot.start_ns) // MINUTE_NS
    return total


def in_session(reference: Reference, row: SymbolBars, now: datetime) -> bool:
    """The wall clock is in one of the symbol's bar-building segments and its newest bar is of that day."""
    slot = reference.context(row.symbol).calendar.slot(int(now.timestamp() * 1e9))
    if slot is None or (slot.session != REGULAR and not reference.rules.extended_hours):
        return False
    return row.session_date == slot.session_date


def symbol_samples(out: Families, reference: Reference, rows: list[SymbolBars], now: datetime) -> None:
    """Per-symbol samples from :class:`SymbolBars` rows (pure but for the calendar)."""
    for row in rows:
        if row.bars is not None:
            out.add("marketpipe_bars_emitted", row.bars, symbol=row.symbol)
        out.add("marketpipe_bar_last_end_seconds", row.last_end.timestamp(), symbol=row.symbol)
        if row.session_date is not None and session_bounds(reference, row.symbol, row.session_date) is not None:
            out.add("marketpipe_bars_expected", expected_minutes(reference, row.symbol, row.session_date, now),
                    symbol=row.symbol)
        out.add("marketpipe_symbol_in_session", 1.0 if in_session(reference, row, now) else 0.0, symbol=row.symbol)


def dead_letter_samples(out: Families, rows: list[tuple[str, str, int]]) -> None:
    """``(stage, reason, count)`` rows of ticks_dlq -> dead-lettered totals and the late ones."""
    late = 0
    for stage, reason, count in rows:
        out.add("marketpipe_ticks_dead_lettered_total", count, stage=stage, reason=reason)
        if stage == "bars" and reason == LATE:
            late += count
    out.add("marketpipe_ticks_late_total", late)


class PostgresSource:
    """Reads the SLIs with a fresh connection per scrape (2 s connect and statement timeouts)."""

    def __init__(self, settings: Settings, timeout_s: float = 2.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._reference: Reference | None = None

    @property
    def reference(self) -> Reference:
        """The bar job's rules and symbol reference (loaded once; calendars load on first use)."""
        if self._reference is None:
            self._reference = Reference(bar_config(self.settings))
        return self._reference

    def warm_up(self) -> None:
        """Load the reference and the default calendar (exchange_calendars takes seconds the first time),
        so the first scrape does not pay for it."""
        self.reference.context("SPY").calendar.day(datetime.now(UTC).date())

    def _connect(self) -> psycopg.Connection[Any]:
        ms = int(self.timeout_s * 1000)
        return psycopg.connect(
            self.settings.postgres_dsn, autocommit=True, connect_timeout=max(1, round(self.timeout_s)),
            options=f"-c statement_timeout={ms} -c lock_timeout={ms}", application_name="marketpipe-exporter",
        )

    def collect(self, out: Families) -> None:
        """Add every SLI sample to ``out``; raises ``psycopg.Error`` on failure."""
        now = datetime.now(UTC)
        s = self.settings
        with self._connect() as conn:
            dead_letter_samples(out, conn.execute(
                "SELECT stage, reason, count(*) FROM ticks_dlq GROUP BY 1, 2 ORDER BY 1, 2").fetchall())
            kinds = ("raw_records", "clean", "rejected", "heartbeats")
            for partition, *counts in conn.execute(
                f"SELECT kafka_partition, {', '.join(kinds)} FROM tick_counts ORDER BY 1"
            ).fetchall():
                for kind, value in zip(kinds, counts, strict=True):
                    out.add("marketpipe_tick_counts", value, partition=partition, kind=kind)
            for partition, balanced in conn.execute(
                "SELECT kafka_partition, balanced FROM tick_accounting ORDER BY 1"
            ).fetchall():
                out.add("marketpipe_tick_accounting_balanced", 1.0 if balanced else 0.0, partition=partition)
            revisions = dict(conn.execute(
                "SELECT timeframe, sum(revision) FROM bars WHERE revision > 0 GROUP BY timeframe").fetchall())
            for tf in TIMEFRAMES:
                out.add("marketpipe_bar_revisions_total", revisions.get(tf, 0), timeframe=tf)
            rows = self._symbol_rows(conn)
            candidates = LATENCY_WINDOW + timedelta(
                milliseconds=s.bars_grace_ms + s.bars_closing_print_wait_ms, minutes=5)
            count, quantiles = conn.execute(LATENCY_SQL, {
                "quantiles": list(QUANTILES), "candidates": candidates, "window": LATENCY_WINDOW,
            }).fetchone() or (0, None)
        symbol_samples(out, self.reference, rows, now)
        out.add("marketpipe_bar_latency_samples", count)
        if count and quantiles:
            for q, value in zip(QUANTILES, quantiles, strict=True):
                out.add("marketpipe_bar_latency_seconds", value, quantile=q)

    def _symbol_rows(self, conn: psycopg.Connection[Any]) -> list[SymbolBars]:
        """Each symbol's newest bar, and the count of bars of its session day."""
        last = [SymbolBars(*r) for r in conn.execute(LAST_BARS_SQL).fetchall()]
        bounds = {
            row.symbol: b for row in last
            if row.session_date is not None
            and (b := session_bounds(self.reference, row.symbol, row.session_date)) is not None
        }
        counts: dict[str, int] = {}
        if bounds:
            symbols = sorted(bounds)
            counts = dict(conn.execute(SESSION_COUNTS_SQL, (
                symbols, [bounds[s][0] for s in symbols], [bounds[s][1] for s in symbols])).fetchall())
        return [SymbolBars(r.symbol, r.last_end, r.session_date, counts.get(r.symbol)) for r in last]
