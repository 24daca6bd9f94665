"""The provider-independent collector core: back-off, duplicate window, bounded buffer, symbols and
settings. Pure; no sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from marketpipe.collectors.base import Backoff, CollectorStats, TickBuffer
from marketpipe.collectors.command import build_stream, read_symbols
from marketpipe.collectors.dedup import RecentTrades
from marketpipe.collectors.exceptions import CollectorError, ProviderAuthError
from marketpipe.collectors.mapping import alpaca_conditions
from marketpipe.feeds.tick import Tick
from marketpipe.settings import Settings


def test_backoff_grows_exponentially_with_jitter_and_resets() -> None:
    low = Backoff(0.5, 30.0, rng=lambda: 0.0)
    high = Backoff(0.5, 30.0, rng=lambda: 1.0)
    assert [low.next() for _ in range(8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert [high.next() for _ in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    jittered = Backoff(1.0, 8.0)
    delays = [jittered.next() for _ in range(50)]
    assert all(0.5 <= d <= 8.0 for d in delays) and len(set(delays)) > 10
    low.reset()
    assert low.next() == 0.25 and low.attempt == 1
    with pytest.raises(ValueError):
        Backoff(0, 1)


def _tick(symbol: str, trade_id: str | None, exchange: str = "Q") -> Tick:
    return Tick(symbol, 1, 1.0, 1, exchange, None, trade_id, "test")


def test_duplicates_are_recognised_per_symbol_and_exchange_in_a_bounded_window() -> None:
    recent = RecentTrades(window=3)
    assert not recent.seen(_tick("AAPL", "1"))
    assert recent.seen(_tick("AAPL", "1"))
    assert not recent.seen(_tick("AAPL", "1", exchange="N"))  # ids are unique per exchange
    assert not recent.seen(_tick("MSFT", "1"))  # ... and per symbol
    assert not recent.seen(_tick("AAPL", None)) and not recent.seen(_tick("AAPL", None))  # no id: never a dup
    for i in range(2, 10):
        recent.seen(_tick("AAPL", str(i)))
    assert len(recent) == 3 + 1  # AAPL's window of 3, MSFT's 1
    assert not recent.seen(_tick("AAPL", "1"))  # forgotten: older than the window


def test_buffer_waits_when_full_and_stays_bounded() -> None:
    stats = CollectorStats()
    buffer = TickBuffer(2, stats)

    async def scenario() -> list[bool]:
        assert await buffer.put(_tick("A", "1")) and await buffer.put(_tick("A", "2"))
        third = asyncio.create_task(buffer.put(_tick("A", "3")))
        await asyncio.sleep(0.05)
        assert not third.done() and len(buffer) == 2  # waiting: the reader is not reading the socket
        assert [t.trade_id for _, t in buffer.get_batch(1, timeout=0)] == ["1"]
        done = await asyncio.wait_for(third, 2)
        fourth = asyncio.create_task(buffer.put(_tick("A", "4")))
        await asyncio.sleep(0.02)
        buffer.closed.set()  # nobody will drain any more: the put gives up
        return [done, await asyncio.wait_for(fourth, 2)]

    assert asyncio.run(scenario()) == [True, False]
    assert stats.backpressure_waits == 2 and stats.buffer_high_water == 2 and stats.backpressure_s > 0
    assert [t.trade_id for _, t in buffer.get_batch(10, timeout=0)] == ["2", "3"]


def test_symbols_from_arguments_a_file_or_all(tmp_path: Path) -> None:
    path = tmp_path / "symbols.txt"
    path.write_text("# my list\nmsft, nvda\n\nBRK.B  # class B\n")
    assert read_symbols("aapl,MSFT", path, False) == ["AAPL", "MSFT", "NVDA", "BRK.B"]
    assert read_symbols(None, None, True) == ["*"]
    with pytest.raises(CollectorError, match="no symbols"):
        read_symbols(None, None, False)
    with pytest.raises(CollectorError, match="cannot be combined"):
        read_symbols("AAPL", None, True)
    with pytest.raises(CollectorError, match="not ticker symbols: 1BAD"):
        read_symbols("AAPL,1bad", None, False)


def test_credentials_come_from_the_settings_only() -> None:
    with pytest.raises(ProviderAuthError, match="MARKETPIPE_MASSIVE_API_KEY is not set"):
        build_stream(Settings(massive_api_key=None), "massive", ["AAPL"])
    with pytest.raises(ProviderAuthError, match="MARKETPIPE_ALPACA_API_SECRET is not set"):
        build_stream(Settings(alpaca_api_key="k", alpaca_api_secret=None), "alpaca", ["AAPL"])
    stream = build_stream(Settings(massive_api_key="k"), "massive", ["AAPL"], url="ws://127.0.0.1:9")
    assert stream.url == "ws://127.0.0.1:9/stocks"  # type: ignore[attr-defined]
    assert "sekrit-123" not in repr(Settings(massive_api_key="sekrit-123"))  # a SecretStr never prints


def test_alpaca_conditions_drop_blanks_on_utp_and_keep_order() -> None:
    assert alpaca_conditions(["@", " ", "F", "@"], "C") == "@ F"
    assert alpaca_conditions(["E", "I"], "B") == "@ I"
    assert alpaca_conditions(None, "A") is None
