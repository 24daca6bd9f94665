"""Per-symbol reference data: where a symbol is listed and which exchange calendar it follows.

The listing exchange uses the tape participant code found on ticks' ``exchange`` field (N NYSE,
Q Nasdaq, P NYSE Arca, A NYSE American, Z Cboe BZX). The bar engine uses it to tell the listing
market's own auction prints from other venues' and to pick the session calendar. Unknown symbols
are not an error: they get no listing exchange and the default calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from udfs.market.csvrows import read_rows

COLUMNS = ("symbol", "listing_exchange", "calendar")
DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "symbols.csv"


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """Reference data of one symbol."""

    symbol: str
    listing_exchange: str | None  # tape participant code as on ticks' `exchange` field
    calendar: str  # exchange_calendars name, default XNYS


class SymbolReference:
    """Symbol -> :class:`SymbolInfo`, with a default calendar for symbols not listed."""

    def __init__(
        self, symbols: dict[str, SymbolInfo], default_calendar: str = "XNYS", source: str = "<memory>"
    ) -> None:
        self._symbols = dict(symbols)
        self.default_calendar = default_calendar
        self.source = source

    @classmethod
    def from_csv(cls, path: str | Path, default_calendar: str = "XNYS") -> SymbolReference:
        """Load ``symbol,listing_exchange,calendar`` rows; empty cells mean none / the default calendar.

        Raises ValueError naming file and line for an empty or duplicate symbol or an exchange code
        that is not a single character.
        """
        symbols: dict[str, SymbolInfo] = {}
        for lineno, row in read_rows(path, COLUMNS):
            where = f"{path}:{lineno}"
            symbol, exchange = row["symbol"], row["listing_exchange"]
            if not symbol or any(ch.isspace() for ch in symbol):
                raise ValueError(f"{where}: bad symbol {symbol!r}")
            if symbol in symbols:
                raise ValueError(f"{where}: duplicate symbol {symbol!r}")
            if exchange and len(exchange) != 1:
                raise ValueError(f"{where}: listing_exchange must be one participant code letter, got {exchange!r}")
            symbols[symbol] = SymbolInfo(symbol, exchange or None, row["calendar"] or default_calendar)
        return cls(symbols, default_calendar, str(path))

    @classmethod
    def default(cls) -> SymbolReference:
        """The shipped ``data/symbols.csv`` (common US symbols and the synthetic feed's), cached."""
        return _default_reference()

    def lookup(self, symbol: str) -> SymbolInfo:
        """The symbol's reference data; an unknown symbol gets no exchange and the default calendar."""
        info = self._symbols.get(symbol)
        return info if info is not None else SymbolInfo(symbol, None, self.default_calendar)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._symbols

    def __len__(self) -> int:
        return len(self._symbols)

    def __repr__(self) -> str:
        return f"SymbolReference({self.source!r}, {len(self._symbols)} symbols)"


@cache
def _default_reference() -> SymbolReference:
    return SymbolReference.from_csv(DEFAULT_PATH)
