"""What ``/api/stream`` pushes: new and revised bars and signals of one symbol and timeframe.

A bar is upserted while it can still change (a late tick within the grace period revises it, its
``revision`` goes up; its indicator row and signals land a moment after it), so each poll re-reads the
last :data:`RECENT_BARS` bars seen, not only newer ones, and sends the rows that differ from what it
sent before. State is bounded: fingerprints of those recent bars and of their signals only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from marketpipe.chart import queries

# How many of the newest bars each poll re-reads (~20 rows by the primary key: cheap).
RECENT_BARS = 20


class Follower:
    """Polls one symbol's bars and signals; :meth:`poll` returns what changed since the last poll."""

    def __init__(self, schema: str, symbol: str, timeframe: str, since: datetime | None) -> None:
        self.schema, self.symbol, self.timeframe = schema, symbol, timeframe
        self.key = since  # bar_start bound of the next poll; None: start from the newest bars
        self._with_indicators: bool | None = None
        self._bars: dict[datetime, tuple[Any, ...]] = {}
        self._signals: dict[tuple[datetime, str], tuple[Any, ...]] = {}

    def _start_key(self, conn: psycopg.Connection[Any]) -> datetime | None:
        query = sql.SQL(
            "SELECT min(bar_start) FROM (SELECT bar_start FROM {b} WHERE symbol = %s"
            " ORDER BY bar_start DESC LIMIT %s) x"
        ).format(b=sql.Identifier(self.schema, f"bars_{self.timeframe}"))
        row = conn.execute(query, (self.symbol, RECENT_BARS)).fetchone()
        return row[0] if row else None

    def poll(self, conn: psycopg.Connection[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """New or changed bars (JSON rows of /api/bars) and signals (``hold`` retracts a marker)."""
        if self._with_indicators is None:
            self._with_indicators = queries.has_indicators(conn, self.schema, self.timeframe)
        if self.key is None:
            self.key = self._start_key(conn)
            if self.key is None:  # no bars yet
                return [], []
        rows = queries.bars_since(conn, self.schema, self.symbol, self.timeframe, self.key, self._with_indicators)
        bars = []
        for row in rows:
            if self._bars.get(row[0]) != row[1:]:
                self._bars[row[0]] = row[1:]
                bars.append(queries.bar_row(row))
        signals = []
        for sig in queries.signals(
            conn, self.schema, self.symbol, self.timeframe, since=self.key, with_holds=True
        ):
            key = (queries.from_epoch(sig["time"]), sig["strategy"])
            fingerprint = (sig["action"], sig["reason"], sig["close"])
            if self._signals.get(key) != fingerprint and (sig["action"] != "hold" or key in self._signals):
                self._signals[key] = fingerprint
                signals.append(sig)
        self._advance()
        return bars, signals

    def _advance(self) -> None:
        """Move the key to the oldest of the last RECENT_BARS bars seen; forget what is older."""
        starts = sorted(self._bars)
        if len(starts) <= RECENT_BARS:
            return
        self.key = starts[-RECENT_BARS]
        for old in starts[:-RECENT_BARS]:
            del self._bars[old]
        for key in [k for k in self._signals if k[0] < self.key]:
            del self._signals[key]
