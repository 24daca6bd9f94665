"""Replay a CSV or Parquet file of trades into the raw topic, in file order (docs/ticks.md).

The file is read by :mod:`marketpipe.feeds.reader` (bad values travel as found: the Flink job
dead-letters them) and sent in wire form a batch at a time, paced by event time if asked, with
heartbeats along the way and at the end. What the pipeline will make of it — which rows are clean,
which 1m bars they make, which heartbeat closes the last one — is :mod:`marketpipe.rules.ticks`' to
say; :class:`ReplaySummary` only counts what was sent and asks it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from tqdm import tqdm

from marketpipe.exceptions import FeedError
from marketpipe.feeds.columns import TickBatch
from marketpipe.feeds.reader import count_rows, read_batches, read_ticks
from marketpipe.feeds.tick import HeartbeatSchedule, Tick, TickSink
from marketpipe.rules.ticks import (
    TickRules,
    bars_by_rules,
    end_heartbeat_ns,
    looks_valid,
    minute_start_ms,
    trade_of,
)
from udfs.bars.model import Trade

if TYPE_CHECKING:
    from udfs.bars.config import BarConfig

__all__ = ["ReplaySummary", "read_batches", "read_ticks", "replay", "summarize"]


@dataclass
class ReplaySummary:
    """What a replay sent. ``expected_bars`` holds ``(SYMBOL, minute start epoch ms)`` of the rows the job
    cleans (``rules``, :mod:`marketpipe.rules.ticks`): the bars the pipeline should produce, for a bounded
    wait in tests."""

    rows: int = 0
    valid_rows: int = 0
    symbols: set[str] = field(default_factory=set)
    min_ts_ns: int | None = None
    max_ts_ns: int | None = None
    expected_bars: set[tuple[str, int]] = field(default_factory=set)
    heartbeat_ts_ns: int | None = None
    # valid-looking trades per symbol, in file order: what the bar rules run on (expected_bars_by_rules)
    trades: dict[str, list[Trade]] = field(default_factory=dict)
    keep_trades: bool = True  # off when nothing will ask for expected_bars_by_rules (saves memory)
    rules: TickRules = field(default_factory=TickRules)

    def add(self, tick: Tick) -> None:
        """Account for one row."""
        self.rows += 1
        if tick.symbol and tick.symbol.strip():
            self.symbols.add(tick.symbol.strip().upper())
        if tick.ts_ns is not None:
            self.min_ts_ns = tick.ts_ns if self.min_ts_ns is None else min(self.min_ts_ns, tick.ts_ns)
            self.max_ts_ns = tick.ts_ns if self.max_ts_ns is None else max(self.max_ts_ns, tick.ts_ns)
        if looks_valid(tick, self.rules):
            self.valid_rows += 1
            assert tick.symbol is not None and tick.ts_ns is not None
            symbol = tick.symbol.strip().upper()
            self.expected_bars.add((symbol, minute_start_ms(tick.ts_ns)))
            if not self.keep_trades:
                return
            self.trades.setdefault(symbol, []).append(trade_of(tick, self.rows))

    def add_batch(self, batch: TickBatch) -> None:
        """Account for the rows of a batch: the same as :meth:`add` of each row's tick, in order."""
        base = self.rows
        self.rows += batch.rows
        self.symbols |= batch._symbols
        has = batch.has_ts
        if has.any():
            stamps = batch.ts[has]
            lo, hi = int(stamps.min()), int(stamps.max())
            self.min_ts_ns = lo if self.min_ts_ns is None else min(self.min_ts_ns, lo)
            self.max_ts_ns = hi if self.max_ts_ns is None else max(self.max_ts_ns, hi)
        valid = np.flatnonzero(batch._valid)
        if not len(valid):
            return
        self.valid_rows += len(valid)
        ts = batch.ts[valid]
        self.expected_bars.update(zip(batch._symbol, minute_start_ms(ts).tolist(), strict=True))
        if not self.keep_trades:
            return
        stamps_l, prices, sizes = ts.tolist(), batch._price[valid].tolist(), batch._size[valid].tolist()
        take = pa.array(valid)
        exchanges, conditions, sources = (pc.take(batch._text[name], take).to_pylist()
                                          for name in ("exchange", "conditions", "source"))
        for k, i in enumerate(valid.tolist()):
            tick = batch._slow.get(i)
            if tick is None:
                trade = Trade(stamps_l[k], prices[k], int(sizes[k]), exchanges[k], conditions[k], base + i + 1,
                              sources[k])
            else:
                trade = trade_of(tick, base + i + 1)
            self.trades.setdefault(batch._symbol[k], []).append(trade)

    def expected_bars_by_rules(self, config: BarConfig | dict[str, Any]) -> set[tuple[str, int]]:
        """The 1m bars the bar rules make of these trades (see :func:`bars_by_rules`)."""
        return bars_by_rules(self.trades, config)


def summarize(path: str | Path, rules: TickRules | None = None) -> ReplaySummary:
    """The summary a replay of ``path`` would return, without sending anything."""
    summary = ReplaySummary(rules=rules or TickRules())
    for batch in read_batches(path, rules=summary.rules):
        summary.add_batch(batch)
    return summary


_SLICE_ROWS = 4_000  # rows sent between two heartbeat checks (about 20 ms at full speed)


def replay(
    path: str | Path,
    producer: TickSink,
    speed: Literal["max"] | float = "max",
    progress: bool = True,
    *,
    flush_timeout: float | None = None,
    keep_trades: bool = True,
    heartbeats: HeartbeatSchedule | None = None,
    rules: TickRules | None = None,
) -> ReplaySummary:
    """Send every row of ``path`` in file order with heartbeats along the way, flush, then send the end
    heartbeats (:func:`~marketpipe.rules.ticks.end_heartbeat_ns` of the largest event time: 65 s past it
    with the default watermark delay) and flush again.

    ``speed="max"`` sends as fast as the producer accepts; a number paces by event time divided by
    ``speed`` (``1.0`` = as recorded, ``60.0`` = a minute per second), anchored at the first parsed
    timestamp. Rows without a timestamp, or earlier than one already sent, go out immediately.
    ``heartbeats`` (default: every second and every 10,000 rows) times the heartbeats sent while
    streaming, at the latest event time sent so far. ``flush_timeout`` None leaves the wait to the
    producer (its delivery timeout). The end heartbeats go out only once every row is delivered; when
    delivery fails for good, the ``FeedError`` says how far the replay got and that they were not sent.

    A producer with ``send_encoded(values, keys)`` (:class:`~marketpipe.feeds.producer.TickProducer`)
    gets the rows in their wire form, a batch at a time; any other ``TickSink`` gets one ``Tick`` per row.
    ``rules`` (default: the settings' defaults) are the job's: which rows it cleans, and its watermark delay.
    """
    if speed != "max" and not (isinstance(speed, int | float) and speed > 0 and math.isfinite(speed)):
        raise FeedError(f"speed must be 'max' or a positive number, got {speed!r}")
    summary = ReplaySummary(keep_trades=keep_trades, rules=rules or TickRules())
    batches = read_batches(path, rules=summary.rules)
    schedule = heartbeats if heartbeats is not None else HeartbeatSchedule()
    total = count_rows(path) if progress else None
    send_encoded: Callable[[Sequence[bytes], Sequence[bytes | None]], None] | None = getattr(
        producer, "send_encoded", None)
    queued = 0

    def beat() -> None:
        ts_ns = schedule.due()
        if ts_ns is not None:
            producer.send_heartbeats(ts_ns)

    def flush() -> None:
        producer.flush() if flush_timeout is None else producer.flush(flush_timeout)

    def send(batch: TickBatch, start: int, stop: int) -> None:
        nonlocal queued
        if send_encoded is not None:
            before = int(getattr(producer, "produced", 0))
            try:
                send_encoded(batch.values[start:stop], batch.keys[start:stop])
            finally:
                queued += int(getattr(producer, "produced", before + stop - start)) - before
        else:
            for tick in batch.ticks(start, stop):
                producer.send(tick)
                queued += 1

    anchor_ns: int | None = None
    t0 = time.monotonic()
    try:
        with tqdm(total=total, unit="row", desc=f"replay {Path(path).name}",
                  disable=None if progress else True, mininterval=0.25) as bar:
            for batch in batches:
                due: NDArray[Any] | None = None  # per row: seconds after t0 it is due (paced); NaN: at once
                if speed != "max":
                    if anchor_ns is None and batch.has_ts.any():
                        anchor_ns = int(batch.ts[int(np.argmax(batch.has_ts))])
                    due = np.full(batch.rows, np.nan)
                    if anchor_ns is not None:
                        offsets = (batch.ts[batch.has_ts] - anchor_ns).astype(np.float64)
                        due[batch.has_ts] = offsets / 1e9 / float(speed)
                start = 0
                while start < batch.rows:
                    stop = min(batch.rows, start + _SLICE_ROWS, start + schedule.ticks_to_next())
                    if due is not None:
                        # Sleep in slices so a gap in the file still gets its heartbeats on time.
                        for _ in range(1_000_000):
                            delay = t0 + due[start] - time.monotonic()
                            if not delay > 0.001:  # also NaN: no time, goes at once
                                break
                            time.sleep(min(delay, max(0.01, schedule.seconds_to_next())))
                            beat()
                        ahead = due[start + 1:stop] > time.monotonic() - t0 + 0.001
                        if ahead.any():
                            stop = start + 1 + int(np.argmax(ahead))
                    send(batch, start, stop)
                    schedule.observe_many(stop - start, batch.max_ts(start, stop))
                    beat()
                    bar.update(stop - start)
                    start = stop
                summary.add_batch(batch)
        flush()  # every row is in Kafka before the end heartbeats close the last bars
    except FeedError as exc:
        if total is None:
            total = count_rows(path)
        delivered = getattr(producer, "ticks_delivered", None)
        got = f"{delivered} of {total if total is not None else '?'} rows delivered" if delivered is not None \
            else f"{queued} of {total if total is not None else '?'} rows queued"
        raise FeedError(
            f"replay of {Path(path).name} failed: {got} ({queued} queued); the end heartbeats were "
            f"NOT sent, so the last bars stay open. Cause: {exc}"
        ) from exc
    if summary.max_ts_ns is not None:
        summary.heartbeat_ts_ns = end_heartbeat_ns(summary.max_ts_ns, summary.rules)
        try:
            producer.send_heartbeats(summary.heartbeat_ts_ns)
            flush()
        except FeedError as exc:
            raise FeedError(
                f"replay of {Path(path).name}: all {summary.rows} rows delivered, but the end heartbeats "
                f"were NOT delivered, so the last bars stay open. Cause: {exc}"
            ) from exc
    return summary
