"""A Kafka producer client double for ``TickProducer``'s test seam (the collector tests)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

from marketpipe.feeds.producer import TickProducer
from marketpipe.settings import Settings


class KafkaClientDouble:
    """Stands in for ``confluent_kafka.Producer`` behind ``TickProducer(client=...)``: a local queue of
    ``capacity`` messages (``BufferError`` beyond) that the "broker" acknowledges ``per_poll`` at a time,
    each ``poll`` taking ``poll_s`` — a slow Kafka when small."""

    def __init__(self, partitions: int = 3, capacity: int = 100_000, per_poll: int = 1_000_000,
                 poll_s: float = 0.0) -> None:
        self.partition_count = partitions
        self.capacity = capacity
        self.per_poll = per_poll
        self.poll_s = poll_s
        self.queue: list[tuple[dict[str, Any], Any]] = []
        self.log: list[dict[str, Any]] = []  # what the broker holds, in order
        self.max_queued = 0

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any) -> None:
        if len(self.queue) >= self.capacity:
            raise BufferError("Local: Queue full")
        self.queue.append(({"value": value, "key": key, "partition": kw.get("partition")}, kw["on_delivery"]))
        self.max_queued = max(self.max_queued, len(self.queue))

    def poll(self, timeout: float = 0) -> int:
        if self.poll_s:
            time.sleep(self.poll_s)
        served, self.queue = self.queue[: self.per_poll], self.queue[self.per_poll:]
        for record, callback in served:
            self.log.append(record)
            callback(None, None)
        return len(served)

    def flush(self, timeout: float = 0) -> int:
        deadline = time.monotonic() + max(timeout, 0.0)
        self.per_poll = max(self.per_poll, 1)  # a flush waits for the broker: it acknowledges
        for _ in range(100_000):
            self.poll()
            if not self.queue or time.monotonic() > deadline:
                break
        return len(self.queue)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        parts = dict.fromkeys(range(self.partition_count))
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions=parts)})

    def trades(self) -> list[dict[str, Any]]:
        return [json.loads(r["value"]) for r in self.log if r["partition"] is None]

    def heartbeats(self) -> list[dict[str, Any]]:
        return [{**json.loads(r["value"]), "partition": r["partition"]} for r in self.log if r["partition"] is not None]


def producer_with(client: KafkaClientDouble) -> TickProducer:
    """The real TickProducer over the client double."""
    return TickProducer(Settings(), client=client)
