"""Unit tests of marketpipe's exporter: parsing Flink REST payloads captured from the local cluster
(tests/unit/data/flink_rest/), consumer lag, the SLI helpers over the real exchange calendar, the feed
metrics registry, and a scrape with every source unreachable (closed loopback ports, no fakes)."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from marketpipe.monitoring.exporter import PipelineCollector
from marketpipe.monitoring.families import CATALOGUE, Families
from marketpipe.monitoring.feed_metrics import FeedMetrics, target_file, write_target
from marketpipe.monitoring.flink_metrics import (
    down_samples,
    job_samples,
    live_jobs,
    vertex_samples,
    wanted_metrics,
)
from marketpipe.monitoring.kafka_lag import NO_OFFSET, lag_samples
from marketpipe.monitoring.slis import (
    SymbolBars,
    dead_letter_samples,
    expected_minutes,
    in_session,
    session_bounds,
)
from marketpipe.rules.bar_config import bar_config
from marketpipe.settings import Settings
from udfs.bars.config import Reference

REST = Path(__file__).parent / "data" / "flink_rest"
NY = ZoneInfo("America/New_York")
BARS_JID = "e7914777ddb1226e2eba87e04f888835"
SOURCE_VID = "cbc357ccb763df2852fee8c4fc7d55f2"
BARSTEP_VID = "1aafce7c71cc05d4326c07f1866779e7"
DLQ_SINK_VID = "a06f5cb55312c952b51a9e3071ad1b95"


def _load(name: str) -> Any:
    return json.loads((REST / name).read_text())


def _by_vertex(out: Families, name: str) -> dict[str, float]:
    """``{vertex id prefix: value}`` of a per-vertex family."""
    return {labels[1][-9:-1]: v for labels, v in out.values(name).items()}


# -- Flink ------------------------------------------------------------------------------------------


def test_live_jobs_picks_each_pipeline_job() -> None:
    jobs = live_jobs(_load("jobs_overview.json"), ["marketpipe-bars", "marketpipe-indicators", "nope"])
    assert set(jobs) == {"marketpipe-bars", "marketpipe-indicators"}
    assert jobs["marketpipe-bars"]["jid"] == BARS_JID


def test_live_jobs_prefers_a_running_job_over_a_newer_cancelled_one() -> None:
    overview = {"jobs": [
        {"jid": "old", "name": "marketpipe-bars", "state": "RUNNING", "start-time": 1},
        {"jid": "new", "name": "marketpipe-bars", "state": "CANCELED", "start-time": 2},
    ]}
    assert live_jobs(overview, ["marketpipe-bars"])["marketpipe-bars"]["jid"] == "old"


def test_job_samples_from_captured_payloads() -> None:
    out = Families()
    checkpoints = _load("job_bars_checkpoints.json")
    ack_s = checkpoints["latest"]["completed"]["latest_ack_timestamp"] / 1000
    job_samples(out, "marketpipe-bars", _load("job_bars.json"), checkpoints, _load("job_bars_metrics.json"),
                now_s=ack_s + 3.0)
    job = ("marketpipe-bars",)
    assert out.values("marketpipe_flink_job_running") == {job: 1.0}
    assert out.values("marketpipe_flink_job_restarts") == {job: 0.0}
    assert out.values("marketpipe_flink_checkpoints_completed_total") == {job: 24.0}
    assert out.values("marketpipe_flink_checkpoints_failed_total") == {job: 3.0}
    assert out.values("marketpipe_flink_checkpoint_duration_seconds") == {job: 0.05}
    assert out.values("marketpipe_flink_checkpoint_age_seconds")[job] == pytest.approx(3.0)


def test_vertex_samples_from_captured_payloads() -> None:
    details = _load("job_bars.json")
    vertex_metrics = _load("job_bars_vertex_metrics.json")
    out = Families()
    for vertex in details["vertices"]:
        vertex_samples(out, "marketpipe-bars", vertex, vertex_metrics[vertex["id"]]["metrics"])
    records_in = _by_vertex(out, "marketpipe_flink_records_in_total")
    assert records_in[SOURCE_VID[:8]] == 4855  # what the source read from ticks.raw
    assert records_in[BARSTEP_VID[:8]] == 4840  # the clean trades the bar step got
    assert _by_vertex(out, "marketpipe_flink_records_out_total")[BARSTEP_VID[:8]] == 1787
    watermarks = _by_vertex(out, "marketpipe_flink_watermark_seconds")
    assert watermarks[BARSTEP_VID[:8]] == pytest.approx(1718303457.164)
    assert SOURCE_VID[:8] not in watermarks  # a source has no input watermark
    assert DLQ_SINK_VID[:8] not in watermarks  # Long.MIN_VALUE: no watermark yet
    assert _by_vertex(out, "marketpipe_flink_busy_ratio")[SOURCE_VID[:8]] == pytest.approx(0.183)
    assert set(_by_vertex(out, "marketpipe_flink_backpressure_ratio").values()) == {0.0}
    errors = _by_vertex(out, "marketpipe_flink_sink_errors_total")
    assert errors[BARSTEP_VID[:8]] == 0.0 and DLQ_SINK_VID[:8] not in errors  # the JDBC sink reports none


def test_wanted_metrics_asks_only_for_names_the_vertex_has() -> None:
    vertex_metrics = _load("job_bars_vertex_metrics.json")
    source = wanted_metrics(vertex_metrics[SOURCE_VID]["available_sample"])
    assert "currentInputWatermark" not in source and "busyTimeMsPerSecond" in source
    assert "kafka_ticks_clean[31]__Writer.numRecordsSendErrors" in source
    assert wanted_metrics(vertex_metrics[BARSTEP_VID]["available_sample"])[0] == "currentInputWatermark"


def test_vertex_labels_are_unique_and_short() -> None:
    out = Families()
    for vertex in _load("job_bars.json")["vertices"]:
        vertex_samples(out, "marketpipe-bars", vertex, [])
    labels = [labels[1] for labels in out.values("marketpipe_flink_records_in_total")]
    assert len(set(labels)) == len(labels) == 5 and max(map(len, labels)) <= 91


# -- Kafka ------------------------------------------------------------------------------------------


def test_lag_is_end_minus_committed_and_whole_partition_when_nothing_committed() -> None:
    out = Families()
    lag_samples(out, "g", "t", {0: 10, 1: 5, 2: 0}, {0: 7, 1: NO_OFFSET})
    assert out.values("marketpipe_kafka_consumer_lag") == {("g", "t", "0"): 3, ("g", "t", "1"): 5, ("g", "t", "2"): 0}
    assert out.values("marketpipe_kafka_end_offset") == {("t", "0"): 10, ("t", "1"): 5, ("t", "2"): 0}


# -- PostgreSQL SLIs ----------------------------------------------------------------------------------


def test_dead_letters_and_late_ones() -> None:
    out = Families()
    dead_letter_samples(out, [("bars", "late", 4), ("bars", "market_closed", 2), ("clean", "bad_price", 1)])
    assert out.values("marketpipe_ticks_dead_lettered_total")[("bars", "late")] == 4
    assert out.values("marketpipe_ticks_late_total") == {(): 4}


@pytest.mark.parametrize(("extended", "when", "minutes"), [
    (True, datetime(2024, 6, 13, 10, 0, 30, tzinfo=NY), 360),  # 04:00 -> 10:00, the 10:00 minute not over
    (False, datetime(2024, 6, 13, 10, 0, 30, tzinfo=NY), 30),  # regular only: 09:30 -> 10:00
    (True, datetime(2024, 6, 14, 0, 0, tzinfo=NY), 960),  # the whole day: 04:00 -> 20:00
    (False, datetime(2024, 6, 14, 0, 0, tzinfo=NY), 390),
    (True, datetime(2024, 6, 13, 3, 0, tzinfo=NY), 0),  # before the pre-market
])
def test_expected_minutes_follow_the_calendar_and_the_bar_rules(
    extended: bool, when: datetime, minutes: int
) -> None:
    reference = Reference(bar_config(Settings(bars_extended_hours=extended)))
    assert expected_minutes(reference, "AAPL", date(2024, 6, 13), when) == minutes


def test_expected_minutes_on_a_half_day() -> None:
    reference = Reference(bar_config(Settings()))
    # 2024-07-03 closes at 13:00 and its post session lasts 4 h: 04:00 -> 17:00
    assert expected_minutes(reference, "AAPL", date(2024, 7, 3), datetime(2024, 7, 4, tzinfo=NY)) == 780


def test_session_bounds_span_every_segment_of_the_day() -> None:
    reference = Reference(bar_config(Settings()))
    lo, hi = session_bounds(reference, "AAPL", date(2024, 6, 13)) or (None, None)
    assert (lo, hi) == (datetime(2024, 6, 13, 8, 0, tzinfo=UTC), datetime(2024, 6, 14, 0, 0, tzinfo=UTC))
    assert session_bounds(reference, "AAPL", date(2024, 6, 15)) is None  # a Saturday


def test_in_session_needs_the_clock_in_session_and_bars_of_that_day() -> None:
    reference = Reference(bar_config(Settings()))
    now = datetime(2024, 6, 13, 11, 0, tzinfo=NY)
    today = SymbolBars("AAPL", now.astimezone(UTC), date(2024, 6, 13), 10)
    yesterday = SymbolBars("AAPL", now.astimezone(UTC), date(2024, 6, 12), 10)
    assert in_session(reference, today, now)
    assert not in_session(reference, yesterday, now)
    assert not in_session(reference, today, datetime(2024, 6, 13, 21, 0, tzinfo=NY))  # after 20:00
    regular_only = Reference(bar_config(Settings(bars_extended_hours=False)))
    assert not in_session(regular_only, today, datetime(2024, 6, 13, 8, 0, tzinfo=NY))


# -- catalogue and exporter ----------------------------------------------------------------------------


def test_families_reject_wrong_labels() -> None:
    with pytest.raises(ValueError, match="takes labels"):
        Families().add("marketpipe_flink_job_running", 1, vertex="x")
    assert all(spec.kind in ("gauge", "counter") for spec in CATALOGUE.values())


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_scrape_with_every_source_down_reports_them_and_stays_bounded(tmp_path: Path) -> None:
    port = _closed_port()
    settings = Settings(data_dir=tmp_path, kafka_port=port, postgres_port=port, flink_rest_port=port)
    collector = PipelineCollector(settings, timeout_s=1.0)
    t0 = time.monotonic()
    scrape = collector.scrape()
    assert time.monotonic() - t0 < 4.0
    assert set(scrape.failures) == {"flink", "kafka", "postgres"}
    out = scrape.families
    assert out.values("marketpipe_flink_up") == {(): 0.0}
    assert out.values("marketpipe_flink_job_running") == {("marketpipe-bars",): 0.0, ("marketpipe-indicators",): 0.0}
    assert out.values("marketpipe_exporter_errors_total") == {("flink",): 1, ("kafka",): 1, ("postgres",): 1}
    assert not out.values("marketpipe_kafka_consumer_lag") and not out.values("marketpipe_bars_emitted")
    assert collector.scrape().families.values("marketpipe_exporter_errors_total")[("flink",)] == 2


def test_down_samples_cover_every_pipeline_job() -> None:
    out = Families()
    down_samples(out)
    assert len(out.values("marketpipe_flink_job_running")) == 2


# -- feed metrics ---------------------------------------------------------------------------------------


class _Counters:
    def __init__(self) -> None:
        self.produced, self.heartbeats, self.in_flight = 0, 0, 0


def test_feed_metrics_read_the_producer_counters_at_scrape_time() -> None:
    metrics = FeedMetrics("replay")
    counters = _Counters()
    metrics.bind(counters)
    counters.produced, counters.heartbeats, counters.in_flight = 1003, 3, 42
    metrics.error("queue_full")
    delivered: list[Any] = []
    metrics.timed(lambda err, msg: delivered.append(msg))(None, "m")
    metrics.timed(lambda err, msg: delivered.append(msg))("failed", "n")  # failures are not latencies
    get = metrics.registry.get_sample_value
    assert get("marketpipe_feed_ticks_produced_total", {"feed": "replay"}) == 1000
    assert get("marketpipe_feed_heartbeats_total", {"feed": "replay"}) == 3
    assert get("marketpipe_feed_in_flight", {"feed": "replay"}) == 42
    assert get("marketpipe_feed_errors_total", {"feed": "replay", "kind": "queue_full"}) == 1
    assert get("marketpipe_feed_errors_total", {"feed": "replay", "kind": "fatal"}) == 0
    assert get("marketpipe_feed_produce_latency_seconds_count", {"feed": "replay"}) == 1
    assert delivered == ["m", "n"]


def test_target_file_is_the_file_sd_format(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    path = target_file(settings, pid=123)
    write_target(path, "127.0.0.1", 4567, "synthetic")
    assert path == tmp_path / "run" / "prometheus" / "targets" / "feed-123.json"
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:4567"], "labels": {"feed": "synthetic"}}]
    assert [p.name for p in path.parent.iterdir()] == ["feed-123.json"]  # no temporary file left


def test_collector_counters_are_read_live_once_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """`marketpipe collect`: its CollectorStats (reconnects, duplicates, ...) are exported at scrape time."""
    from prometheus_client import generate_latest

    from marketpipe.collectors.base import CollectorStats
    from marketpipe.monitoring import feed_metrics

    metrics = FeedMetrics("alpaca")
    assert b"marketpipe_collector_" not in generate_latest(metrics.registry)  # nothing bound yet
    monkeypatch.setattr(feed_metrics, "_current", metrics)
    stats = CollectorStats()
    feed_metrics.collector_observer("alpaca")(stats)
    stats.reconnects, stats.duplicates, stats.buffer_high_water = 3, 7, 42
    text = generate_latest(metrics.registry).decode()
    assert 'marketpipe_collector_reconnects_total{feed="alpaca"} 3.0' in text
    assert 'marketpipe_collector_duplicates_total{feed="alpaca"} 7.0' in text
    assert 'marketpipe_collector_buffer_high_water{feed="alpaca"} 42.0' in text
    stats.reconnects = 4  # live: the next scrape sees the change
    assert 'marketpipe_collector_reconnects_total{feed="alpaca"} 4.0' in generate_latest(metrics.registry).decode()
