"""Row checks every loader applies before returning bars: pure functions, no I/O.

A row that fails is kept as a :class:`Reject` with a reason instead of failing the batch — a provider
glitch on one day of one symbol must not stop the other few thousand rows. Checks, in order:

* the date is a session of the exchange calendar (providers sometimes print holidays with the
  previous close, or weekend rows after corporate actions);
* every price is finite and positive, volume is not negative;
* OHLC is consistent: ``low <= min(open, close)`` and ``max(open, close) <= high``;
* a (symbol, date) appears once — the first row wins; later ones are rejected, since the
  ``daily_bars`` primary key would otherwise make the upsert order decide.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable

from marketpipe.loaders.base import DailyBar, Reject


def bar_problem(bar: DailyBar) -> str | None:
    """Why ``bar`` is not a sane daily bar, or ``None`` when it is."""
    prices = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
    for name, value in prices.items():
        if not math.isfinite(value) or value <= 0:
            return f"{name} price {value!r} is not a positive number"
    if bar.adj_close is not None and (not math.isfinite(bar.adj_close) or bar.adj_close <= 0):
        return f"adj_close {bar.adj_close!r} is not a positive number"
    if bar.volume < 0:
        return f"negative volume {bar.volume}"
    if bar.low > min(bar.open, bar.close) or bar.high < max(bar.open, bar.close):
        return (
            f"OHLC out of order: open={bar.open} high={bar.high} low={bar.low} close={bar.close}"
        )
    return None


def split_valid(
    bars: Iterable[DailyBar], sessions: Collection[object], calendar: str
) -> tuple[list[DailyBar], list[Reject]]:
    """Bars that pass every check, and a reject per bar that does not (input order kept)."""
    good: list[DailyBar] = []
    rejects: list[Reject] = []
    seen: set[tuple[str, object]] = set()
    for bar in bars:
        if bar.session_date not in sessions:
            reason: str | None = f"{bar.session_date.isoformat()} is not a {calendar} trading day"
        elif (bar.symbol, bar.session_date) in seen:
            reason = "duplicate row for this symbol and date (first one kept)"
        else:
            reason = bar_problem(bar)
        if reason is None:
            seen.add((bar.symbol, bar.session_date))
            good.append(bar)
        else:
            rejects.append(Reject(bar.symbol, bar.session_date, reason, bar.source, bar=bar))
    return good, rejects
