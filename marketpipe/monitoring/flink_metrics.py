"""Flink's view of the pipeline jobs, read from its REST API at scrape time.

Per pipeline job (``marketpipe-bars``, ``marketpipe-indicators``): whether it runs, its restarts, its
checkpoints (completed, failed, last duration and age), and per vertex (an operator chain) the records
it read and wrote, its input watermark, back-pressure and busy ratios and sink errors. The REST calls:

* ``/jobs/overview`` — which job of each name is live (the newest that has not ended, as
  ``marketpipe stack status`` picks it);
* ``/jobs/<id>`` — vertices with ``read-records``/``write-records`` (Flink's network-level counts);
* ``/jobs/<id>/checkpoints`` and ``/jobs/<id>/metrics?get=numRestarts``;
* ``/jobs/<id>/vertices/<vid>/subtasks/metrics?get=...&agg=min,max,sum`` — task metrics aggregated
  over the vertex's subtasks, and the sink operators' failed writes (``<operator>.numRecordsOutErrors``,
  ``numRecordsSendErrors``). Flink answers ``[]`` to the whole request if one name is unknown (a
  source vertex has no ``currentInputWatermark``), so each vertex's metric list is read once per job id
  and only names it has are asked for.

A source vertex's ``read-records`` counts the records it read from Kafka (Flink 2.x).

The parsing functions are pure (payload in, samples out) and tested on payloads captured from the
local cluster (tests/unit/data/flink_rest/).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from marketpipe.jobs.pipeline import JOBS, job_name
from marketpipe.monitoring.families import Families
from marketpipe.settings import Settings

ENDED = {"FAILED", "CANCELED", "FINISHED", "SUSPENDED"}
# Task metrics of a vertex (a source vertex has no currentInputWatermark).
TASK_METRICS = ("currentInputWatermark", "backPressuredTimeMsPerSecond", "busyTimeMsPerSecond")
# Operator metric suffixes of a sink's failed writes.
SINK_ERROR_SUFFIXES = (".numRecordsOutErrors", ".numRecordsSendErrors")


class FlinkUnavailable(Exception):
    """The REST API did not answer (or not in time)."""


class FlinkRest:
    """GETs against the Flink REST API within one time budget (the whole read of this source)."""

    def __init__(self, base_url: str, budget_s: float) -> None:
        self.base_url = base_url
        self.deadline = time.monotonic() + budget_s

    def get(self, path: str) -> Any:
        """The decoded JSON of ``GET path``; :class:`FlinkUnavailable` on errors or an exhausted budget."""
        left = self.deadline - time.monotonic()
        if left <= 0.05:
            raise FlinkUnavailable(f"GET {path}: time budget exhausted")
        try:
            with urllib.request.urlopen(f"{self.base_url}{path}", timeout=left) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise FlinkUnavailable(f"GET {path}: HTTP {exc.code}") from exc
        except (OSError, ValueError) as exc:
            raise FlinkUnavailable(f"GET {path}: {exc}") from exc


# --- pure parsing ------------------------------------------------------------------------------


def live_jobs(overview: dict[str, Any], names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per job name, the row of ``/jobs/overview`` of its live run (or its newest ended one)."""
    rows = sorted(overview.get("jobs", []), key=lambda j: j.get("start-time", -1), reverse=True)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        mine = [j for j in rows if j.get("name") == name]
        job = next((j for j in mine if j.get("state") not in ENDED), mine[0] if mine else None)
        if job is not None:
            out[name] = job
    return out


def job_samples(
    out: Families, name: str, details: dict[str, Any], checkpoints: dict[str, Any],
    job_metrics: list[dict[str, Any]], now_s: float,
) -> None:
    """Samples of one job from ``/jobs/<id>``, ``/jobs/<id>/checkpoints`` and its job metrics."""
    out.add("marketpipe_flink_job_running", 1.0 if details.get("state") == "RUNNING" else 0.0, job=name)
    restarts = {m.get("id"): m.get("value") for m in job_metrics}.get("numRestarts")
    if restarts is not None:
        out.add("marketpipe_flink_job_restarts", float(restarts), job=name)
    counts = checkpoints.get("counts") or {}
    out.add("marketpipe_flink_checkpoints_completed_total", float(counts.get("completed", 0)), job=name)
    out.add("marketpipe_flink_checkpoints_failed_total", float(counts.get("failed", 0)), job=name)
    latest = (checkpoints.get("latest") or {}).get("completed")
    if isinstance(latest, dict):
        duration = latest.get("end_to_end_duration")
        if isinstance(duration, int | float):
            out.add("marketpipe_flink_checkpoint_duration_seconds", duration / 1000, job=name)
        ack = latest.get("latest_ack_timestamp")
        if isinstance(ack, int | float) and ack > 0:
            out.add("marketpipe_flink_checkpoint_age_seconds", max(0.0, now_s - ack / 1000), job=name)


def vertex_samples(
    out: Families, name: str, vertex: dict[str, Any], metrics: list[dict[str, Any]]
) -> None:
    """Samples of one vertex: its row of ``/jobs/<id>`` and its aggregated subtask metrics."""
    label = vertex_label(vertex)
    counts = vertex.get("metrics") or {}
    agg = {m["id"]: m for m in metrics if "id" in m}
    if counts.get("read-records") is not None:
        out.add("marketpipe_flink_records_in_total", float(counts["read-records"]), job=name, vertex=label)
    if counts.get("write-records") is not None:
        out.add("marketpipe_flink_records_out_total", float(counts["write-records"]), job=name, vertex=label)
    watermark = agg.get("currentInputWatermark", {}).get("min")
    if watermark is not None and float(watermark) > 0:  # Long.MIN_VALUE until the first watermark
        out.add("marketpipe_flink_watermark_seconds", float(watermark) / 1000, job=name, vertex=label)
    for metric, family in (("backPressuredTimeMsPerSecond", "marketpipe_flink_backpressure_ratio"),
                           ("busyTimeMsPerSecond", "marketpipe_flink_busy_ratio")):
        value = agg.get(metric, {}).get("max")
        if value is not None and float(value) == float(value):  # NaN: an idle task's busy time
            out.add(family, min(1.0, max(0.0, float(value) / 1000)), job=name, vertex=label)
    errors = [m for mid, m in agg.items() if mid.endswith(SINK_ERROR_SUFFIXES)]
    if errors:
        out.add("marketpipe_flink_sink_errors_total", sum(float(m.get("sum", 0)) for m in errors),
                job=name, vertex=label)


def vertex_label(vertex: dict[str, Any]) -> str:
    """A short, stable label for a vertex: its name (Flink's operator chain description) cut to 80
    characters, with the id's first 8 hex digits so two vertices never share a label."""
    text = " ".join(str(vertex.get("name", "")).split())
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} [{str(vertex.get('id', ''))[:8]}]"


def wanted_metrics(available: list[dict[str, Any]]) -> list[str]:
    """From a vertex's metric list (``/subtasks/metrics`` without ``get``), the names we read."""
    ids = {str(m.get("id", "")) for m in available}
    return [m for m in TASK_METRICS if m in ids] + sorted(i for i in ids if i.endswith(SINK_ERROR_SUFFIXES))


RELIST_PARTIAL_S = 5.0  # a vertex whose list lacks some TASK_METRICS (just started, or a source)
RELIST_COMPLETE_S = 60.0


def _complete(names: list[str]) -> bool:
    return all(m in names for m in TASK_METRICS)


def down_samples(out: Families) -> None:
    """What a scrape says when Flink does not answer: it is down and no pipeline job runs."""
    out.add("marketpipe_flink_up", 0.0)
    for job in JOBS:
        out.add("marketpipe_flink_job_running", 0.0, job=job_name(job))


# --- I/O -----------------------------------------------------------------------------------------


class FlinkSource:
    """Reads the samples above; remembers which metric names each vertex has (fixed for a job id), so a
    scrape asks for them by name instead of listing hundreds of metrics each time."""

    def __init__(self, settings: Settings, budget_s: float = 2.0) -> None:
        self.settings = settings
        self.budget_s = budget_s
        # (job id, vertex id) -> (the names, when they were listed). Flink's REST metrics come from a
        # fetcher that refreshes every ~10 s, so a vertex that just started may list only some of its
        # metrics (no currentInputWatermark yet): an incomplete list is asked again after a few seconds,
        # a complete one every minute (a sink's error counter can appear later too).
        self._metric_names: dict[tuple[str, str], tuple[list[str], float]] = {}

    def collect(self, out: Families) -> None:
        """Add every Flink sample to ``out``; on failure add the 'down' samples and raise."""
        rest = FlinkRest(self.settings.flink_rest_url, self.budget_s)
        names = [job_name(j) for j in JOBS]
        try:
            overview = rest.get("/jobs/overview")
        except FlinkUnavailable:
            down_samples(out)
            raise
        out.add("marketpipe_flink_up", 1.0)
        jobs = live_jobs(overview, names)
        live = {str(j["jid"]) for j in jobs.values()}
        self._metric_names = {k: v for k, v in self._metric_names.items() if k[0] in live}  # forget old runs
        for name in names:
            job = jobs.get(name)
            if job is None or job.get("state") in ENDED:
                out.add("marketpipe_flink_job_running", 0.0, job=name)
                continue
            self._collect_job(rest, out, name, str(job["jid"]))

    def _collect_job(self, rest: FlinkRest, out: Families, name: str, jid: str) -> None:
        details = rest.get(f"/jobs/{jid}")
        checkpoints = rest.get(f"/jobs/{jid}/checkpoints")
        job_metrics = rest.get(f"/jobs/{jid}/metrics?get=numRestarts") or []
        job_samples(out, name, details, checkpoints, job_metrics, time.time())
        for vertex in details.get("vertices", []):
            vid = str(vertex["id"])
            if vertex.get("status") != "RUNNING":
                vertex_samples(out, name, vertex, [])
                continue
            key = (jid, vid)
            base = f"/jobs/{jid}/vertices/{vid}/subtasks/metrics"
            cached = self._metric_names.get(key)
            now = time.monotonic()
            if cached is None or now - cached[1] > (RELIST_COMPLETE_S if _complete(cached[0]) else RELIST_PARTIAL_S):
                cached = (wanted_metrics(rest.get(base) or []), now)
                self._metric_names[key] = cached
            names_q = ",".join(urllib.parse.quote(m, safe="") for m in cached[0])
            metrics = rest.get(f"{base}?get={names_q}&agg=min,max,sum") if names_q else []
            vertex_samples(out, name, vertex, metrics or [])
