"""End offsets of the pipeline's input topics and the lag of the Flink consumer groups on them.

The Flink Kafka source commits its offsets to the group when a checkpoint completes
(``commit.offsets.on.checkpoint``, on by default when ``properties.group.id`` is set): the committed
offset is where the job resumes, so lag = end offset - committed offset counts the records not yet
covered by a checkpoint (it falls to 0 a checkpoint interval after the input drains). The groups are
the ``properties.group.id`` of flink_sql/10_ticks_source.sql and flink_sql/20_bars_source.sql.

End offsets are read with READ_COMMITTED isolation (the last stable offset): bars.1m is written in
Kafka transactions and the indicators job reads it read_committed, so an open transaction is not lag.
A transaction's commit marker takes an offset too, so a drained transactional topic can show a lag
of a record or two.

Committed offsets are read with ``Consumer.committed`` (an OffsetFetch; the consumer never subscribes,
so it never joins the group or disturbs Flink's assignment), not with the AdminClient's
``list_consumer_group_offsets``: confluent-kafka 2.16.1's librdkafka segfaults there when it is given
partitions while the group coordinator is still loading (a freshly started broker, as at ``stack up``).
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from marketpipe.kafka_security import librdkafka_config
from marketpipe.monitoring.families import Families
from marketpipe.settings import Settings

PIPELINE_GROUP = "marketpipe-pipeline"  # the bars job reading topic_raw (flink_sql/10)
INDICATORS_GROUP = "marketpipe-indicators"  # the indicators job reading topic_bars (flink_sql/20)
# librdkafka's own log lines (a connect failure every backoff while the broker is down): the scrape
# already reports and logs the failure once.
_CLIENT_LOG = logging.getLogger(__name__ + ".librdkafka")
_CLIENT_LOG.setLevel(logging.CRITICAL)
NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID: the group has committed nothing for the partition


def consumer_groups(settings: Settings) -> dict[str, str]:
    """``{group: topic}`` of the pipeline's Flink consumer groups."""
    return {PIPELINE_GROUP: settings.topic_raw, INDICATORS_GROUP: settings.topic_bars}


def lag_samples(
    out: Families, group: str, topic: str, end: dict[int, int], committed: dict[int, int]
) -> None:
    """Samples of one group on one topic (pure). A partition the group never committed lags by its whole
    end offset (it would be read from the start: ``scan.startup.mode = earliest-offset``)."""
    for partition, end_offset in sorted(end.items()):
        out.add("marketpipe_kafka_end_offset", end_offset, topic=topic, partition=partition)
        done = committed.get(partition, NO_OFFSET)
        lag = end_offset - done if done >= 0 else end_offset
        out.add("marketpipe_kafka_consumer_lag", max(0, lag), group=group, topic=topic, partition=partition)


class KafkaLagSource:
    """Reads end offsets and committed offsets with one AdminClient kept for the exporter's lifetime."""

    def __init__(self, settings: Settings, timeout_s: float = 2.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._admin: AdminClient | None = None
        self._consumers: dict[str, Consumer] = {}

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.settings.kafka_bootstrap,
            **librdkafka_config(self.settings),
            "client.id": "marketpipe-exporter",
            "socket.timeout.ms": int(self.timeout_s * 1000),
            "logger": _CLIENT_LOG,
        }

    def _client(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self._config())
        return self._admin

    def _consumer(self, group: str) -> Consumer:
        """A consumer of ``group`` that only reads its committed offsets (never subscribes or commits)."""
        consumer = self._consumers.get(group)
        if consumer is None:
            consumer = Consumer({**self._config(), "group.id": group, "enable.auto.commit": False})
            self._consumers[group] = consumer
        return consumer

    def collect(self, out: Families) -> None:
        """Add end offsets and lags of every pipeline group; raises ``KafkaException`` on failure."""
        admin = self._client()
        t = self.timeout_s
        groups = consumer_groups(self.settings)
        metadata = admin.list_topics(timeout=t)
        partitions: dict[str, list[int]] = {}
        for topic in sorted(set(groups.values())):
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                raise KafkaException(f"topic {topic!r}: {meta.error if meta is not None else 'missing'}")
            partitions[topic] = sorted(meta.partitions)
        specs = {TopicPartition(tp, p): OffsetSpec.latest() for tp, ps in partitions.items() for p in ps}
        ends: dict[str, dict[int, int]] = {tp: {} for tp in partitions}
        futures = admin.list_offsets(specs, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=t)
        for tp, future in futures.items():
            ends[tp.topic][tp.partition] = int(future.result(timeout=t).offset)
        for group, topic in groups.items():
            result = self._consumer(group).committed([TopicPartition(topic, p) for p in partitions[topic]], timeout=t)
            committed = {tp.partition: int(tp.offset) for tp in result if tp.error is None}
            lag_samples(out, group, topic, ends[topic], committed)
