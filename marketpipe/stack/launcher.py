"""``marketpipe stack up|down|status``: the local stack as one unit.

``up`` starts what is not running (PostgreSQL, Kafka, the schema registry when
``settings.schema_registry`` is on, Flink and, when ``settings.monitoring`` is on, Prometheus,
Alertmanager and the exporters), creates topics, tables and the Iceberg namespaces, registers the topic
contracts, and is a no-op for what already runs. ``down`` stops only what ``up`` started (by PID
file), in reverse order.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marketpipe import db, lake
from marketpipe.contracts.registry import register_contracts
from marketpipe.monitoring import services as monitoring
from marketpipe.settings import Settings
from marketpipe.stack import supervisor
from marketpipe.stack.flink import FlinkService
from marketpipe.stack.jars import ensure_jars
from marketpipe.stack.kafka import KafkaService
from marketpipe.stack.postgres import PostgresService
from marketpipe.stack.process import ServiceStatus
from marketpipe.stack.registry import SchemaRegistry

log = logging.getLogger(__name__)


class Stack:
    """The three services plus the Iceberg catalog kept in PostgreSQL, the schema registry, and the
    monitoring processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.postgres = PostgresService(settings)
        self.kafka = KafkaService(settings)
        self.flink = FlinkService(settings)
        self.schema_registry = SchemaRegistry(settings)
        self.postgres_exporter = monitoring.PostgresExporter(settings)
        self.alertmanager = monitoring.Alertmanager(settings)
        self.prometheus = monitoring.Prometheus(settings)
        self.exporter = monitoring.MarketpipeExporter(settings)  # `marketpipe metrics serve`
        self.kafka_jmx = monitoring.KafkaJmxExporter(settings)

    def up(self) -> list[ServiceStatus]:
        """Start every service that is not already running and healthy; idempotent."""
        for d in (self.settings.data_dir, self.settings.run_dir, self.settings.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        ensure_jars(self.settings)
        steps: list[tuple[str, Callable[[], object]]] = [
            ("postgres", self.postgres.start),
            ("postgres schema", self.postgres.apply_schema),
            ("iceberg catalog", lambda: lake.ensure_namespaces(self.settings)),
            ("kafka", self.kafka.start),
            ("kafka topics", self.kafka.ensure_topics),
        ]
        if self.settings.schema_registry:
            # Before Flink: the jobs' sinks look their schema up in the registry when they start.
            steps += [
                ("schema registry", self.schema_registry.start),
                ("schema contracts", lambda: register_contracts(self.settings)),
            ]
        steps.append(("flink", self.flink.start))
        if self.settings.monitoring:
            # After Flink, which marketpipe's exporter reads; Prometheus last, so its first scrapes
            # find every target up.
            steps += [(d.name, d.start) for d in self._monitoring_daemons()]
        for name, step in steps:
            t0 = time.monotonic()
            step()
            log.info("%s ready in %.1fs", name, time.monotonic() - t0)
        if self.settings.supervise:
            log.info("flink supervisor running as pid %d", supervisor.start(self.settings))
        return self.status()

    def down(self) -> None:
        """Stop what ``up`` started: the monitoring processes (whatever the settings say now), then
        Flink so no job writes into a stopped service, then the schema registry, Kafka and PostgreSQL."""
        supervisor.stop(self.settings)  # first: it would restart what is being stopped
        for daemon in self._monitoring_daemons()[::-1]:
            daemon.stop()
        self.flink.stop()
        self.schema_registry.stop()
        for svc in (self.kafka, self.postgres):
            svc.stop()

    def status(self) -> list[ServiceStatus]:
        """One line per service, plus the Iceberg catalog and, when monitoring is on, its processes and
        the broker's JMX exporter agent."""
        out = [self.postgres.status(), self.kafka.status(), self.flink.status()]
        out.append(self._iceberg_status(out[0].healthy))
        if self.settings.schema_registry:
            out.append(self.schema_registry.status())
        if self.settings.monitoring:
            out += [d.status() for d in self._monitoring_daemons()]
            out.append(self.kafka_jmx.status())
        return out

    def _monitoring_daemons(self) -> list[monitoring.HttpDaemon]:
        """In start order."""
        return [self.postgres_exporter, self.alertmanager, self.exporter, self.prometheus]

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

    def job_status(self, flink_up: bool = True) -> list[JobStatus]:
        """State and last completed checkpoint of each pipeline job (``marketpipe-bars``, ``-indicators``)."""
        from marketpipe.exceptions import JobError
        from marketpipe.jobs.manager import JobManager
        from marketpipe.jobs.pipeline import JOBS, job_name

        names = [job_name(j) for j in JOBS]
        if not flink_up:
            return [JobStatus(n, None, "UNKNOWN", False, detail="flink is down") for n in names]
        manager = JobManager(self.settings)
        try:
            jobs = manager.list_jobs()  # newest first
        except JobError as exc:
            return [JobStatus(n, None, "UNKNOWN", False, detail=str(exc).splitlines()[0]) for n in names]
        out: list[JobStatus] = []
        for name in names:
            mine = [j for j in jobs if j.name == name]
            # The live one if there is one (an older cancelled run of the same name is history).
            job = next((j for j in mine if j.state not in _ENDED), mine[0] if mine else None)
            if job is None:
                out.append(JobStatus(name, None, "NOT SUBMITTED", False))
                continue
            checkpoint: dict[str, Any] | None = None
            detail = ""
            try:
                checkpoint = manager.latest_checkpoint(job.job_id)
            except JobError as exc:
                detail = f"checkpoints unavailable: {str(exc).splitlines()[0]}"
            checkpoint = checkpoint or {}
            ack = checkpoint.get("latest_ack_timestamp")
            ident = checkpoint.get("id")
            out.append(JobStatus(
                name, job.job_id, job.state, job.state == "RUNNING",
                checkpoint_id=int(ident) if ident is not None else None,
                checkpoint_at=datetime.fromtimestamp(ack / 1000, UTC) if isinstance(ack, int) and ack > 0 else None,
                checkpoint_path=str(checkpoint.get("external_path") or "") or None,
                detail=detail,
            ))
        return out

    def status_json(
        self, services: list[ServiceStatus] | None = None, jobs: list[JobStatus] | None = None
    ) -> dict[str, Any]:
        """``stack status --json``: services, pipeline jobs, overall health, advice and the addresses
        scripts need (asked now unless given). ``healthy`` needs every service healthy and every
        pipeline job RUNNING; ``services_healthy`` is the services alone."""
        services = self.status() if services is None else services
        jobs = self.job_status(flink_up=_healthy(services, "flink")) if jobs is None else jobs
        services_ok = all(s.healthy for s in services)
        now = datetime.now(UTC)
        return {
            "healthy": services_ok and all(j.healthy for j in jobs),
            "services_healthy": services_ok,
            "postgres_dsn": db.display_dsn(self.settings),  # never the password
            "kafka_bootstrap": self.settings.kafka_bootstrap,
            "flink_rest_url": self.settings.flink_rest_url,
        "schema_registry_url": self.settings.schema_registry_url if self.settings.schema_registry else None,
            "prometheus_url": self.prometheus.url if self.settings.monitoring else None,
            "alertmanager_url": self.alertmanager.url if self.settings.monitoring else None,
            "iceberg_catalog": self.settings.iceberg_catalog,
            "iceberg_warehouse": self.settings.warehouse_dir.resolve().as_uri(),
            "data_dir": str(self.settings.data_dir),
            "services": [s.as_dict() for s in services],
            "jobs": [j.as_dict(now) for j in jobs],
            "advice": advice(services, jobs),
        }


def _healthy(services: list[ServiceStatus], name: str) -> bool:
    return any(s.name == name and s.healthy for s in services)


# Job states after which the job is gone for good (a new submission makes a new job).
_ENDED = {"FAILED", "CANCELED", "FINISHED", "SUSPENDED"}


@dataclass(frozen=True)
class JobStatus:
    """One pipeline job in ``stack status``: its newest run on the cluster and last completed checkpoint."""

    name: str
    job_id: str | None
    state: str  # a Flink job state, NOT SUBMITTED, or UNKNOWN when Flink does not answer
    healthy: bool  # RUNNING
    checkpoint_id: int | None = None
    checkpoint_at: datetime | None = None  # when its last acknowledgement arrived
    checkpoint_path: str | None = None
    detail: str = ""

    def checkpoint_age_s(self, now: datetime | None = None) -> float | None:
        """Seconds since the last completed checkpoint, if there is one."""
        if self.checkpoint_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.checkpoint_at).total_seconds()

    def as_dict(self, now: datetime | None = None) -> dict[str, object]:
        """JSON-ready form (checkpoint age in seconds as of ``now``)."""
        age = self.checkpoint_age_s(now)
        return {
            "name": self.name, "job_id": self.job_id, "state": self.state, "healthy": self.healthy,
            "checkpoint": None if self.checkpoint_id is None else {
                "id": self.checkpoint_id,
                "completed_at": self.checkpoint_at.isoformat() if self.checkpoint_at else None,
                "age_s": round(age, 1) if age is not None else None,
                "path": self.checkpoint_path,
            },
            "detail": self.detail,
        }


def advice(services: list[ServiceStatus], jobs: list[JobStatus]) -> list[str]:
    """How to recover from what the status shows; empty when everything is healthy."""
    out: list[str] = []
    down = [s.name for s in services if not s.healthy]
    if down:
        out.append(
            f"{', '.join(down)} not healthy (a flink taskmanager may be missing): "
            "run `marketpipe stack up`, then `marketpipe jobs start`"
        )
    for job in jobs:
        if job.healthy or job.state == "UNKNOWN":
            continue
        where = f" (last checkpoint {job.checkpoint_path})" if job.checkpoint_path else ""
        if job.state in ("RESTARTING", "FAILING", "INITIALIZING", "CREATED", "RECONCILING"):
            out.append(
                f"{job.name} is {job.state}{where}: if it does not reach RUNNING, check the flink logs "
                "and the taskmanager, run `marketpipe stack up`, then `marketpipe jobs stop --no-savepoint` "
                "and `marketpipe jobs start`"
            )
        else:
            out.append(f"{job.name} is {job.state}{where}: run `marketpipe jobs start`")
    return out


def format_status(
    services: list[ServiceStatus], jobs: list[JobStatus] | None = None, hints: list[str] | None = None
) -> str:
    """A small aligned table for humans: services, then the pipeline jobs, then how to recover."""
    text = _table(
        [("SERVICE", "HEALTH", "PID", "ADDRESS", "DETAIL")]
        + [(s.name, "healthy" if s.healthy else "DOWN", str(s.pid or "-"), s.address, s.detail) for s in services]
    )
    if jobs is not None:
        now = datetime.now(UTC)
        rows = [("JOB", "STATE", "ID", "LAST CHECKPOINT", "PATH")]
        for j in jobs:
            age = j.checkpoint_age_s(now)
            checkpoint = "-" if j.checkpoint_id is None else f"#{j.checkpoint_id}, {age:.0f}s ago" if age is not None \
                else f"#{j.checkpoint_id}"
            path = j.checkpoint_path or "-"
            rows.append((j.name, j.state, j.job_id or "-", checkpoint, f"{path} {j.detail}".strip()))
        text += "\n\n" + _table(rows)
    if hints:
        text += "\n\n" + "\n".join(f"! {h}" for h in hints)
    return text


def _table(rows: list[tuple[str, str, str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows)


def dumps(obj: Any) -> str:
    """JSON for ``--json`` outputs."""
    return json.dumps(obj, indent=2, default=str)
