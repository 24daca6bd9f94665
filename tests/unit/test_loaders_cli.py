"""``marketpipe daily-load`` as a user runs it: the installed command against the fake Stooq server."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from marketpipe.settings import REPO_ROOT
from tests.fakes.providers import FakeProviderServer

CLI = str(REPO_ROOT / ".venv" / "bin" / "marketpipe")


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as fake:
        yield fake


def run(server: FakeProviderServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MARKETPIPE_STOOQ_BASE_URL": server.base_url,
        "MARKETPIPE_TIINGO_BASE_URL": server.base_url,
        "MARKETPIPE_LOADER_RETRIES": "0",
        "MARKETPIPE_LOADER_RATE_LIMIT_PER_S": "0",
    }
    env.pop("MARKETPIPE_TIINGO_API_KEY", None)
    return subprocess.run([CLI, "daily-load", *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_prints_csv_rows(server: FakeProviderServer) -> None:
    proc = run(server, "--source", "stooq", "--symbols", "AAPL,MSFT", "--start", "2024-03-01", "--end", "2024-03-15")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 22 and server.count("stooq") == 2
    assert rows[0] == {
        "symbol": "AAPL", "session_date": "2024-03-01", "bar_start": "2024-03-01T14:30:00+00:00",
        "open": "177.54", "high": "179.5", "low": "175.44", "close": "177.69", "volume": "111439438",
        "adj_close": "177.69", "dividend": "", "split_factor": "", "source": "stooq",
    }
    assert "22 bars, 0 rejected" in proc.stderr


def test_writes_csv_file(server: FakeProviderServer, tmp_path: Path) -> None:
    out = tmp_path / "spy.csv"
    proc = run(server, "--source", "stooq", "--symbols", "SPY", "--start", "2024-03-11", "--end", "2024-03-15",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert [r["session_date"] for r in csv.DictReader(out.open())] == [f"2024-03-{d}" for d in range(11, 16)]


def test_errors_exit_2_with_a_clear_message(server: FakeProviderServer) -> None:
    proc = run(server, "--source", "stooq", "--symbols", "ZZZZ", "--start", "2024-03-01", "--end", "2024-03-15")
    assert proc.returncode == 2 and "stooq: no data for ZZZZ" in proc.stderr
    proc = run(server, "--source", "tiingo", "--symbols", "AAPL", "--start", "2024-03-01", "--end", "2024-03-15")
    assert proc.returncode == 2 and "no API key" in proc.stderr
    proc = run(server, "--source", "stooq", "--symbols", "AAPL", "--start", "2024-3-1x", "--end", "2024-03-15")
    assert proc.returncode == 2 and "must be YYYY-MM-DD" in proc.stderr
    assert server.count() == 1
