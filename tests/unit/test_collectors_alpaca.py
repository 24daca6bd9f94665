"""The Alpaca collector: alpaca-py's StockDataStream (the real SDK code) against a local fake of Alpaca's
msgpack stream (tests/fakes/alpaca_server.py), into the real TickProducer over a Kafka client double."""

from __future__ import annotations

import logging
import time
from typing import Any

import msgpack
import pytest

from marketpipe import cli
from marketpipe.collectors.alpaca import AlpacaStream, to_tick
from marketpipe.collectors.base import CollectorConfig
from marketpipe.collectors.exceptions import ProviderAuthError, ProviderLimitError
from marketpipe.collectors.service import CollectorService
from marketpipe.feeds.tick import HeartbeatSchedule
from tests.fakes.alpaca_server import FakeAlpacaServer, Script, alpaca_trade, error_event
from tests.fakes.kafka import KafkaClientDouble, producer_with
from tests.unit.collectors_support import FAST, T0_NS, run_until

SYMBOLS = ["AAPL", "MSFT", "SPY"]


def _trades(n: int) -> list[dict[str, Any]]:
    return [alpaca_trade(SYMBOLS[i % 3], T0_NS + i * 250_000_000 + 7, 100.0 + i / 100, 100 + i, 1000 + i,
                         exchange="QNV"[i % 3], conditions=["@", "F"] if i % 5 == 0 else ["@"]) for i in range(n)]


def _ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["trade_id"] for r in records]


def test_trade_maps_to_the_tick_exactly() -> None:
    msg = msgpack.unpackb(msgpack.packb(alpaca_trade("AAPL", 1_718_719_200_123_456_789, 187.23, 100, 42,
                                                     exchange="Q", conditions=["@", "F", " "], tape="C")))
    tick = to_tick(msg)
    assert (tick.symbol, tick.ts_ns, tick.price, tick.size, tick.exchange, tick.conditions, tick.trade_id,
            tick.source) == ("AAPL", 1_718_719_200_123_456_789, 187.23, 100, "Q", "@ F", "42", "alpaca")


def test_cts_letters_become_utp_letters_on_tapes_a_and_b() -> None:
    cts = to_tick(alpaca_trade("IBM", T0_NS, 1.0, 1, 1, exchange="N", conditions=[" ", "B"], tape="A"))
    assert cts.conditions == "@ W"  # blank = regular sale, CTS B = Average Price Trade (UTP W)
    utp = to_tick(alpaca_trade("AAPL", T0_NS, 1.0, 1, 1, exchange="Q", conditions=["B"], tape="C"))
    assert utp.conditions == "B"  # UTP B = Bunched Trade, unchanged
    assert to_tick(alpaca_trade("AAPL", T0_NS, 1.0, 1, 1, conditions=[])).conditions is None


def test_rfc3339_time_keeps_nanoseconds_and_bad_time_goes_raw() -> None:
    msg = alpaca_trade("AAPL", T0_NS, 1.0, 1, 1)
    msg["t"] = "2024-06-18T14:00:00.123456789Z"
    assert to_tick(msg).ts_ns == T0_NS + 123_456_789
    msg["t"] = "yesterday"
    tick = to_tick(msg)
    assert tick.ts_ns is None and tick.ts_raw == "yesterday"


def test_batches_drop_resend_malformed_stall_and_pings_lose_nothing_and_duplicate_nothing() -> None:
    trades = _trades(60)
    script = Script(trades=trades, batch=4, drop_after=frozenset({13}), resend_on_reconnect=6,
                    malformed_after=frozenset({25}), stall_after={40: 5.0}, ping_every=3)
    client = KafkaClientDouble()
    with FakeAlpacaServer(script) as fake:
        stream = AlpacaStream(fake.valid_key, fake.valid_secret, SYMBOLS, url=fake.url, config=FAST)
        service = CollectorService(stream, producer_with(client), heartbeats=HeartbeatSchedule(0.2, 10),
                                   status_interval_s=0.5)
        summary = run_until(service, lambda: stream.stats.ticks >= 60)
        assert fake.connections == 3  # the first, after the drop, after the stall
        assert all(sub["trades"] == SYMBOLS for sub in fake.subscriptions)  # re-subscribed every time
        assert fake.auth_keys == [fake.valid_key] * 3  # re-authenticated every time
    produced = client.trades()
    assert _ids(produced) == [str(t["i"]) for t in trades]  # every trade once, in the order sent
    assert [r["ts_ns"] for r in produced] == [t["t"].to_unix_nano() for t in trades]
    s = stream.stats
    assert (s.ticks, s.duplicates, s.malformed, s.reconnects, s.stalls) == (60, 12, 1, 2, 1)
    assert summary["ticks"] == 60 and summary["last_ts"] == trades[-1]["t"].to_unix_nano()
    beats = client.heartbeats()
    assert beats and {b["partition"] for b in beats} == {0, 1, 2}
    assert max(b["ts_ns"] for b in beats) <= summary["last_ts"]  # never ahead of the data


def test_slow_kafka_applies_backpressure_in_bounded_memory() -> None:
    trades = _trades(600)
    # The broker acknowledges 20 messages per 5 ms poll; the local queue holds 50 (then send() waits).
    client = KafkaClientDouble(capacity=50, per_poll=20, poll_s=0.005)
    config = CollectorConfig(stall_s=0, buffer_messages=40, backoff_min_s=0.05, backoff_max_s=0.2)
    with FakeAlpacaServer(Script(trades=trades, batch=25)) as fake:
        stream = AlpacaStream(fake.valid_key, fake.valid_secret, SYMBOLS, url=fake.url, config=config)
        service = CollectorService(stream, producer_with(client))
        run_until(service, lambda: stream.stats.ticks >= 600, timeout=60)
    s = stream.stats
    assert s.backpressure_waits > 0 and s.buffer_high_water <= 40  # the reader waited; the buffer stayed bounded
    assert client.max_queued <= 50
    assert _ids(client.trades()) == [str(t["i"]) for t in trades]


def test_bad_credentials_fail_at_once_without_a_retry_loop() -> None:
    with FakeAlpacaServer(Script(trades=_trades(3))) as fake:
        stream = AlpacaStream("wrong", "creds", SYMBOLS, url=fake.url, config=FAST)
        service = CollectorService(stream, producer_with(KafkaClientDouble()))
        t0 = time.monotonic()
        with pytest.raises(ProviderAuthError, match=r"auth failed \(402\)"):
            service.run()
        assert time.monotonic() - t0 < 10 and fake.connections == 1


@pytest.mark.parametrize(("code", "text"), [(405, "symbol limit exceeded"), (406, "connection limit exceeded"),
                                            (409, "insufficient subscription")])
def test_plan_limits_are_fatal_with_the_providers_message(code: int, text: str) -> None:
    with FakeAlpacaServer(Script(trades=_trades(3), errors_after_subscribe=[error_event(code, text)])) as fake:
        stream = AlpacaStream(fake.valid_key, fake.valid_secret, SYMBOLS, url=fake.url, config=FAST)
        with pytest.raises(ProviderLimitError, match=f"{text} \\({code}\\)"):
            CollectorService(stream, producer_with(KafkaClientDouble())).run()
        assert fake.connections == 1


def test_a_non_fatal_error_frame_is_counted_and_the_stream_goes_on() -> None:
    script = Script(trades=_trades(6), errors_after_subscribe=[error_event(400, "invalid syntax")])
    client = KafkaClientDouble()
    with FakeAlpacaServer(script) as fake:
        stream = AlpacaStream(fake.valid_key, fake.valid_secret, SYMBOLS, url=fake.url, config=FAST)
        run_until(CollectorService(stream, producer_with(client)), lambda: stream.stats.ticks >= 6)
    assert stream.stats.errors == 1 and len(client.trades()) == 6


def test_cli_exits_2_with_the_providers_message_on_bad_credentials(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MARKETPIPE_ALPACA_API_KEY", "wrong")
    monkeypatch.setenv("MARKETPIPE_ALPACA_API_SECRET", "wrong")
    monkeypatch.setenv("MARKETPIPE_MONITORING", "false")
    monkeypatch.setenv("MARKETPIPE_KAFKA_PORT", "1")  # nothing is produced before auth
    with FakeAlpacaServer() as fake, caplog.at_level(logging.ERROR):
        code = cli.main(["collect", "--provider", "alpaca", "--symbols", "AAPL", "--url", fake.url, "--quiet"])
    assert code == 2
    assert "auth failed (402)" in caplog.text


def test_cli_refuses_to_start_without_credentials(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("MARKETPIPE_ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("MARKETPIPE_ALPACA_API_SECRET", raising=False)
    monkeypatch.setenv("MARKETPIPE_ALPACA_API_KEY", "")  # empty = unset (and shadows a .env entry)
    with caplog.at_level(logging.ERROR):
        assert cli.main(["collect", "--provider", "alpaca", "--symbols", "AAPL", "--quiet"]) == 2
    assert "MARKETPIPE_ALPACA_API_KEY is not set" in caplog.text


def test_sigterm_stops_gracefully_and_flushes_what_was_received() -> None:
    import os
    import signal
    import threading

    trades = _trades(30)
    client = KafkaClientDouble(per_poll=0)  # nothing is acknowledged until the flush
    with FakeAlpacaServer(Script(trades=trades, batch=5)) as fake:
        stream = AlpacaStream(fake.valid_key, fake.valid_secret, SYMBOLS, url=fake.url, config=FAST)
        service = CollectorService(stream, producer_with(client), status_interval_s=0.2)

        def terminate() -> None:
            deadline = time.monotonic() + 20
            while stream.stats.trades < 30 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=terminate, daemon=True).start()
        previous = signal.getsignal(signal.SIGTERM)
        summary = service.run()
        assert signal.getsignal(signal.SIGTERM) is previous  # restored
    assert summary["ticks"] == 30 and len(client.trades()) == 30 and not client.queue
