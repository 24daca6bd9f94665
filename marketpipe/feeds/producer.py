"""Thin wrapper over the Confluent producer that writes ticks and heartbeats to the raw topic.

Idempotent with ``acks=all``: a retry after a broker hiccup never duplicates or reorders a partition's
ticks, which the bar job relies on (open/close ties are broken by Kafka offset).

Broker outages are ridden out, not reported as failures: librdkafka keeps every queued message and
retries it until ``MARKETPIPE_PRODUCER_DELIVERY_TIMEOUT_MS`` (``message.timeout.ms``, default 5 min),
so a feed resumes by itself when the broker is back and each row lands exactly once. We never produce a
failed message a second time ourselves: a timed-out message may have been written, and a new copy would
be a duplicate that idempotence cannot recognise. The local queue is bounded; when it is full ``send``
waits (serving delivery reports) for at most the delivery timeout plus a margin. Every wait is bounded
and logs, every few seconds, that it is waiting for the broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from marketpipe.exceptions import FeedError
from marketpipe.feeds.tick import Tick, heartbeat_json
from marketpipe.kafka_security import librdkafka_config
from marketpipe.settings import Settings

if TYPE_CHECKING:
    from marketpipe.monitoring.feed_metrics import FeedMetrics

log = logging.getLogger(__name__)

WAIT_REPORT_EVERY_S = 5.0  # how often a wait for the broker says so
_WAIT_MARGIN_S = 30.0  # past the delivery timeout, by when every queued message is delivered or failed
# Client-side errors meaning "no broker to talk to right now" (librdkafka reconnects by itself).
_UNREACHABLE = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE,
                KafkaError._TIMED_OUT, KafkaError.NETWORK_EXCEPTION}


class KafkaClient(Protocol):
    """The part of ``confluent_kafka.Producer`` this module uses (lets tests pass a fake)."""

    def produce(
        self, topic: str, value: bytes | None = ..., key: bytes | None = ..., *, partition: int = ...,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = ...,
    ) -> None:
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
    and ``failed`` (from delivery reports, served by ``send`` and ``flush``), ``heartbeats`` (queued);
    ``ticks_delivered`` and ``heartbeats_delivered`` split ``delivered``. ``unreachable_since`` is the
    monotonic time the broker was found unreachable, None while it answers.
    Use as a context manager to flush on exit.

    :meth:`use_metrics` exports these counters on the feed process's /metrics.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        config: dict[str, Any] | None = None,
        client: KafkaClient | None = None,
        queue_full_timeout: float | None = None,
        metadata_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = settings.topic_raw
        self.bootstrap = settings.kafka_bootstrap
        self.delivery_timeout_s = settings.producer_delivery_timeout_ms / 1000
        self.produced = 0
        self.delivered = 0
        self.failed = 0
        self.heartbeats = 0
        self.ticks_delivered = 0
        self.heartbeats_delivered = 0
        self.last_error: KafkaError | None = None
        self.unreachable_since: float | None = None
        self._clock = clock
        self._failed_reported = 0
        self._fatal: KafkaError | None = None
        self._partitions: int | None = None
        self._wait_limit = self.delivery_timeout_s + _WAIT_MARGIN_S
        self._queue_full_timeout = self._wait_limit if queue_full_timeout is None else queue_full_timeout
        self._metadata_timeout = metadata_timeout
        self._next_wait_report = 0.0
        self._metrics: FeedMetrics | None = None  # see use_metrics
        self._until_sample = 1  # per-tick path: messages until the next latency sample
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            **librdkafka_config(settings),  # TLS/SASL of an external cluster; holds the password
            "client.id": "marketpipe-feed",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            # How long a message may wait for the broker, retries included: an outage shorter than this
            # loses nothing (librdkafka's retries are unlimited within it; idempotence dedupes them).
            "message.timeout.ms": settings.producer_delivery_timeout_ms,
            # A bounded local buffer: when it is full, send() waits instead of growing memory.
            "queue.buffering.max.messages": settings.producer_buffer_messages,
            "queue.buffering.max.kbytes": settings.producer_buffer_kbytes,
            # Find a restarted broker within a second or two, not after exponential back-off to 10 s.
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 2000,
            "retry.backoff.ms": 100,
            "retry.backoff.max.ms": 2000,
            "error_cb": self._on_error,
            "logger": log,  # librdkafka's own log lines go to Python logging, not raw stderr
        }
        conf.update(config or {})
        self._client: KafkaClient = client if client is not None else Producer(conf)

    def use_metrics(self, metrics: FeedMetrics) -> None:
        """Export the counters through ``metrics`` (:mod:`marketpipe.monitoring.feed_metrics`), count errors
        by kind there and sample the produce-to-delivery latency into it."""
        self._metrics = metrics
        metrics.bind(self)

    # -- callbacks (served from poll/flush) -------------------------------------------------------

    def _on_delivery(self, err: KafkaError | None, msg: Message, *, heartbeat: bool = False) -> None:
        if err is None:
            self.delivered += 1
            if heartbeat:
                self.heartbeats_delivered += 1
            else:
                self.ticks_delivered += 1
            if self.unreachable_since is not None:
                log.warning("Kafka at %s is back after %.0fs; delivering what was queued",
                            self.bootstrap, self._clock() - self.unreachable_since)
                self.unreachable_since = None
        else:
            self.failed += 1
            self.last_error = err
            if self._metrics is not None:
                self._metrics.error("delivery_failed")
            log.warning("delivery to %s failed: %s", self.topic, err)

    def _on_heartbeat_delivery(self, err: KafkaError | None, msg: Message) -> None:
        self._on_delivery(err, msg, heartbeat=True)

    def _on_error(self, err: KafkaError) -> None:
        if self._metrics is not None:
            self._metrics.error(
                "fatal" if err.fatal() else "broker_unreachable" if err.code() in _UNREACHABLE else "client_error"
            )
        if err.fatal():
            self._fatal = err
            log.error("fatal producer error: %s", err)
        elif err.code() in _UNREACHABLE:
            if self.unreachable_since is None:
                self.unreachable_since = self._clock()
                log.warning(
                    "Kafka at %s is unreachable (%s): waiting for the broker; queued messages are kept and "
                    "retried for up to %gs", self.bootstrap, err.str(), self.delivery_timeout_s,
                )
        else:
            log.debug("producer error (librdkafka retries it): %s", err)

    # -- waiting ----------------------------------------------------------------------------------

    def _report_wait(self, why: str) -> None:
        """Say, at most every few seconds, that and why we are waiting (the progress of an outage)."""
        now = self._clock()
        if now < self._next_wait_report:
            return
        self._next_wait_report = now + WAIT_REPORT_EVERY_S
        down = f" for {now - self.unreachable_since:.0f}s" if self.unreachable_since is not None else ""
        log.warning(
            "waiting for the broker at %s%s (%s): %d message(s) queued, %d tick(s) delivered so far",
            self.bootstrap, down, why, self.in_flight, self.ticks_delivered,
        )

    def _raise_new_failures(self) -> None:
        """Raise once for deliveries that failed since the last report (librdkafka gave up on them)."""
        new_failures = self.failed - self._failed_reported
        self._failed_reported = self.failed
        if new_failures > 0:
            raise FeedError(
                f"{new_failures} message(s) to {self.topic!r} failed: last error {self.last_error} "
                f"({self.ticks_delivered} tick(s) delivered; delivery timeout {self.delivery_timeout_s:g}s, "
                "MARKETPIPE_PRODUCER_DELIVERY_TIMEOUT_MS)"
            )

    # -- producing --------------------------------------------------------------------------------

    def _produce(self, value: bytes, key: bytes | None, partition: int | None = None) -> None:
        if self._fatal is not None:
            raise FeedError(f"Kafka producer is in a fatal state: {self._fatal}")
        # A failed delivery is a hole in the stream: stop rather than send on past it.
        self._raise_new_failures()
        heartbeat = partition is not None
        kwargs: dict[str, Any] = {"on_delivery": self._on_heartbeat_delivery if heartbeat else self._on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        if self._metrics is not None:
            self._until_sample -= 1
            if self._until_sample <= 0:
                self._until_sample = self._metrics.sample_every
                kwargs["on_delivery"] = self._metrics.timed(kwargs["on_delivery"])
        deadline = self._clock() + self._queue_full_timeout
        waited = False
        for _ in range(1_000_000):  # bounded by the deadline long before this count
            try:
                self._client.produce(self.topic, value=value, key=key, **kwargs)
                break
            except BufferError:
                # Local queue full (the broker is slow or away): serve delivery reports to drain it.
                if not waited and self._metrics is not None:
                    self._metrics.error("queue_full")  # once per message that had to wait
                waited = True
                if self._clock() > deadline:
                    raise FeedError(
                        f"producer queue stayed full for {self._queue_full_timeout:g}s "
                        f"(is Kafka at {self.bootstrap} reachable?); {self.ticks_delivered} tick(s) delivered"
                    ) from None
                self._report_wait("local queue full")
                self._client.poll(0.1)
                self._raise_new_failures()
                if self._fatal is not None:
                    raise FeedError(f"Kafka producer is in a fatal state: {self._fatal}") from None
        else:
            raise FeedError(f"producer queue stayed full (is Kafka at {self.bootstrap} reachable?)")
        self.produced += 1
        self._client.poll(0)
        self._raise_new_failures()
        if self.unreachable_since is not None:
            self._report_wait("messages are queued locally")

    def send(self, tick: Tick) -> None:
        """Queue one tick keyed by its symbol."""
        self._produce(tick.to_json(), tick.key)

    def send_encoded(self, values: Sequence[bytes], keys: Sequence[bytes | None]) -> None:
        """Queue ticks already in their wire form (``Tick.to_json()`` values and ``Tick.key`` keys), in order:
        the batch form of :meth:`send`, with the same guarantees. A full local queue is waited for as in
        ``send``; delivery reports are served once per batch, so keep batches to thousands of messages.
        If it raises, ``produced`` tells how many were queued.
        """
        if self._fatal is not None:
            raise FeedError(f"Kafka producer is in a fatal state: {self._fatal}")
        self._raise_new_failures()
        produce, topic, on_delivery = self._client.produce, self.topic, self._on_delivery
        # The first message of the batch carries a timed callback when metrics are on (one per batch).
        callback = on_delivery if self._metrics is None else self._metrics.timed(on_delivery)
        queued = 0
        try:
            for value, key in zip(values, keys, strict=True):
                try:
                    produce(topic, value, key, on_delivery=callback)
                    callback = on_delivery
                    queued += 1
                except BufferError:
                    # Local queue full: wait for the broker exactly as send() does (it counts the message).
                    self.produced += queued
                    queued = 0
                    self._produce(value, key)
        finally:
            self.produced += queued
        self._client.poll(0)
        self._raise_new_failures()
        if self.unreachable_since is not None:
            self._report_wait("messages are queued locally")

    def partitions(self) -> int:
        """Partition count of the raw topic, from cluster metadata (asked once, then cached).

        An unreachable broker is waited for (bounded like a delivery); a missing topic is an error at once.
        """
        if self._partitions is None:
            deadline = self._clock() + self._wait_limit
            md = None
            error: KafkaException | None = None
            for _ in range(10_000):  # each attempt takes up to metadata_timeout; the deadline ends it
                try:
                    md = self._client.list_topics(topic=self.topic, timeout=self._metadata_timeout)
                    break
                except KafkaException as exc:
                    error = exc
                    if self._clock() + self._metadata_timeout > deadline:
                        break
                    self._report_wait("topic metadata")
                    self._client.poll(0.5)
            if md is None:
                raise FeedError(f"cannot read metadata of topic {self.topic!r} from {self.bootstrap}: {error}")
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

    def flush(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (default: the delivery timeout plus a margin) for delivery.

        Raises ``FeedError`` if messages are still queued at the deadline, or if deliveries failed since
        the previous flush (each failure is reported once). Logs every few seconds while it waits.
        """
        limit = self._wait_limit if timeout is None else timeout
        deadline = self._clock() + limit
        remaining = self._client.flush(min(limit, WAIT_REPORT_EVERY_S))
        for _ in range(100_000):  # each round waits up to WAIT_REPORT_EVERY_S; the deadline ends it
            left = deadline - self._clock()
            if remaining == 0 or left <= 0:
                break
            self._report_wait("flushing")
            remaining = self._client.flush(min(left, WAIT_REPORT_EVERY_S))
        self._raise_new_failures()
        if remaining > 0:
            raise FeedError(
                f"{remaining} message(s) to {self.topic!r} still undelivered after {limit:g}s "
                f"(is Kafka at {self.bootstrap} reachable?); {self.ticks_delivered} tick(s) delivered"
            )

    @property
    def in_flight(self) -> int:
        """Messages produced but not yet acknowledged or failed."""
        return self.produced - self.delivered - self.failed

    def __enter__(self) -> TickProducer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.flush()
