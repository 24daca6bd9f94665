"""Submit, watch, savepoint and cancel jobs on the local Flink session cluster.

Submission goes through ``bin/flink run -py`` of the composed FLINK_HOME (its ``lib/`` is the client
classpath, so connector tables validate on the client as they will on the cluster); everything else uses
the REST API with urllib. ``<run_dir>/jobs.json`` remembers, per job name, the last job id and the last
savepoint, so the next submission of that name can resume where the previous one stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marketpipe.exceptions import JobError
from marketpipe.settings import Settings, settings_env
from marketpipe.stack.flink import FlinkService

_JOB_ID = re.compile(r"JobID\s+([0-9a-f]{32})")
_SUBMIT_TIMEOUT_S = 300.0
_TERMINAL = {"FAILED", "CANCELED", "FINISHED", "SUSPENDED"}
_HISTORY = 20  # job ids remembered per job name (their retained checkpoints are resume candidates)


@dataclass(frozen=True)
class JobInfo:
    """One row of ``/jobs/overview``."""

    job_id: str
    name: str
    state: str
    start_time: datetime | None


class JobManager:
    """Client of the local Flink cluster for job lifecycle operations."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.flink = FlinkService(settings)
        self.state_file = settings.run_dir / "jobs.json"

    # --- queries -----------------------------------------------------------------------------

    def list_jobs(self) -> list[JobInfo]:
        """Every job the cluster knows (running and recently ended), newest first."""
        jobs = self._rest("GET", "/jobs/overview").get("jobs", [])
        infos = [
            JobInfo(j["jid"], j["name"], j["state"], _from_ms(j.get("start-time", -1))) for j in jobs
        ]
        return sorted(infos, key=lambda j: j.start_time or datetime.min.replace(tzinfo=UTC), reverse=True)

    def job(self, job_id: str) -> dict[str, Any]:
        """Raw ``/jobs/<id>`` details (state, vertices, timestamps)."""
        return self._rest("GET", f"/jobs/{job_id}")

    def completed_checkpoints(self, job_id: str) -> int:
        """How many checkpoints of the job have completed so far."""
        counts = self._rest("GET", f"/jobs/{job_id}/checkpoints").get("counts", {})
        return int(counts.get("completed", 0))

    def resume_point(self, name: str) -> tuple[str, str] | None:
        """Where a new run of job ``name`` resumes: ``("savepoint" | "checkpoint", path)``, or None.

        The newest of the savepoint its last stop wrote and the latest *completed* checkpoint its
        earlier runs retained on disk (``<checkpoint dir>/<job id>/chk-N``; a checkpoint is complete
        once its ``_metadata`` exists), so a job that crashed, or was cancelled, or whose cluster died,
        continues from where its state and Kafka offsets were last made durable — never from the
        earliest offsets.
        """
        entry = self._load_state().get(name, {})
        found: list[tuple[float, str, Path]] = []
        savepoint = entry.get("savepoint")
        if savepoint:
            meta = Path(str(savepoint).removeprefix("file:")) / "_metadata"
            if meta.exists():
                found.append((meta.stat().st_mtime, "savepoint", meta.parent))
        history = list(entry.get("job_ids") or ([entry["job_id"]] if entry.get("job_id") else []))
        for job_id in reversed(history):  # newest run first; a run that never completed one is skipped
            chks = sorted(
                (self.flink.checkpoint_dir / job_id).glob("chk-*/_metadata"),
                key=lambda m: int(m.parent.name.removeprefix("chk-")),
            )
            if chks:
                found.append((chks[-1].stat().st_mtime, "checkpoint", chks[-1].parent))
                break
        if not found:
            return None
        _, kind, path = max(found)
        return kind, str(path)

    def last_savepoint(self, name: str) -> str | None:
        """Savepoint written when the job called ``name`` was last stopped, if any."""
        entry = self._load_state().get(name, {})
        savepoint = entry.get("savepoint")
        return str(savepoint) if savepoint else None

    # --- lifecycle ---------------------------------------------------------------------------

    def submit_python(
        self,
        script: Path,
        args: list[str],
        *,
        name: str,
        savepoint: str | None = None,
        pyfiles: list[Path] | None = None,
        allow_non_restored_state: bool = False,
    ) -> str:
        """Run a PyFlink script detached on the cluster and return its job id.

        ``name`` becomes ``pipeline.name``; the script should call ``execute()`` without a name so it
        sticks. ``args`` are passed to the script after its own path.
        """
        s = self.settings
        argv = [str(self.flink.flink_home / "bin" / "flink"), "run", "-d",
                "-m", f"{s.flink_host or s.host}:{s.flink_rest_port}", f"-Dpipeline.name={name}"]
        if savepoint:
            argv += ["-s", savepoint]
            if allow_non_restored_state:
                argv.append("--allowNonRestoredState")
        if pyfiles:
            argv += ["-pyfs", ",".join(str(p.resolve()) for p in pyfiles)]
        argv += ["-py", str(script.resolve()), *args]
        try:
            proc = subprocess.run(  # argv is built here, never through a shell
                argv, env={**self.flink.flink_env(), **settings_env(s)}, capture_output=True, text=True,
                timeout=_SUBMIT_TIMEOUT_S, cwd=script.resolve().parent, check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise JobError(f"{name}: bin/flink run did not return in {_SUBMIT_TIMEOUT_S:.0f}s") from exc
        output = proc.stdout + proc.stderr
        match = _JOB_ID.search(output)
        if proc.returncode != 0 or match is None:
            raise JobError(f"{name}: submission failed (exit {proc.returncode})\n{output[-6000:]}")
        job_id = match.group(1)
        history = [j for j in self._load_state().get(name, {}).get("job_ids", []) if j != job_id]
        self._record(name, job_id=job_id, job_ids=[*history, job_id][-_HISTORY:])
        return job_id

    def wait_running(self, job_id: str, timeout: float = 120.0) -> None:
        """Block until the job is RUNNING with every vertex running; raise :class:`JobError` otherwise."""
        deadline = time.monotonic() + timeout
        state = "UNKNOWN"
        while time.monotonic() < deadline:
            try:
                details = self.job(job_id)
            except JobError as exc:  # a jobmanager busy for a moment (a job draining a backlog on 2 cores)
                if "unreachable" not in str(exc):
                    raise
                state = f"UNKNOWN ({exc})"
                time.sleep(1)
                continue
            state = details.get("state", "UNKNOWN")
            vertices = details.get("vertices", [])
            if state == "RUNNING" and vertices and all(v.get("status") == "RUNNING" for v in vertices):
                return
            if state in _TERMINAL:
                raise JobError(f"job {job_id} is {state}{self._root_cause(job_id)}")
            time.sleep(0.5)
        raise JobError(f"job {job_id} not running after {timeout:.0f}s (state {state})")

    def stop_with_savepoint(self, job_id: str, timeout: float = 180.0) -> str:
        """Stop the job gracefully after a savepoint; return the savepoint path and remember it."""
        body = {"targetDirectory": self.flink.savepoint_dir.as_uri(), "drain": False}
        name = self.job(job_id).get("name", job_id)
        trigger = self._rest("POST", f"/jobs/{job_id}/stop", body)["request-id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self._rest("GET", f"/jobs/{job_id}/savepoints/{trigger}")
            if result.get("status", {}).get("id") == "COMPLETED":
                operation = result.get("operation", {})
                if "location" not in operation:
                    cause = operation.get("failure-cause", {}).get("stack-trace", operation)
                    raise JobError(f"job {job_id}: stop-with-savepoint failed\n{str(cause)[:4000]}")
                location = str(operation["location"])
                self._record(str(name), job_id=job_id, savepoint=location)
                return location
            time.sleep(0.5)
        raise JobError(f"job {job_id}: savepoint not completed after {timeout:.0f}s")

    def cancel(self, job_id: str) -> None:
        """Cancel the job without a savepoint (its last checkpoint is retained)."""
        self._rest("PATCH", f"/jobs/{job_id}?mode=cancel")

    # --- plumbing ----------------------------------------------------------------------------

    def _rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.settings.flink_rest_url}{path}", data=data, method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise JobError(f"{method} {path}: HTTP {exc.code} {detail}") from exc
        except OSError as exc:
            raise JobError(f"{method} {path}: Flink REST API unreachable ({exc})") from exc
        parsed = json.loads(raw) if raw.strip() else {}
        return parsed if isinstance(parsed, dict) else {"value": parsed}

    def _root_cause(self, job_id: str) -> str:
        try:
            trace = self._rest("GET", f"/jobs/{job_id}/exceptions").get("root-exception") or ""
        except JobError:
            return ""
        return f"\n{str(trace)[:4000]}" if trace else ""

    def _load_state(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def set_desired(self, name: str, desired: str) -> None:
        """Remember whether job ``name`` should run (``running``) or was stopped on purpose
        (``stopped``): the stack supervisor restarts only the former after a cluster crash."""
        self._record(name, desired=desired)

    def desired_running(self) -> list[str]:
        """Names of the jobs that should be running."""
        return sorted(n for n, e in self._load_state().items() if e.get("desired") == "running")

    def _record(self, name: str, **fields: Any) -> None:
        # Read-modify-write under an exclusive lock: jobs are submitted side by side and the stack
        # supervisor records too; without it one job's update could drop the other's.
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_file.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._load_state()
            entry = state.setdefault(name, {})
            entry.update(fields, updated=datetime.now(UTC).isoformat())
            tmp = self.state_file.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.state_file)

    def latest_checkpoint(self, job_id: str) -> dict[str, Any] | None:
        """The job's last completed checkpoint as the REST API gives it (``id``,
        ``latest_ack_timestamp`` in epoch ms, ``external_path``, ...), or None before the first one."""
        latest = self._rest("GET", f"/jobs/{job_id}/checkpoints").get("latest") or {}
        completed = latest.get("completed")
        return completed if isinstance(completed, dict) else None


def _from_ms(ms: int) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms and ms > 0 else None
