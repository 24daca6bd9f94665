"""The Massive collector: the massive SDK's WebSocketClient (the real SDK code) against a local fake of
Massive's JSON stream (tests/fakes/massive_server.py), into the real TickProducer over a Kafka client
double; and the exchange / condition tables."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from marketpipe import cli
from marketpipe.collectors.base import CollectorConfig
from marketpipe.collectors.exceptions import ProviderAuthError, ProviderLimitError
from marketpipe.collectors.mapping import DROP, CodeMap, massive_conditions, massive_exchanges
from marketpipe.collectors.massive import MassiveStream, to_tick
from marketpipe.collectors.service import CollectorService
from marketpipe.feeds.tick import HeartbeatSchedule
from tests.fakes.kafka import KafkaClientDouble, producer_with
from tests.fakes.massive_server import FakeMassiveServer, Script, massive_trade, status_event
from tests.unit.collectors_support import FAST, T0_NS, run_until
from udfs.market.conditions import ConditionTable

SYMBOLS = ["AAPL", "MSFT", "SPY"]
T0_MS = T0_NS // 1_000_000


def _trades(n: int) -> list[dict[str, Any]]:
    return [massive_trade(SYMBOLS[i % 3], T0_MS + i * 250, 100.0 + i / 100, 100 + i, f"{5000 + i}", 900 + i,
                          exchange=(12, 10, 202)[i % 3], conditions=[14] if i % 5 == 0 else None) for i in range(n)]


def test_trade_maps_to_the_tick_exactly() -> None:
    tick = to_tick(massive_trade("AAPL", 1_718_719_200_123, 187.23, 100, "52983525029461", 1063,
                                 exchange=11, conditions=[14, 37, 41, 39]))
    assert (tick.symbol, tick.ts_ns, tick.price, tick.size, tick.exchange, tick.conditions, tick.trade_id,
            tick.source) == ("AAPL", 1_718_719_200_123_000_000, 187.23, 100, "P", "F I massive:39",
                             "52983525029461", "massive")
    assert to_tick(massive_trade("X", 1, 1.0, 1, "1", 1, exchange=999)).exchange == "massive:999"
    bad = to_tick({"ev": "T", "sym": "X", "t": "soon", "p": 1, "s": 1})
    assert bad.ts_ns is None and bad.ts_raw == "'soon'"


def test_condition_table_maps_only_to_codes_the_bars_job_knows() -> None:
    table = ConditionTable.default()
    conditions = massive_conditions()
    assert conditions.codes and set(conditions.codes.values()) - {DROP} <= table.codes
    assert conditions.code(0) == "@" and conditions.code(14) == "F" and conditions.code(37) == "I"
    assert conditions.code(39) == "massive:39" and conditions.code(12345) == "massive:12345"
    # Trade Thru Exempt and the short-sale-restriction states are indicators: dropped, not dead-lettered
    assert conditions.codes_of([41]) is None and conditions.codes_of([41, 57, 37]) == "I"
    exchanges = massive_exchanges()
    assert exchanges.code(12) == "Q" and exchanges.code(10) == "N" and exchanges.code(201) == "D"


def test_code_table_rejects_bad_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.csv"
    path.write_text("id,sip_code,description\n1,A,x\n1,B,y\n")
    with pytest.raises(ValueError, match=r"c\.csv:3: duplicate id 1"):
        CodeMap.from_csv(path, "massive", "sip_code")


def test_batches_drop_resend_malformed_stall_and_pings_lose_nothing_and_duplicate_nothing() -> None:
    trades = _trades(60)
    script = Script(trades=trades, batch=4, drop_after=frozenset({13}), resend_on_reconnect=6,
                    malformed_after=frozenset({25}), stall_after={40: 5.0}, ping_every=3)
    client = KafkaClientDouble()
    with FakeMassiveServer(script) as fake:
        stream = MassiveStream(fake.valid_key, SYMBOLS, feed=fake.feed, secure=False, config=FAST)
        service = CollectorService(stream, producer_with(client), heartbeats=HeartbeatSchedule(0.2, 10))
        summary = run_until(service, lambda: stream.stats.ticks >= 60)
        assert fake.connections == 3
        assert all(set(sub["params"].split(",")) == {"T.AAPL", "T.MSFT", "T.SPY"} for sub in fake.subscriptions)
        assert fake.auth_keys == [fake.valid_key] * 3
    produced = client.trades()
    assert [r["trade_id"] for r in produced] == [t["i"] for t in trades]
    assert [r["ts_ns"] for r in produced] == [t["t"] * 1_000_000 for t in trades]
    s = stream.stats
    assert (s.ticks, s.duplicates, s.malformed, s.stalls) == (60, 12, 1, 1)
    assert s.reconnects == 2 and summary["last_ts"] == trades[-1]["t"] * 1_000_000
    beats = client.heartbeats()
    assert {b["partition"] for b in beats} == {0, 1, 2} and max(b["ts_ns"] for b in beats) <= summary["last_ts"]


def test_server_gone_is_retried_with_backoff_until_it_is_back() -> None:
    trades = _trades(9)
    client = KafkaClientDouble()
    with FakeMassiveServer(Script(trades=trades)) as fake:
        port = fake.port
    # Nothing listens on the port now: the SDK's connection attempts fail and our back-off paces them.
    stream = MassiveStream(FakeMassiveServer.valid_key, SYMBOLS, feed=f"127.0.0.1:{port}", secure=False,
                           config=FAST)
    service = CollectorService(stream, producer_with(client))
    run_until(service, lambda: stream.stats.reconnects >= 3, timeout=20)
    assert stream.stats.reconnects >= 3 and stream.stats.ticks == 0


def test_slow_kafka_applies_backpressure_in_bounded_memory() -> None:
    trades = _trades(600)
    client = KafkaClientDouble(capacity=50, per_poll=20, poll_s=0.005)
    config = CollectorConfig(stall_s=0, buffer_messages=40, backoff_min_s=0.05, backoff_max_s=0.2)
    with FakeMassiveServer(Script(trades=trades, batch=25)) as fake:
        stream = MassiveStream(fake.valid_key, SYMBOLS, feed=fake.feed, secure=False, config=config)
        run_until(CollectorService(stream, producer_with(client)), lambda: stream.stats.ticks >= 600, timeout=60)
    s = stream.stats
    assert s.backpressure_waits > 0 and s.buffer_high_water <= 40 and client.max_queued <= 50
    assert [r["trade_id"] for r in client.trades()] == [t["i"] for t in trades]


def test_bad_key_fails_at_once_without_a_retry_loop() -> None:
    with FakeMassiveServer(Script(trades=_trades(3))) as fake:
        stream = MassiveStream("wrong", SYMBOLS, feed=fake.feed, secure=False, config=FAST)
        t0 = time.monotonic()
        with pytest.raises(ProviderAuthError, match="authentication failed"):
            CollectorService(stream, producer_with(KafkaClientDouble())).run()
        assert time.monotonic() - t0 < 10 and fake.connections == 1


@pytest.mark.parametrize(("status", "text"), [
    ("max_connections", "Maximum number of websocket connections exceeded."),
    ("error", "You are not authorized to access real-time trades: upgrade your plan"),
])
def test_plan_limits_are_fatal_with_the_providers_message(status: str, text: str) -> None:
    script = Script(trades=_trades(3), errors_after_subscribe=[status_event(status, text)])
    with FakeMassiveServer(script) as fake:
        stream = MassiveStream(fake.valid_key, SYMBOLS, feed=fake.feed, secure=False, config=FAST)
        with pytest.raises(ProviderLimitError, match=text.rstrip(".")):
            CollectorService(stream, producer_with(KafkaClientDouble())).run()
        assert fake.connections == 1


def test_cli_exits_2_on_a_bad_key(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("MARKETPIPE_MASSIVE_API_KEY", "wrong")
    monkeypatch.setenv("MARKETPIPE_MONITORING", "false")
    monkeypatch.setenv("MARKETPIPE_KAFKA_PORT", "1")
    with FakeMassiveServer() as fake, caplog.at_level(logging.ERROR):
        code = cli.main(["collect", "--provider", "massive", "--symbols", "AAPL", "--url", f"ws://{fake.feed}",
                         "--quiet"])
    assert code == 2 and "authentication failed" in caplog.text


def test_a_server_that_accepts_and_says_nothing_is_left_after_the_handshake_timeout() -> None:
    import asyncio
    import threading

    from websockets.asyncio.server import ServerConnection, serve

    connections: list[int] = []
    ready = threading.Event()
    ports: list[int] = []
    loop = asyncio.new_event_loop()
    stop: asyncio.Future[None] = loop.create_future()

    def run() -> None:
        async def mute(ws: ServerConnection) -> None:
            connections.append(1)
            await ws.wait_closed()

        async def main() -> None:
            async with serve(mute, "127.0.0.1", 0) as server:
                ports.append(server.sockets[0].getsockname()[1])
                ready.set()
                await stop

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10)
    config = CollectorConfig(stall_s=0, handshake_s=0.5, backoff_min_s=0.05, backoff_max_s=0.1)
    stream = MassiveStream("k", SYMBOLS, feed=f"127.0.0.1:{ports[0]}", secure=False, config=config)
    try:
        run_until(CollectorService(stream, producer_with(KafkaClientDouble())), lambda: len(connections) >= 3,
                  timeout=20)
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(10)
    assert len(connections) >= 3 and stream.stats.reconnects >= 2 and stream.stats.last_error is not None
