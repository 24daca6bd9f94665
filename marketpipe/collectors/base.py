"""The provider-independent core of a live collector: counters, reconnect back-off, the bounded buffer
between the socket reader and the Kafka writer, and the connection loop with stall detection.

A provider module (``alpaca``, ``massive``) implements :class:`ProviderStream.session`: one connection —
connect, authenticate, subscribe, read frames until the connection ends — feeding trades to ``emit``.
:meth:`ProviderStream.run` calls it again and again: after a dropped or stalled connection it waits an
exponentially growing, jittered delay, then reconnects, which re-authenticates and re-subscribes. A
:class:`~marketpipe.collectors.exceptions.CollectorError` from a session (bad credentials, a plan limit) ends
the loop: those are not fixed by reconnecting.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from marketpipe.collectors.exceptions import CollectorError
from marketpipe.feeds.tick import Tick

log = logging.getLogger(__name__)

Emit = Callable[[Tick], Awaitable[None]]
_POLL_S = 0.1  # how often waits look at the stop flag
_BACKPRESSURE_POLL_S = 0.005
_BACKPRESSURE_REPORT_S = 5.0
_MAX_SESSIONS = 10_000_000  # bounds the reconnect loop in count; the stop flag ends it in time
_CANCEL_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    """Behaviour of the core (``MARKETPIPE_COLLECTOR_*``): ``stall_s`` 0 turns stall detection off;
    ``handshake_s`` bounds connect + authenticate + subscribe (and an SDK's own connection retries)."""

    stall_s: float = 60.0
    handshake_s: float = 30.0
    buffer_messages: int = 10_000
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0


class CollectorStats:
    """Counters a status line, tests and a metrics exporter read (plain attributes, updated in place).

    ``frames``: websocket messages received (a frame may batch many events); ``messages``: events in them;
    ``trades``: trade events handed to the buffer; ``ticks``: ticks produced to Kafka; ``duplicates``:
    trades dropped as already produced; ``malformed``: frames or events that could not be read;
    ``errors``: provider error frames/statuses plus sessions that ended in an exception; ``connects``,
    ``reconnects``, ``stalls``; ``backpressure_waits`` / ``backpressure_s``: times and seconds the reader
    waited for room in a full buffer (the socket was not read meanwhile); ``buffer_high_water``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.frames = 0
        self.messages = 0
        self.trades = 0
        self.ticks = 0
        self.duplicates = 0
        self.malformed = 0
        self.errors = 0
        self.connects = 0
        self.reconnects = 0
        self.stalls = 0
        self.heartbeats = 0
        self.backpressure_waits = 0
        self.backpressure_s = 0.0
        self.buffer_high_water = 0
        self.last_message_at: float | None = None  # monotonic time of the last frame received
        self.subscribed_at: float | None = None  # monotonic time the current connection subscribed
        self.last_error: str | None = None
        self.latencies_s: deque[float] = deque(maxlen=2048)  # receive -> handed to the producer
        self._clock = clock

    def frame(self) -> None:
        """Count one frame received (any frame: it shows the connection is alive)."""
        self.frames += 1
        self.last_message_at = self._clock()

    def error(self, text: str) -> None:
        """Count and remember one provider error or failed session."""
        self.errors += 1
        self.last_error = text

    def latency_ms(self) -> tuple[float, float] | None:
        """(median, max) of recent receive-to-producer latencies in milliseconds, None before any tick."""
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        return ordered[len(ordered) // 2] * 1000, ordered[-1] * 1000

    def as_dict(self) -> dict[str, object]:
        """The counters as a JSON-friendly dict."""
        latency = self.latency_ms()
        return {
            "frames": self.frames, "messages": self.messages, "trades": self.trades, "ticks": self.ticks,
            "duplicates": self.duplicates, "malformed": self.malformed, "errors": self.errors,
            "connects": self.connects, "reconnects": self.reconnects, "stalls": self.stalls,
            "heartbeats": self.heartbeats, "backpressure_waits": self.backpressure_waits,
            "backpressure_s": round(self.backpressure_s, 3), "buffer_high_water": self.buffer_high_water,
            "latency_ms_p50": None if latency is None else round(latency[0], 3),
            "latency_ms_max": None if latency is None else round(latency[1], 3),
            "last_error": self.last_error,
        }


class Backoff:
    """Exponential back-off with equal jitter: attempt n waits between half and all of
    ``min(max_s, min_s * 2**(n-1))``, so a fleet of collectors that lost the same server does not
    reconnect in lock-step. :meth:`reset` after a connection that delivered data."""

    def __init__(self, min_s: float, max_s: float, rng: Callable[[], float] = random.random) -> None:
        if not 0 < min_s <= max_s:
            raise ValueError(f"back-off needs 0 < min <= max, got {min_s!r}, {max_s!r}")
        self.min_s = min_s
        self.max_s = max_s
        self.attempt = 0
        self._rng = rng

    def next(self) -> float:
        """The delay before the next attempt (and count it)."""
        self.attempt += 1
        cap = min(self.max_s, self.min_s * 2.0 ** min(self.attempt - 1, 60))
        return cap / 2 + self._rng() * cap / 2

    def reset(self) -> None:
        """Start over at ``min_s``."""
        self.attempt = 0

    def delays(self) -> Iterator[float]:
        """An endless series of delays (for clients that take a generator of reconnect delays)."""
        for _ in range(_MAX_SESSIONS):
            yield self.next()


class TickBuffer:
    """A bounded FIFO of ``(receive time, tick)`` between the socket reader (asyncio, one thread) and the
    writer that produces to Kafka (another thread).

    When it is full, :meth:`put` waits — the reader then stops reading the socket, so the provider's
    frames stay in the kernel and websocket buffers (both bounded) and memory never grows with a slow
    Kafka. The wait is logged every few seconds and counted in ``stats.backpressure_*``.
    """

    def __init__(self, capacity: int, stats: CollectorStats, clock: Callable[[], float] = time.monotonic) -> None:
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self.stats = stats
        self.closed = threading.Event()  # set when nobody will drain the buffer any more
        self._queue: queue.Queue[tuple[float, Tick]] = queue.Queue(capacity)
        self._clock = clock
        self._next_report = 0.0

    def __len__(self) -> int:
        return self._queue.qsize()

    def _offer(self, item: tuple[float, Tick]) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            return False
        size = self._queue.qsize()
        if size > self.stats.buffer_high_water:
            self.stats.buffer_high_water = size
        return True

    async def put(self, tick: Tick) -> bool:
        """Queue one tick, waiting (without blocking the event loop) while the buffer is full; False if the
        buffer was closed meanwhile (the writer stopped: the tick cannot be delivered)."""
        item = (self._clock(), tick)
        if self._offer(item):
            return True
        self.stats.backpressure_waits += 1
        started = self._clock()
        try:
            for _ in range(1_000_000_000):  # ended by room in the buffer or by close(), not by count
                if self.closed.is_set():
                    return False
                now = self._clock()
                if now >= self._next_report:
                    self._next_report = now + _BACKPRESSURE_REPORT_S
                    log.warning(
                        "Kafka is slower than the feed: the collector buffer is full (%d ticks); not reading "
                        "the socket until the producer catches up (waiting %.1fs so far)",
                        self.capacity, now - started,
                    )
                await asyncio.sleep(_BACKPRESSURE_POLL_S)
                if self._offer(item):
                    return True
            return False
        finally:
            self.stats.backpressure_s += self._clock() - started

    def get_batch(self, max_items: int, timeout: float) -> list[tuple[float, Tick]]:
        """Up to ``max_items`` queued items, waiting at most ``timeout`` seconds for the first."""
        try:
            first = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        out = [first]
        for _ in range(max_items - 1):
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out


class ProviderStream(ABC):
    """One provider's trade stream. Subclasses implement :meth:`session`; :meth:`run` is the service loop."""

    name: str = "provider"  # the ticks' ``source``

    def __init__(self, config: CollectorConfig, stats: CollectorStats | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.stats = stats if stats is not None else CollectorStats(clock)
        self.backoff = Backoff(config.backoff_min_s, config.backoff_max_s)
        self._clock = clock
        self._delivered_in_session = False

    @abstractmethod
    async def session(self, emit: Emit) -> None:
        """One connection: connect, authenticate, subscribe, read until the connection ends.

        Call ``self.stats.frame()`` for every frame, :meth:`subscribed` once subscribed, and ``await
        emit(tick)`` for every trade (it waits while the buffer is full). Return or raise to end the
        connection; raise :class:`CollectorError` for what a reconnect cannot fix.
        """

    def connect_delays(self) -> Iterator[float]:
        """Back-off delays for an SDK that retries failed connection attempts itself (counted as reconnects)."""
        for _ in range(_MAX_SESSIONS):
            delay = self.backoff.next()
            self.stats.reconnects += 1
            log.warning("%s: connection attempt failed; retrying in %.1fs (attempt %d)",
                        self.name, delay, self.backoff.attempt)
            yield delay

    def subscribed(self) -> None:
        """Mark the connection subscribed: stall detection starts from here."""
        self.stats.subscribed_at = self._clock()

    async def run(self, buffer: TickBuffer, stop: threading.Event) -> None:
        """Connect, and reconnect after every drop or stall, until ``stop`` is set; raises CollectorError."""

        async def emit(tick: Tick) -> None:
            self._delivered_in_session = True
            self.stats.trades += 1
            if not await buffer.put(tick):
                stop.set()

        for _ in range(_MAX_SESSIONS):
            if stop.is_set():
                return
            self.stats.subscribed_at = None
            self._delivered_in_session = False
            task = asyncio.create_task(self.session(emit))
            reason = await self._watch(task, stop)
            if stop.is_set():
                return
            if self._delivered_in_session:
                self.backoff.reset()  # a connection that delivered data was healthy: start over
            delay = self.backoff.next()
            self.stats.reconnects += 1
            log.warning("%s: %s; reconnecting in %.1fs (attempt %d)", self.name, reason, delay, self.backoff.attempt)
            await _sleep_unless(stop, delay)

    async def _watch(self, task: asyncio.Task[None], stop: threading.Event) -> str:
        """Wait for the session to end, the stop flag, or a stall; returns why the connection ended.

        Before the subscription the limit is the handshake timeout (a server that accepts the connection
        and then says nothing must not hold the collector forever), after it the stall timeout."""
        started = self._clock()
        stall = self.config.stall_s
        handshake = self.config.handshake_s
        for _ in range(1_000_000_000):  # each round waits _POLL_S; one of the exits below ends it
            done, _ = await asyncio.wait({task}, timeout=_POLL_S)
            if done:
                exc = task.exception()
                if isinstance(exc, CollectorError):
                    raise exc
                if exc is not None:
                    self.stats.error(f"{type(exc).__name__}: {exc}")
                    return f"connection failed ({type(exc).__name__}: {exc})"
                return "connection closed by the server"
            if stop.is_set():
                await _cancel(task)
                return "stopped"
            since = self.stats.subscribed_at
            if since is None and self._clock() - started > handshake:
                self.stats.error("handshake timeout")
                await _cancel(task)
                return f"not connected and subscribed within {handshake:g}s"
            if stall > 0 and since is not None:
                last = max(since, self.stats.last_message_at or since)
                if self._clock() - last > stall:
                    self.stats.stalls += 1
                    await _cancel(task)
                    return f"no message for {stall:g}s while subscribed (stalled stream)"
        await _cancel(task)
        return "watch limit reached"


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait({task}, timeout=_CANCEL_WAIT_S)
    if task.done() and not task.cancelled() and task.exception() is not None:
        log.debug("session ended with %r while cancelled", task.exception())


async def _sleep_unless(stop: threading.Event, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for _ in range(1_000_000):
        left = deadline - time.monotonic()
        if left <= 0 or stop.is_set():
            return
        await asyncio.sleep(min(left, _POLL_S))
