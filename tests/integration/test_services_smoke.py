"""Kafka and PostgreSQL start, answer, stay idempotent and stop cleanly.

Each test runs its own service in a throw-away data dir on free ports, so it never meets the
developer's stack on the default ports. The data dir is under /tmp rather than pytest's tmp_path:
``/tmp/pytest-of-root`` is mode 0700, and the postgres user must traverse the path to its data.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, Producer

from marketpipe.settings import Settings
from marketpipe.stack import process
from marketpipe.stack.kafka import KafkaService
from marketpipe.stack.postgres import PostgresService, find_bindir

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings() -> Iterator[Settings]:
    """Settings on a fresh data dir and free loopback ports; the dir is removed afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="mp-smoke-", dir="/tmp"))
    data_dir.chmod(0o755)
    yield Settings(
        data_dir=data_dir,
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        postgres_port=_free_port(),
        kafka_jmx_exporter_port=_free_port(),  # the broker's JMX exporter agent (settings.monitoring)
    )
    shutil.rmtree(data_dir, ignore_errors=True)


def test_kafka_round_trip(settings: Settings) -> None:
    """Cold start, idempotent start and topics, one message produced and consumed, clean stop."""
    if shutil.which("java") is None:
        pytest.skip("SKIPPED LOUDLY: no java on PATH, Kafka cannot run")
    kafka = KafkaService(settings)
    try:
        kafka.start()
        pid = kafka.status().pid
        kafka.start()  # already healthy: must not start a second broker
        assert kafka.status().pid == pid
        assert kafka.status().healthy

        assert sorted(kafka.ensure_topics()) == sorted(settings.topics)
        assert kafka.ensure_topics() == []

        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
        producer.produce(settings.topic_raw, key=b"AAPL", value=b'{"price": 1.0}')
        assert producer.flush(10) == 0
        consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": "smoke",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([settings.topic_raw])
        try:
            deadline = time.monotonic() + 30
            message = None
            while message is None and time.monotonic() < deadline:
                polled = consumer.poll(1.0)
                if polled is not None and polled.error() is None:
                    message = polled
        finally:
            consumer.close()
        assert message is not None
        assert (message.key(), message.value()) == (b"AAPL", b'{"price": 1.0}')
    finally:
        kafka.stop()
    assert not kafka.status().healthy
    assert pid is not None and not process.pid_alive(pid)


def test_postgres_schema_and_restart(settings: Settings) -> None:
    """Cold start creates role, database and tables; stop ends the postmaster; warm start reuses them."""
    if find_bindir() is None:
        pytest.skip("SKIPPED LOUDLY: no PostgreSQL binaries under /usr/lib/postgresql")
    pg = PostgresService(settings)
    try:
        pg.start()
        pid = pg.status().pid
        pg.start()
        assert pg.status().pid == pid
        with psycopg.connect(settings.postgres_dsn) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
            }
        assert {"bars_1m", "indicators_1m", "signals", "ticks_dlq"} <= tables

        assert pg.stop()
        assert pid is not None and not process.pid_alive(pid)
        pg.start()  # warm: existing cluster, role and tables are reused
        assert pg.status().healthy
    finally:
        pg.stop()
    assert not pg.status().healthy
