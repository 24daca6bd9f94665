"""dbt over what the running pipeline wrote: every model builds, every data test passes, the mart has rows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Protocol

import psycopg
import pytest

from marketpipe.dbt import dbt_env
from marketpipe.settings import REPO_ROOT, Settings

DBT_PROJECT = REPO_ROOT / "dbt_project"
# dbt has its own venv: dbt-core 1.11 needs protobuf>=6, apache-beam (under apache-flink) needs <6.
DBT_CANDIDATES = (REPO_ROOT / ".venv-dbt" / "bin" / "dbt", REPO_ROOT / ".venv" / "bin" / "dbt")


class _Stack(Protocol):
    settings: Settings


def dbt_executable() -> Path:
    """The dbt CLI of ``.venv-dbt`` (or ``.venv``); fail when neither has one (`make test` installs it)."""
    for candidate in DBT_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "dbt is not installed: python3.11 -m venv .venv-dbt && "
        ".venv-dbt/bin/pip install -r requirements-dbt.txt"
    )


@pytest.mark.integration
def test_dbt_build_over_pipeline_output(stack: _Stack, replayed: object, tmp_path: Path) -> None:
    settings = stack.settings
    result = subprocess.run(
        [
            str(dbt_executable()),
            "build",
            "--project-dir", str(DBT_PROJECT),
            "--profiles-dir", str(DBT_PROJECT),
            # keep artifacts out of the working tree (other tests may build concurrently)
            "--target-path", str(tmp_path / "target"),
            "--log-path", str(tmp_path / "logs"),
            "--no-use-colors",
        ],
        env=dbt_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout}\n{result.stderr}"

    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute("select count(*) from analytics.fct_bars_with_indicators_1m").fetchone()
    assert row is not None and row[0] > 0, "the mart is empty although the pipeline wrote bars"
