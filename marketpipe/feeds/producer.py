"""Thin wrapper over the Confluent producer that writes ticks and heartbeats to the raw topic.

Idempotent with ``acks=all``: a retry after a broker hiccup never duplicates or reorders a partition's
ticks, which the bar job relies on (open/close ties are broken by Kafka offset). Every wait is bounded.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from marketpipe.exceptions import FeedError
from marketpipe.feeds.tick import Tick, heartbeat_json
from marketpipe.settings import Settings

log = logging.getLogger(__name__)


class KafkaClient(Protocol):
    """The part of ``confluent_kafka.Producer`` this module uses (lets tests pass a fake)."""

    def produce(self, topic: str, value: bytes | None = ..., key: bytes | None = ..., **kwargs: Any) -> None:
        """Queue a message; raises ``BufferError`` when the local queue is full."""

    def poll(self, timeout: float = ...) -> int:
        """Serve delivery callbacks."""

    def flush(self, timeout: float = ...) -> int:
        """Wait for delivery; returns the number of messages still queued."""

    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any:
        """Cluster metadata."""


class TickProducer:
    """Produces ticks (keyed by symbol) and heartbeats (to every partition) to ``settings.topic_raw``.

    Counters: ``produced`` (messages accepted into the local queue, heartbeats included), ``delivered``
    and ``failed`` (from delivery reports, served by ``send`` and ``flush``), ``heartbeats``.
    Use as a context manager to flush on exit.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        config: dict[str, Any] | None = None,
        client: KafkaClient | None = None,
        queue_full_timeout: float = 60.0,
        metadata_timeout: float = 10.0,
    ) -> None:
        self.topic = settings.topic_raw
        self.bootstrap = settings.kafka_bootstrap
        self.produced = 0
        self.delivered = 0
        self.failed = 0
        self.heartbeats = 0
        self.last_error: KafkaError | None = None
        self._failed_reported = 0
        self._fatal: KafkaError | None = None
        self._partitions: int | None = None
        self._queue_full_timeout = queue_full_timeout
        self._metadata_timeout = metadata_timeout
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "client.id": "marketpipe-feed",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            # Surface a dead broker as failed deliveries within a minute rather than the 5-minute default.
            "message.timeout.ms": 60_000,
            "error_cb": self._on_error,
            "logger": log,  # librdkafka's own log lines go to Python logging, not raw stderr
        }
        conf.update(config or {})
        self._client: KafkaClient = client if client is not None else Producer(conf)

    # -- callbacks (served from poll/flush) -------------------------------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            self.last_error = err
            log.warning("delivery to %s failed: %s", self.topic, err)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.error("fatal producer error: %s", err)
        else:
            log.debug("producer error (librdkafka retries it): %s", err)

    # -- producing --------------------------------------------------------------------------------

    def _produce(self, value: bytes, key: bytes | None, partition: int | None = None) -> None:
        if self._fatal is not None:
            raise FeedError(f"Kafka producer is in a fatal state: {self._fatal}")
        kwargs: dict[str, Any] = {"on_delivery": self._on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        deadline = time.monotonic() + self._queue_full_timeout
        while True:
            try:
                self._client.produce(self.topic, value=value, key=key, **kwargs)
                break
            except BufferError:
                # Local queue full: serve delivery reports to drain it, then retry, for a bounded time.
                if time.monotonic() > deadline:
                    raise FeedError(
                        f"producer queue stayed full for {self._queue_full_timeout:g}s "
                        f"(is Kafka at {self.bootstrap} reachable?)"
                    ) from None
                self._client.poll(0.05)
        self.produced += 1
        self._client.poll(0)

    def send(self, tick: Tick) -> None:
        """Queue one tick keyed by its symbol."""
        self._produce(tick.to_json(), tick.key)

    def partitions(self) -> int:
        """Partition count of the raw topic, from cluster metadata (asked once, then cached)."""
        if self._partitions is None:
            try:
                md = self._client.list_topics(topic=self.topic, timeout=self._metadata_timeout)
            except KafkaException as exc:
                raise FeedError(f"cannot read metadata of topic {self.topic!r} from {self.bootstrap}: {exc}") from exc
            meta = md.topics.get(self.topic)
            if meta is None or meta.error is not None or not meta.partitions:
                reason = meta.error if meta is not None and meta.error is not None else "no partitions"
                raise FeedError(f"topic {self.topic!r} is not usable on {self.bootstrap}: {reason}")
            self._partitions = len(meta.partitions)
        return self._partitions

    def send_heartbeats(self, ts_ns: int) -> None:
        """Queue one heartbeat to every partition explicitly, so the watermark (a minimum over
        partitions) advances even on partitions that carried no ticks."""
        value = heartbeat_json(ts_ns)
        for partition in range(self.partitions()):
            self._produce(value, None, partition)
            self.heartbeats += 1

    def flush(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` seconds for delivery.

        Raises ``FeedError`` if messages are still queued at the deadline, or if deliveries failed since
        the previous flush (each failure is reported once).
        """
        remaining = self._client.flush(timeout)
        if remaining > 0:
            raise FeedError(
                f"{remaining} message(s) to {self.topic!r} still undelivered after {timeout:g}s "
                f"(is Kafka at {self.bootstrap} reachable?)"
            )
        new_failures = self.failed - self._failed_reported
        self._failed_reported = self.failed
        if new_failures > 0:
            raise FeedError(f"{new_failures} message(s) to {self.topic!r} failed: last error {self.last_error}")

    @property
    def in_flight(self) -> int:
        """Messages produced but not yet acknowledged or failed."""
        return self.produced - self.delivered - self.failed

    def __enter__(self) -> TickProducer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.flush()
