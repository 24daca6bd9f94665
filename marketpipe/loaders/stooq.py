"""Stooq's keyless daily CSV: ``GET {base}/q/d/l/?s=aapl.us&d1=YYYYMMDD&d2=YYYYMMDD&i=d``.

The answer is ``Date,Open,High,Low,Close,Volume`` CSV, oldest first. Stooq's prices are already
adjusted for splits and dividends, so ``adj_close`` is set to ``close`` (the close *is* the adjusted
close) and ``dividend``/``split_factor`` stay ``None``: Stooq does not say which days had actions.
Stooq has no status codes worth reading: an unknown symbol (or a range without data) is the body
``No data``; throttling is the text ``Exceeded the daily hits limit`` or an HTML page.
"""

from __future__ import annotations

import csv
import io
import urllib.parse
from datetime import date

from marketpipe.exceptions import BadSymbolError, ProviderError, RateLimitError
from marketpipe.loaders.base import DailyBar, Reject
from marketpipe.loaders.core import OnBadSymbol
from marketpipe.loaders.http import snippet
from marketpipe.loaders.provider import HttpLoader
from marketpipe.settings import Settings

HEADER = ["date", "open", "high", "low", "close"]


def stooq_symbol(symbol: str) -> str:
    """Stooq's name of a US listing: lower case, ``.`` of share classes as ``-``, suffix ``.us``."""
    return symbol.strip().lower().replace(".", "-") + ".us"


def parse_stooq_csv(text: str, symbol: str) -> tuple[list[DailyBar], list[Reject]]:
    """Bars of one Stooq CSV answer; raises on the bodies Stooq sends instead of CSV."""
    body = text.lstrip("\ufeff").strip()
    lowered = body[:400].lower()
    if body == "No data" or lowered.startswith("no data"):
        raise BadSymbolError(
            f"stooq: no data for {symbol} ({stooq_symbol(symbol)}): unknown symbol, or none in the range"
        )
    if "exceeded the daily hits limit" in lowered:
        raise RateLimitError("stooq: exceeded the daily hits limit; retry tomorrow or use another source")
    if lowered.startswith("<") or "<html" in lowered:
        raise RateLimitError(f"stooq: answered with an HTML page (how it throttles): {snippet(body)}")
    rows = list(csv.reader(io.StringIO(body)))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if header[:5] != HEADER:
        raise ProviderError(f"stooq: {symbol}: not a daily CSV (expected {','.join(HEADER)}...): {snippet(body)}")
    index = {name: i for i, name in enumerate(header)}
    bars: list[DailyBar] = []
    rejects: list[Reject] = []
    for row in rows[1:]:
        if not row:
            continue
        try:
            values = {name: row[i] for name, i in index.items()}
            close = float(values["close"])
            bars.append(
                DailyBar(
                    symbol=symbol,
                    session_date=date.fromisoformat(values["date"].strip()),
                    open=float(values["open"]),
                    high=float(values["high"]),
                    low=float(values["low"]),
                    close=close,
                    volume=round(float(values["volume"])) if values.get("volume", "").strip() else 0,
                    adj_close=close,
                    source="stooq",
                )
            )
        except (ValueError, IndexError, KeyError) as exc:
            rejects.append(Reject(symbol, None, f"unparseable row: {exc}", "stooq", raw=",".join(row)[:200]))
    return bars, rejects


class StooqLoader(HttpLoader):
    """Daily bars from Stooq, one request per symbol."""

    name = "stooq"
    default_base_url = "https://stooq.com"

    @classmethod
    def from_settings(cls, settings: Settings, *, on_bad_symbol: OnBadSymbol = "raise") -> StooqLoader:
        """A loader using the ``stooq_*`` and ``loader_*`` settings."""
        return cls(
            cls.settings_client(settings), base_url=settings.stooq_base_url, calendar=settings.daily_calendar,
            on_bad_symbol=on_bad_symbol,
        )

    def url(self, symbol: str, start: date, end: date) -> str:
        """The CSV download URL of ``symbol`` over ``start..end``."""
        query = urllib.parse.urlencode(
            {"s": stooq_symbol(symbol), "d1": start.strftime("%Y%m%d"), "d2": end.strftime("%Y%m%d"), "i": "d"}
        )
        return f"{self.base_url}/q/d/l/?{query}"

    def fetch_symbol(self, symbol: str, start: date, end: date) -> tuple[list[DailyBar], list[Reject]]:
        """One CSV download; any non-200 answer that survived the retries is a provider error."""
        response = self.client.get(self.url(symbol, start, end), what=f"{symbol} {start}..{end}")
        if response.status != 200:
            raise ProviderError(f"stooq: {symbol}: HTTP {response.status}: {snippet(response.body)}")
        return parse_stooq_csv(response.text, symbol)
