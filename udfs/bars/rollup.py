"""Rollup buckets of the bar engine: 1m rows collected into 5m, 15m, 1h and 1d bars.

A bucket is session-aligned (:func:`bucket_span`) and keeps the 1m rows that can still be revised plus
the merge of the final ones (:func:`fold`), so its state stays a few rows; :func:`bucket_row` is the
bar it emits. When a bucket is due and final is the engine's rule (:mod:`udfs.bars.engine`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from udfs.bars.minute import Minute, merge
from udfs.bars.model import MINUTE_NS, ROLLUPS, BarRow


@dataclass(slots=True)
class Bucket:
    """A rollup bar being collected: the 1m rows that can still be revised, by minute start, and the
    merge of the earlier ones that cannot (so a 1d bucket holds a few rows, not a session's 390)."""

    timeframe: str
    start_ns: int
    end_ns: int
    regular_close_ns: int  # of the session day: a bucket ending there waits for the closing print
    minutes: dict[int, BarRow] = field(default_factory=dict)
    frozen: BarRow | None = None  # merge of the minutes before frozen_until, final
    frozen_until: int = 0
    emitted: bool = False
    revision: int = 0
    dirty: bool = False  # a minute changed after the bucket was emitted


def bucket_span(tf: str, minute: Minute) -> tuple[int, int] | None:
    """Session-aligned bucket of a minute: 1h bars of a 09:30 open start at 09:30, a bucket
    never crosses a session boundary (the last one may be short), 1d is the regular session."""
    if tf == "1d":
        if minute.session != "regular":
            return None
        return minute.regular_open_ns, minute.regular_close_ns
    length = ROLLUPS[tf]
    seg = minute.segment_start_ns
    start = seg + (minute.start_ns - seg) // length * length
    return start, min(start + length, minute.segment_end_ns)


def bucket_row(b: Bucket) -> BarRow:
    """The bar of a bucket: the merge of its folded and its open minutes, at its revision."""
    rows = [b.minutes[s] for s in sorted(b.minutes)]
    if b.frozen is not None:
        rows.insert(0, b.frozen)
    return merge(b.timeframe, b.start_ns, b.end_ns, rows, b.revision)


def fold(b: Bucket, done: int, final: Callable[[int, int], int]) -> None:
    """Merge a bucket's final minutes (in time order, so the merge of merges is exact).

    A minute is final when ``final(its end, the bucket's regular close) <= done``.
    """
    finals = [s for s in sorted(b.minutes) if final(s + MINUTE_NS, b.regular_close_ns) <= done]
    if not finals:
        return
    rows = ([b.frozen] if b.frozen is not None else []) + [b.minutes.pop(s) for s in finals]
    b.frozen = merge(b.timeframe, b.start_ns, b.end_ns, rows, 0)
    b.frozen_until = finals[-1] + MINUTE_NS
