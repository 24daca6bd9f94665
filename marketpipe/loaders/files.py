"""Daily bars from a local CSV or Parquet file (exports, vendor dumps, test fixtures).

Columns are matched case-insensitively, ignoring ``_``, spaces and Stooq's ``<...>`` brackets:
``symbol``/``ticker``, ``date``/``session_date``, ``open``, ``high``, ``low``, ``close``,
``volume``/``vol``, and optional ``adj_close``/``adjClose``, ``divCash``/``dividend``,
``splitFactor``/``split_factor``. So Stooq downloads (``Date,Open,...``, or the bulk
``<TICKER>,<PER>,<DATE>,...`` files with ``AAPL.US`` tickers and ``20240305`` dates) and Tiingo JSON
converted to CSV load as they are. A file without a symbol column holds one symbol: the file
name up to its first dot (``aapl.us.csv`` -> ``AAPL``). An empty symbol list loads every symbol.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from marketpipe.exceptions import BadSymbolError, LoaderFileError
from marketpipe.loaders.base import DailyBar, Reject
from marketpipe.loaders.core import BaseLoader, OnBadSymbol
from marketpipe.loaders.provider import daily_bar

ALIASES = {
    "symbol": "symbol", "ticker": "symbol",
    "date": "date", "sessiondate": "date", "day": "date",
    "open": "open", "high": "high", "low": "low", "close": "close",
    "volume": "volume", "vol": "volume",
    "adjclose": "adj_close", "dividend": "dividend", "divcash": "dividend",
    "splitfactor": "split_factor", "split": "split_factor",
}
REQUIRED = ("date", "open", "high", "low", "close")
MAY_BE_BLANK = ("volume", "adj_close", "dividend", "split_factor")


def canonical(column: str) -> str:
    """The canonical name of a header, or the header squashed when it is not one we know."""
    key = column.strip().strip("<>").lower().replace("_", "").replace(" ", "")
    return ALIASES.get(key, key)


def read_table(path: Path) -> pd.DataFrame:
    """The file as strings-or-native columns with canonical names (Parquet by suffix, else CSV)."""
    if not path.is_file():
        raise LoaderFileError(f"daily bar file not found: {path}")
    frame: pd.DataFrame
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pq.read_table(path).to_pandas()
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:  # pandas/pyarrow raise many types for a broken file
        raise LoaderFileError(f"cannot read {path}: {exc}") from exc
    frame.columns = [canonical(str(c)) for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise LoaderFileError(
            f"{path.name}: missing column(s) {', '.join(missing)}; have {', '.join(map(str, frame.columns))}"
        )
    return frame


def file_symbol(value: Any) -> str:
    """``AAPL.US`` (Stooq bulk files) -> ``AAPL``; everything upper-cased."""
    symbol = str(value).strip().upper()
    return symbol[:-3] if symbol.endswith(".US") else symbol


def _blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and pd.isna(value))


class FileLoader(BaseLoader):
    """Reads the whole file on each load (daily files are small) and filters it."""

    def __init__(self, path: Path, *, calendar: str = "XNYS", on_bad_symbol: OnBadSymbol = "raise") -> None:
        super().__init__(calendar=calendar, on_bad_symbol=on_bad_symbol)
        self.path = Path(path)
        self.name = f"file:{self.path.name}"

    def preflight(self) -> None:
        """A missing file fails before anything else."""
        if not self.path.is_file():
            raise LoaderFileError(f"daily bar file not found: {self.path}")

    def fetch(self, symbols: list[str], start: date, end: date) -> tuple[list[DailyBar], list[Reject]]:
        """Every row of the requested symbols (all when none are named)."""
        frame = read_table(self.path)
        default_symbol = file_symbol(self.path.name.split(".")[0])
        bars: list[DailyBar] = []
        rejects: list[Reject] = []
        present: set[str] = set()
        for record in frame.to_dict("records"):
            symbol = file_symbol(record["symbol"]) if "symbol" in record else default_symbol
            if not symbol or symbol == "NAN":
                rejects.append(Reject("", None, "unparseable row: missing symbol", self.name))
                continue
            present.add(symbol)
            if symbols and symbol not in symbols:
                continue
            try:
                bars.append(self._bar(symbol, record))
            except (ValueError, TypeError) as exc:
                raw = ",".join(str(v) for v in record.values())[:200]
                rejects.append(Reject(symbol, None, f"unparseable row: {exc}", self.name, raw=raw))
        for symbol in symbols:
            if symbol not in present:
                error = BadSymbolError(f"{self.name}: no rows for symbol {symbol}")
                if self.on_bad_symbol == "raise":
                    raise error
                rejects.append(Reject(symbol, None, str(error), self.name))
        return bars, rejects

    def fetch_symbol(self, symbol: str, start: date, end: date) -> tuple[list[DailyBar], list[Reject]]:
        """Unused: :meth:`fetch` reads the file once for all symbols."""
        return self.fetch([symbol], start, end)

    def _bar(self, symbol: str, record: Mapping[Hashable, Any]) -> DailyBar:
        # A blank cell of a column that may be empty is a missing value (CSV cells are strings, Parquet's NaN).
        fields = {str(k): None if k in MAY_BE_BLANK and _blank(v) else v for k, v in record.items()}
        return daily_bar(symbol, fields, self.name)
