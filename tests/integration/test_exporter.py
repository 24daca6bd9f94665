"""marketpipe's exporter and the feeds' metrics on the real stack.

After the session's replay, a scrape of ``marketpipe metrics serve`` (the one ``stack up`` started, or
one this module starts on ``settings.metrics_port``) must agree with Flink, Kafka and the tables;
``marketpipe metrics show`` must exit 0. A synthetic feed (on a topic of its own, so the pipeline's
tables are not disturbed) must register its target file, serve its counters and remove the file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

from marketpipe import db
from marketpipe.feeds.session import NEW_YORK
from marketpipe.monitoring.feed_metrics import target_file
from marketpipe.monitoring.kafka_lag import PIPELINE_GROUP
from marketpipe.settings import REPO_ROOT

pytestmark = pytest.mark.integration

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def _get(url: str, timeout: float = 10.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode())
    except (OSError, urllib.error.URLError):
        return None


def _parse(text: str) -> Samples:
    """``{sample name: {sorted label pairs: value}}``."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _by(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in samples.get(name, {}).items()}


@pytest.fixture(scope="module")
def metrics_url(stack: Any) -> Iterator[str]:
    """The exporter on settings.metrics_port: the running one, or one started (and stopped) here."""
    s = stack.settings
    url = f"http://{s.host}:{s.metrics_port}/metrics"
    if _get(url) is not None:
        yield url
        return
    proc = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "metrics", "serve"], env=stack.env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _get(url) is None:
            assert proc.poll() is None, f"metrics serve exited {proc.returncode}: {proc.stdout.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "metrics serve did not answer in 60 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
            raise
        output = proc.stdout.read() if proc.stdout else ""
        assert code == 0, f"metrics serve exited {code} on SIGTERM:\n{output}"
        assert f"http://{s.host}:{s.metrics_port}/metrics" in output  # it logs its URL


def _pg(stack: Any, sql: str) -> list[tuple[Any, ...]]:
    with db.connect(stack.settings) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def drained(stack: Any, replayed: dict[str, Any], metrics_url: str) -> Samples:
    """A scrape taken once the replay is drained: every tick's offset committed by a checkpoint."""
    partitions = stack.settings.kafka_partitions
    samples: Samples = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = _get(metrics_url, timeout=15)
        if text is not None:
            samples = _parse(text)
            lag = [v for k, v in samples.get("marketpipe_kafka_consumer_lag", {}).items()
                   if dict(k)["group"] == PIPELINE_GROUP]
            if len(lag) == partitions and max(lag) == 0:
                break
        time.sleep(2)
    return samples


def test_jobs_checkpoints_and_records(drained: Samples) -> None:
    running = _by(drained, "marketpipe_flink_job_running", "job")
    assert running == {"marketpipe-bars": 1.0, "marketpipe-indicators": 1.0}
    assert drained["marketpipe_flink_up"][()] == 1.0
    completed = _by(drained, "marketpipe_flink_checkpoints_completed_total", "job")
    assert completed["marketpipe-bars"] > 0 and completed["marketpipe-indicators"] > 0
    records_in = {
        dict(k)["vertex"]: v for k, v in drained["marketpipe_flink_records_in_total"].items()
        if dict(k)["job"] == "marketpipe-bars"
    }
    source = [v for vertex, v in records_in.items() if vertex.startswith("Source: ticks_kafka")]
    assert len(source) == 1 and source[0] > 0
    assert set(_by(drained, "marketpipe_flink_job_restarts", "job")) == set(running)
    assert set(_by(drained, "marketpipe_flink_checkpoint_age_seconds", "job")) == set(running)


def test_consumer_lag_per_partition_is_small_once_drained(stack: Any, drained: Samples) -> None:
    s = stack.settings
    lag = {dict(k)["partition"]: v for k, v in drained["marketpipe_kafka_consumer_lag"].items()
           if dict(k)["topic"] == s.topic_raw}
    assert sorted(lag) == [str(p) for p in range(s.kafka_partitions)]
    assert max(lag.values()) == 0, lag
    ends = {dict(k)["partition"]: v for k, v in drained["marketpipe_kafka_end_offset"].items()
            if dict(k)["topic"] == s.topic_raw}
    assert sum(ends.values()) > 0
    bars_lag = [v for k, v in drained["marketpipe_kafka_consumer_lag"].items() if dict(k)["topic"] == s.topic_bars]
    assert len(bars_lag) == s.kafka_partitions


def test_dead_letters_and_tick_counts_equal_the_tables(stack: Any, drained: Samples) -> None:
    dlq = {(stage, reason): n for stage, reason, n in
           _pg(stack, "SELECT stage, reason, count(*) FROM ticks_dlq GROUP BY 1, 2")}
    exported = {(dict(k)["stage"], dict(k)["reason"]): v
                for k, v in drained["marketpipe_ticks_dead_lettered_total"].items()}
    assert dlq and exported == dlq
    kinds = ("raw_records", "clean", "rejected", "heartbeats")
    counts = {
        (str(p), kind): value
        for p, *values in _pg(stack, f"SELECT kafka_partition, {', '.join(kinds)} FROM tick_counts")
        for kind, value in zip(kinds, values, strict=True)
    }
    exported = {(dict(k)["partition"], dict(k)["kind"]): v for k, v in drained["marketpipe_tick_counts"].items()}
    assert counts and exported == counts
    rows = _pg(stack, "SELECT kafka_partition, balanced FROM tick_accounting")
    balanced = {str(p): 1.0 if b else 0.0 for p, b in rows}
    assert _by(drained, "marketpipe_tick_accounting_balanced", "partition") == balanced


def test_bars_per_symbol_equal_the_table(stack: Any, drained: Samples) -> None:
    emitted = dict(_pg(stack, """
        SELECT b.symbol, count(*) FROM bars_1m b
        JOIN (SELECT DISTINCT ON (symbol) symbol, session_date FROM bars_1m ORDER BY symbol, bar_start DESC) l
          ON l.symbol = b.symbol AND l.session_date = b.session_date
        GROUP BY b.symbol"""))
    assert emitted and _by(drained, "marketpipe_bars_emitted", "symbol") == emitted
    last_end: dict[str, datetime] = dict(_pg(stack, "SELECT symbol, max(bar_end) FROM bars_1m GROUP BY symbol"))
    assert _by(drained, "marketpipe_bar_last_end_seconds", "symbol") == {
        sym: end.timestamp() for sym, end in last_end.items()}
    expected = _by(drained, "marketpipe_bars_expected", "symbol")
    assert set(expected) == set(emitted) and all(expected[s] >= emitted[s] for s in emitted)
    # The replayed file is of a past day: its symbols are not live (unless another test fed today's bars).
    today = {sym for sym, d in _pg(stack, """
        SELECT DISTINCT ON (symbol) symbol, session_date FROM bars_1m ORDER BY symbol, bar_start DESC""")
        if d == datetime.now(NEW_YORK).date()}
    in_session = _by(drained, "marketpipe_symbol_in_session", "symbol")
    assert set(in_session) == set(emitted) and all(in_session[s] == 0 for s in in_session if s not in today)
    assert drained["marketpipe_bar_latency_samples"][()] >= 0
    assert set(_by(drained, "marketpipe_bar_revisions_total", "timeframe")) == {"1m", "5m", "15m", "1h", "1d"}


def test_metrics_show_exits_zero(stack: Any, replayed: dict[str, Any]) -> None:
    out = stack.cli("metrics", "show", timeout=60).stdout
    assert "marketpipe_flink_job_running" in out and "marketpipe_kafka_consumer_lag" in out


def test_a_feed_registers_serves_and_removes_its_target(stack: Any) -> None:
    s = stack.settings
    topic = "monitoring.feed-test"  # not the pipeline's input: the tables other tests read stay as they are
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap})
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    except KafkaException as exc:  # left by an earlier run of this test on the same stack
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    env = {**stack.env, "MARKETPIPE_TOPIC_RAW": topic, "MARKETPIPE_MONITORING": "true"}
    proc = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "feed", "synthetic", "--symbols", "2", "--rate", "100",
         "--duration", "10", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    path = target_file(s, pid=proc.pid)
    try:
        deadline = time.monotonic() + 30
        while not path.exists():
            assert proc.poll() is None, f"the feed ended before registering: {proc.communicate()}"
            assert time.monotonic() < deadline, f"no target file {path} after 30 s"
            time.sleep(0.2)
        [entry] = json.loads(path.read_text())
        assert entry["labels"] == {"feed": "synthetic"}
        [address] = entry["targets"]
        assert address.startswith(f"{s.host}:")
        produced = 0.0
        for _ in range(40):  # the feed runs 10 s
            text = _get(f"http://{address}/metrics", timeout=5)
            if text is not None:
                produced = _by(_parse(text), "marketpipe_feed_ticks_produced_total", "feed").get("synthetic", 0.0)
                if produced > 0:
                    break
            time.sleep(0.25)
        assert produced > 0
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert not path.exists(), "the feed left its target file behind"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        admin.delete_topics([topic])[topic].result(timeout=30)
