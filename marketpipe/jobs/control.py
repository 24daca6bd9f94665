"""``marketpipe jobs start|stop|restart|status``: the pipeline job's lifecycle on the local cluster.

``start`` resumes from the savepoint the last ``stop`` wrote (unless ``fresh``), so indicator state and
Kafka offsets carry over; a second ``start`` while the job runs is a no-op.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from marketpipe.exceptions import JobError
from marketpipe.jobs.manager import JobManager
from marketpipe.jobs.pipeline import JOB_NAME
from marketpipe.settings import Settings, settings_env

log = logging.getLogger(__name__)

PIPELINE_SCRIPT = Path(__file__).resolve().parent / "pipeline.py"
_ACTIVE = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "CANCELLING"}


class PipelineControl:
    """Start, stop and inspect the ``marketpipe-pipeline`` job."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jobs = JobManager(settings)

    def running_job(self) -> str | None:
        """Id of the active pipeline job, if any."""
        for job in self.jobs.list_jobs():
            if job.name == JOB_NAME and job.state in _ACTIVE:
                return job.job_id
        return None

    def start(self, *, fresh: bool = False) -> str:
        """Submit the job (resuming from its last savepoint) and wait until it runs."""
        existing = self.running_job()
        if existing:
            return f"{JOB_NAME} already running as {existing}"
        savepoint = None if fresh else self.jobs.last_savepoint(JOB_NAME)
        if savepoint and not Path(savepoint.removeprefix("file:")).exists():
            log.warning("last savepoint %s is gone; starting without it", savepoint)
            savepoint = None
        job_id = self.jobs.submit_python(
            PIPELINE_SCRIPT, [], name=JOB_NAME, savepoint=savepoint, allow_non_restored_state=True
        )
        self.jobs.wait_running(job_id, timeout=180)
        origin = f"from savepoint {savepoint}" if savepoint else "from the earliest Kafka offsets"
        return f"{JOB_NAME} running as {job_id} ({origin}); web UI {self.settings.flink_rest_url}"

    def stop(self, *, savepoint: bool = True) -> str:
        """Stop the running job, by default with a savepoint a later start resumes from."""
        job_id = self.running_job()
        if job_id is None:
            return f"{JOB_NAME} is not running"
        if not savepoint:
            self.jobs.cancel(job_id)
            return f"{JOB_NAME} ({job_id}) cancelled"
        try:
            location = self.jobs.stop_with_savepoint(job_id)
        except JobError as exc:
            log.warning("stop with savepoint failed (%s); cancelling", exc)
            self.jobs.cancel(job_id)
            return f"{JOB_NAME} ({job_id}) cancelled after a failed savepoint"
        return f"{JOB_NAME} ({job_id}) stopped with savepoint {location}"

    def status(self) -> list[dict[str, Any]]:
        """Jobs on the cluster, newest first."""
        return [
            {"id": j.job_id, "name": j.name, "state": j.state, "start_time": j.start_time}
            for j in self.jobs.list_jobs()
        ]

    def explain(self) -> str:
        """The optimized plan of the pipeline, built in-process with the connector jars."""
        env = {**settings_env(self.settings)}
        proc = subprocess.run(  # noqa: S603
            [sys.executable, str(PIPELINE_SCRIPT), "--explain", "--local"],
            env={**_base_env(), **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if proc.returncode != 0:
            raise JobError(f"explain failed:\n{proc.stderr[-4000:]}")
        return proc.stdout


def _base_env() -> dict[str, str]:
    import os

    return dict(os.environ)
