"""Fixtures of the orchestration tier (runs under ``.venv-orch``; ``make test`` runs it after the main suite).

The real stack (PostgreSQL + Iceberg catalog, Kafka, Flink) is started with the pipeline venv's CLI
(``.venv/bin/marketpipe stack up``) rather than the ``stack`` fixture: that fixture also starts the
streaming jobs, which these tests do not need, and imports launcher code that expects ``.venv``.
Ports are the test stack's plus 50 (plus ``MARKETPIPE_TEST_PORT_OFFSET``) and the data directory is
its own, so it never meets the main suite's stack.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketpipe.settings import REPO_ROOT, Settings, settings_env
from tests.conftest import stack_ports

PORT_OFFSET = int(os.environ.get("MARKETPIPE_TEST_PORT_OFFSET", "0")) + 50
DATA_DIR = REPO_ROOT / ".data" / f"test-orch-{PORT_OFFSET}"
MARKETPIPE = REPO_ROOT / ".venv" / "bin" / "marketpipe"


def orch_settings() -> Settings:
    """Settings of the orchestration tier's stack."""
    ports: dict[str, Any] = stack_ports(PORT_OFFSET)  # Settings' fields are of many types; these are ports
    return Settings(
        data_dir=DATA_DIR,
        **ports,
        daily_symbols="AAPL,MSFT,SPY",
        daily_source="stooq",
        daily_start="2024-03-01",
        loader_rate_limit_per_s=0,
    )


def _cli(settings: Settings, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(MARKETPIPE), *args], env={**os.environ, **settings_env(settings)},
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    assert proc.returncode == 0, f"marketpipe {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def orch_stack() -> Iterator[Settings]:
    """The real local stack, empty at the start of the session, stopped at the end."""
    if not MARKETPIPE.exists():
        pytest.fail(f"{MARKETPIPE} is missing: `make install` creates the pipeline venv")
    settings = orch_settings()
    _cli(settings, "stack", "down")
    if DATA_DIR.exists():
        shutil.rmtree(DATA_DIR)
    _cli(settings, "stack", "up", timeout=900)
    try:
        yield settings
    finally:
        _cli(settings, "stack", "down")


@pytest.fixture(scope="session")
def provider() -> Iterator[str]:
    """A local fake of Stooq serving the recorded March 2024 answers; yields its base URL."""
    from tests.fakes.providers import FakeProviderServer

    with FakeProviderServer() as server:
        yield server.base_url


@pytest.fixture(scope="session")
def recordings() -> Path:
    """The recorded provider answers (tests/data/providers)."""
    return REPO_ROOT / "tests" / "data" / "providers"
