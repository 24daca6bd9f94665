"""The exporter's metric catalogue (name, type, help, label names) and a builder of metric families.

One owner for the names: the sources (:mod:`flink_metrics`, :mod:`kafka_lag`, :mod:`slis`) add samples
by name through :class:`Families`, which checks the labels against :data:`CATALOGUE`, so a typo or a
missing label fails at once instead of exporting a series nobody's alerts or dashboards look for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


@dataclass(frozen=True)
class Spec:
    """One metric: Prometheus type (``gauge`` or ``counter``), help text and label names."""

    kind: str
    help: str
    labels: tuple[str, ...] = ()


_JV = ("job", "vertex")
CATALOGUE: dict[str, Spec] = {
    # Flink (REST API)
    "marketpipe_flink_up": Spec("gauge", "1 when the Flink REST API answered, else 0"),
    "marketpipe_flink_job_running": Spec("gauge", "1 when the pipeline job is RUNNING, else 0", ("job",)),
    "marketpipe_flink_job_restarts": Spec("gauge", "Flink's numRestarts of the job", ("job",)),
    "marketpipe_flink_checkpoints_completed_total": Spec("counter", "Completed checkpoints of the job", ("job",)),
    "marketpipe_flink_checkpoints_failed_total": Spec("counter", "Failed checkpoints of the job", ("job",)),
    "marketpipe_flink_checkpoint_duration_seconds": Spec(
        "gauge", "End-to-end duration of the last completed checkpoint", ("job",)),
    "marketpipe_flink_checkpoint_age_seconds": Spec(
        "gauge", "Seconds since the last completed checkpoint was acknowledged", ("job",)),
    "marketpipe_flink_records_in_total": Spec(
        "counter", "Records the vertex read (a source vertex: records read from Kafka)", _JV),
    "marketpipe_flink_records_out_total": Spec("counter", "Records the vertex emitted", _JV),
    "marketpipe_flink_watermark_seconds": Spec(
        "gauge", "Current input watermark of the vertex (min over subtasks), unix seconds", _JV),
    "marketpipe_flink_backpressure_ratio": Spec(
        "gauge", "Share of time the vertex was back-pressured (max over subtasks), 0..1", _JV),
    "marketpipe_flink_busy_ratio": Spec("gauge", "Share of time the vertex was busy (max over subtasks), 0..1", _JV),
    "marketpipe_flink_sink_errors_total": Spec(
        "counter", "Records a sink failed to write (numRecordsOutErrors/numRecordsSendErrors)", _JV),
    # Kafka
    "marketpipe_kafka_end_offset": Spec("gauge", "Latest (read-committed) offset of the partition",
                                        ("topic", "partition")),
    "marketpipe_kafka_consumer_lag": Spec(
        "gauge", "End offset minus the group's committed offset (Flink commits on checkpoints)",
        ("group", "topic", "partition")),
    # PostgreSQL (pipeline SLIs)
    "marketpipe_ticks_dead_lettered_total": Spec("counter", "Rows of ticks_dlq", ("stage", "reason")),
    "marketpipe_ticks_late_total": Spec("counter", "Dead letters of the bars stage with reason late"),
    "marketpipe_tick_counts": Spec(
        "gauge", "What the bars job read per raw partition (tick_counts): raw_records|clean|rejected|heartbeats",
        ("partition", "kind")),
    "marketpipe_tick_accounting_balanced": Spec(
        "gauge", "1 when the partition's counts add up and every rejected record is dead-lettered (tick_accounting)",
        ("partition",)),
    "marketpipe_bar_revisions_total": Spec("counter", "Sum of revision over bars_<timeframe>", ("timeframe",)),
    "marketpipe_bars_emitted": Spec("gauge", "1m bars of the symbol's latest session_date", ("symbol",)),
    "marketpipe_bars_expected": Spec(
        "gauge", "Minutes of that session elapsed so far by the exchange calendar (bar rules' segments)",
        ("symbol",)),
    "marketpipe_bar_last_end_seconds": Spec("gauge", "Newest bar_end of bars_1m, unix seconds", ("symbol",)),
    "marketpipe_symbol_in_session": Spec(
        "gauge", "1 when the wall clock is in the symbol's session and it has bars of that session", ("symbol",)),
    "marketpipe_bar_latency_seconds": Spec(
        "gauge", "Quantile of commit time minus bar_end of bars_1m rows committed in the last 5 minutes",
        ("quantile",)),
    "marketpipe_bar_latency_samples": Spec("gauge", "bars_1m rows behind marketpipe_bar_latency_seconds"),
    # The exporter itself
    "marketpipe_exporter_errors_total": Spec("counter", "Failed reads of a source since start", ("source",)),
    "marketpipe_exporter_duration_seconds": Spec("gauge", "How long the last read of a source took", ("source",)),
}


class Families:
    """Samples collected during one read, grouped into Prometheus metric families by name."""

    def __init__(self) -> None:
        self._families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def add(self, name: str, value: float, **labels: str | float) -> None:
        """Add one sample; ``labels`` must be exactly the catalogue's label names of ``name``."""
        spec = CATALOGUE[name]
        if set(labels) != set(spec.labels):
            raise ValueError(f"{name} takes labels {spec.labels}, got {tuple(labels)}")
        family = self._families.get(name)
        if family is None:
            if spec.kind == "counter":
                family = CounterMetricFamily(name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(name, spec.help, labels=spec.labels)
            self._families[name] = family
        family.add_metric([str(labels[k]) for k in spec.labels], float(value))

    def extend(self, other: Families) -> None:
        """Append the samples of ``other`` (same names are merged)."""
        for name, family in other._families.items():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                self.add(name, sample.value, **sample.labels)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())

    def values(self, name: str) -> dict[tuple[str, ...], float]:
        """``{label values: value}`` of ``name`` (empty when absent): for tests and ``metrics show``."""
        family = self._families.get(name)
        if family is None:
            return {}
        spec = CATALOGUE[name]
        return {tuple(s.labels[k] for k in spec.labels): s.value for s in family.samples}
