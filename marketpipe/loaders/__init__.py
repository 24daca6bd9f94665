"""Daily OHLCV loaders for real providers (Stooq, Tiingo) and local files (docs/loaders.md).

Imports only the standard library, pandas, pyarrow, exchange_calendars, marketpipe's settings and
exceptions and the pure calendar module (udfs.market.calendar), so the Dagster virtualenv (no PyFlink,
Kafka or PostgreSQL clients) can use it.
"""

from marketpipe.loaders.base import DailyBar, DailyLoader, LoadResult, Reject
from marketpipe.loaders.calendar import session_open_utc, trading_days
from marketpipe.loaders.core import BaseLoader
from marketpipe.loaders.files import FileLoader
from marketpipe.loaders.http import HttpClient
from marketpipe.loaders.output import table_rows, write_csv
from marketpipe.loaders.ratelimit import TokenBucket
from marketpipe.loaders.sources import get_loader
from marketpipe.loaders.stooq import StooqLoader
from marketpipe.loaders.tiingo import TiingoLoader

__all__ = [
    "BaseLoader",
    "DailyBar",
    "DailyLoader",
    "FileLoader",
    "HttpClient",
    "LoadResult",
    "Reject",
    "StooqLoader",
    "TiingoLoader",
    "TokenBucket",
    "get_loader",
    "session_open_utc",
    "table_rows",
    "trading_days",
    "write_csv",
]
