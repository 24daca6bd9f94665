"""Unit tests of the tick wire contract, the producer wrapper (with a fake client), the session clock,
the synthetic feed and the fixture writer. No Kafka."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError

from marketpipe.exceptions import FeedError
from marketpipe.feeds import producer as producer_module
from marketpipe.feeds.fixtures import write_fixture
from marketpipe.feeds.producer import TickProducer
from marketpipe.feeds.replay import summarize
from marketpipe.feeds.session import NEW_YORK, SessionClock, default_start, from_ns, to_ns
from marketpipe.feeds.synthetic import UNIVERSE, SyntheticFeed
from marketpipe.feeds.tick import Tick, heartbeat_json, normalize_conditions
from marketpipe.settings import Settings
from tests.fakes.sinks import RecordingSink

THU_OPEN = datetime(2024, 6, 13, 9, 30, tzinfo=NEW_YORK)  # 13:30 UTC
THU_OPEN_NS = 1_718_285_400_000_000_000


# -- tick wire contract ---------------------------------------------------------------------------


def test_tick_json_matches_the_contract() -> None:
    tick = Tick("AAPL", 1718285400123456789, 187.23, 100, "Q", "@ F", "A1-42", "synthetic")
    assert json.loads(tick.to_json()) == {
        "kind": "trade", "symbol": "AAPL", "ts_ns": 1718285400123456789, "price": 187.23, "size": 100,
        "exchange": "Q", "conditions": "@ F", "trade_id": "A1-42", "source": "synthetic",
    }
    assert tick.to_json().startswith(b'{"kind":"trade","symbol":"AAPL","ts_ns":1718285400123456789,')
    assert tick.key == b"AAPL"


def test_tick_json_unparsed_timestamp_carries_ts_raw() -> None:
    out = json.loads(Tick("AAPL", None, 1.0, 1, ts_raw="2024-06-13T09:30:00").to_json())
    assert out["ts_ns"] is None and out["ts_raw"] == "2024-06-13T09:30:00"
    assert json.loads(Tick("AAPL", None, 1.0, 1).to_json())["ts_raw"] is None  # missing ts
    assert "ts_raw" not in json.loads(Tick("AAPL", 1, 1.0, 1, ts_raw="ignored").to_json())


def test_tick_json_passes_bad_values_as_found() -> None:
    out = json.loads(Tick("", None, "12.3x", -5).to_json())
    assert out["price"] == "12.3x" and out["size"] == -5 and out["symbol"] == ""
    # JSON has no NaN/inf: they travel as text (Flink rejects them as bad_price/bad_size).
    out = json.loads(Tick("X", 1, float("nan"), float("inf")).to_json())
    assert out["price"] == "nan" and out["size"] == "inf"
    assert Tick("", 1, 1, 1).key is None and Tick(None, 1, 1, 1).key is None
    assert json.loads(Tick("X", 1, None, None).to_json())["price"] is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("@ F", "@ F"), ("@,F", "@ F"), (" @ , F,I ", "@ F I"), ("", None), (" , ", None), (None, None)],
)
def test_conditions_are_space_separated(raw: str | None, expected: str | None) -> None:
    assert normalize_conditions(raw) == expected
    assert json.loads(Tick("X", 1, 1, 1, conditions=raw).to_json())["conditions"] == expected


def test_heartbeat_json() -> None:
    assert json.loads(heartbeat_json(1718285466000000000)) == {"kind": "heartbeat", "ts_ns": 1718285466000000000}


# -- producer (fake client) -----------------------------------------------------------------------


class FakeClient:
    """Stands in for confluent_kafka.Producer: delivers (or fails) on poll/flush."""

    def __init__(self, partitions: int = 3, full: int = 0, fail: bool = False, stuck: bool = False) -> None:
        self.partition_count = partitions
        self.full = full
        self.fail = fail
        self.stuck = stuck
        self.queue: list[tuple[dict[str, Any], Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.metadata_calls = 0

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any) -> None:
        if self.full > 0:
            self.full -= 1
            raise BufferError("queue full")
        record = {"topic": topic, "value": value, "key": key, "partition": kw.get("partition")}
        self.queue.append((record, kw["on_delivery"]))

    def poll(self, timeout: float = 0) -> int:
        if self.stuck:
            return 0
        served = len(self.queue)
        for record, callback in self.queue:
            self.sent.append(record)
            callback(KafkaError(KafkaError._MSG_TIMED_OUT) if self.fail else None, None)
        self.queue.clear()
        return served

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return len(self.queue)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        self.metadata_calls += 1
        parts = dict.fromkeys(range(self.partition_count))
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions=parts)})


def test_producer_config_is_idempotent_acks_all_compressed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(producer_module, "Producer", lambda conf: seen.update(conf) or FakeClient())
    TickProducer(Settings(kafka_port=19999))
    assert seen["bootstrap.servers"] == "127.0.0.1:19999"
    assert seen["enable.idempotence"] is True and seen["acks"] == "all"
    assert 5 <= seen["linger.ms"] <= 50 and seen["compression.type"] in ("lz4", "zstd")


def test_producer_sends_keyed_ticks_and_counts_deliveries() -> None:
    client = FakeClient()
    producer = TickProducer(Settings(), client=client)
    producer.send(Tick("AAPL", 1, 1.0, 100))
    producer.send(Tick(None, None, "x", None))
    producer.flush(1.0)
    assert [r["key"] for r in client.sent] == [b"AAPL", None]
    assert all(r["topic"] == "ticks.raw" and r["partition"] is None for r in client.sent)
    assert (producer.produced, producer.delivered, producer.failed, producer.in_flight) == (2, 2, 0, 0)


def test_producer_heartbeats_go_to_every_partition() -> None:
    client = FakeClient(partitions=4)
    producer = TickProducer(Settings(), client=client)
    producer.send_heartbeats(123)
    producer.send_heartbeats(456)
    assert [r["partition"] for r in client.sent] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert all(r["key"] is None for r in client.sent)
    assert json.loads(client.sent[0]["value"]) == {"kind": "heartbeat", "ts_ns": 123}
    assert client.metadata_calls == 1 and producer.heartbeats == 8


def test_producer_missing_topic_is_a_feed_error() -> None:
    client = FakeClient()
    client.list_topics = lambda topic=None, timeout=-1: SimpleNamespace(topics={})  # type: ignore[method-assign]
    with pytest.raises(FeedError, match=r"ticks\.raw"):
        TickProducer(Settings(), client=client).send_heartbeats(1)


def test_producer_retries_when_the_queue_is_full() -> None:
    client = FakeClient(full=3)
    producer = TickProducer(Settings(), client=client)
    producer.send(Tick("AAPL", 1, 1.0, 100))
    assert producer.produced == 1 and len(client.sent) == 1


def test_producer_gives_up_when_the_queue_stays_full() -> None:
    producer = TickProducer(Settings(), client=FakeClient(full=10**9), queue_full_timeout=0.1)
    with pytest.raises(FeedError, match="queue stayed full"):
        producer.send(Tick("AAPL", 1, 1.0, 100))


def test_flush_raises_when_messages_remain() -> None:
    producer = TickProducer(Settings(), client=FakeClient(stuck=True))
    producer.send(Tick("AAPL", 1, 1.0, 100))
    with pytest.raises(FeedError, match=r"1 message.*undelivered"):
        producer.flush(0.01)


def test_flush_reports_failed_deliveries_once() -> None:
    producer = TickProducer(Settings(), client=FakeClient(fail=True))
    with pytest.raises(FeedError, match=r"1 message.*failed"):
        # reported by the first call that serves the delivery report: here send's own poll
        producer.send(Tick("AAPL", 1, 1.0, 100))
        producer.flush(1.0)
    assert producer.failed == 1 and producer.delivered == 0
    producer.flush(1.0)  # already reported


# -- session clock --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 6, 12, 14, 0, tzinfo=UTC), datetime(2024, 6, 12, 13, 30, tzinfo=UTC)),  # Wed 10:00 NY
        (datetime(2024, 6, 12, 12, 0, tzinfo=UTC), datetime(2024, 6, 11, 13, 30, tzinfo=UTC)),  # Wed 08:00 NY
        (datetime(2024, 6, 15, 12, 0, tzinfo=UTC), datetime(2024, 6, 14, 13, 30, tzinfo=UTC)),  # Saturday
        (datetime(2024, 6, 17, 12, 0, tzinfo=UTC), datetime(2024, 6, 14, 13, 30, tzinfo=UTC)),  # Mon early
        (datetime(2024, 1, 10, 20, 0, tzinfo=UTC), datetime(2024, 1, 10, 14, 30, tzinfo=UTC)),  # EST
    ],
)
def test_default_start_is_most_recent_weekday_open(now: datetime, expected: datetime) -> None:
    start = default_start(now)
    assert start == expected and start.tzinfo is UTC


def test_session_clock_rolls_past_close_to_next_weekday_open() -> None:
    clock = SessionClock(datetime(2024, 6, 14, 15, 59, tzinfo=NEW_YORK))  # Friday 15:59
    ts = clock.advance(90 * 10**9)  # 30 s past the close
    assert from_ns(ts) == datetime(2024, 6, 17, 9, 30, 30, tzinfo=NEW_YORK)  # Monday


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2024, 6, 13, 8, 0, tzinfo=NEW_YORK), datetime(2024, 6, 13, 9, 30, tzinfo=NEW_YORK)),
        (datetime(2024, 6, 13, 17, 0, tzinfo=NEW_YORK), datetime(2024, 6, 14, 9, 30, tzinfo=NEW_YORK)),
        (datetime(2024, 6, 15, 11, 0, tzinfo=NEW_YORK), datetime(2024, 6, 17, 9, 30, tzinfo=NEW_YORK)),
        (datetime(2024, 6, 13, 11, 0, tzinfo=NEW_YORK), datetime(2024, 6, 13, 11, 0, tzinfo=NEW_YORK)),
    ],
)
def test_session_clock_moves_start_into_a_session(start: datetime, expected: datetime) -> None:
    assert SessionClock(start).now_ns == to_ns(expected)


# -- synthetic feed -------------------------------------------------------------------------------


def _feed(**kw: Any) -> SyntheticFeed:
    args: dict[str, Any] = {"symbols": 5, "rate": 50.0, "duration": 60.0, "seed": 7, "start": THU_OPEN}
    args.update(kw)
    return SyntheticFeed(**args)


def test_generate_is_deterministic_with_a_seed() -> None:
    assert _feed().generate(500) == _feed().generate(500)
    assert _feed().generate(500)[:100] == _feed().generate(100)
    assert _feed(seed=8).generate(50) != _feed().generate(50)


def test_arrivals_are_poisson_at_the_given_rate() -> None:
    rate = 50.0
    offsets = [t for t, _ in zip((o for o, _ in _feed(rate=rate).timed_ticks()), range(20_000), strict=False)]
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert statistics.fmean(gaps) == pytest.approx(1 / rate, rel=0.03)
    # Exponential inter-arrivals: standard deviation equals the mean.
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, abs=0.05)
    # Counts per second: Poisson, so variance about equals mean.
    counts = Counter(int(o) for o in offsets[:-1])
    per_second = [counts.get(s, 0) for s in range(int(offsets[-2]))]
    assert statistics.fmean(per_second) == pytest.approx(rate, rel=0.03)
    assert statistics.variance(per_second) / statistics.fmean(per_second) == pytest.approx(1.0, abs=0.2)


def test_ticks_look_like_us_equity_trades() -> None:
    ticks = _feed(accelerate=60.0).generate(20_000)
    known = {sym for sym, _, _ in UNIVERSE}
    assert {t.symbol for t in ticks} == {"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL"} <= known
    for t in ticks:
        assert isinstance(t.price, float) and t.price > 0
        assert round(t.price, 2) == t.price
        assert isinstance(t.size, int) and t.size > 0
        assert t.exchange in {"Q", "N", "P", "Z", "K", "D"}
        assert t.conditions in {"@", None, "@ F", "@ I"}
        assert t.source == "synthetic" and t.ts_raw is None
        assert (t.size % 100 != 0) == (t.conditions == "@ I")  # odd lots carry I
    round_lots = sum(isinstance(t.size, int) and t.size % 100 == 0 for t in ticks) / len(ticks)  # all int, above
    assert 0.75 < round_lots < 0.95
    assert sum(t.conditions == "@" for t in ticks) / len(ticks) > 0.5


def test_prices_stay_plausible_and_move() -> None:
    # A full session of trading time for five names.
    ticks = _feed(rate=20.0, accelerate=400.0).generate(4_000)
    by_symbol: dict[str, list[float]] = defaultdict(list)
    for t in ticks:
        assert isinstance(t.price, float)
        by_symbol[t.symbol or ""].append(t.price)
    start = {sym: px for sym, px, _ in UNIVERSE}
    for sym, prices in by_symbol.items():
        assert 0.7 < prices[-1] / start[sym] < 1.4, sym
        assert len(set(prices)) > 20, sym
        steps = [abs(math.log(b / a)) for a, b in itertools.pairwise(prices)]
        assert max(steps) < 0.1, sym


def test_timestamps_are_non_decreasing_and_in_session() -> None:
    ticks = _feed(rate=10.0, accelerate=600.0, start=datetime(2024, 6, 14, 15, 0, tzinfo=NEW_YORK)).generate(3_000)
    stamps = [t.ts_ns for t in ticks]
    assert all(isinstance(s, int) for s in stamps)
    assert stamps == sorted(stamps)  # type: ignore[type-var]
    days = set()
    for s in stamps:
        assert s is not None
        ny = from_ns(s).astimezone(NEW_YORK)
        assert ny.weekday() < 5 and (9, 30) <= (ny.hour, ny.minute) < (16, 0)
        days.add(ny.date())
    assert len(days) >= 2  # 300 s wall at 600x = 50 h of trading time: rolled over Friday's close


def test_accelerate_compresses_wall_time_into_event_time() -> None:
    slow = _feed(rate=10.0, accelerate=1.0).generate(500)
    fast = _feed(rate=10.0, accelerate=60.0).generate(500)
    assert slow[0].ts_ns is not None and fast[-1].ts_ns is not None and slow[-1].ts_ns is not None
    slow_span = slow[-1].ts_ns - THU_OPEN_NS
    fast_span = fast[-1].ts_ns - THU_OPEN_NS
    assert fast_span == pytest.approx(60 * slow_span, abs=100)
    assert 30 < slow_span / 1e9 < 80  # 500 ticks at 10/s take about 50 s of wall (and event) time


def test_trade_ids_increase_per_symbol() -> None:
    last: dict[str, int] = {}
    for t in _feed().generate(2_000):
        assert t.trade_id is not None and t.symbol is not None
        sym, _, n = t.trade_id.rpartition("-")
        assert sym == t.symbol and int(n) == last.get(sym, 0) + 1
        last[sym] = int(n)


def test_ticks_is_bounded_by_duration() -> None:
    ticks = list(_feed(rate=100.0, duration=5.0).ticks())
    assert 400 < len(ticks) < 600


def test_explicit_symbols_and_validation() -> None:
    ticks = _feed(symbols=["aapl", "ZZZZ"]).generate(200)
    assert {t.symbol for t in ticks} == {"AAPL", "ZZZZ"}
    with pytest.raises(FeedError):
        SyntheticFeed(symbols=0)
    with pytest.raises(FeedError):
        SyntheticFeed(symbols=len(UNIVERSE) + 1)
    with pytest.raises(FeedError):
        SyntheticFeed(rate=0)
    with pytest.raises(FeedError):
        SyntheticFeed(accelerate=-1)
    with pytest.raises(FeedError, match="naive"):
        SyntheticFeed(start=datetime(2024, 6, 13, 9, 30))  # noqa: DTZ001 - the point of the test


def test_run_paces_sends_heartbeats_and_flushes() -> None:
    sink = RecordingSink()
    feed = _feed(rate=200.0, duration=0.5, accelerate=60.0)
    summary = feed.run(sink, progress=False)
    assert summary["ticks"] == len(sink.ticks) > 50
    assert sink.ticks == feed.generate(len(sink.ticks))
    assert summary["first_ts"] == sink.ticks[0].ts_ns and summary["last_ts"] == sink.ticks[-1].ts_ns
    assert sink.heartbeats == [summary["last_ts"] + 65 * 10**9] == [summary["heartbeat_ts"]]  # end_heartbeat_ns
    assert sink.flushes == 1
    assert all(t.symbol is not None for t in sink.ticks)
    assert summary["symbols"] == sorted({t.symbol for t in sink.ticks if t.symbol is not None})
    assert 0.4 < summary["wall_seconds"] < 1.5


def test_run_with_progress_bar() -> None:
    summary = _feed(rate=50.0, duration=0.2).run(RecordingSink(), progress=True)
    assert summary["ticks"] >= 0


# -- fixture writer -------------------------------------------------------------------------------


def test_write_fixture_is_deterministic(tmp_path: Path) -> None:
    a = write_fixture(tmp_path / "a.csv", 3, 20, seed=1)
    b = write_fixture(tmp_path / "b.csv", 3, 20, seed=1)
    assert a.path.read_bytes() == b.path.read_bytes() and a.bars == b.bars
    assert write_fixture(tmp_path / "c.csv", 3, 20, seed=2).path.read_bytes() != a.path.read_bytes()


def test_write_fixture_shape_and_known_answers(tmp_path: Path) -> None:
    fx = write_fixture(tmp_path / "ticks.csv", symbols=5, minutes=300, seed=3)
    assert fx.symbols == ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL")
    assert fx.bad_rows == {"invalid_price": 2, "invalid_size": 2, "bad_timestamp": 4, "missing_symbol": 2,
                           "bad_price": 2}
    assert fx.rows == fx.valid_rows + sum(fx.bad_rows.values())
    # Some minutes without trades for a symbol, several trades in others.
    assert 0.8 * 5 * 300 < len(fx.bars) < 5 * 300
    assert max(bar.trade_count for bar in fx.bars.values()) >= 4
    minute0 = to_ns(datetime(2024, 6, 13, 9, 30, tzinfo=NEW_YORK)) // 10**6
    assert {ms for _, ms in fx.bars} <= {minute0 + 60_000 * m for m in range(300)}
    for bar in fx.bars.values():
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.low - 1e-9 <= bar.vwap <= bar.high + 1e-9 and bar.volume > 0
    # The replay reader agrees with the fixture's own answers.
    summary = summarize(fx.path)
    assert summary.rows == fx.rows and summary.valid_rows == fx.valid_rows
    assert summary.expected_bars == fx.expected_bars
    assert summary.symbols == set(fx.symbols)
    # File order is event-time order, so the watermark never makes a row late.
    from marketpipe.feeds.replay import read_ticks

    stamps = [t.ts_ns for t in read_ticks(fx.path) if t.ts_ns is not None]
    assert stamps == sorted(stamps)
    assert min(stamps) >= minute0 * 10**6 and max(stamps) < (minute0 + 300 * 60_000) * 10**6


def test_write_fixture_mixes_timestamp_and_condition_styles(tmp_path: Path) -> None:
    text = write_fixture(tmp_path / "t.csv", 2, 30, seed=0).path.read_text()
    lines = text.splitlines()[1:]
    assert any(line.split(",")[0].endswith("-04:00") for line in lines)
    assert any(line.split(",")[0].endswith("Z") for line in lines)
    assert any(line.split(",")[0].isdigit() for line in lines)
    assert '"@,I"' in text or '"F,I"' in text
    assert any(line.startswith("2024-06-13T") and "+" not in line[:35] and line[19] == "," for line in lines)


def test_fixture_start_is_aware() -> None:
    assert THU_OPEN.utcoffset() == timedelta(hours=-4) and to_ns(THU_OPEN) == THU_OPEN_NS


def test_run_heartbeats_while_streaming_at_the_last_event_time() -> None:
    from marketpipe.feeds.tick import HeartbeatSchedule

    class Events(RecordingSink):
        def __init__(self) -> None:
            super().__init__()
            self.order: list[tuple[str, int | None]] = []

        def send(self, tick: Tick) -> None:
            super().send(tick)
            self.order.append(("tick", tick.ts_ns))

        def send_heartbeats(self, ts_ns: int) -> None:
            super().send_heartbeats(ts_ns)
            self.order.append(("heartbeat", ts_ns))

    sink = Events()
    # a slow feed (5 ticks/s) still heartbeats every 0.1 s of wall time, between its ticks
    summary = _feed(rate=5.0, duration=2.0, accelerate=60.0).run(
        sink, progress=False, heartbeats=HeartbeatSchedule(interval_s=0.1, every_ticks=10**6)
    )
    during = sink.heartbeats[:-1]
    assert len(during) >= 5 and sink.heartbeats[-1] == summary["heartbeat_ts"]
    last_tick: int | None = None
    for kind, ts in sink.order[:-1]:
        if kind == "tick":
            last_tick = ts
        else:
            assert ts == last_tick  # the latest event time sent, never ahead of it
