"""A TickSink double that records what it was given (the feed and replay tests)."""

from __future__ import annotations

from marketpipe.feeds.tick import Tick


class RecordingSink:
    """A TickSink that keeps what it was given."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.heartbeats: list[int] = []
        self.flushes = 0

    def send(self, tick: Tick) -> None:
        self.ticks.append(tick)

    def send_heartbeats(self, ts_ns: int) -> None:
        self.heartbeats.append(ts_ns)

    def flush(self, timeout: float = 30.0) -> None:
        self.flushes += 1
