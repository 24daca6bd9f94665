"""TiingoLoader against the fake Tiingo route: raw and adjusted values, corporate-action mapping,
auth (before any request, and a refused key), unknown symbols, 429/5xx retries, malformed JSON."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pydantic import SecretStr

from marketpipe.exceptions import AuthError, BadSymbolError, ProviderError, RateLimitError
from marketpipe.loaders import TiingoLoader, get_loader
from marketpipe.loaders.http import HttpClient
from marketpipe.loaders.tiingo import parse_tiingo_json
from marketpipe.settings import Settings
from tests.fakes.providers import (
    RECORDINGS,
    SERVE,
    TRUNCATED_JSON,
    VALID_KEY,
    FakeProviderServer,
    rate_limited,
    server_error,
)

MAR1, MAR15 = date(2024, 3, 1), date(2024, 3, 15)


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as fake:
        yield fake


def loader(server: FakeProviderServer, key: str | None = VALID_KEY, sleeps: list[float] | None = None,
           **kwargs: object) -> TiingoLoader:
    http = HttpClient("tiingo", timeout_s=5, retries=2, sleep=(sleeps if sleeps is not None else []).append,
                      rng=random.Random(1))
    return TiingoLoader(http, key, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def recording(symbol: str) -> list[dict[str, object]]:
    return json.loads(Path(RECORDINGS / "tiingo" / f"{symbol}.json").read_text())  # type: ignore[no-any-return]


def test_rows_match_the_recording(server: FakeProviderServer) -> None:
    bars = loader(server).load(["AAPL", "msft", "SPY"], MAR1, MAR15)
    assert len(bars) == 33
    for symbol in ("AAPL", "MSFT", "SPY"):
        mine = [b for b in bars if b.symbol == symbol]
        for bar, item in zip(mine, recording(symbol), strict=True):
            assert bar.session_date.isoformat() == str(item["date"])[:10]
            assert (bar.open, bar.high, bar.low, bar.close) == (item["open"], item["high"], item["low"], item["close"])
            assert bar.volume == item["volume"] and isinstance(bar.volume, int)
            assert bar.adj_close == item["adjClose"] and bar.source == "tiingo"
    request = server.requests[0]
    assert request.path == "/tiingo/daily/aapl/prices"
    assert request.query == {"startDate": "2024-03-01", "endDate": "2024-03-15", "format": "json"}
    assert request.headers["authorization"] == f"Token {VALID_KEY}"
    assert VALID_KEY not in request.path + json.dumps(request.query)


def test_dividend_and_split_mapping(server: FakeProviderServer) -> None:
    bars = loader(server).load(["SPY"], MAR1, MAR15)
    assert [(b.session_date, b.dividend) for b in bars if b.dividend is not None] == [(MAR15, 1.5943)]
    assert all(b.split_factor is None for b in bars)  # splitFactor 1.0 means no split
    one = parse_tiingo_json(json.dumps([{**recording("AAPL")[0], "splitFactor": 4.0, "divCash": 0.24}]), "AAPL")[0][0]
    assert (one.split_factor, one.dividend) == (4.0, 0.24)


def test_date_range_filters(server: FakeProviderServer) -> None:
    bars = loader(server).load(["AAPL"], date(2024, 3, 14), date(2024, 3, 20))
    assert [b.session_date for b in bars] == [date(2024, 3, 14), MAR15]


def test_missing_key_fails_before_any_request(server: FakeProviderServer) -> None:
    with pytest.raises(AuthError, match="no API key; set MARKETPIPE_TIINGO_API_KEY"):
        loader(server, key=None).load(["AAPL"], MAR1, MAR15)
    with pytest.raises(AuthError):
        get_loader("tiingo", Settings(tiingo_base_url=server.base_url, tiingo_api_key=None)).load(["AAPL"], MAR1, MAR15)
    assert server.count() == 0


def test_refused_key(server: FakeProviderServer) -> None:
    with pytest.raises(AuthError, match=r"key refused \(HTTP 401\): Invalid token."):
        loader(server, key="wrong").load(["AAPL"], MAR1, MAR15)
    assert server.count() == 1  # 4xx other than 429 is never retried


def test_unknown_symbol(server: FakeProviderServer) -> None:
    with pytest.raises(BadSymbolError, match="unknown symbol ZZZZ: Error: Ticker 'zzzz' not found"):
        loader(server).load(["ZZZZ"], MAR1, MAR15)
    assert server.count() == 1


def test_429_with_retry_after_then_success(server: FakeProviderServer) -> None:
    sleeps: list[float] = []
    server.script("MSFT", rate_limited(retry_after=2), SERVE)
    assert len(loader(server, sleeps=sleeps).load(["MSFT"], MAR1, MAR15)) == 11
    assert sleeps == [2.0] and server.count("tiingo", "MSFT") == 2


def test_429_until_retries_run_out(server: FakeProviderServer) -> None:
    server.script("MSFT", *[rate_limited()] * 3)
    with pytest.raises(RateLimitError, match=r"tiingo MSFT 2024-03-01\.\.2024-03-15: still rate limited"):
        loader(server).load(["MSFT"], MAR1, MAR15)
    assert server.count() == 3


def test_500_twice_then_success(server: FakeProviderServer) -> None:
    server.script("SPY", server_error(), server_error(502))
    assert len(loader(server).load(["SPY"], MAR1, MAR15)) == 11
    assert server.count(symbol="SPY") == 3


def test_truncated_json(server: FakeProviderServer) -> None:
    server.script("AAPL", TRUNCATED_JSON)
    with pytest.raises(ProviderError, match=r'tiingo: AAPL: malformed JSON .*\[\{"date":"2024-03-01T00:00:00.000Z"'):
        loader(server).load(["AAPL"], MAR1, MAR15)


def test_unusable_items_are_rejects() -> None:
    items = [recording("AAPL")[0], {"date": "2024-03-04T00:00:00.000Z", "open": 1}, "nonsense"]
    bars, rejects = parse_tiingo_json(json.dumps(items), "AAPL")
    assert len(bars) == 1
    assert [r.reason for r in rejects] == ["unparseable row: missing 'high'", "unparseable row: not an object"]
    with pytest.raises(ProviderError, match="expected a JSON list"):
        parse_tiingo_json('{"detail": "odd"}', "AAPL")


def test_get_loader_reads_the_key_from_settings(server: FakeProviderServer) -> None:
    settings = Settings(tiingo_base_url=server.base_url, tiingo_api_key=SecretStr(VALID_KEY), loader_rate_limit_per_s=0)
    assert len(get_loader("tiingo", settings).load(["AAPL"], MAR1, MAR1)) == 1
