"""The accumulator of one minute of one symbol, and the merge of 1m bars into rollups.

How a trade affects the minute follows its :class:`~udfs.market.conditions.Eligibility`
(docs/bars.md, "Trade conditions"):

* open/close: the earliest/latest open-close-eligible trade by (event time, sequence) — so the
  result does not depend on arrival order;
* an opening print of the listing exchange sets the open, a closing print sets the close (the
  earliest / latest such print if there are several);
* high/low: every high-low-eligible trade, plus every price that became open or close (so
  ``low <= open, close <= high`` holds whatever the condition table says);
* volume, VWAP numerator: volume-eligible trades; trade_count: trades that changed anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from udfs.bars.model import MINUTE_NS, BarRow, Trade
from udfs.market.conditions import Eligibility

_NO_KEY = (0, 0)


@dataclass(slots=True)
class Minute:
    """Mutable running state of one 1m bar (plain fields: pickled into Flink state)."""

    start_ns: int
    session: str
    session_date: date
    segment_start_ns: int   # the session segment the minute lies in (rollups align to it)
    segment_end_ns: int
    regular_open_ns: int
    regular_close_ns: int
    open_key: tuple[int, int] = _NO_KEY
    open: float | None = None
    close_key: tuple[int, int] = _NO_KEY
    close: float | None = None
    opening_key: tuple[int, int] = _NO_KEY
    opening_print: float | None = None
    closing_key: tuple[int, int] = _NO_KEY
    closing_print: float | None = None
    high: float | None = None
    low: float | None = None
    volume: int = 0
    pv_sum: float = 0.0
    trade_count: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    revision: int = 0       # how many times this minute was emitted, minus one
    emitted: bool = False

    @property
    def end_ns(self) -> int:
        """The minute's exclusive end: ``start_ns`` plus one minute, in nanoseconds."""
        return self.start_ns + MINUTE_NS

    @property
    def has_price(self) -> bool:
        """Whether any trade may set this minute's open and close."""
        return self.open is not None or self.opening_print is not None or self.closing_print is not None

    def add(self, trade: Trade, elig: Eligibility, *, opening: bool, closing: bool) -> bool:
        """Apply one trade; ``opening``/``closing`` mark the listing exchange's auction prints.

        Returns whether the trade changed anything (a trade eligible for nothing does not).
        """
        key = (trade.ts_ns, trade.seq)
        price = trade.price
        changed = False
        # Two auction prints in one minute (a correction, a re-print): the earliest opening and the
        # latest closing print win, by event time and sequence, so arrival order does not matter.
        if opening:
            if self.opening_print is None or key < self.opening_key:
                self.opening_key, self.opening_print = key, price
            self._extend(price)
            changed = True
        if closing:
            if self.closing_print is None or key >= self.closing_key:
                self.closing_key, self.closing_print = key, price
            self._extend(price)
            changed = True
        if elig.open_close:
            if self.open is None or key < self.open_key:
                self.open_key, self.open = key, price
            if self.close is None or key >= self.close_key:
                self.close_key, self.close = key, price
            self._extend(price)
            changed = True
        if elig.high_low:
            self._extend(price)
            changed = True
        if elig.volume:
            self.volume += trade.size
            self.pv_sum += price * trade.size
            changed = True
        if changed:
            self.trade_count += 1
            self.first_ns = trade.ts_ns if self.first_ns is None else min(self.first_ns, trade.ts_ns)
            self.last_ns = trade.ts_ns if self.last_ns is None else max(self.last_ns, trade.ts_ns)
        return changed

    def _extend(self, price: float) -> None:
        self.high = price if self.high is None else max(self.high, price)
        self.low = price if self.low is None else min(self.low, price)

    def absorb(self, volume: int, pv_sum: float, trades: int, first: int | None, last: int | None) -> None:
        """Add volume carried over from a minute that had no price-eligible trade."""
        self.volume += volume
        self.pv_sum += pv_sum
        self.trade_count += trades
        if first is not None:
            self.first_ns = first if self.first_ns is None else min(self.first_ns, first)
        if last is not None:
            self.last_ns = last if self.last_ns is None else max(self.last_ns, last)

    def row(self, symbol: str, previous_close: float | None, *, filled: bool = False) -> BarRow:
        """The bar as emitted. Without a price-eligible trade the prices are ``previous_close``."""
        if self.has_price:
            # An auction print need not be open/close eligible itself ("O I", "6 I": AND of the
            # codes): then it is the minute's only price and gives both open and close.
            o = _first(self.opening_print, self.open, self.closing_print)
            c = _first(self.closing_print, self.close, self.opening_print)
            assert self.high is not None and self.low is not None
            hi, lo = self.high, self.low
        else:
            assert previous_close is not None, "a bar without a price needs a previous close"
            o = c = previous_close
            hi = previous_close if self.high is None else max(self.high, previous_close)
            lo = previous_close if self.low is None else min(self.low, previous_close)
        vwap = self.pv_sum / self.volume if self.volume > 0 else c
        return BarRow(
            timeframe="1m", symbol=symbol, bar_start_ns=self.start_ns, bar_end_ns=self.end_ns,
            open=o, high=hi, low=lo, close=c, volume=self.volume, vwap=vwap,
            trade_count=self.trade_count, session=self.session, session_date=self.session_date,
            first_trade_ns=self.first_ns, last_trade_ns=self.last_ns, pv_sum=self.pv_sum,
            filled=filled, revision=self.revision,
        )


def _first(*prices: float | None) -> float:
    """The first price that is set (the caller knows one is)."""
    return next(p for p in prices if p is not None)


def merge(timeframe: str, start_ns: int, end_ns: int, bars: list[BarRow], revision: int) -> BarRow:
    """A rollup bar from its 1m bars (in time order). Flat-filled minutes count only when every
    minute is filled, so the fill policy does not move a rollup's open."""
    real = [b for b in bars if not b.filled] or bars
    first, last = real[0], real[-1]
    volume = sum(b.volume for b in real)
    pv_sum = sum(b.pv_sum for b in real)
    firsts = [b.first_trade_ns for b in real if b.first_trade_ns is not None]
    lasts = [b.last_trade_ns for b in real if b.last_trade_ns is not None]
    return BarRow(
        timeframe=timeframe, symbol=first.symbol, bar_start_ns=start_ns, bar_end_ns=end_ns,
        open=first.open, high=max(b.high for b in real), low=min(b.low for b in real),
        close=last.close, volume=volume, vwap=pv_sum / volume if volume > 0 else last.close,
        trade_count=sum(b.trade_count for b in real), session=first.session,
        session_date=first.session_date, first_trade_ns=min(firsts) if firsts else None,
        last_trade_ns=max(lasts) if lasts else None, pv_sum=pv_sum,
        filled=all(b.filled for b in bars), revision=revision,
    )
