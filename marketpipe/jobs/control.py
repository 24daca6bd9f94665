"""``marketpipe jobs start|stop|restart|status``: the pipeline jobs' lifecycle on the local cluster.

``start`` resumes each job from the newest of the savepoint the last ``stop`` wrote and the latest
completed checkpoint retained on disk (unless ``fresh``), so indicator state and Kafka offsets carry
over, after a clean stop and after a crash alike; starting a job that runs is a no-op. The jobs are
submitted side by side (each client builds its own graph; the indicators job simply waits for bars
on its topic) and stop downstream first.
"""

from __future__ import annotations

import logging
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from marketpipe.exceptions import JobError
from marketpipe.jobs.manager import JobManager
from marketpipe.jobs.pipeline import JOBS, job_name
from marketpipe.settings import Settings, settings_env

log = logging.getLogger(__name__)

PIPELINE_SCRIPT = Path(__file__).resolve().parent / "pipeline.py"
_ACTIVE = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "CANCELLING"}


class PipelineControl:
    """Start, stop and inspect the ``marketpipe-*`` jobs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jobs = JobManager(settings)

    def running_job(self, job: str) -> str | None:
        """Id of the active job ``job``, if any."""
        for info in self.jobs.list_jobs():
            if info.name == job_name(job) and info.state in _ACTIVE:
                return info.job_id
        return None

    def start(self, *, fresh: bool = False, only: str | None = None) -> str:
        """Submit the jobs (each resuming from its last savepoint) and wait until they run."""
        jobs = self._selected(only)
        if self.settings.schema_registry:
            # The sinks write the registered contracts: register them first (a no-op when they are), so
            # a contract the registry refuses stops here, before any job is submitted (docs/contracts.md).
            from marketpipe.contracts.registry import register_contracts

            register_contracts(self.settings)
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="submit") as pool:
            futures = [pool.submit(self._start_one, job, fresh=fresh) for job in jobs]
            lines = [f.result() for f in futures]  # the first failure is raised, after all have ended
        lines.append(f"web UI {self.settings.flink_rest_url}")
        return "\n".join(lines)

    def _start_one(self, job: str, *, fresh: bool) -> str:
        name = job_name(job)
        existing = self.running_job(job)
        if existing:
            return f"{name} already running as {existing}"
        resume = None if fresh else self.jobs.resume_point(name)
        job_id = self.jobs.submit_python(
            PIPELINE_SCRIPT,
            [job],
            name=name,
            savepoint=resume[1] if resume else None,
            allow_non_restored_state=True,
        )
        self.jobs.wait_running(job_id, timeout=180)
        self.jobs.set_desired(name, "running")  # the supervisor re-submits it after a cluster crash
        origin = f"from {resume[0]} {resume[1]}" if resume else "from the earliest Kafka offsets"
        return f"{name} running as {job_id} ({origin})"

    def stop(self, *, savepoint: bool = True, only: str | None = None) -> str:
        """Stop the running jobs, by default with savepoints a later start resumes from."""
        return "\n".join(
            self._stop_one(job, savepoint=savepoint) for job in reversed(self._selected(only))
        )

    def _stop_one(self, job: str, *, savepoint: bool) -> str:
        name = job_name(job)
        job_id = self.running_job(job)
        self.jobs.set_desired(name, "stopped")
        if job_id is None:
            return f"{name} is not running"
        if not savepoint:
            self.jobs.cancel(job_id)
            return f"{name} ({job_id}) cancelled"
        try:
            location = self.jobs.stop_with_savepoint(job_id)
        except JobError as exc:
            log.warning("stop with savepoint of %s failed (%s); cancelling", name, exc)
            self.jobs.cancel(job_id)
            return f"{name} ({job_id}) cancelled after a failed savepoint"
        return f"{name} ({job_id}) stopped with savepoint {location}"

    def status(self) -> list[dict[str, Any]]:
        """Jobs on the cluster, newest first."""
        return [
            {"id": j.job_id, "name": j.name, "state": j.state, "start_time": j.start_time}
            for j in self.jobs.list_jobs()
        ]

    def explain(self, job: str) -> str:
        """The optimized plan of ``job``, built by the Flink client with the cluster's jars."""
        flink = self.jobs.flink
        proc = subprocess.run(  # argv built here
            [str(flink.flink_home / "bin" / "flink"), "run", "-py", str(PIPELINE_SCRIPT),
             job, "--explain"],
            env={**os.environ, **flink.flink_env(), **settings_env(self.settings)},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if "== Optimized Execution Plan ==" not in proc.stdout:
            raise JobError(f"explain of {job} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
        return proc.stdout

    @staticmethod
    def _selected(only: str | None) -> list[str]:
        if only is None:
            return list(JOBS)
        if only not in JOBS:
            raise JobError(f"unknown job {only!r}; jobs are {', '.join(JOBS)}")
        return [only]


