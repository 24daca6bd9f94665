"""One trade tick and its wire form on the raw topic.

Wire contract (topic ``ticks.raw``; key = symbol as UTF-8, value = one UTF-8 JSON object)::

    {"kind": "trade", "symbol": "AAPL", "ts_ns": 1718285400123456789, "price": 187.23,
     "size": 100, "exchange": "Q", "conditions": "@ F", "trade_id": "A1-42", "source": "synthetic"}

The edge never drops or repairs a row: values are passed as found and flink_sql/11_ticks_clean.sql
decides what is valid and dead-letters the rest with a reason (its Python mirror:
:mod:`marketpipe.rules.ticks`). When the source timestamp could not be parsed, ``ts_ns``
is ``null`` and ``ts_raw`` carries the original text so the reason can show it. Heartbeats
(``{"kind": "heartbeat", "ts_ns": N}``, key null, one per partition) only move the event-time watermark.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from marketpipe.rules.ticks import SYMBOL_PATTERN, SYMBOL_RE

__all__ = [
    "SYMBOL_PATTERN", "SYMBOL_RE", "HeartbeatSchedule", "RawNumber", "Tick", "TickSink", "heartbeat_json",
    "normalize_conditions",
]

# Prices and sizes are JSON numbers when the source held a number, the original text otherwise.
RawNumber = int | float | str | None


def normalize_conditions(raw: str | None) -> str | None:
    """Sale-condition codes as one string separated by single spaces (commas count as separators).

    ``None`` and blank strings become ``None``: "no conditions" has one representation on the wire.
    """
    if raw is None:
        return None
    codes = raw.replace(",", " ").split()
    return " ".join(codes) if codes else None


def _json_number(value: RawNumber) -> RawNumber:
    # JSON has no NaN or infinity; a non-finite float goes out as text so Flink rejects it visibly.
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade print, as read from a source. ``ts_ns`` is epoch nanoseconds UTC, or ``None``."""

    symbol: str | None
    ts_ns: int | None
    price: RawNumber
    size: RawNumber
    exchange: str | None = None
    conditions: str | None = None
    trade_id: str | None = None
    source: str | None = None
    ts_raw: str | None = None

    @property
    def key(self) -> bytes | None:
        """Kafka key: the symbol as UTF-8, so every tick of a symbol lands on one partition."""
        return self.symbol.encode("utf-8") if self.symbol else None

    def to_dict(self) -> dict[str, object]:
        """The JSON object of the wire contract (``ts_raw`` only when ``ts_ns`` is unknown)."""
        out: dict[str, object] = {
            "kind": "trade",
            "symbol": self.symbol,
            "ts_ns": self.ts_ns,
            "price": _json_number(self.price),
            "size": _json_number(self.size),
            "exchange": self.exchange,
            "conditions": normalize_conditions(self.conditions),
            "trade_id": self.trade_id,
            "source": self.source,
        }
        if self.ts_ns is None:
            out["ts_raw"] = self.ts_raw
        return out

    def to_json(self) -> bytes:
        """UTF-8 JSON value for the raw topic."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False).encode("utf-8")


def heartbeat_json(ts_ns: int) -> bytes:
    """UTF-8 JSON value of a heartbeat carrying only an event time."""
    return json.dumps({"kind": "heartbeat", "ts_ns": int(ts_ns)}, separators=(",", ":")).encode("utf-8")


class HeartbeatSchedule:
    """When a streaming feed sends a heartbeat round (one heartbeat to every partition), and with which time.

    The rule (docs/ticks.md): while streaming, at least every ``interval_s`` seconds of wall time and
    after every ``every_ticks`` ticks, carrying the latest event time produced so far. Never a wall-clock
    time ahead of the data: a heartbeat must not close a bar whose ticks are still to come. Nothing is due
    before the first timestamped tick. The end-of-stream heartbeat (past the last minute) is the feed's.
    """

    def __init__(
        self, interval_s: float = 1.0, every_ticks: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"heartbeat interval must be positive, got {interval_s!r}")
        if every_ticks < 1:
            raise ValueError(f"heartbeat tick count must be >= 1, got {every_ticks!r}")
        self.interval_s = float(interval_s)
        self.every_ticks = int(every_ticks)
        self.latest_ns: int | None = None
        self._clock = clock
        self._since = 0
        self._next = clock() + self.interval_s

    def observe(self, ts_ns: int | None) -> None:
        """Account for one tick produced (``ts_ns`` None when its time could not be parsed)."""
        self._since += 1
        if ts_ns is not None and (self.latest_ns is None or ts_ns > self.latest_ns):
            self.latest_ns = ts_ns

    def observe_many(self, count: int, max_ts_ns: int | None) -> None:
        """Account for ``count`` ticks at once, ``max_ts_ns`` the largest time among them (None if none had
        one): the same as ``count`` calls of :meth:`observe`."""
        self._since += count
        if max_ts_ns is not None and (self.latest_ns is None or max_ts_ns > self.latest_ns):
            self.latest_ns = max_ts_ns

    def ticks_to_next(self) -> int:
        """Ticks until a round is due by count (at least 1): a batch sender cuts its batches there, so the
        rounds fall after the same ticks as when sending one at a time."""
        return max(1, self.every_ticks - self._since)

    def due(self) -> int | None:
        """The event time of a heartbeat round to send now, or None; the schedule restarts when one is due."""
        if self.latest_ns is None:
            return None
        now = self._clock()
        if self._since < self.every_ticks and now < self._next:
            return None
        self._since = 0
        self._next = now + self.interval_s
        return self.latest_ns

    def seconds_to_next(self) -> float:
        """Wall seconds until the next round is due by time (lets a pacing sleep wake up for it)."""
        return max(0.0, self._next - self._clock())


class TickSink(Protocol):
    """Where feeds send ticks: :class:`~marketpipe.feeds.producer.TickProducer`, or a fake in tests."""

    def send(self, tick: Tick) -> None:
        """Queue one tick."""

    def send_heartbeats(self, ts_ns: int) -> None:
        """Queue one heartbeat to every partition of the topic."""

    def flush(self, timeout: float = 30.0) -> None:
        """Wait for everything queued to be delivered; raise ``FeedError`` if some was not."""
