"""Keep the local Flink cluster alive: restart a dead taskmanager or jobmanager, resume the jobs.

``marketpipe stack up`` starts this as a background process (``<run_dir>/supervisor.pid``, log
``<log_dir>/supervisor.log``); ``stack down`` stops it first, so it never fights a deliberate stop.
Every ``interval`` seconds it looks at the two Flink daemons:

* the taskmanager died: it is started again (after its orphaned Python workers are killed); the
  jobs, still known to the jobmanager, sit in RESTARTING and recover from their last checkpoint by
  themselves once its slots are back;
* the jobmanager died: the standalone cluster has no high availability, so the running jobs died
  with it. The taskmanager is stopped, the cluster started again, and every job that should run
  (started by ``jobs start`` and not stopped by ``jobs stop``) is submitted again from its latest
  retained checkpoint (:meth:`marketpipe.jobs.manager.JobManager.resume_point`).

Each action is logged; a failed one is retried on the next round, at most every ``interval``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from marketpipe.settings import Settings, load_settings, settings_env
from marketpipe.stack import process

log = logging.getLogger(__name__)

INTERVAL_S = 2.0


def pid_file(settings: Settings) -> Path:
    """PID file of the supervisor of this stack."""
    return settings.run_dir / "supervisor.pid"


def start(settings: Settings) -> int:
    """Start the supervisor in the background unless it runs; returns its pid."""
    pid = process.read_pid(pid_file(settings))
    if pid is not None:
        return pid
    return process.spawn(
        [sys.executable, "-m", "marketpipe.stack.supervisor"],
        pid_file=pid_file(settings),
        log_file=settings.log_dir / "supervisor.log",
        env={**os.environ, **settings_env(settings)},
    )


def stop(settings: Settings) -> None:
    """Stop the supervisor (before the services it watches)."""
    process.stop_pid(pid_file(settings), name="supervisor", timeout=10)


def check_once(settings: Settings, pending: set[str]) -> list[str]:
    """One look at the cluster; returns what was done (empty when all was well).

    ``pending`` holds the jobs still to be re-submitted after a jobmanager restart: a submission that
    fails stays pending and is tried again on the next round.
    """
    from marketpipe.jobs.control import PipelineControl
    from marketpipe.jobs.pipeline import JOBS, job_name
    from marketpipe.stack.flink import FlinkService

    flink = FlinkService(settings)
    jm_alive = process.read_pid(flink.jobmanager_pid_file) is not None
    tm_alive = process.read_pid(flink.taskmanager_pid_file) is not None
    actions: list[str] = []
    if jm_alive and not tm_alive:
        flink.start()  # starts just the missing taskmanager
        actions.append("taskmanager was down: started it again; the jobs recover from their last checkpoint")
    elif not jm_alive:
        flink.stop()
        flink.start()
        actions.append("jobmanager was down: restarted the cluster")
        desired = set(PipelineControl(settings).jobs.desired_running())
        pending.update(job for job in JOBS if job_name(job) in desired)
    if pending:
        control = PipelineControl(settings)
        for job in sorted(pending, key=JOBS.index):  # upstream first
            pending.discard(job)
            try:
                actions.append(control.start(only=job).splitlines()[0])
            except Exception:
                pending.add(job)
                raise
    return actions


def run(settings: Settings, *, interval: float = INTERVAL_S) -> None:
    """Watch until this process's pid file names another process or is removed (``stack down``)."""
    me = os.getpid()
    deadline = time.monotonic() + 10  # spawn() writes the pid file just after the fork
    while time.monotonic() < deadline and process.read_pid(pid_file(settings)) != me:
        time.sleep(0.1)
    log.info("supervising the Flink cluster of %s every %.0fs", settings.data_dir, interval)
    pending: set[str] = set()
    while True:
        try:
            recorded = int(pid_file(settings).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            recorded = None
        if recorded != me:
            log.info("pid file no longer names this process: exiting")
            return
        try:
            for action in check_once(settings, pending):
                log.warning("%s", action)
        except Exception:
            log.exception("recovery failed (still to re-submit: %s); retrying in %.0fs", sorted(pending), interval)
        time.sleep(interval)


def main() -> int:
    """Entry point of ``python -m marketpipe.stack.supervisor``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run(load_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
