"""Run a provider stream as a service: reader thread -> bounded buffer -> Kafka, with heartbeats, duplicate
suppression, a status line and a graceful shutdown.

Threads: the provider's asyncio loop runs in a reader thread and only reads the socket and parses frames;
the calling (main) thread drains the buffer, drops duplicates, produces ticks, sends heartbeat rounds
(``HeartbeatSchedule``: the latest event time produced, never the wall clock) and logs the status line.
SIGINT/SIGTERM set the stop flag: the reader closes its connection, the writer produces what is still
buffered and flushes the producer, then ``run`` returns. A fatal provider error (bad credentials, a plan
limit) does the same and is then raised.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from marketpipe.collectors.base import CollectorStats, ProviderStream, TickBuffer
from marketpipe.collectors.dedup import RecentTrades
from marketpipe.collectors.exceptions import CollectorError
from marketpipe.feeds.tick import HeartbeatSchedule, Tick, TickSink
from marketpipe.rules.ticks import TickRules, end_heartbeat_ns

log = logging.getLogger(__name__)

Observer = Callable[[CollectorStats], None]  # called with the counters at every status interval
_BATCH = 1000
_READER_JOIN_S = 15.0  # how long shutdown waits for the reader to close its connection


class CollectorService:
    """Runs ``stream`` into ``sink`` until ``duration`` seconds pass (None: until stopped or failed).

    ``observers`` get the counters at every status interval (the hook for a metrics exporter);
    ``final_heartbeat`` sends, on exit, one heartbeat round past the last minute so its bars close (for a
    finite run; a service that will be restarted should not). Counters live in ``stream.stats``.
    """

    def __init__(
        self,
        stream: ProviderStream,
        sink: TickSink,
        *,
        heartbeats: HeartbeatSchedule | None = None,
        dedup_window: int = 512,
        duration: float | None = None,
        status_interval_s: float = 10.0,
        progress: bool = True,
        final_heartbeat: bool = False,
        rules: TickRules | None = None,
        observers: Sequence[Observer] = (),
        flush_timeout: float | None = None,
    ) -> None:
        self.stream = stream
        self.sink = sink
        self.stats = stream.stats
        self.heartbeats = heartbeats if heartbeats is not None else HeartbeatSchedule()
        self.recent = RecentTrades(dedup_window)
        self.buffer = TickBuffer(stream.config.buffer_messages, self.stats)
        self.duration = duration
        self.status_interval_s = status_interval_s
        self.progress = progress
        self.final_heartbeat = final_heartbeat
        self.rules = rules or TickRules()  # the job's: when its last bar closes (end_heartbeat_ns)
        self.observers = list(observers)
        self.flush_timeout = flush_timeout
        self.stop_event = threading.Event()
        self.last_ts: int | None = None
        self._reader_error: BaseException | None = None
        self._reader: threading.Thread | None = None

    def stop(self) -> None:
        """Ask the service to shut down (thread-safe; what SIGINT/SIGTERM call)."""
        self.stop_event.set()

    # -- the reader thread ------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            asyncio.run(self.stream.run(self.buffer, self.stop_event))
        except BaseException as exc:  # noqa: BLE001 - handed to the writer thread, raised there
            self._reader_error = exc
        finally:
            self.stop_event.set()

    # -- the writer (calling thread) --------------------------------------------------------------

    def _write(self, batch: list[tuple[float, Tick]]) -> None:
        now = time.monotonic()
        for received, tick in batch:
            if self.recent.seen(tick):
                self.stats.duplicates += 1
                continue
            self.sink.send(tick)
            self.stats.ticks += 1
            self.stats.latencies_s.append(now - received)
            self.heartbeats.observe(tick.ts_ns)
            if tick.ts_ns is not None and (self.last_ts is None or tick.ts_ns > self.last_ts):
                self.last_ts = tick.ts_ns
            due = self.heartbeats.due()
            if due is not None:
                self._send_heartbeats(due)

    def _send_heartbeats(self, ts_ns: int) -> None:
        self.sink.send_heartbeats(ts_ns)
        self.stats.heartbeats += 1

    def _status(self) -> None:
        for observer in self.observers:
            observer(self.stats)
        if not self.progress:
            return
        s = self.stats
        latency = s.latency_ms()
        lat = "-" if latency is None else f"{latency[0]:.1f}/{latency[1]:.1f}ms"
        in_flight = getattr(self.sink, "in_flight", None)
        log.info(
            "%s: %d msgs, %d ticks, %d dup, %d reconnects, %d stalls, %d errors, %d malformed; buffer %d/%d "
            "(backpressure %.1fs); latency p50/max %s%s",
            self.stream.name, s.messages, s.ticks, s.duplicates, s.reconnects, s.stalls, s.errors, s.malformed,
            len(self.buffer), self.buffer.capacity, s.backpressure_s, lat,
            "" if in_flight is None else f"; kafka in flight {in_flight}",
        )

    def run(self) -> dict[str, Any]:
        """Run until stopped, ``duration`` passed, or a fatal error; returns the counters (and raises the
        fatal error after a clean shutdown)."""
        restore = self._install_signals()
        for observer in self.observers:  # from the start: a metrics exporter reads the counters live
            observer(self.stats)
        t0 = time.monotonic()
        next_status = t0 + self.status_interval_s
        self._reader = threading.Thread(target=self._read, name=f"{self.stream.name}-reader", daemon=True)
        self._reader.start()
        write_error: BaseException | None = None
        try:
            for _ in range(1_000_000_000):  # each round waits at most 0.1 s; stop/duration end it
                if self.duration is not None and time.monotonic() - t0 >= self.duration:
                    break
                if self.stop_event.is_set():
                    break
                self._write(self.buffer.get_batch(_BATCH, timeout=0.1))
                due = self.heartbeats.due()
                if due is not None:
                    self._send_heartbeats(due)
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + self.status_interval_s
                    self._status()
        except BaseException as exc:  # noqa: BLE001 - raised again below, after a clean shutdown
            write_error = exc
            self.buffer.closed.set()  # the reader must not wait for room that will never come
        finally:
            self.stop_event.set()
            self._shutdown(write_error is None)
            restore()
        if write_error is not None:
            raise write_error
        if self._reader_error is not None:
            if isinstance(self._reader_error, CollectorError):
                raise self._reader_error
            raise CollectorError(f"{self.stream.name} reader failed: {self._reader_error!r}") from self._reader_error
        return self.summary(time.monotonic() - t0)

    def _shutdown(self, drain: bool) -> None:
        """Let the reader close its connection (draining the buffer meanwhile, so a reader waiting for room
        can finish), produce what is left, then end heartbeats and flush."""
        deadline = time.monotonic() + _READER_JOIN_S
        for _ in range(1_000_000):
            if self._reader is None or not self._reader.is_alive() or time.monotonic() > deadline:
                break
            if drain:
                self._write(self.buffer.get_batch(_BATCH, timeout=0.05))
            else:
                self._reader.join(0.05)
        if self._reader is not None and self._reader.is_alive():
            log.warning("%s: the reader did not stop within %gs", self.stream.name, _READER_JOIN_S)
        self.buffer.closed.set()
        if not drain:
            return
        for _ in range(1_000_000):
            batch = self.buffer.get_batch(_BATCH, timeout=0)
            if not batch:
                break
            self._write(batch)
        if self.final_heartbeat and self.last_ts is not None:
            self._send_heartbeats(end_heartbeat_ns(self.last_ts, self.rules))
        if self.flush_timeout is None:
            self.sink.flush()
        else:
            self.sink.flush(self.flush_timeout)
        self._status()

    def summary(self, seconds: float) -> dict[str, Any]:
        """The counters plus the run's length and the last event time produced."""
        return {"provider": self.stream.name, **self.stats.as_dict(), "last_ts": self.last_ts,
                "wall_seconds": round(seconds, 3)}

    def _install_signals(self) -> Callable[[], None]:
        """SIGINT/SIGTERM -> graceful stop (only possible from the main thread; tests call stop())."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: object) -> None:
            if self.stop_event.is_set():  # a second signal: stop now, without the flush
                raise KeyboardInterrupt
            log.warning("%s: %s received, shutting down (flushing what was received; again to abort)",
                        self.stream.name, signal.Signals(signum).name)
            self.stop_event.set()

        for sig in previous:
            signal.signal(sig, handler)

        def restore() -> None:
            for sig, old in previous.items():
                signal.signal(sig, old)

        return restore
