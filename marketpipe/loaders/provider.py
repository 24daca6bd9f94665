"""What the daily-bar providers share: :class:`HttpLoader`, the base of the loaders that call a provider's
HTTP API (Stooq, Tiingo), and :func:`daily_bar`, a provider's row under our field names as a
:class:`DailyBar` (Tiingo, files)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marketpipe.loaders.base import DailyBar
from marketpipe.loaders.core import BaseLoader, OnBadSymbol
from marketpipe.loaders.http import HttpClient
from marketpipe.loaders.parsing import optional_float, parse_date, parse_price, parse_volume
from marketpipe.loaders.ratelimit import TokenBucket
from marketpipe.settings import Settings


class HttpLoader(BaseLoader):
    """A loader that GETs its provider's API below ``base_url`` with one client, one request per symbol."""

    #: The provider's API root when the loader is given none.
    default_base_url = ""

    def __init__(
        self,
        client: HttpClient,
        *,
        base_url: str | None = None,
        calendar: str = "XNYS",
        on_bad_symbol: OnBadSymbol = "raise",
    ) -> None:
        super().__init__(calendar=calendar, on_bad_symbol=on_bad_symbol)
        self.client = client
        self.base_url = (self.default_base_url if base_url is None else base_url).rstrip("/")

    @classmethod
    def settings_client(cls, settings: Settings) -> HttpClient:
        """A client for this provider with the ``loader_*`` settings: timeout, retries, rate limit."""
        return HttpClient(
            cls.name,
            timeout_s=settings.loader_timeout_s,
            retries=settings.loader_retries,
            rate_limiter=TokenBucket(settings.loader_rate_limit_per_s),
        )


def daily_bar(symbol: str, fields: Mapping[str, Any], source: str) -> DailyBar:
    """A bar of a row by our field names (raises ValueError/KeyError/TypeError when unusable).

    ``date``, ``open``, ``high``, ``low`` and ``close`` are required; a missing ``volume`` is 0 (indices);
    ``adj_close``, ``dividend`` and ``split_factor`` are optional, a dividend of 0 and a split factor of
    1.0 meaning that nothing happened (``None``).
    """
    return DailyBar(
        symbol=symbol,
        session_date=parse_date(fields["date"]),
        open=parse_price(fields["open"], "open"),
        high=parse_price(fields["high"], "high"),
        low=parse_price(fields["low"], "low"),
        close=parse_price(fields["close"], "close"),
        volume=parse_volume(fields.get("volume")),
        adj_close=optional_float(fields.get("adj_close")),
        dividend=optional_float(fields.get("dividend"), none_if=0.0),
        split_factor=optional_float(fields.get("split_factor"), none_if=1.0),
        source=source,
    )
