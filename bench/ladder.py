"""Where the bars job's time goes: the same backlog drained by the job cut after each stage.

Run by bench/pipeline.py after the end-to-end measurement, on the same stack and topic: each stage of
bench/ladder_job.py (source; + parse and clean; + bar step; + PostgreSQL; + Kafka topics; + Iceberg =
the product job) reads the whole of ``ticks.raw`` once, bounded, and finishes. Its rate is records
over the time from RUNNING to FINISHED in Flink's own job timestamps (submission and start-up are not
in it). The drop from one stage to the next is what that stage costs per record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from bench.ladder_job import STAGES
from marketpipe.jobs.manager import JobManager
from marketpipe.settings import REPO_ROOT, Settings

SCRIPT = REPO_ROOT / "bench" / "ladder_job.py"


def run_stage(settings: Settings, stage: str, records: int, *, timeout: float) -> dict[str, Any]:
    """Submit the job cut at ``stage`` and wait for it to finish; its drain rate."""
    jobs = JobManager(settings)
    job_id = jobs.submit_python(SCRIPT, [stage], name=f"bench-ladder-{stage}")
    deadline = time.monotonic() + timeout
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        details = jobs.job(job_id)
        state = str(details.get("state", "UNKNOWN"))
        if state == "FINISHED":
            stamps = details.get("timestamps", {})
            seconds = (stamps["FINISHED"] - stamps["RUNNING"]) / 1000
            return {"what": STAGES[stage].what, "records": records, "seconds": round(seconds, 2),
                    "per_s": round(records / seconds) if seconds > 0 else None}
        if state in ("FAILED", "CANCELED"):
            return {"what": STAGES[stage].what, "error": f"job {job_id} {state}"}
        time.sleep(1)
    jobs.cancel(job_id)
    return {"what": STAGES[stage].what, "error": f"not finished in {timeout:.0f}s (state {state})"}


def topic_records(settings: Settings) -> int:
    """Records in the raw topic now (the sum of its partitions' end offsets; nothing is compacted)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"bench-ladder-{time.time_ns()}"})
    try:
        topic = settings.topic_raw
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()


def run(settings: Settings, *, timeout: float, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every stage in order, each over the whole raw topic."""
    records = topic_records(settings)
    out: dict[str, Any] = {"records": records}
    for stage in STAGES:
        log(f"== ladder: {stage} ({STAGES[stage].what})")
        out[stage] = run_stage(settings, stage, records, timeout=timeout)
        log(f"   {out[stage]}")
    return out
