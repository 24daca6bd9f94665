"""The daily-bar contract every loader returns (:func:`~marketpipe.loaders.sources.get_loader` picks one).

A :class:`DailyBar` is one regular-session OHLCV row of one symbol, as the provider states it; it
maps one-to-one onto the ``daily_bars`` table (``bar_start`` is derived from the exchange calendar
when the row is written, see :func:`marketpipe.loaders.calendar.session_open_utc`).
Rows that cannot be trusted are not raised: they become :class:`Reject` rows with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One daily bar. Prices are in the listing currency; ``volume`` in shares.

    ``adj_close`` is the provider's split- and dividend-adjusted close (``None`` when it offers none);
    ``dividend`` is the cash dividend whose ex-date is this session and ``split_factor`` the split
    effective this session, both ``None`` when there is none (not 0 and 1.0: "nothing happened").
    """

    symbol: str
    session_date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    adj_close: float | None = None
    dividend: float | None = None
    split_factor: float | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Reject:
    """A row (or a whole symbol) a load did not return, and why.

    ``session_date`` is ``None`` when the date itself could not be read or the whole symbol was
    skipped; ``raw`` is a short excerpt of the provider's row when there was no bar to keep.
    """

    symbol: str
    session_date: date | None
    reason: str
    source: str = ""
    bar: DailyBar | None = None
    raw: str = ""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load produced: the bars that passed validation, and everything that did not."""

    bars: list[DailyBar] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


@runtime_checkable
class DailyLoader(Protocol):
    """A source of daily bars. ``load`` covers ``start`` and ``end`` inclusive.

    Implementations keep the rejects of their last ``load`` in ``last_rejects`` so a batch can
    record them without the load ever failing on a bad row.
    """

    name: str
    last_rejects: list[Reject]

    def load(self, symbols: Sequence[str], start: date, end: date) -> list[DailyBar]:
        """Bars of ``symbols`` with ``start <= session_date <= end``, sorted by symbol and date."""
        ...
