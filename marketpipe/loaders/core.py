"""What every loader does around fetching: range checks, validation, rejects and the log summary.

A loader subclass only turns (symbols, range) into raw bars; :class:`BaseLoader` filters them to the
inclusive range, validates them (:mod:`marketpipe.loaders.validate`), keeps the rejects in
``last_rejects`` and logs one INFO summary (plus a WARNING with reject counts by reason).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Literal

from marketpipe.exceptions import BadSymbolError, LoaderError
from marketpipe.loaders.base import DailyBar, LoadResult, Reject
from marketpipe.loaders.calendar import trading_days
from marketpipe.loaders.validate import split_valid

log = logging.getLogger("marketpipe.loaders")

OnBadSymbol = Literal["raise", "skip"]


def normalize_symbols(symbols: Sequence[str]) -> list[str]:
    """Upper-cased, stripped, de-duplicated symbols in their given order."""
    out: list[str] = []
    for raw in symbols:
        symbol = raw.strip().upper()
        if symbol and symbol not in out:
            out.append(symbol)
    return out


class BaseLoader(ABC):
    """Shared ``load``; subclasses implement :meth:`fetch_symbol` (or :meth:`fetch`).

    ``on_bad_symbol="raise"`` (default) stops at the first unknown symbol: a typo in a symbol list
    should be loud. ``"skip"`` records it as a reject with no date and carries on, for long lists
    where a delisted ticker must not stop the rest.
    """

    name: str = "base"

    def __init__(self, *, calendar: str = "XNYS", on_bad_symbol: OnBadSymbol = "raise") -> None:
        self.calendar = calendar
        self.on_bad_symbol = on_bad_symbol
        self.last_rejects: list[Reject] = []

    def load(self, symbols: Sequence[str], start: date, end: date) -> list[DailyBar]:
        """Valid bars with ``start <= session_date <= end``; rejects land in ``last_rejects``."""
        return self.load_result(symbols, start, end).bars

    def load_result(self, symbols: Sequence[str], start: date, end: date) -> LoadResult:
        """Like :meth:`load`, returning the bars and the rejects together."""
        if start > end:
            raise LoaderError(f"{self.name}: start {start} is after end {end}")
        self.last_rejects = []
        self.preflight()
        wanted = normalize_symbols(symbols)
        sessions = set(trading_days(start, end, self.calendar))
        if not sessions:
            log.info("%s: no %s trading day in %s..%s; nothing to load", self.name, self.calendar, start, end)
            return LoadResult()
        raw, rejects = self.fetch(wanted, start, end)
        in_range = [b for b in raw if start <= b.session_date <= end]
        good, invalid = split_valid(in_range, sessions, self.calendar)
        rejects = rejects + invalid
        good.sort(key=lambda b: (b.symbol, b.session_date))
        self.last_rejects = rejects
        self._log_summary(wanted, start, end, good, rejects)
        return LoadResult(good, rejects)

    def preflight(self) -> None:  # noqa: B027 - an optional hook: loaders without such checks inherit the no-op
        """Checks that need no request (credentials, files); runs first in every load."""

    def fetch(self, symbols: list[str], start: date, end: date) -> tuple[list[DailyBar], list[Reject]]:
        """Raw bars and parse rejects of every symbol; per symbol by default."""
        bars: list[DailyBar] = []
        rejects: list[Reject] = []
        for symbol in symbols:
            try:
                got, bad = self.fetch_symbol(symbol, start, end)
            except BadSymbolError as exc:
                if self.on_bad_symbol == "raise":
                    raise
                rejects.append(Reject(symbol, None, str(exc), self.name))
                continue
            bars.extend(got)
            rejects.extend(bad)
        return bars, rejects

    @abstractmethod
    def fetch_symbol(self, symbol: str, start: date, end: date) -> tuple[list[DailyBar], list[Reject]]:
        """Raw bars of one symbol (may stray outside the range) and rows that could not be parsed."""

    def _log_summary(
        self, symbols: list[str], start: date, end: date, bars: list[DailyBar], rejects: list[Reject]
    ) -> None:
        log.info(
            "%s: %d bars of %d symbols for %s..%s, %d rejected",
            self.name, len(bars), len(symbols), start, end, len(rejects),
        )
        if rejects:
            by_reason = Counter(_reason_kind(r.reason) for r in rejects)
            log.warning(
                "%s: %d rows rejected (%s); see last_rejects",
                self.name, len(rejects), ", ".join(f"{k}: {n}" for k, n in by_reason.most_common()),
            )


def _reason_kind(reason: str) -> str:
    # Reasons carry values; group them by their wording for the summary line.
    for kind in ("trading day", "duplicate", "OHLC", "volume", "positive number", "no data", "unparseable"):
        if kind.lower() in reason.lower():
            return kind
    return reason[:40]
