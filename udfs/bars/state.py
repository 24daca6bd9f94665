"""What the bar engine keeps per symbol (checkpointed) and what it is given (not checkpointed).

:class:`State` and the :class:`~udfs.bars.rollup.Bucket` objects in it are what Flink keeps in keyed
state (pickled: :meth:`udfs.bars.engine.BarEngine.snapshot`). A change to their fields is a change of
:data:`STATE_VERSION` (a job then starts fresh, not from a savepoint of the old layout); their classes
are also importable from :mod:`udfs.bars.engine`, where older snapshots name them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from udfs.bars.minute import Minute
from udfs.bars.model import BarRules
from udfs.bars.rollup import Bucket
from udfs.market.calendar import MarketCalendar
from udfs.market.conditions import ConditionTable

# 7: State.seen_ids, recent_prices, recent_day; 6: State.purged_minute; 5: Bucket.frozen; 4: State.timer_ms;
# 3: Bucket gained regular_close_ns; 2: Minute gained opening_key / closing_key
STATE_VERSION = 7


@dataclass(frozen=True, slots=True)
class Context:
    """Everything the engine needs besides its state: rules and reference data (not checkpointed)."""

    rules: BarRules
    conditions: ConditionTable
    calendar: MarketCalendar
    listing_exchange: str | None = None
    # Condition tables of particular feeds (the tick's `source`); others use `conditions`.
    feed_conditions: Mapping[str, ConditionTable] = field(default_factory=dict)

    def table(self, source: str | None) -> ConditionTable:
        """The condition table of a trade's feed."""
        if source is None or not self.feed_conditions:
            return self.conditions
        return self.feed_conditions.get(source, self.conditions)


@dataclass(slots=True)
class State:
    """Per-symbol state, bounded by the grace period (rollup buckets fold their final minutes)."""

    symbol: str
    minutes: dict[int, Minute] = field(default_factory=dict)
    buckets: dict[tuple[str, int], Bucket] = field(default_factory=dict)
    last_close: float | None = None          # close of the latest emitted minute
    last_start: int | None = None            # start of the latest emitted minute (flat fill cursor)
    last_segment_end: int | None = None
    carry: tuple[int, float, int, int | None, int | None] | None = None  # volume carried forward
    timer_ms: int | None = None  # the wake-up the Flink wrapper last registered (saves a round trip)
    purged_minute: int = -1  # watermark minute of the last purge: once per minute keeps state bounded
    seen_ids: dict[int, set[str]] = field(default_factory=dict)  # minute start -> "exchange|trade_id"
    recent_prices: list[float] = field(default_factory=list)  # last high/low-eligible prices, this day
    recent_day: object = None  # session date of recent_prices
