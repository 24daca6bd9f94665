"""Both collectors on the real stack: ``marketpipe collect`` (a subprocess, the provider's SDK as the
client) against each local provider fake puts the fake's trades into real Kafka — across a forced
reconnect with resent trades and a malformed frame: no loss, no duplicates, heartbeats on every partition
— stops gracefully on SIGTERM, and the bars job makes bars of them.

Isolation from the other integration tests, which share the session stack: test_pipeline.py asserts
``silver.ticks_clean`` holds exactly the replay fixture's valid rows, and test_restart.py /
test_revisions.py / test_ticks_faults.py rely on where the stream's watermark stands. Ticks produced into
the session's ``ticks.raw`` would change both (they run after this file). So each collector writes into
a topic of its own (``MARKETPIPE_TOPIC_RAW``), and the bars are built from exactly what is in those
topics by the pipeline's batch mode over the same SQL (``marketpipe backfill --ticks``, files 10-13)
into a PostgreSQL schema of its own: the public tables, the lake and the stream's watermark are untouched.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from marketpipe import db
from marketpipe.settings import REPO_ROOT

REPO = str(REPO_ROOT)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.fakes.alpaca_server import FakeAlpacaServer, alpaca_trade  # noqa: E402
from tests.fakes.massive_server import FakeMassiveServer, massive_trade  # noqa: E402
from tests.fakes.ws_fake import Script  # noqa: E402

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
MARKETPIPE = str(REPO_ROOT / ".venv" / "bin" / "marketpipe")
SCHEMA = "collect_bars"  # PostgreSQL schema the bars of this test go to
PARTITIONS = 3
T0_NS = int(datetime(2024, 6, 20, 10, 0, tzinfo=NY).timestamp()) * 10**9  # a Thursday session, 10:00 NY
STEP_NS = 7_300_000_000  # 7.3 s between trades: 41 trades span five minutes
N = 41


def _alpaca_trades() -> list[dict[str, Any]]:
    out = []
    for i in range(N):
        sym = ("ZCOLA", "ZCOLB")[i % 2]
        tape, conditions = ("A", [" "]) if i % 7 == 3 else ("C", ["@", "F"] if i % 4 == 0 else ["@"])
        out.append(alpaca_trade(sym, T0_NS + i * STEP_NS + 123_456, round(50 + (i % 9) * 0.01, 2), 100 + i,
                                7000 + i, exchange="QNV"[i % 3], conditions=conditions, tape=tape))
    return out


def _massive_trades() -> list[dict[str, Any]]:
    out = []
    for i in range(N):
        sym = ("ZCOLM", "ZCOLN")[i % 2]
        conditions = [39] if i == 17 else ([14] if i % 4 == 0 else None)
        out.append(massive_trade(sym, (T0_NS + i * STEP_NS) // 1_000_000, round(80 + (i % 5) * 0.02, 2), 10 + i,
                                 f"{9000 + i}", 100 + i, exchange=(12, 10, 11)[i % 3], conditions=conditions))
    return out


def _expected_alpaca(t: dict[str, Any]) -> dict[str, Any]:
    conditions = " ".join("@" if c.strip() == "" else c for c in t["c"])
    return {"kind": "trade", "symbol": t["S"], "ts_ns": t["t"].to_unix_nano(), "price": t["p"], "size": t["s"],
            "exchange": t["x"], "conditions": conditions, "trade_id": str(t["i"]), "source": "alpaca"}


EXCHANGE = {12: "Q", 10: "N", 11: "P"}
CONDITION = {14: "F", 39: "massive:39"}


def _expected_massive(t: dict[str, Any]) -> dict[str, Any]:
    conditions = " ".join(CONDITION[c] for c in t["c"]) if t.get("c") else None
    return {"kind": "trade", "symbol": t["sym"], "ts_ns": t["t"] * 1_000_000, "price": t["p"], "size": t["s"],
            "exchange": EXCHANGE[t["x"]], "conditions": conditions, "trade_id": t["i"], "source": "massive"}


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    for future in futures.values():
        future.result(timeout=30)


def _consume(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every record of ``topic`` up to its end offsets, with its partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"collect-check-{time.time_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(PARTITIONS)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: list[dict[str, Any]] = []
        positions = dict.fromkeys(range(PARTITIONS), 0)
        deadline = time.monotonic() + 60
        while any(positions[p] < ends[p] for p in positions) and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=1.0):
                assert msg.error() is None, msg.error()
                partition, offset, value = msg.partition(), msg.offset(), msg.value()
                assert partition is not None and offset is not None and value is not None
                positions[partition] = offset + 1
                out.append({**json.loads(value), "_partition": partition})
        return out
    finally:
        consumer.close()


def _trades_in(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "_partition"} for r in records if r.get("kind") == "trade"]


def _collect(stack: Any, provider: str, fake: Any, topic: str, symbols: str, url: str, expected: int,
             env_extra: dict[str, str], tmp: Path) -> tuple[dict[str, Any], str]:
    """Run the collector until the topic holds ``expected`` trades, then SIGTERM it; its summary and log."""
    env = {**stack.env, "MARKETPIPE_TOPIC_RAW": topic, "MARKETPIPE_MONITORING": "false",
           "MARKETPIPE_COLLECTOR_STALL_S": "600", "MARKETPIPE_COLLECTOR_BACKOFF_MIN_S": "0.1",
           "MARKETPIPE_COLLECTOR_BACKOFF_MAX_S": "1", "MARKETPIPE_COLLECTOR_STATUS_INTERVAL_S": "1", **env_extra}
    log_path = tmp / f"{provider}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [MARKETPIPE, "collect", "--provider", provider, "--symbols", symbols, "--url", url, "--final-heartbeat"],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                if fake.done.is_set() and len(_trades_in(_consume(stack.settings.kafka_bootstrap, topic))) >= expected:
                    break
                time.sleep(1)
            assert proc.poll() is None, f"collector exited early:\n{log_path.read_text()}"
            proc.send_signal(signal.SIGTERM)  # graceful: drain the buffer, final heartbeats, flush
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    text = log_path.read_text()
    assert proc.returncode == 0, text
    return json.loads(out.strip().splitlines()[-1]), text


def test_collectors_put_exactly_the_providers_trades_into_kafka_and_bars_come_out(stack: Any, tmp_path: Path) -> None:
    bootstrap = stack.settings.kafka_bootstrap
    runs = {
        "alpaca": (FakeAlpacaServer, _alpaca_trades(), _expected_alpaca, "ZCOLA,ZCOLB"),
        "massive": (FakeMassiveServer, _massive_trades(), _expected_massive, "ZCOLM,ZCOLN"),
    }
    produced: dict[str, list[dict[str, Any]]] = {}
    for provider, (server, trades, expect, symbols) in runs.items():
        topic = f"ticks.collect.{provider}"
        _create_topic(bootstrap, topic)
        # batched frames, a drop after 16 trades with the last 6 sent again, a malformed frame, pings
        script = Script(trades=trades, batch=4, drop_after=frozenset({16}), resend_on_reconnect=6,
                        malformed_after=frozenset({25}), ping_every=2, frame_delay_s=0.05)
        with server(script) as fake:
            if isinstance(fake, FakeAlpacaServer):
                url, creds = fake.url, {"MARKETPIPE_ALPACA_API_KEY": fake.valid_key,
                                        "MARKETPIPE_ALPACA_API_SECRET": fake.valid_secret}
            else:
                assert isinstance(fake, FakeMassiveServer)
                url, creds = f"ws://{fake.feed}", {"MARKETPIPE_MASSIVE_API_KEY": fake.valid_key}
            summary, log = _collect(stack, provider, fake, topic, symbols, url, len(trades), creds, tmp_path)
            assert fake.connections >= 2 and len(fake.sent) > len(trades)  # reconnected; trades were resent
        records = _consume(bootstrap, topic)
        got = _trades_in(records)
        # exactly what the fake sent, each trade once, in the order sent (per partition = per symbol)
        assert sorted(got, key=lambda r: r["ts_ns"]) == [expect(t) for t in trades], log
        assert summary["duplicates"] == len(fake.sent) - len(trades) and summary["malformed"] == 1, summary
        assert summary["reconnects"] >= 1 and summary["ticks"] == len(trades), summary
        beats = [r for r in records if r.get("kind") == "heartbeat"]
        assert {b["_partition"] for b in beats} == set(range(PARTITIONS))
        last = max(r["ts_ns"] for r in got)
        final = last + 65 * 10**9  # the final round (--final-heartbeat, end_heartbeat_ns), past the last minute
        assert {b["_partition"] for b in beats if b["ts_ns"] == final} == set(range(PARTITIONS))
        assert all(b["ts_ns"] <= last for b in beats if b["ts_ns"] != final)  # never ahead of the data
        produced[provider] = got

    # Bars from exactly those records, by the pipeline's SQL (batch mode) into a schema of our own.
    path = tmp_path / "collected.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "symbol", "price", "size", "exchange", "conditions", "trade_id", "source"])
        for rows in produced.values():
            for r in rows:
                w.writerow([r["ts_ns"], r["symbol"], r["price"], r["size"], r["exchange"], r["conditions"] or "",
                            r["trade_id"], r["source"]])
    stack.cli("backfill", "--ticks", str(path), "--pg-schema", SCHEMA, "--quiet")

    expected: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for rows in produced.values():
        for r in sorted(rows, key=lambda r: r["ts_ns"]):
            if r["conditions"] != "massive:39":  # not a sale condition: dead-lettered, not in a bar
                expected[(r["symbol"], r["ts_ns"] // 60_000_000_000)].append(r)
    bar_symbols = sorted({s for s, _ in expected})
    with db.connect(stack.settings) as conn:
        bars = conn.execute(
            f"SELECT symbol, bar_start, open, high, low, close, volume, trade_count FROM {SCHEMA}.bars_1m "
            "WHERE symbol = ANY(%s) ORDER BY symbol, bar_start", (bar_symbols,),
        ).fetchall()
        dead = conn.execute(
            f"SELECT reason, payload FROM {SCHEMA}.ticks_dlq WHERE payload LIKE %s", ("%ZCOL%",)
        ).fetchall()
    got_bars = {(s, int(start.timestamp()) // 60): (float(o), float(h), float(lo), float(c), int(v), int(n))
                for s, start, o, h, lo, c, v, n in bars}
    want_bars = {
        key: (rs[0]["price"], max(r["price"] for r in rs), min(r["price"] for r in rs), rs[-1]["price"],
              sum(r["size"] for r in rs), len(rs))
        for key, rs in expected.items()
    }
    assert got_bars == want_bars
    assert {s for s, _ in got_bars} == {"ZCOLA", "ZCOLB", "ZCOLM", "ZCOLN"}
    assert [reason for reason, _ in dead] == ["unknown_condition"] and "massive:39" in dead[0][1]
