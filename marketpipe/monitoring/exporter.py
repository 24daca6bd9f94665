"""marketpipe's own Prometheus exporter: ``marketpipe metrics serve`` (GET /metrics) and ``metrics show``.

Every value is read fresh at scrape time from three sources, side by side, each within ~2 s:

``flink`` (:mod:`~marketpipe.monitoring.flink_metrics`, the Flink REST API)
    ``marketpipe_flink_up``; per job (``marketpipe-bars``, ``marketpipe-indicators``):
    ``marketpipe_flink_job_running{job}`` (0 when not submitted, ended or Flink is down),
    ``marketpipe_flink_job_restarts{job}``, ``marketpipe_flink_checkpoints_completed_total{job}``,
    ``marketpipe_flink_checkpoints_failed_total{job}``, ``marketpipe_flink_checkpoint_duration_seconds{job}``
    (last completed), ``marketpipe_flink_checkpoint_age_seconds{job}``; per vertex (operator chain):
    ``marketpipe_flink_records_in_total{job,vertex}``, ``marketpipe_flink_records_out_total{job,vertex}``,
    ``marketpipe_flink_watermark_seconds{job,vertex}`` (absent before the first watermark),
    ``marketpipe_flink_backpressure_ratio{job,vertex}``, ``marketpipe_flink_busy_ratio{job,vertex}`` (0..1),
    ``marketpipe_flink_sink_errors_total{job,vertex}`` (vertices with a sink that reports failed writes).
``kafka`` (:mod:`~marketpipe.monitoring.kafka_lag`)
    ``marketpipe_kafka_end_offset{topic,partition}`` and ``marketpipe_kafka_consumer_lag{group,topic,partition}``
    of the groups ``marketpipe-pipeline`` (ticks.raw) and ``marketpipe-indicators`` (bars.1m).
``postgres`` (:mod:`~marketpipe.monitoring.slis`)
    ``marketpipe_ticks_dead_lettered_total{stage,reason}``, ``marketpipe_ticks_late_total``,
    ``marketpipe_tick_counts{partition,kind}``, ``marketpipe_tick_accounting_balanced{partition}``,
    ``marketpipe_bar_revisions_total{timeframe}``, ``marketpipe_bars_emitted{symbol}``,
    ``marketpipe_bars_expected{symbol}``, ``marketpipe_bar_last_end_seconds{symbol}``,
    ``marketpipe_symbol_in_session{symbol}``, ``marketpipe_bar_latency_seconds{quantile}`` (0.5, 0.99; absent
    without samples) and ``marketpipe_bar_latency_samples``.
The exporter itself
    ``marketpipe_exporter_errors_total{source}`` (failed reads since start; each failure is logged) and
    ``marketpipe_exporter_duration_seconds{source}``. A failing or slow source never fails the scrape:
    its samples are left out (Flink's become ``flink_up 0`` and ``job_running 0``) and it is counted.

The feeds' own metrics (``marketpipe_feed_*``) are served by each feed process:
:mod:`marketpipe.monitoring.feed_metrics`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType

from prometheus_client import start_http_server
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from marketpipe.exceptions import ServiceError
from marketpipe.monitoring.families import Families
from marketpipe.monitoring.flink_metrics import FlinkSource, down_samples
from marketpipe.monitoring.kafka_lag import KafkaLagSource
from marketpipe.monitoring.slis import PostgresSource
from marketpipe.settings import Settings

log = logging.getLogger(__name__)

SOURCE_TIMEOUT_S = 2.0  # each source's own budget (HTTP, Kafka and SQL timeouts)
_JOIN_MARGIN_S = 1.0  # past the budget, when a source still running is given up for this scrape


@dataclass
class Scrape:
    """One read of every source: the samples, and which sources failed and why."""

    families: Families
    failures: dict[str, str] = field(default_factory=dict)


class PipelineCollector(Collector):
    """A prometheus_client collector that reads every source at each ``collect()`` (no caching)."""

    def __init__(self, settings: Settings, timeout_s: float = SOURCE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.postgres = PostgresSource(settings, timeout_s)
        self.sources: dict[str, Callable[[Families], None]] = {
            "flink": FlinkSource(settings, timeout_s).collect,
            "kafka": KafkaLagSource(settings, timeout_s).collect,
            "postgres": self.postgres.collect,
        }
        self.errors = dict.fromkeys(self.sources, 0)
        self._busy = {name: threading.Lock() for name in self.sources}  # one read per source at a time
        self._scrape_lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        """Called by prometheus_client for each scrape."""
        return iter(self.scrape().families)

    def scrape(self) -> Scrape:
        """Read all sources in parallel threads, each bounded in time; never raises for a source."""
        with self._scrape_lock:
            results: dict[str, Families] = {}
            failures: dict[str, str] = {}
            durations: dict[str, float] = {}
            threads = {
                name: threading.Thread(target=self._run, args=(name, read, results, failures, durations),
                                       name=f"exporter-{name}", daemon=True)
                for name, read in self.sources.items()
            }
            for thread in threads.values():
                thread.start()
            deadline = time.monotonic() + self.timeout_s + _JOIN_MARGIN_S
            for name, thread in threads.items():
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    failures.setdefault(name, f"no answer within {self.timeout_s + _JOIN_MARGIN_S:g}s")
                    durations.setdefault(name, self.timeout_s + _JOIN_MARGIN_S)
                    results.pop(name, None)  # the thread may still be adding to it
            out = Families()
            for name in self.sources:
                if name in failures:
                    self.errors[name] += 1
                    log.warning("metrics source %s failed: %s", name, failures[name])
                part = results.get(name)
                if part is not None:
                    out.extend(part)
            if "flink" in failures and not out.values("marketpipe_flink_up"):
                down_samples(out)
            for name in self.sources:
                out.add("marketpipe_exporter_errors_total", self.errors[name], source=name)
                out.add("marketpipe_exporter_duration_seconds", durations.get(name, 0.0), source=name)
            return Scrape(out, dict(failures))  # a copy: a source given up on may still write its own

    def _run(self, name: str, read: Callable[[Families], None], results: dict[str, Families],
             failures: dict[str, str], durations: dict[str, float]) -> None:
        busy = self._busy[name]
        if not busy.acquire(blocking=False):
            failures[name] = "the previous read is still running"
            return
        part = Families()
        t0 = time.monotonic()
        try:
            read(part)
        except Exception as exc:  # noqa: BLE001 - any failure of a source is reported, never raised
            failures[name] = f"{type(exc).__name__}: {exc}"
        finally:
            durations[name] = time.monotonic() - t0
            results[name] = part
            busy.release()


def registry_for(settings: Settings) -> tuple[CollectorRegistry, PipelineCollector]:
    """A registry holding only marketpipe's collector (no process/platform collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    collector = PipelineCollector(settings)
    registry.register(collector)
    return registry, collector


def show(settings: Settings) -> int:
    """``marketpipe metrics show``: print one scrape; 1 if a source failed (named on stderr), else 0."""
    import sys

    scrape = PipelineCollector(settings).scrape()

    class _Once(Collector):
        def collect(self) -> Iterator[Metric]:
            return iter(scrape.families)

    once = CollectorRegistry(auto_describe=False)
    once.register(_Once())
    sys.stdout.write(generate_latest(once).decode())
    for name, why in scrape.failures.items():
        print(f"source {name} failed: {why}", file=sys.stderr)
    return 1 if scrape.failures else 0


def serve(settings: Settings, *, stop: threading.Event | None = None) -> int:
    """``marketpipe metrics serve``: serve /metrics on ``settings.host:settings.metrics_port`` until
    SIGTERM or SIGINT (or ``stop`` is set), then shut the server down and return 0."""
    registry, collector = registry_for(settings)
    try:
        collector.postgres.warm_up()
    except Exception as exc:  # noqa: BLE001 - a bad reference shows as a postgres source failure later
        log.warning("could not preload the exchange calendar: %s", exc)
    try:
        server, thread = start_http_server(settings.metrics_port, addr=settings.listen_host, registry=registry)
    except OSError as exc:
        raise ServiceError(
            f"cannot listen on {settings.listen_host}:{settings.metrics_port} (MARKETPIPE_METRICS_PORT): {exc}"
        ) from exc
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping the metrics server", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("serving marketpipe metrics on http://%s:%d/metrics", settings.listen_host, server.server_port)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.shutdown()
        server.server_close()
        thread.join(5.0)
    return 0
