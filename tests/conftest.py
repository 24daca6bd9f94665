"""Shared fixtures. The integration tier starts the real local stack ONCE per session.

The test stack runs on its own ports and data directory (``.data/test-stack``), so a demo stack left
running with ``DEMO_KEEP=1`` is not disturbed; it is wiped at the start of the session so every run
starts from empty topics and tables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from marketpipe.settings import REPO_ROOT, Settings, settings_env

# Shared fakes import as `from tests.fakes.providers import ...` (unit and orchestration tests alike):
# that needs the repository root on sys.path, which pytest's rootdir handling does not add here.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Two test sessions can run side by side (e.g. while developing): give the second one another
# MARKETPIPE_TEST_PORT_OFFSET (added to every port; it also gets its own data directory).
PORT_OFFSET = int(os.environ.get("MARKETPIPE_TEST_PORT_OFFSET", "0"))
TEST_DATA_DIR = REPO_ROOT / ".data" / ("test-stack" if PORT_OFFSET == 0 else f"test-stack-{PORT_OFFSET}")


# The test stacks' fixed ports, before an offset. All are below Linux's ephemeral range (32768-60999):
# a port in it can be held for a moment as the local end of some outgoing connection (a scrape, a
# REST call), and a service binding it then fails with "address already in use".
TEST_PORTS = {
    "kafka_port": 27092, "kafka_controller_port": 27093, "postgres_port": 25432, "flink_rest_port": 28081,
    "flink_rpc_port": 26123, "prometheus_port": 29090, "alertmanager_port": 29095,
    "postgres_exporter_port": 29187, "kafka_jmx_exporter_port": 29404, "metrics_port": 29400,
    "chart_port": 28050, "schema_registry_port": 28085,
}


def stack_ports(offset: int) -> dict[str, int]:
    """Every port setting of a test stack, shifted by ``offset`` (the orchestration tier adds 50)."""
    return {name: port + offset for name, port in TEST_PORTS.items()}


def test_settings() -> Settings:
    """Settings of the session's test stack (ports away from the defaults: :data:`TEST_PORTS`)."""
    ports: dict[str, Any] = stack_ports(PORT_OFFSET)  # Settings' fields are of many types; these are ports
    return Settings(
        data_dir=TEST_DATA_DIR,
        **ports,
        checkpoint_interval_ms=2000,
        # long enough that tests/integration/test_revisions.py can revise a bar after its 5m rollup closed
        bars_grace_ms=300_000,
    )


@dataclass
class RunningStack:
    """What integration tests get: settings of the running stack and helpers to drive it."""

    settings: Settings

    @property
    def env(self) -> dict[str, str]:
        """Environment that points a ``marketpipe`` subprocess at this stack."""

        return {**os.environ, **settings_env(self.settings)}

    def cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run the ``marketpipe`` CLI against this stack; fail the test with its output on error."""
        proc = subprocess.run(
            [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, f"marketpipe {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc


def _wipe(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    """The real stack (PostgreSQL, Kafka, Flink, Iceberg catalog) with the pipeline job running."""
    from marketpipe.jobs.control import PipelineControl
    from marketpipe.stack.launcher import Stack

    settings = test_settings()
    local = Stack(settings)
    local.down()  # a previous session that died may have left its services behind
    _wipe(TEST_DATA_DIR)
    control = PipelineControl(settings)
    try:
        local.up()  # inside the try: a start-up that fails half-way still stops what it started
        control.start(fresh=True)
        yield RunningStack(settings)
    finally:
        try:
            control.stop(savepoint=False)
        finally:
            local.down()


REPLAY_SYMBOLS = 5
REPLAY_MINUTES = 300


@pytest.fixture(scope="session")
def replayed(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A deterministic tick file replayed into the stack with ``marketpipe replay --wait``."""
    from marketpipe import db
    from marketpipe.feeds.fixtures import write_fixture

    path = tmp_path_factory.mktemp("replay") / "ticks.csv"
    fixture = write_fixture(path, symbols=REPLAY_SYMBOLS, minutes=REPLAY_MINUTES, seed=7)
    t0 = time.monotonic()
    stack.cli("replay", str(path), "--wait", "--timeout", "600", "--quiet")
    seconds = time.monotonic() - t0
    # `--wait` covers bars; the indicators job reads them back from bars.1m a moment later.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counts = db.table_counts(stack.settings)
        if counts["indicators_1m"] >= counts["bars_1m"]:
            break
        time.sleep(1)
    return {"path": path, "fixture": fixture, "seconds": seconds}


