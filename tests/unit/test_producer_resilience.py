"""The producer rides out a broker outage, the feeds heartbeat on a schedule, and the tools report only
what they checked (``replay --wait``, ``stack status``). No Kafka, Flink or PostgreSQL: fakes stand in;
tests/integration/test_broker_outage.py kills the real broker."""

from __future__ import annotations

import json
import logging
import time
from argparse import Namespace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException

from marketpipe import cli, commands, db
from marketpipe.exceptions import FeedError, WaitTimeout
from marketpipe.feeds import producer as producer_module
from marketpipe.feeds.producer import TickProducer
from marketpipe.feeds.tick import HeartbeatSchedule, Tick
from marketpipe.jobs.manager import JobInfo
from marketpipe.settings import Settings
from marketpipe.stack import launcher
from marketpipe.stack.launcher import JobStatus, Stack, advice, format_status
from marketpipe.stack.process import ServiceStatus

OPEN_NS = 1_718_285_400_000_000_000
S = 10**9


class OutageClient:
    """A fake ``confluent_kafka.Producer`` whose broker is away until ``down_until`` (monotonic time).

    While away, nothing is delivered and the error callback hears ``_ALL_BROKERS_DOWN``; messages older
    than ``timeout_s`` fail with ``_MSG_TIMED_OUT`` as librdkafka's ``message.timeout.ms`` makes them.
    The local queue holds ``capacity`` messages (``BufferError`` beyond).
    """

    def __init__(self, down_until: float = 0.0, capacity: int = 10_000, timeout_s: float = 60.0) -> None:
        self.down_until = down_until
        self.capacity = capacity
        self.timeout_s = timeout_s
        self.queue: list[tuple[float, dict[str, Any], Any]] = []
        self.log: list[dict[str, Any]] = []  # what the broker holds, in order
        self.error_cb: Any = None
        self.metadata_failures = 0

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any) -> None:
        if len(self.queue) >= self.capacity:
            raise BufferError("Local: Queue full")
        self.queue.append((time.monotonic(), {"value": value, "key": key, "partition": kw.get("partition")},
                           kw["on_delivery"]))

    def poll(self, timeout: float = 0) -> int:
        now = time.monotonic()
        if now < self.down_until:
            if self.error_cb is not None:
                self.error_cb(KafkaError(KafkaError._ALL_BROKERS_DOWN))
            expired = [q for q in self.queue if now - q[0] > self.timeout_s]
            self.queue = [q for q in self.queue if now - q[0] <= self.timeout_s]
            for _, _, callback in expired:
                callback(KafkaError(KafkaError._MSG_TIMED_OUT), None)
            time.sleep(min(timeout, 0.01))
            return len(expired)
        served = len(self.queue)
        for _, record, callback in self.queue:
            self.log.append(record)
            callback(None, None)
        self.queue.clear()
        return served

    def flush(self, timeout: float = 0) -> int:
        deadline = time.monotonic() + timeout
        while self.queue and time.monotonic() < deadline:
            self.poll(0.01)
        return len(self.queue)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        if self.metadata_failures > 0:
            self.metadata_failures -= 1
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        parts = dict.fromkeys(range(3))
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions=parts)})


def _producer(client: OutageClient, **kw: Any) -> TickProducer:
    producer = TickProducer(Settings(), client=client, **kw)
    client.error_cb = producer._on_error
    return producer


def _ticks(n: int) -> list[Tick]:
    return [Tick("AAPL", OPEN_NS + i * S, 1.0, 100, trade_id=f"A-{i}") for i in range(n)]


# -- configuration ----------------------------------------------------------------------------------


def test_producer_config_survives_minutes_of_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(producer_module, "Producer", lambda conf: seen.update(conf) or OutageClient())
    producer = TickProducer(Settings())
    assert seen["enable.idempotence"] is True and seen["acks"] == "all"
    assert seen["message.timeout.ms"] == 300_000 and producer.delivery_timeout_s == 300
    assert seen["queue.buffering.max.messages"] == 100_000 and seen["queue.buffering.max.kbytes"] == 65_536
    assert seen["reconnect.backoff.max.ms"] <= 5000
    TickProducer(Settings(producer_delivery_timeout_ms=30_000, producer_buffer_messages=10))
    assert seen["message.timeout.ms"] == 30_000 and seen["queue.buffering.max.messages"] == 10


# -- riding out an outage ---------------------------------------------------------------------------


def test_outage_shorter_than_the_delivery_timeout_loses_and_repeats_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = OutageClient(down_until=time.monotonic() + 0.4)
    producer = _producer(client)
    caplog.set_level(logging.WARNING, logger=producer_module.__name__)
    for tick in _ticks(50):
        producer.send(tick)
    producer.send_heartbeats(OPEN_NS + 49 * S)
    producer.flush(5.0)
    values = [json.loads(r["value"]) for r in client.log]
    assert [v["trade_id"] for v in values if v["kind"] == "trade"] == [f"A-{i}" for i in range(50)]
    assert (producer.ticks_delivered, producer.heartbeats_delivered, producer.failed) == (50, 3, 0)
    assert producer.unreachable_since is None
    text = caplog.text
    assert "unreachable" in text and "waiting for the broker" in text and "is back after" in text


def test_full_local_queue_waits_for_the_broker_then_continues() -> None:
    client = OutageClient(down_until=time.monotonic() + 0.3, capacity=5)
    producer = _producer(client, queue_full_timeout=5.0)
    began = time.monotonic()
    for tick in _ticks(12):
        producer.send(tick)
    producer.flush(5.0)
    assert time.monotonic() - began >= 0.25  # it waited rather than failing
    assert [json.loads(r["value"])["trade_id"] for r in client.log] == [f"A-{i}" for i in range(12)]


def test_full_local_queue_is_bounded_by_a_deadline() -> None:
    client = OutageClient(down_until=time.monotonic() + 60, capacity=3)
    producer = _producer(client, queue_full_timeout=0.3)
    with pytest.raises(FeedError, match=r"queue stayed full for 0\.3s.*0 tick"):
        for tick in _ticks(10):
            producer.send(tick)


def test_outage_longer_than_the_delivery_timeout_fails_clearly() -> None:
    client = OutageClient(down_until=time.monotonic() + 60, timeout_s=0.2)
    producer = _producer(client)
    for tick in _ticks(5):
        producer.send(tick)
    time.sleep(0.3)
    with pytest.raises(FeedError, match=r"5 message\(s\).*failed.*timed out.*0 tick\(s\) delivered"):
        producer.send(_ticks(6)[5])  # a hole in the stream: stop instead of sending past it
    assert producer.failed == 5 and producer.delivered == 0


def test_flush_waits_up_to_its_deadline_and_reports_delivered_rows() -> None:
    client = OutageClient(down_until=time.monotonic() + 60)
    producer = _producer(client)
    for tick in _ticks(3):
        producer.send(tick)
    began = time.monotonic()
    with pytest.raises(FeedError, match=r"3 message\(s\).*undelivered after 0.3s.*0 tick\(s\) delivered"):
        producer.flush(0.3)
    assert 0.25 < time.monotonic() - began < 3


def test_flush_default_deadline_is_the_delivery_timeout() -> None:
    settings = Settings(producer_delivery_timeout_ms=1_000)
    client = OutageClient(down_until=time.monotonic() + 0.3)
    producer = TickProducer(settings, client=client)
    for tick in _ticks(3):
        producer.send(tick)
    producer.flush()  # waits past the outage without a timeout of its own
    assert producer.ticks_delivered == 3


def test_topic_metadata_is_waited_for_while_the_broker_is_away() -> None:
    client = OutageClient()
    client.metadata_failures = 2
    producer = _producer(client, metadata_timeout=0.01)
    assert producer.partitions() == 3
    client2 = OutageClient()
    client2.metadata_failures = 10**6
    producer2 = TickProducer(Settings(producer_delivery_timeout_ms=1), client=client2, metadata_timeout=0.01)
    producer2._wait_limit = 0.2
    with pytest.raises(FeedError, match="cannot read metadata"):
        producer2.partitions()


# -- heartbeat schedule -----------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_heartbeat_schedule_by_wall_time_and_by_ticks() -> None:
    clock = _Clock()
    schedule = HeartbeatSchedule(interval_s=1.0, every_ticks=3, clock=clock)
    assert schedule.due() is None  # nothing produced yet: no time to carry
    schedule.observe(None)
    clock.now += 5
    assert schedule.due() is None  # still no event time
    schedule.observe(OPEN_NS + 5 * S)
    assert schedule.due() == OPEN_NS + 5 * S  # the wall interval had passed
    assert schedule.due() is None
    schedule.observe(OPEN_NS + 3 * S)  # an older tick does not move it back
    schedule.observe(OPEN_NS + 6 * S)
    assert schedule.due() is None
    schedule.observe(OPEN_NS + 7 * S)
    assert schedule.due() == OPEN_NS + 7 * S  # three ticks since the last round
    clock.now += 0.4
    assert schedule.seconds_to_next() == pytest.approx(0.6)
    clock.now += 0.6
    assert schedule.due() == OPEN_NS + 7 * S  # again by time, still never ahead of the data
    with pytest.raises(ValueError):
        HeartbeatSchedule(interval_s=0)
    with pytest.raises(ValueError):
        HeartbeatSchedule(every_ticks=0)


# -- replay --wait reports what it compared ---------------------------------------------------------


def test_bar_check_counts_and_samples() -> None:
    check = db.BarCheck("bars_1m", 3, frozenset({("AAPL", 1_718_285_400_000)}))
    assert check.found == 2 and not check.complete
    assert check.missing_sample() == "AAPL@2024-06-13 13:30"
    assert not db.BarCheck("bars_1m", 0, frozenset()).complete  # nothing expected is not success


def test_wait_for_bars_on_an_empty_set_does_not_query_or_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "missing_bars", lambda *a, **k: pytest.fail("queried for nothing"))
    check = db.wait_for_bars(Settings(), set(), timeout=1, progress=False)
    assert check.expected == 0 and not check.complete


def test_wait_for_bars_times_out_listing_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    want = {("AAPL", 1_718_285_400_000 + i * 60_000) for i in range(20)}
    monkeypatch.setattr(db, "missing_bars", lambda s, w, t="bars_1m": {k for k in w if k[1] % 120_000})
    with pytest.raises(WaitTimeout, match=r"10 of 20 expected bars still missing.*e\.g\. AAPL@2024-06-13 13:31"):
        db.wait_for_bars(Settings(), want, timeout=0.05, progress=False, poll_s=0.01)


def test_wait_for_bars_returns_the_final_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = iter([{("A", 0)}, set()])
    monkeypatch.setattr(db, "missing_bars", lambda *a, **k: next(calls))
    check = db.wait_for_bars(Settings(), {("A", 0), ("B", 0)}, timeout=5, progress=False, poll_s=0.01)
    assert (check.expected, check.found, check.complete) == (2, 2, True)


class _NullProducer:
    def __init__(self, settings: Settings) -> None:
        self.ticks_delivered = 0
        self.heartbeats = 0

    def send(self, tick: Tick) -> None:
        self.ticks_delivered += 1

    def send_heartbeats(self, ts_ns: int) -> None:
        self.heartbeats += 3

    def flush(self, timeout: float | None = None) -> None:
        pass


def _replay_args(path: Path) -> Namespace:
    return Namespace(path=str(path), speed="max", quiet=True, wait=True, timeout=5.0)


def test_replay_wait_message_comes_from_the_comparison(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 09:30 and 09:31 in session, 03:00 New York: a minute with valid-looking trades the rules dead-letter
    path = tmp_path / "t.csv"
    path.write_text(
        "ts,symbol,price,size,conditions\n"
        "2024-06-13T09:30:10-04:00,AAPL,1.0,100,@\n"
        "2024-06-13T09:31:10-04:00,AAPL,1.0,100,@\n"
        "2024-06-13T03:00:10-04:00,AAPL,1.0,100,@\n"
    )
    monkeypatch.setattr(producer_module, "TickProducer", _NullProducer)
    seen: dict[str, Any] = {}

    def fake_wait(settings: Settings, expected: set[tuple[str, int]], **kw: Any) -> db.BarCheck:
        seen["expected"] = set(expected)
        return db.BarCheck("bars_1m", len(expected), frozenset())

    monkeypatch.setattr(db, "wait_for_bars", fake_wait)
    assert commands.replay_command(_replay_args(path), Settings()) == 0
    err = capsys.readouterr().err
    assert len(seen["expected"]) == 2
    assert "2 of 2 expected bars are in postgres" in err and "1 minute(s)" in err and "3 minutes" in err


def test_replay_wait_with_nothing_expected_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "none.csv"
    path.write_text("ts,symbol,price,size\nbad,AAPL,1.0,100\n2024-06-13T09:30:10-04:00,AAPL,-1,100\n")
    monkeypatch.setattr(producer_module, "TickProducer", _NullProducer)
    monkeypatch.setattr(db, "wait_for_bars", lambda *a, **k: pytest.fail("waited for nothing"))
    assert commands.replay_command(_replay_args(path), Settings()) == 0
    err = capsys.readouterr().err
    assert "nothing to wait for" in err and "are in postgres" not in err


def test_replay_wait_timeout_exits_non_zero_listing_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("ts,symbol,price,size,conditions\n2024-06-13T09:30:10-04:00,AAPL,1.0,100,@\n")
    monkeypatch.setattr(producer_module, "TickProducer", _NullProducer)
    monkeypatch.setattr(db, "missing_bars", lambda s, w, t="bars_1m": set(w))
    monkeypatch.setattr(cli, "load_settings", Settings)
    code = cli.main(["replay", str(path), "--wait", "--timeout", "0", "--quiet"])
    assert code != 0
    assert "1 of 1 expected bars still missing from bars_1m" in caplog.text and "AAPL@2024-06-13 13:30" in caplog.text


# -- stack status -----------------------------------------------------------------------------------

_SERVICES = [
    ServiceStatus("postgres", "pg", 1, True),
    ServiceStatus("kafka", "kafka", 2, True),
    ServiceStatus("flink", "http://flink", 3, True, "taskmanagers=1 slots=3/4 jobs_running=2"),
    ServiceStatus("iceberg", "lake", None, True),
]


class _FakeManager:
    jobs: ClassVar[list[JobInfo]] = []
    checkpoints: ClassVar[dict[str, dict[str, Any] | None]] = {}

    def __init__(self, settings: Settings) -> None:
        pass

    def list_jobs(self) -> list[JobInfo]:
        return self.jobs

    def latest_checkpoint(self, job_id: str) -> dict[str, Any] | None:
        return self.checkpoints.get(job_id)


def _stack_with(monkeypatch: pytest.MonkeyPatch, services: list[ServiceStatus], jobs: list[JobInfo],
                checkpoints: dict[str, dict[str, Any] | None]) -> Stack:
    from marketpipe.jobs import manager

    _FakeManager.jobs, _FakeManager.checkpoints = jobs, checkpoints
    monkeypatch.setattr(manager, "JobManager", _FakeManager)
    monkeypatch.setattr(Stack, "status", lambda self: services)
    return Stack(Settings())


def _info(job_id: str, name: str, state: str, minutes_ago: int = 5) -> JobInfo:
    return JobInfo(job_id, name, state, datetime.now(UTC) - timedelta(minutes=minutes_ago))


def test_status_shows_jobs_and_last_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    ack = int((datetime.now(UTC) - timedelta(seconds=7)).timestamp() * 1000)
    stack = _stack_with(monkeypatch, _SERVICES, [
        _info("b2", "marketpipe-bars", "RUNNING", 1), _info("b1", "marketpipe-bars", "CANCELED", 9),
        _info("i1", "marketpipe-indicators", "RUNNING"),
    ], {"b2": {"id": 42, "latest_ack_timestamp": ack, "external_path": "file:/cp/b2/chk-42"}, "i1": None})
    report = stack.status_json()
    assert report["healthy"] and report["services_healthy"] and report["advice"] == []
    bars, indicators = report["jobs"]
    assert (bars["name"], bars["job_id"], bars["state"]) == ("marketpipe-bars", "b2", "RUNNING")
    assert bars["checkpoint"]["id"] == 42 and bars["checkpoint"]["path"] == "file:/cp/b2/chk-42"
    assert 5 <= bars["checkpoint"]["age_s"] < 60
    assert indicators["checkpoint"] is None
    jobs = stack.job_status()
    text = format_status(_SERVICES, jobs, advice(_SERVICES, jobs))
    assert "marketpipe-bars" in text and "#42, 7s ago" in text and "file:/cp/b2/chk-42" in text


def test_status_is_not_healthy_with_a_failed_or_restarting_job(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _stack_with(monkeypatch, _SERVICES, [
        _info("b1", "marketpipe-bars", "RESTARTING"), _info("i1", "marketpipe-indicators", "FAILED"),
    ], {"b1": {"id": 3, "latest_ack_timestamp": 1, "external_path": "file:/cp/b1/chk-3"}})
    report = stack.status_json()
    assert not report["healthy"] and report["services_healthy"]
    hints = " ".join(report["advice"])
    assert "marketpipe-bars is RESTARTING" in hints and "file:/cp/b1/chk-3" in hints
    assert "marketpipe-indicators is FAILED" in hints and "`marketpipe jobs start`" in hints


def test_status_is_not_healthy_without_a_taskmanager(monkeypatch: pytest.MonkeyPatch) -> None:
    services = [*_SERVICES[:2], ServiceStatus("flink", "http://flink", 3, False, "taskmanagers=0"), _SERVICES[3]]
    stack = _stack_with(monkeypatch, services, [
        _info("b1", "marketpipe-bars", "RUNNING"), _info("i1", "marketpipe-indicators", "RUNNING"),
    ], {})
    report = stack.status_json()
    assert not report["healthy"] and not report["services_healthy"]
    assert any("`marketpipe stack up`, then `marketpipe jobs start`" in h for h in report["advice"])
    assert {j["state"] for j in report["jobs"]} == {"UNKNOWN"}


def test_status_names_jobs_never_submitted(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = _stack_with(monkeypatch, _SERVICES, [], {})
    report = stack.status_json()
    assert not report["healthy"] and [j["state"] for j in report["jobs"]] == ["NOT SUBMITTED"] * 2


def test_stack_status_cli_exit_code_follows_the_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stack_with(monkeypatch, _SERVICES, [_info("b1", "marketpipe-bars", "FAILED")], {})
    assert commands.stack_command(Namespace(action="status", json=False), Settings()) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "NOT SUBMITTED" in out and "! marketpipe-bars is FAILED" in out
    _stack_with(monkeypatch, _SERVICES, [
        _info("b1", "marketpipe-bars", "RUNNING"), _info("i1", "marketpipe-indicators", "RUNNING"),
    ], {})
    assert commands.stack_command(Namespace(action="status", json=True), Settings()) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True
    assert launcher.JobStatus is JobStatus
