"""Metrics of a feed process (``marketpipe feed ...``, ``marketpipe replay``), served on its own port.

Metrics (label ``feed``: synthetic, replay, ...):

* ``marketpipe_feed_ticks_produced_total`` — ticks queued to Kafka (the producer's own counter);
* ``marketpipe_feed_heartbeats_total`` — heartbeat records queued (one per partition per round);
* ``marketpipe_feed_errors_total{kind}`` — ``delivery_failed`` (librdkafka gave up on a message),
  ``queue_full`` (the local queue was full: the broker is slow or away), ``broker_unreachable``,
  ``fatal`` and ``client_error`` (other errors librdkafka reports and retries);
* ``marketpipe_feed_produce_latency_seconds`` (histogram) — delivery report minus produce time, sampled:
  one message in :data:`SAMPLE_EVERY` on the per-tick path and one per batch of ``send_encoded``
  (the replay path queues thousands per call), so the hot path pays one branch per message;
* ``marketpipe_feed_in_flight`` — messages queued but not yet acknowledged or failed.

A live collector (``marketpipe collect``) adds its own counters, read from its ``CollectorStats`` at scrape
time: ``marketpipe_collector_{frames,messages,trades,duplicates,malformed,errors,reconnects,stalls,
backpressure_seconds}_total``, ``marketpipe_collector_buffer_high_water`` and
``marketpipe_collector_last_message_age_seconds`` (label ``feed``: the provider).

Counters are read from :class:`~marketpipe.feeds.producer.TickProducer` at scrape time, not kept twice.
:func:`start` serves them with prometheus_client on ``settings.listen_host`` and
``settings.feed_metrics_port`` (default 0: the kernel picks a free one) and registers the target for
Prometheus' file-based discovery as ``<run_dir>/prometheus/targets/feed-<pid>.json`` (written atomically;
removed at exit, on SIGTERM too).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from prometheus_client import Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from marketpipe.settings import Settings

log = logging.getLogger(__name__)

SAMPLE_EVERY = 100  # per-tick path: time one message in this many
ERROR_KINDS = ("delivery_failed", "queue_full", "broker_unreachable", "fatal", "client_error")
# Local produce -> broker ack: linger 20 ms, acks=all on a local broker; seconds under load or outage.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

DeliveryCallback = Callable[[Any, Any], None]


class ProducerCounters(Protocol):
    """What the collector reads from the producer (``TickProducer``'s counters)."""

    produced: int
    heartbeats: int

    @property
    def in_flight(self) -> int:
        """Messages queued but not yet acknowledged or failed."""


class FeedMetrics:
    """The metrics of one feed process; the producer (``TickProducer.use_metrics``) calls :meth:`bind`,
    then :meth:`error` and :meth:`timed` as it goes."""

    def __init__(self, feed: str, registry: CollectorRegistry | None = None) -> None:
        self.feed = feed
        self.sample_every = SAMPLE_EVERY
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._errors = Counter("marketpipe_feed_errors", "Producer errors by kind", ("feed", "kind"),
                               registry=self.registry)
        for kind in ERROR_KINDS:
            self._errors.labels(feed, kind)  # every kind is exported from the start (0, not absent)
        self._latency = Histogram(
            "marketpipe_feed_produce_latency_seconds", "Delivery report minus produce time (sampled)",
            ("feed",), buckets=LATENCY_BUCKETS, registry=self.registry,
        ).labels(feed)
        self._producer: ProducerCounters | None = None
        self.collector_stats: Any = None  # a live collector's CollectorStats (marketpipe/collectors)
        self.registry.register(_ProducerCollector(self))
        self.registry.register(_CollectorStatsCollector(self))

    def bind(self, producer: ProducerCounters) -> None:
        """Export ``producer``'s counters (called by the producer when it is given these metrics)."""
        self._producer = producer

    def error(self, kind: str) -> None:
        """Count one error of ``kind`` (one of :data:`ERROR_KINDS`)."""
        self._errors.labels(self.feed, kind).inc()

    def timed(self, on_delivery: DeliveryCallback) -> DeliveryCallback:
        """Wrap ``on_delivery`` to observe this message's produce-to-delivery time (successes only)."""
        t0 = time.perf_counter()
        latency = self._latency

        def callback(err: Any, msg: Any) -> None:
            if err is None:
                latency.observe(time.perf_counter() - t0)
            on_delivery(err, msg)

        return callback


class _ProducerCollector(Collector):
    """Reads the bound producer's counters at scrape time."""

    def __init__(self, metrics: FeedMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        producer, feed = self._metrics._producer, self._metrics.feed
        if producer is None:
            return iter(())
        ticks = CounterMetricFamily("marketpipe_feed_ticks_produced", "Ticks queued to Kafka", labels=("feed",))
        ticks.add_metric([feed], producer.produced - producer.heartbeats)
        beats = CounterMetricFamily("marketpipe_feed_heartbeats", "Heartbeat records queued", labels=("feed",))
        beats.add_metric([feed], producer.heartbeats)
        flight = GaugeMetricFamily("marketpipe_feed_in_flight", "Messages not yet acknowledged", labels=("feed",))
        flight.add_metric([feed], producer.in_flight)
        return iter((ticks, beats, flight))


# (name, help, CollectorStats attribute): a live collector's own counters (marketpipe collect).
COLLECTOR_COUNTERS = (
    ("frames", "Websocket frames received", "frames"),
    ("messages", "Events in those frames", "messages"),
    ("trades", "Trade events handed to the producer's buffer", "trades"),
    ("duplicates", "Trades dropped as already produced (across reconnects)", "duplicates"),
    ("malformed", "Frames or events that could not be read", "malformed"),
    ("errors", "Provider error frames and sessions ended by an exception", "errors"),
    ("reconnects", "Reconnects after a drop, an error or a stall", "reconnects"),
    ("stalls", "Streams that went silent while subscribed", "stalls"),
    ("backpressure_seconds", "Seconds the reader waited for room in a full buffer (Kafka slower than the feed)",
     "backpressure_s"),
)


class _CollectorStatsCollector(Collector):
    """Reads a live collector's counters at scrape time (once :func:`collector_observer` bound them)."""

    def __init__(self, metrics: FeedMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        stats, feed = self._metrics.collector_stats, self._metrics.feed
        if stats is None:
            return iter(())
        out: list[Metric] = []
        for name, help_text, attr in COLLECTOR_COUNTERS:
            family = CounterMetricFamily(f"marketpipe_collector_{name}", help_text, labels=("feed",))
            family.add_metric([feed], float(getattr(stats, attr)))
            out.append(family)
        high = GaugeMetricFamily("marketpipe_collector_buffer_high_water", "Most trades ever waiting in the buffer",
                                 labels=("feed",))
        high.add_metric([feed], float(stats.buffer_high_water))
        out.append(high)
        if stats.last_message_at is not None:
            age = GaugeMetricFamily("marketpipe_collector_last_message_age_seconds",
                                    "Seconds since the provider last sent anything", labels=("feed",))
            age.add_metric([feed], max(0.0, time.monotonic() - stats.last_message_at))
            out.append(age)
        return iter(out)


_current: FeedMetrics | None = None  # this process's feed metrics, once start() served them


def collector_observer(feed: str) -> Callable[[Any], None]:
    """An observer for :class:`~marketpipe.collectors.service.CollectorService`: the first call binds the
    collector's live counters to this process's feed metrics (``marketpipe_collector_*``, read at scrape
    time). A no-op when no metrics are served (monitoring off)."""

    def observe(stats: Any) -> None:
        if _current is not None and _current.collector_stats is None:
            _current.collector_stats = stats

    return observe


def target_file(settings: Settings, pid: int | None = None) -> Path:
    """Where a feed process registers its scrape target."""
    return settings.run_dir / "prometheus" / "targets" / f"feed-{pid if pid is not None else os.getpid()}.json"


def write_target(path: Path, host: str, port: int, feed: str) -> None:
    """Write the file_sd entry atomically (Prometheus never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([{"targets": [f"{host}:{port}"], "labels": {"feed": feed}}]) + "\n")
    os.replace(tmp, path)


def start(settings: Settings, feed: str, producer: object) -> FeedMetrics | None:
    """Serve the metrics of ``producer`` (a ``TickProducer``) for this feed process and register the
    target. None when ``settings.monitoring`` is off, the producer has no metrics (a test's fake), or
    the server cannot start (a feed never fails for its metrics: that is logged)."""
    use_metrics = getattr(producer, "use_metrics", None)
    if not settings.monitoring or use_metrics is None:
        return None
    metrics = FeedMetrics(feed)
    try:
        server, _thread = start_http_server(
            settings.feed_metrics_port, addr=settings.listen_host, registry=metrics.registry
        )
    except OSError as exc:
        log.warning("feed metrics not served (%s): the feed runs without them", exc)
        return None
    use_metrics(metrics)
    global _current
    _current = metrics
    port = int(server.server_port)
    path = target_file(settings)
    try:
        write_target(path, settings.host, port, feed)
    except OSError as exc:
        log.warning("feed metrics on %s:%d, but the target file %s could not be written: %s",
                    settings.host, port, path, exc)
        return metrics
    _remove_at_exit(path)
    log.info("feed metrics on http://%s:%d/metrics (target %s)", settings.host, port, path)
    return metrics


def _remove_at_exit(path: Path) -> None:
    """Remove ``path`` at interpreter exit and on SIGTERM (whose default action skips atexit)."""

    def remove() -> None:
        path.unlink(missing_ok=True)

    atexit.register(remove)
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        remove()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # Die of SIGTERM as before (exit status and all), just without leaving the file behind.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
