"""Tiingo's end-of-day prices: ``GET {base}/tiingo/daily/{symbol}/prices?startDate=&endDate=&format=json``.

Authenticated with the header ``Authorization: Token {key}`` (never in the URL, so keys stay out
of proxy logs). Tiingo returns raw (as-traded) OHLCV plus ``adj*`` columns; we keep the raw prices,
``adjClose`` as ``adj_close``, ``divCash`` as ``dividend`` (0 -> None) and ``splitFactor`` as
``split_factor`` (1.0 -> None). Errors: 401/403 ``{"detail": "Invalid token."}``, 404 ``{"detail":
"Error: Ticker 'XXXX' not found"}``, 429 when over the plan's hourly/daily request allowance.
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import date
from typing import Any

from marketpipe.exceptions import AuthError, BadSymbolError, ProviderError
from marketpipe.loaders.base import DailyBar, Reject
from marketpipe.loaders.core import OnBadSymbol
from marketpipe.loaders.http import HttpClient, HttpResponse, snippet
from marketpipe.loaders.provider import HttpLoader, daily_bar
from marketpipe.settings import Settings


def tiingo_symbol(symbol: str) -> str:
    """Tiingo's name of a ticker: share classes with ``-`` (``BRK.B`` -> ``BRK-B``)."""
    return symbol.strip().upper().replace(".", "-")


#: Tiingo's name of each field we read, by our name (:func:`~marketpipe.loaders.provider.daily_bar`).
TIINGO_FIELDS = {
    "date": "date", "open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume",
    "adj_close": "adjClose", "dividend": "divCash", "split_factor": "splitFactor",
}


def parse_tiingo_row(item: dict[str, Any], symbol: str) -> DailyBar:
    """One element of Tiingo's price list as a bar (raises ValueError/KeyError when unusable)."""
    return daily_bar(symbol, {ours: item[theirs] for ours, theirs in TIINGO_FIELDS.items() if theirs in item}, "tiingo")


def parse_tiingo_json(body: bytes | str, symbol: str) -> tuple[list[DailyBar], list[Reject]]:
    """Bars of one Tiingo answer; a body that is not a JSON list is a :class:`ProviderError`."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ProviderError(f"tiingo: {symbol}: malformed JSON ({exc}): {snippet(body)}") from None
    if not isinstance(data, list):
        raise ProviderError(f"tiingo: {symbol}: expected a JSON list of prices: {snippet(str(data))}")
    bars: list[DailyBar] = []
    rejects: list[Reject] = []
    for item in data:
        try:
            if not isinstance(item, dict):
                raise ValueError("not an object")
            bars.append(parse_tiingo_row(item, symbol))
        except (ValueError, KeyError, TypeError) as exc:
            reason = f"unparseable row: missing {exc}" if isinstance(exc, KeyError) else f"unparseable row: {exc}"
            rejects.append(Reject(symbol, None, reason, "tiingo", raw=snippet(json.dumps(item))))
    return bars, rejects


def _detail(response: HttpResponse) -> str:
    try:
        data = json.loads(response.body)
    except ValueError:
        return snippet(response.body)
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return snippet(response.body)


class TiingoLoader(HttpLoader):
    """Daily bars from Tiingo, one request per symbol; needs an API key."""

    name = "tiingo"
    default_base_url = "https://api.tiingo.com"

    def __init__(
        self,
        client: HttpClient,
        api_key: str | None,
        *,
        base_url: str | None = None,
        calendar: str = "XNYS",
        on_bad_symbol: OnBadSymbol = "raise",
    ) -> None:
        super().__init__(client, base_url=base_url, calendar=calendar, on_bad_symbol=on_bad_symbol)
        self._api_key = api_key

    @classmethod
    def from_settings(cls, settings: Settings, *, on_bad_symbol: OnBadSymbol = "raise") -> TiingoLoader:
        """A loader using the ``tiingo_*`` and ``loader_*`` settings."""
        key = settings.tiingo_api_key.get_secret_value() if settings.tiingo_api_key else None
        return cls(
            cls.settings_client(settings), key, base_url=settings.tiingo_base_url,
            calendar=settings.daily_calendar, on_bad_symbol=on_bad_symbol,
        )

    def url(self, symbol: str, start: date, end: date) -> str:
        """The prices URL of ``symbol`` over ``start..end``."""
        query = urllib.parse.urlencode(
            {"startDate": start.isoformat(), "endDate": end.isoformat(), "format": "json"}
        )
        ticker = urllib.parse.quote(tiingo_symbol(symbol).lower(), safe="")
        return f"{self.base_url}/tiingo/daily/{ticker}/prices?{query}"

    def preflight(self) -> None:
        """No key, no request: say so before touching the network."""
        if not self._api_key:
            raise AuthError(
                "tiingo: no API key; set MARKETPIPE_TIINGO_API_KEY (https://www.tiingo.com/account/api/token)"
            )

    def fetch_symbol(self, symbol: str, start: date, end: date) -> tuple[list[DailyBar], list[Reject]]:
        """One prices request, its status mapped to the loader errors."""
        response = self.client.get(
            self.url(symbol, start, end),
            {"Authorization": f"Token {self._api_key}", "Content-Type": "application/json"},
            what=f"{symbol} {start}..{end}",
        )
        if response.status in (401, 403):
            raise AuthError(f"tiingo: key refused (HTTP {response.status}): {_detail(response)}")
        if response.status == 404:
            raise BadSymbolError(f"tiingo: unknown symbol {symbol}: {_detail(response)}")
        if response.status != 200:
            raise ProviderError(f"tiingo: {symbol}: HTTP {response.status}: {_detail(response)}")
        return parse_tiingo_json(response.body, symbol)
