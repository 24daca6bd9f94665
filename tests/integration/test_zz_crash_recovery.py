"""Crash and outage recovery on the real stack, with exactly-once effect on every sink (issue 9).

Last in file order on purpose: it kills the session stack's services. Each test replays a fixture of
its own symbols and day while faults are injected, waits for the pipeline to settle, then checks
every sink against an uninterrupted run's oracle (crash_checks.py): PostgreSQL rows equal the DuckDB
bars and TA-Lib indicators, the Kafka topics read_committed hold each record once, the Iceberg tables
each row once.

* ``test_sink_and_broker_outages``: PostgreSQL stopped for 30 s, then the Kafka broker killed and
  restarted, mid-stream.
* ``test_kill_taskmanager_and_cluster``: ``kill -9`` of the taskmanager, then of the jobmanager and
  taskmanager together, at random points; the stack's supervisor restarts them and resumes the jobs
  from their latest retained checkpoints. ``MARKETPIPE_CHAOS_KILLS`` (``make chaos``: 6) sets how many
  kills, alternating; ``MARKETPIPE_CHAOS_SEED`` the random points (printed on failure).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from marketpipe.feeds.fixtures import Fixture, write_fixture
from marketpipe.jobs.control import PipelineControl
from marketpipe.settings import REPO_ROOT, Settings
from marketpipe.stack import process
from marketpipe.stack.flink import FlinkService
from marketpipe.stack.kafka import KafkaService
from marketpipe.stack.postgres import PostgresService
from tests.integration.crash_checks import check_exactly_once, wait_settled

pytestmark = pytest.mark.integration

NY = ZoneInfo("America/New_York")
KILLS = int(os.environ.get("MARKETPIPE_CHAOS_KILLS", "2"))
SEED = int(os.environ.get("MARKETPIPE_CHAOS_SEED", str(time.time_ns() % 100_000)))


def _fixture(tmp_path: Path, prefix: str, day: int, *, symbols: int = 5, minutes: int = 360) -> Fixture:
    names = [f"{prefix}{chr(ord('A') + i)}" for i in range(symbols)]
    start = datetime(2024, 6, day, 9, 30, tzinfo=NY)
    return write_fixture(tmp_path / f"{prefix}.csv", symbols=names, minutes=minutes, seed=day, start=start)


def _replay(stack: Any, fixture: Fixture, speed: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "replay", str(fixture.path), "--speed", str(speed),
         "--wait", "--timeout", "1200", "--quiet"],
        env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _finish(replay: subprocess.Popen[str], timeout: float = 1500) -> str:
    out, _ = replay.communicate(timeout=timeout)
    assert replay.returncode == 0, f"replay failed:\n{out}"
    return out


def _jobs_running(settings: Settings, timeout: float = 400) -> None:
    """Until both jobs run again *and* have each completed a checkpoint since this call: a job still
    shown RUNNING a moment after its taskmanager died has not recovered."""
    control = PipelineControl(settings)
    since_ms = time.time() * 1000
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            ids = {job: control.running_job(job) for job in ("bars", "indicators")}
            seen = {job: control.jobs.job(i).get("state") if i else None for job, i in ids.items()}
            fresh = all(
                i is not None and seen[job] == "RUNNING"
                and (cp := control.jobs.latest_checkpoint(i)) is not None
                and cp.get("latest_ack_timestamp", 0) > since_ms
                for job, i in ids.items()
            )
        except Exception:  # noqa: BLE001 - the REST API is down while the cluster restarts
            fresh = False
        if fresh:
            return
        time.sleep(2)
    pytest.fail(f"jobs not running with a new checkpoint {timeout:.0f}s after a fault: {seen}")


def _kill9(pid_file: Path) -> int:
    pid = process.read_pid(pid_file)
    assert pid is not None, f"{pid_file} names no running process"
    os.kill(pid, signal.SIGKILL)
    return pid


def _assert_exactly_once(stack: Any, fixture: Fixture) -> None:
    wait_settled(stack.settings, fixture)
    problems = check_exactly_once(stack.settings, fixture)
    assert problems == [], "\n".join(problems)


def test_sink_and_broker_outages(stack: Any, tmp_path: Path) -> None:
    s = stack.settings
    fixture = _fixture(tmp_path, "OU", 24)
    replay = _replay(stack, fixture, speed=300)
    time.sleep(15)
    postgres = PostgresService(s)
    postgres.stop()
    time.sleep(30)
    postgres.start()
    _jobs_running(s)
    time.sleep(5)
    kafka = KafkaService(s)
    _kill9(kafka.pid_file)
    time.sleep(15)
    kafka.start()
    _finish(replay)
    _jobs_running(s)
    _assert_exactly_once(stack, fixture)


def test_kill_taskmanager_and_cluster(stack: Any, tmp_path: Path) -> None:
    s = stack.settings
    rng = random.Random(SEED)
    # The replay must outlast the kills: each cluster restart re-submits both jobs (about a minute).
    fixture = _fixture(tmp_path, "KC", 25, symbols=5 * max(1, KILLS // 2))
    replay = _replay(stack, fixture, speed=max(40.0, 300 / max(1, KILLS // 2)))
    flink = FlinkService(s)
    done: list[str] = []
    for i in range(KILLS):
        time.sleep(rng.uniform(3, 20))
        if i % 2 == 0:
            done.append(f"taskmanager pid {_kill9(flink.taskmanager_pid_file)}")
        else:
            jm, tm = process.read_pid(flink.jobmanager_pid_file), process.read_pid(flink.taskmanager_pid_file)
            assert jm is not None and tm is not None, "the cluster is not up before a kill"
            os.kill(jm, signal.SIGKILL)
            os.kill(tm, signal.SIGKILL)
            done.append(f"cluster: jobmanager pid {jm}, taskmanager pid {tm}")
        time.sleep(3)
        _jobs_running(s)
    print(f"seed {SEED}: {done}")
    _finish(replay)
    _jobs_running(s)
    _assert_exactly_once(stack, fixture)
    log = (s.log_dir / "supervisor.log").read_text()
    assert "taskmanager was down" in log and (KILLS < 2 or "jobmanager was down" in log)
