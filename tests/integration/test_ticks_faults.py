"""Bad input on the real stack (issue 9): every class of bad record is dead-lettered with its reason,
the jobs keep running, a far-future heartbeat does not move the watermark, and every record read is
accounted for (view ``tick_accounting``).

Runs after the pipeline tests of the session stack (file order): its symbol FLTX and its day,
2024-06-17, are its own, so it changes no rows the earlier tests count.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from marketpipe import db
from marketpipe.jobs.control import PipelineControl

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
SYMBOL = "FLTX"


def ns(hh: int, mm: int, ss: int = 0) -> int:
    return int(datetime(2024, 6, 17, hh, mm, ss, tzinfo=NY).timestamp()) * 10**9


def trade(ts_ns: int, price: float, size: int, trade_id: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "trade", "symbol": SYMBOL, "ts_ns": ts_ns, "price": price, "size": size,
            "exchange": "P", "conditions": "@", "trade_id": trade_id, "source": "test", **extra}


def good(**changes: Any) -> bytes:
    """A valid trade at 10:00:30 with ``changes`` applied (a value of ... removes the field)."""
    record = trade(ns(10, 0, 30), 100.0, 100, f"bad-{len(changes)}-{sorted(changes)}")
    for key, value in changes.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    return json.dumps(record).encode()


FAR_FUTURE_NS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()) * 10**9

# (what, Kafka value, the reason it must be dead-lettered with)
CORPUS: list[tuple[str, bytes | None, str]] = [
    ("tombstone", None, "tombstone"),
    ("1 MB of quotes", b'"' * 1_000_000, "oversize"),
    ("truncated JSON", b'{"symbol": "FLTX", "price": 1', "malformed_json"),
    ("JSON array", b"[1, 2, 3]", "malformed_json"),
    ("JSON string", b'"a trade"', "malformed_json"),
    ("invalid UTF-8", b'\xff\xfe{"symbol":"FLTX"}\xc3', "malformed_json"),
    ("heartbeat in 2100", json.dumps({"kind": "heartbeat", "ts_ns": FAR_FUTURE_NS}).encode(), "bad_heartbeat"),
    ("heartbeat in 1970", json.dumps({"kind": "heartbeat", "ts_ns": 1}).encode(), "bad_heartbeat"),
    ("heartbeat without time", b'{"kind": "heartbeat"}', "bad_heartbeat"),
    ("a quote", good(kind="quote"), "unsupported_kind"),
    ("missing symbol", good(symbol=...), "missing_symbol"),
    ("empty symbol", good(symbol="  "), "missing_symbol"),
    ("null symbol", good(symbol=None), "missing_symbol"),
    ("symbol with spaces", good(symbol="I B M"), "invalid_symbol"),
    ("Cyrillic symbol", good(symbol="\u0406BM"), "invalid_symbol"),
    ("replacement character", good(symbol="IBM\ufffd"), "invalid_symbol"),
    ("numeric symbol", good(symbol=12345), "invalid_symbol"),
    ("300-character symbol", good(symbol="A" * 300), "invalid_symbol"),
    ("missing timestamp", good(ts_ns=...), "bad_timestamp"),
    ("string timestamp", good(ts_ns=str(ns(10, 0, 30))), "bad_timestamp"),
    ("naive ISO time", good(ts_ns="2024-06-17T10:00:30"), "bad_timestamp"),
    ("float timestamp", good(ts_ns=float(ns(10, 0, 30))), "bad_timestamp"),
    ("timestamp in 1970", good(ts_ns=5 * 10**9), "timestamp_out_of_range"),
    ("timestamp in 2100", good(ts_ns=FAR_FUTURE_NS), "timestamp_out_of_range"),
    ("missing price", good(price=...), "bad_price"),
    ("null price", good(price=None), "bad_price"),
    ("price 'NaN'", good(price="NaN"), "bad_price"),
    ("price 'Infinity'", good(price="Infinity"), "bad_price"),
    ("price as text", good(price="100.5"), "bad_price"),
    ("zero price", good(price=0), "invalid_price"),
    ("negative price", good(price=-5.0), "invalid_price"),
    ("huge price", good(price=5e8), "invalid_price"),
    ("missing size", good(size=...), "bad_size"),
    ("fractional size", good(size=100.5), "bad_size"),
    ("size as text", good(size="100"), "bad_size"),
    ("zero size", good(size=0), "invalid_size"),
    ("negative size", good(size=-100), "invalid_size"),
    ("huge size", good(size=10**12), "invalid_size"),
    ("unknown condition code", good(conditions="@ QQ"), "unknown_condition"),
    ("duplicate trade id", json.dumps(trade(ns(10, 0, 40), 100.0, 100, "fltx-1")).encode(), "duplicate_trade_id"),
    ("price outlier", json.dumps(trade(ns(10, 0, 45), 180.0, 100, "fltx-outlier")).encode(), "price_outlier"),
]


def _produce(stack: Any) -> tuple[dict[tuple[int, int], str], int]:
    """Valid trades, the corpus between them, heartbeats to close the minute; (partition, offset) of
    every corpus record -> what it is; and the number of partitions."""
    s = stack.settings
    producer = Producer({"bootstrap.servers": s.kafka_bootstrap, "enable.idempotence": True,
                         "message.max.bytes": 2_000_000})
    partitions = len(producer.list_topics(s.topic_raw, timeout=10).topics[s.topic_raw].partitions)
    where: dict[tuple[int, int], str] = {}

    def send(value: bytes | None, what: str | None, partition: int | None = None) -> None:
        def done(err: Any, msg: Any) -> None:
            assert err is None, f"{what}: {err}"
            if what is not None:
                where[(msg.partition(), msg.offset())] = what

        kwargs: dict[str, Any] = {"key": SYMBOL.encode(), "on_delivery": done}
        if partition is not None:
            kwargs = {"partition": partition, "on_delivery": done}
        producer.produce(s.topic_raw, value=value, **kwargs)

    for i, (sec, px) in enumerate(((10, 100.0), (20, 100.2), (25, 99.9), (35, 100.1))):
        send(json.dumps(trade(ns(10, 0, sec), px, 100, f"fltx-{i}")).encode(), None)
    for what, value, _ in CORPUS:
        send(value, what)
    for p in range(partitions):  # close 10:00 (and 10:01) on every partition
        send(json.dumps({"kind": "heartbeat", "ts_ns": ns(10, 3)}).encode(), None, partition=p)
    assert producer.flush(30) == 0
    return where, partitions


def test_bad_records_are_dead_lettered_and_the_jobs_keep_running(stack: Any) -> None:
    where, _ = _produce(stack)
    want = {what: reason for what, _, reason in CORPUS}
    assert len(want) >= 25 and len(set(want.values())) >= 15  # classes of bad records, specific reasons

    deadline = time.monotonic() + 180
    got: dict[str, str] = {}
    while time.monotonic() < deadline:
        with db.connect(stack.settings) as conn:
            rows = conn.execute("SELECT kafka_partition, kafka_offset, reason, length(payload) FROM ticks_dlq "
                                "WHERE kafka_offset >= 0").fetchall()
            bar = conn.execute("SELECT open, high, low, close, volume, trade_count FROM bars_1m "
                               "WHERE symbol = %s", (SYMBOL,)).fetchall()
        got = {where[(p, o)]: reason for p, o, reason, _ in rows if (p, o) in where}
        if len(got) == len(where) and bar:
            break
        time.sleep(2)
    assert {k: got.get(k) for k in want} == want
    assert all(n <= stack.settings.dlq_payload_chars + 64 for *_, n in rows)  # oversize kept short

    # the 2100 heartbeat did not carry the watermark away: the minute after it was still built,
    # from the four valid trades only (the duplicate, the outlier, the unknown condition are out)
    assert bar == [(100.0, 100.2, 99.9, 100.1, 400, 4)]
    control = PipelineControl(stack.settings)
    assert control.running_job("bars") is not None and control.running_job("indicators") is not None
    states = {j["name"]: j["state"] for j in control.status() if j["id"] in
              (control.running_job("bars"), control.running_job("indicators"))}
    assert set(states.values()) == {"RUNNING"}, states


def test_every_record_read_is_accounted_for(stack: Any) -> None:
    s = stack.settings
    consumer = Consumer({"bootstrap.servers": s.kafka_bootstrap, "group.id": "accounting-test"})
    try:
        meta = consumer.list_topics(s.topic_raw, timeout=10).topics[s.topic_raw]
        ends = {p: consumer.get_watermark_offsets(TopicPartition(s.topic_raw, p), timeout=10)
                for p in meta.partitions}
    finally:
        consumer.close()
    deadline = time.monotonic() + 120
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        with db.connect(s) as conn:
            rows = conn.execute(
                "SELECT kafka_partition, raw_records, max_offset, balanced FROM tick_accounting "
                "WHERE kafka_partition >= 0 "
                "ORDER BY kafka_partition").fetchall()
        if rows and all(r[3] for r in rows) and all(r[2] is not None and r[2] + 1 >= ends[r[0]][1]
                                                       for r in rows):
            break
        time.sleep(2)
    assert [r[0] for r in rows] == sorted(ends), rows
    for partition, raw, max_offset, balanced in rows:
        low, high = ends[partition]
        assert balanced, rows
        assert max_offset + 1 == high and raw == high - low, (partition, raw, low, high)
