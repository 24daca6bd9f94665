"""A replay survives the Kafka broker being killed (``kill -9``) mid-stream and restarted ~20 s later.

The replay runs as a real ``marketpipe replay`` subprocess, paced so the outage falls in the middle,
into its own topic (``MARKETPIPE_TOPIC_RAW``) so the session's pipeline topics keep their known
contents. Afterwards the topic must hold every row of the file exactly once, in file order per
symbol, plus exactly the heartbeats the replay reports. ``stack status`` is checked on the real REST
API on the way: healthy with both jobs and their checkpoints before, not healthy while Kafka is away.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from marketpipe.feeds.fixtures import write_fixture
from marketpipe.settings import REPO_ROOT
from marketpipe.stack import process
from marketpipe.stack.kafka import KafkaService
from marketpipe.stack.launcher import Stack

pytestmark = pytest.mark.integration

TOPIC = "ticks.outage"
SPEED = 200  # 120 minutes of event time in 36 s of wall time
OUTAGE_S = 20
MARKETPIPE = str(REPO_ROOT / ".venv" / "bin" / "marketpipe")


def _status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([MARKETPIPE, "stack", "status", "--json"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    return proc.returncode, json.loads(proc.stdout)


def _consume_all(bootstrap: str, topic: str, partitions: int) -> dict[int, list[dict[str, Any]]]:
    """Every committed record of ``topic`` by partition, read from the beginning up to the end offsets."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"outage-check-{time.time_ns()}",
        "enable.auto.commit": False, "isolation.level": "read_committed", "auto.offset.reset": "earliest",
    })
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        positions = dict.fromkeys(range(partitions), 0)
        deadline = time.monotonic() + 120
        while any(positions[p] < ends[p] for p in positions) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                assert msg.error() is None, msg.error()
                partition, offset, value = msg.partition(), msg.offset(), msg.value()
                assert partition is not None and offset is not None and value is not None
                out[partition].append(json.loads(value))
                positions[partition] = offset + 1
        assert all(positions[p] >= ends[p] for p in positions), f"read {positions}, end offsets {ends}"
        return out
    finally:
        consumer.close()


def test_replay_rides_out_a_killed_broker(stack: Any, tmp_path: Path) -> None:
    settings = stack.settings.model_copy(update={"topic_raw": TOPIC})
    kafka = KafkaService(settings)
    kafka.ensure_topics()  # creates TOPIC with the stack's partition count
    env = {**stack.env, "MARKETPIPE_TOPIC_RAW": TOPIC}

    # The status before the outage: healthy, both jobs RUNNING, each with a completed checkpoint.
    deadline = time.monotonic() + 90
    code, report = _status(env)
    while time.monotonic() < deadline and not all(j["checkpoint"] for j in report["jobs"]):
        time.sleep(2)
        code, report = _status(env)
    assert code == 0 and report["healthy"], report
    assert {j["name"]: j["state"] for j in report["jobs"]} == {
        "marketpipe-bars": "RUNNING", "marketpipe-indicators": "RUNNING"}
    assert all(j["checkpoint"]["id"] >= 1 and j["checkpoint"]["path"] for j in report["jobs"]), report

    fixture = write_fixture(tmp_path / "outage.csv", symbols=5, minutes=120, seed=21)
    with fixture.path.open(newline="") as fh:
        file_rows = list(csv.DictReader(fh))
    assert len(file_rows) == fixture.rows > 1000

    replay = subprocess.Popen(
        [MARKETPIPE, "replay", str(fixture.path), "--speed", str(SPEED), "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(8)
        assert replay.poll() is None, replay.communicate()
        pid = process.read_pid(kafka.pid_file)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the broker started by this session's stack, by its pid file
        for _ in range(100):
            if not process.pid_alive(pid):
                break
            time.sleep(0.1)
        assert not process.pid_alive(pid)
        killed = time.monotonic()

        code, report = _status(env)
        assert code != 0 and not report["healthy"], report
        assert any("stack up" in hint for hint in report["advice"]), report

        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - killed)))
        assert replay.poll() is None, "the replay gave up during the outage:\n" + replay.communicate()[1]
        Stack(settings).kafka.start()
        _, err = replay.communicate(timeout=420)
    finally:
        if replay.poll() is None:
            replay.kill()
            replay.communicate()
    assert replay.returncode == 0, err
    assert "waiting for the broker" in err and "is back after" in err, err

    summary_line = next(line for line in err.splitlines() if line.startswith("replayed "))
    heartbeats_sent = int(summary_line.split(" heartbeats")[0].rsplit(" ", 1)[1])
    assert f"{fixture.rows} delivered" in summary_line, summary_line

    partitions = settings.kafka_partitions
    records = _consume_all(settings.kafka_bootstrap, TOPIC, partitions)
    trades = [r for p in records.values() for r in p if r["kind"] == "trade"]
    beats = {p: [r["ts_ns"] for r in rs if r["kind"] == "heartbeat"] for p, rs in records.items()}

    # every row exactly once
    assert len(trades) == fixture.rows
    assert Counter(r["trade_id"] for r in trades) == Counter(row["trade_id"] for row in file_rows)
    ids = [r["trade_id"] for r in trades if not r["trade_id"].startswith("BAD-")]
    assert len(ids) == len(set(ids)) == fixture.valid_rows
    # in file order per symbol (one symbol lives on one partition)
    for rs in records.values():
        seq: dict[str, int] = {}
        for r in rs:
            if r["kind"] == "trade" and not r["trade_id"].startswith("BAD-"):
                sym, n = r["trade_id"].rsplit("-", 1)
                assert int(n) > seq.get(sym, 0), f"{r['trade_id']} after {sym}-{seq.get(sym)}"
                seq[sym] = int(n)
    # heartbeats: streamed ones and the end ones, to every partition, exactly as many as sent
    assert sum(len(b) for b in beats.values()) == heartbeats_sent
    assert all(len(beats[p]) == heartbeats_sent // partitions >= 2 for p in range(partitions)), beats
    last_ts = max(r["ts_ns"] for r in trades if r["ts_ns"] is not None)
    assert all(beats[p][-1] == last_ts + 65 * 10**9 for p in range(partitions))
    assert all(b <= last_ts for p in beats for b in beats[p][:-1])  # never ahead of the data
