"""Monitoring on the real stack (issue 12): Prometheus scrapes every target, the Kafka JMX agent and the
PostgreSQL exporter serve their metrics, and two provoked faults fire their alerts all the way to
Alertmanager: a stopped bars job (MarketpipeJobNotRunning) and a burst of garbage records in
ticks.raw (MarketpipeDeadLetterRateHigh).

It runs after the pipeline, restart, revision and fault tests (hence the name): its 3,000 garbage
records are dead letters those files would count. Order matters within it too (pytest runs it top-down):
the job test restarts the bars job from its savepoint before the dead-letter test, which needs the job to
clean the garbage, and leaves the pipeline running for the files after this one.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Producer

from marketpipe.jobs.control import PipelineControl
from marketpipe.monitoring import config
from marketpipe.monitoring.services import PostgresExporter
from marketpipe.settings import Settings
from tests.conftest import RunningStack

pytestmark = pytest.mark.integration

T = TypeVar("T")
MONITORING_SERVICES = {"prometheus", "alertmanager", "postgres-exporter", "marketpipe-exporter", "kafka-jmx"}
STATIC_JOBS = {"prometheus", "alertmanager", "marketpipe", "postgres", "kafka"}


def _get(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


def _prometheus(s: Settings) -> str:
    return f"http://{s.host}:{s.prometheus_port}"


def _query(s: Settings, promql: str) -> list[dict[str, Any]]:
    """Instant query; the result vector."""
    body = _get(f"{_prometheus(s)}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 2.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"not within {timeout:.0f}s: {what} (last probe: {last!r})")


def _when(text: str) -> datetime:
    """An RFC 3339 time of Prometheus or Alertmanager (nanosecond fractions dropped)."""
    return datetime.fromisoformat(re.sub(r"\.\d+", "", text).replace("Z", "+00:00"))


def _firing(s: Settings, alertname: str, since: datetime, **labels: str) -> list[dict[str, Any]]:
    """Alerts firing in Prometheus that became active after ``since`` (older firings do not count)."""
    alerts = _get(f"{_prometheus(s)}/api/v1/alerts")["data"]["alerts"]
    return [
        a for a in alerts
        if a["labels"].get("alertname") == alertname and a["state"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items()) and _when(a["activeAt"]) >= since
    ]


def _received(s: Settings, alertname: str, since: datetime, **labels: str) -> list[dict[str, Any]]:
    """Active alerts Alertmanager holds that started after ``since``."""
    query = urllib.parse.urlencode({"filter": f'alertname="{alertname}"'})
    alerts = _get(f"http://{s.host}:{s.alertmanager_port}/api/v2/alerts?{query}")
    return [
        a for a in alerts
        if all(a["labels"].get(k) == v for k, v in labels.items()) and _when(a["startsAt"]) >= since
    ]


def _wait_alert(s: Settings, alertname: str, since: datetime, *, timeout: float, **labels: str) -> None:
    """Wait until the alert fires in Prometheus and has reached Alertmanager."""
    seen: dict[str, bool] = {"prometheus": False, "alertmanager": False}

    def both() -> bool:
        seen["prometheus"] = seen["prometheus"] or bool(_firing(s, alertname, since, **labels))
        seen["alertmanager"] = seen["alertmanager"] or bool(_received(s, alertname, since, **labels))
        return all(seen.values())

    _wait_for(both, timeout=timeout, what=f"{alertname} {labels} firing and received ({seen})")


def test_stack_status_lists_healthy_monitoring(stack: RunningStack) -> None:
    """``stack status --json`` (exit 0 = everything healthy) names each monitoring process and Prometheus."""
    report = json.loads(stack.cli("stack", "status", "--json").stdout)
    services = {svc["name"]: svc for svc in report["services"]}
    assert set(services) >= MONITORING_SERVICES, sorted(services)
    assert all(services[name]["healthy"] for name in MONITORING_SERVICES), services
    assert report["prometheus_url"] == _prometheus(stack.settings)
    assert report["healthy"] is True
    # The classic web UI is served (Debian's build needs --web.local-assets for it).
    with urllib.request.urlopen(f"{report['prometheus_url']}/graph", timeout=10) as response:
        assert response.status == 200
        assert b"<title>Prometheus" in response.read()


def test_every_scrape_target_is_up(stack: RunningStack) -> None:
    """Every static job, and a feed registered by file discovery, is scraped successfully."""
    s = stack.settings
    feed_file = config.feed_targets_dir(s) / "feed-monitoring-test.json"
    # A stand-in feed: Alertmanager's own /metrics, registered the way feed processes register.
    feed_file.write_text(json.dumps([{"targets": [f"{s.host}:{s.alertmanager_port}"], "labels": {"feed": "probe"}}]))
    try:
        def all_up() -> list[dict[str, Any]] | None:
            targets = _get(f"{_prometheus(s)}/api/v1/targets?state=active")["data"]["activeTargets"]
            jobs = {t["labels"]["job"] for t in targets}
            ok = STATIC_JOBS | {"feeds"} <= jobs and all(t["health"] == "up" for t in targets)
            return targets if ok else None

        targets = _wait_for(all_up, timeout=120, what="every scrape target up")
        feeds = [t for t in targets if t["labels"]["job"] == "feeds"]
        assert [t["labels"]["feed"] for t in feeds] == ["probe"]
    finally:
        feed_file.unlink(missing_ok=True)


def test_kafka_and_postgres_exporters_serve_metrics(stack: RunningStack) -> None:
    """pg_up is 1; the broker's JMX agent reports topics, replicas and JVM memory; no password leaks."""
    s = stack.settings

    def scraped() -> bool:
        return bool(_query(s, "pg_up == 1")) and bool(_query(s, 'jvm_memory_used_bytes{job="kafka", area="heap"} > 0'))

    _wait_for(scraped, timeout=60, what="pg_up and the broker's heap in Prometheus")
    assert _query(s, "kafka_server_replicamanager_underreplicatedpartitions")[0]["value"][1] == "0"
    assert float(_query(s, "kafka_controller_kafkacontroller_activecontrollercount")[0]["value"][1]) == 1
    # The pipeline's Flink source reads ticks.raw: the broker counts its requests.
    assert _query(s, 'kafka_network_requests_total{request="Fetch"}')
    assert _query(s, "pg_stat_database_xact_commit{datname=\"marketpipe\"}")

    exporter = PostgresExporter(s)
    pid = exporter.status().pid
    assert pid is not None
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    assert "postgresql://" not in cmdline
    password = s.postgres_password.get_secret_value()
    assert f":{password}@" not in exporter.log_file.read_text()


def test_stopped_bars_job_fires_job_not_running(stack: RunningStack) -> None:
    """Stop marketpipe-bars (with a savepoint): MarketpipeJobNotRunning fires for it and reaches
    Alertmanager; the job is then resumed from its savepoint."""
    s = stack.settings
    control = PipelineControl(s)
    # The exporter sees it running first (after the session's start-up, when it was not yet submitted).
    _wait_for(lambda: _query(s, 'marketpipe_flink_job_running{job="marketpipe-bars"} == 1'),
              timeout=90, what="marketpipe_flink_job_running{job=marketpipe-bars} == 1")
    since = datetime.now(UTC)
    stopped = control.stop(only="bars")
    try:
        assert "marketpipe-bars" in stopped
        _wait_alert(s, "MarketpipeJobNotRunning", since, timeout=150, job="marketpipe-bars")
        assert not _firing(s, "MarketpipeJobNotRunning", since, job="marketpipe-indicators")
    finally:
        started = control.start(only="bars")
    assert "from savepoint" in started, started
    _wait_for(lambda: _query(s, 'marketpipe_flink_job_running{job="marketpipe-bars"} == 1'),
              timeout=90, what="the restarted bars job running again")


def test_garbage_burst_fires_dead_letter_rate_high(stack: RunningStack) -> None:
    """3,000 non-JSON records in ~10 s are dead-lettered (stage clean, malformed_json) faster than the
    threshold: MarketpipeDeadLetterRateHigh fires and reaches Alertmanager."""
    s = stack.settings
    assert PipelineControl(s).running_job("bars"), "the bars job cleans ticks; the previous test restarts it"
    total = 'sum(marketpipe_ticks_dead_lettered_total{stage="clean"})'

    def dead_letters() -> float:
        result = _query(s, total)
        return float(result[0]["value"][1]) if result else 0.0

    producer = Producer({"bootstrap.servers": s.kafka_bootstrap, "linger.ms": 20})

    def produce(n: int, tag: str) -> None:
        for i in range(n):
            producer.produce(s.topic_raw, value=f"monitoring garbage {tag} {i}".encode())
        assert producer.flush(30) == 0

    # A few first, so the counter series exists before the burst: rate() cannot see the jump of a
    # series that first appears at its final value.
    before = dead_letters()
    produce(20, "primer")
    _wait_for(lambda: dead_letters() >= before + 20, timeout=120, what="the 20 primer dead letters in Prometheus")

    since = datetime.now(UTC)
    for second in range(10):
        t0 = time.monotonic()
        produce(300, f"burst-{second}")
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    _wait_alert(s, "MarketpipeDeadLetterRateHigh", since, timeout=150)
    assert dead_letters() >= before + 20 + 3000
