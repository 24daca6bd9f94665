"""StooqLoader against the fake Stooq route: typed rows from the recordings, range filtering,
validation rejects and each of Stooq's failure bodies."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import date

import pytest

from marketpipe.exceptions import BadSymbolError, LoaderError, ProviderError, RateLimitError
from marketpipe.loaders import DailyBar, DailyLoader, StooqLoader, get_loader
from marketpipe.loaders.http import HttpClient
from marketpipe.loaders.stooq import parse_stooq_csv, stooq_symbol
from marketpipe.settings import Settings
from tests.fakes.providers import CSV_GARBAGE, STOOQ_HITS_LIMIT, STOOQ_HTML, FakeProviderServer, server_error

MAR1, MAR15 = date(2024, 3, 1), date(2024, 3, 15)


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as fake:
        yield fake


def loader(server: FakeProviderServer, **kwargs: object) -> StooqLoader:
    http = HttpClient("stooq", timeout_s=5, retries=2, sleep=lambda s: None, rng=random.Random(1))
    return StooqLoader(http, base_url=server.base_url, **kwargs)  # type: ignore[arg-type]


def test_loads_typed_rows_matching_the_recording(server: FakeProviderServer) -> None:
    bars = loader(server).load(["aapl", "MSFT", "SPY"], MAR1, MAR15)
    assert len(bars) == 33 and loader(server).last_rejects == []
    assert [b.symbol for b in bars[:1]] == ["AAPL"] and {b.symbol for b in bars} == {"AAPL", "MSFT", "SPY"}
    assert bars[0] == DailyBar(
        "AAPL", date(2024, 3, 1), 177.54, 179.5, 175.44, 177.69, 111439438, adj_close=177.69, source="stooq"
    )
    assert all(isinstance(b.volume, int) and b.adj_close == b.close for b in bars)
    assert all(b.dividend is None and b.split_factor is None for b in bars)
    assert [b.session_date.day for b in bars if b.symbol == "MSFT"] == [1, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15]
    request = server.requests[0]
    assert request.query == {"s": "aapl.us", "d1": "20240301", "d2": "20240315", "i": "d"}


def test_date_range_is_inclusive(server: FakeProviderServer) -> None:
    bars = loader(server).load(["SPY"], date(2024, 3, 5), date(2024, 3, 7))
    assert [b.session_date for b in bars] == [date(2024, 3, 5), date(2024, 3, 6), date(2024, 3, 7)]


def test_range_without_sessions_makes_no_request(server: FakeProviderServer) -> None:
    assert loader(server).load(["AAPL"], date(2024, 3, 9), date(2024, 3, 10)) == []
    assert server.count() == 0


def test_start_after_end_is_an_error(server: FakeProviderServer) -> None:
    with pytest.raises(LoaderError, match="start 2024-03-15 is after end 2024-03-01"):
        loader(server).load(["AAPL"], MAR15, MAR1)


def test_unknown_symbol_raises_or_is_skipped(server: FakeProviderServer) -> None:
    with pytest.raises(BadSymbolError, match=r"stooq: no data for ZZZZ \(zzzz.us\)"):
        loader(server).load(["ZZZZ"], MAR1, MAR15)
    skipping = loader(server, on_bad_symbol="skip")
    bars = skipping.load(["ZZZZ", "AAPL"], MAR1, MAR15)
    assert len(bars) == 11
    assert [(r.symbol, r.session_date) for r in skipping.last_rejects] == [("ZZZZ", None)]


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (STOOQ_HITS_LIMIT, RateLimitError, "exceeded the daily hits limit"),
        (STOOQ_HTML, RateLimitError, "HTML page .*Please try later"),
        (CSV_GARBAGE, ProviderError, r"AAPL: not a daily CSV .*garbage"),
    ],
)
def test_failure_bodies(server: FakeProviderServer, answer: object, error: type[Exception], message: str) -> None:
    server.script("AAPL", answer)  # type: ignore[arg-type]
    with pytest.raises(error, match=message):
        loader(server).load(["AAPL"], MAR1, MAR15)
    assert server.count() == 1  # a body-level failure is not retried


def test_5xx_is_retried_then_loads(server: FakeProviderServer) -> None:
    server.script("MSFT", server_error(), server_error())
    assert len(loader(server).load(["MSFT"], MAR1, MAR15)) == 11
    assert server.count(symbol="MSFT") == 3


def test_bad_rows_become_rejects_not_failures(caplog: pytest.LogCaptureFixture) -> None:
    csv = "\r\n".join([
        "Date,Open,High,Low,Close,Volume",
        "2024-03-01,100,101,99,100.5,1000",
        "2024-03-02,100,101,99,100.5,1000",   # a Saturday
        "2024-03-04,100,99,98,100.5,1000",    # high below open and close
        "2024-03-05,abc,101,99,100.5,1000",   # unparseable
        "2024-03-06,100,101,99,100.5,-5",     # negative volume
        "2024-03-07,0,101,0,100.5,1000",      # zero prices
        "2024-03-08,100,101,99,100.5,1000",
        "2024-03-08,100,101,99,100.7,1000",   # duplicate date
    ])

    class Canned(StooqLoader):
        def fetch_symbol(self, symbol: str, start: date, end: date) -> tuple[list[DailyBar], list]:  # type: ignore[type-arg]
            return parse_stooq_csv(csv, symbol)

    canned = Canned(HttpClient("stooq"))
    with caplog.at_level(logging.INFO, logger="marketpipe.loaders"):
        result = canned.load_result(["T"], MAR1, MAR15)
    assert [b.session_date.day for b in result.bars] == [1, 8]
    reasons = {(r.session_date.day if r.session_date else None): r.reason for r in result.rejects}
    assert reasons[2] == "2024-03-02 is not a XNYS trading day"
    assert reasons[4].startswith("OHLC out of order: open=100.0 high=99.0")
    assert reasons[None].startswith("unparseable row: could not convert string to float: 'abc'")
    assert reasons[6] == "negative volume -5"
    assert reasons[7] == "open price 0.0 is not a positive number"
    assert reasons[8] == "duplicate row for this symbol and date (first one kept)"
    assert canned.last_rejects == result.rejects and len(result.rejects) == 6
    assert "T 2024-03-05" not in caplog.text
    warning = "6 rows rejected (unparseable: 1, trading day: 1, OHLC: 1, volume: 1, positive number: 1, duplicate: 1)"
    assert any(r.levelno == logging.WARNING and warning in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.INFO and "2 bars of 1 symbols" in r.getMessage() for r in caplog.records)


def test_symbol_mapping() -> None:
    assert stooq_symbol("AAPL") == "aapl.us" and stooq_symbol("BRK.B") == "brk-b.us"


def test_get_loader_uses_settings(server: FakeProviderServer) -> None:
    settings = Settings(stooq_base_url=server.base_url, loader_rate_limit_per_s=0, loader_retries=0)
    stooq = get_loader("stooq", settings)
    assert isinstance(stooq, DailyLoader) and stooq.name == "stooq"
    assert len(stooq.load(["SPY"], MAR1, MAR1)) == 1
    skipping = get_loader("stooq", settings, on_bad_symbol="skip")
    assert len(skipping.load(["SPY", "ZZZZ"], MAR1, MAR1)) == 1
    assert [r.symbol for r in skipping.last_rejects] == ["ZZZZ"]
