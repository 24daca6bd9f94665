"""``marketpipe stack up|down|status``: the local stack as one unit.

``up`` starts what is not running (PostgreSQL, Kafka, Flink), creates topics, tables and the Iceberg
namespaces, and is a no-op for what already runs. ``down`` stops only what ``up`` started (by PID
file), in reverse order.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from marketpipe import lake
from marketpipe.settings import Settings
from marketpipe.stack.flink import FlinkService
from marketpipe.stack.jars import ensure_jars
from marketpipe.stack.kafka import KafkaService
from marketpipe.stack.postgres import PostgresService
from marketpipe.stack.process import ServiceStatus

log = logging.getLogger(__name__)


class Stack:
    """The three services plus the Iceberg catalog kept in PostgreSQL."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.postgres = PostgresService(settings)
        self.kafka = KafkaService(settings)
        self.flink = FlinkService(settings)

    def up(self) -> list[ServiceStatus]:
        """Start every service that is not already running and healthy; idempotent."""
        for d in (self.settings.data_dir, self.settings.run_dir, self.settings.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        ensure_jars(self.settings)
        for name, step in (
            ("postgres", self.postgres.start),
            ("postgres schema", self.postgres.apply_schema),
            ("iceberg catalog", lambda: lake.ensure_namespaces(self.settings)),
            ("kafka", self.kafka.start),
            ("kafka topics", self.kafka.ensure_topics),
            ("flink", self.flink.start),
        ):
            t0 = time.monotonic()
            step()
            log.info("%s ready in %.1fs", name, time.monotonic() - t0)
        return self.status()

    def down(self) -> None:
        """Stop what ``up`` started, Flink first so no job writes into a stopped service."""
        for svc in (self.flink, self.kafka, self.postgres):
            svc.stop()

    def status(self) -> list[ServiceStatus]:
        """One line per service, plus the Iceberg catalog."""
        out = [self.postgres.status(), self.kafka.status(), self.flink.status()]
        out.append(self._iceberg_status(out[0].healthy))
        return out

    def _iceberg_status(self, postgres_up: bool) -> ServiceStatus:
        address = f"{self.settings.jdbc_url} (catalog {self.settings.iceberg_catalog})"
        if not postgres_up:
            return ServiceStatus("iceberg", address, None, False, "postgres is down")
        try:
            namespaces = sorted(ns[0] for ns in lake.catalog(self.settings).list_namespaces())
        except Exception as exc:  # noqa: BLE001 - status reports, never raises
            return ServiceStatus("iceberg", address, None, False, str(exc).splitlines()[0])
        return ServiceStatus(
            "iceberg",
            address,
            None,
            set(lake.NAMESPACES) <= set(namespaces),
            f"warehouse {self.settings.warehouse_dir}; namespaces {', '.join(namespaces) or '-'}",
        )

    def status_json(self) -> dict[str, Any]:
        """``stack status --json``: services plus the addresses scripts need."""
        services = self.status()
        return {
            "healthy": all(s.healthy for s in services),
            "postgres_dsn": self.settings.postgres_dsn,
            "kafka_bootstrap": self.settings.kafka_bootstrap,
            "flink_rest_url": self.settings.flink_rest_url,
            "iceberg_catalog": self.settings.iceberg_catalog,
            "iceberg_warehouse": self.settings.warehouse_dir.resolve().as_uri(),
            "data_dir": str(self.settings.data_dir),
            "services": [s.as_dict() for s in services],
        }


def format_status(services: list[ServiceStatus]) -> str:
    """A small aligned table for humans."""
    rows = [("SERVICE", "HEALTH", "PID", "ADDRESS", "DETAIL")]
    for s in services:
        rows.append(
            (s.name, "healthy" if s.healthy else "DOWN", str(s.pid or "-"), s.address, s.detail)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows
    )


def dumps(obj: Any) -> str:
    """JSON for ``--json`` outputs."""
    return json.dumps(obj, indent=2, default=str)
