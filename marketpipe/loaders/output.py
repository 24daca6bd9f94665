"""Bars as ``daily_bars`` rows: adds ``bar_start`` (the session open in UTC) and writes CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from marketpipe.loaders.base import DailyBar
from marketpipe.loaders.calendar import session_open_utc

COLUMNS = [
    "symbol", "session_date", "bar_start", "open", "high", "low", "close", "volume",
    "adj_close", "dividend", "split_factor", "source",
]


def table_rows(bars: Iterable[DailyBar], calendar: str = "XNYS") -> Iterator[dict[str, Any]]:
    """One dict per bar with the ``daily_bars`` columns (``loaded_at`` is the database's)."""
    for bar in bars:
        start: datetime = session_open_utc(bar.session_date, calendar)
        yield {
            "symbol": bar.symbol,
            "session_date": bar.session_date,
            "bar_start": start,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "adj_close": bar.adj_close,
            "dividend": bar.dividend,
            "split_factor": bar.split_factor,
            "source": bar.source,
        }


def write_csv(bars: Iterable[DailyBar], out: IO[str], calendar: str = "XNYS") -> int:
    """Writes a header and the bars as CSV (ISO dates, empty for ``None``); returns rows written."""
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in table_rows(bars, calendar):
        row["session_date"] = row["session_date"].isoformat()
        row["bar_start"] = row["bar_start"].isoformat()
        writer.writerow(row)
        count += 1
    return count
