"""Which flink_sql files each job runs: the ``-- @jobs:`` first line of every file (marketpipe/jobs/sql.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketpipe.exceptions import ConfigError
from marketpipe.jobs.sql import JOBS, SQL_DIR, file_jobs, job_files, split_statements


def _names(job: str, sql_dir: Path = SQL_DIR) -> list[str]:
    return [str(p.relative_to(sql_dir)) for p in job_files(job, sql_dir)]


def test_every_sql_file_names_its_jobs() -> None:
    files = [*SQL_DIR.glob("*.sql"), *SQL_DIR.glob("*/*.sql")]
    assert files
    for path in files:
        assert file_jobs(path), path


def test_the_jobs_run_these_files_in_flow_order() -> None:
    assert _names("bars") == [
        "00_catalog.sql", "10_ticks_source.sql", "11_ticks_clean.sql", "12_bars.sql", "13_bars_sinks.sql",
        "14_bars_topics_lake.sql",
    ]
    assert _names("indicators") == [
        "00_catalog.sql", "20_bars_source.sql", "21_indicators.sql", "22_signals.sql",
        "23_indicator_sinks.sql", "24_signals_topic.sql",
    ]
    # The batch jobs read a file in place of Kafka and write no topic.
    assert _names("backfill") == [
        "00_catalog.sql", "backfill/20_bars_file.sql", "21_indicators.sql", "22_signals.sql",
        "23_indicator_sinks.sql",
    ]
    assert _names("backfill-ticks") == [
        "00_catalog.sql", "backfill/10_ticks_file.sql", "11_ticks_clean.sql", "12_bars.sql",
        "13_bars_sinks.sql",
    ]


def test_a_new_file_joins_the_jobs_its_header_names(tmp_path: Path) -> None:
    (tmp_path / "00_a.sql").write_text("-- @jobs: bars, indicators\nSELECT 1;\n")
    (tmp_path / "15_extra.sql").write_text("-- @jobs: bars\nSELECT 2;\n")
    (tmp_path / "25_other.sql").write_text("-- @jobs: indicators\nSELECT 3;\n")
    assert _names("bars", tmp_path) == ["00_a.sql", "15_extra.sql"]
    assert _names("indicators", tmp_path) == ["00_a.sql", "25_other.sql"]


def test_a_file_without_a_header_is_an_error_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "10_x.sql").write_text("-- 10 · no header\nSELECT 1;\n")
    with pytest.raises(ConfigError, match="first line must name its jobs"):
        job_files("bars", tmp_path)


def test_an_unknown_job_in_a_header_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "10_x.sql").write_text("-- @jobs: bars, bras\nSELECT 1;\n")
    with pytest.raises(ConfigError, match="unknown job"):
        job_files("bars", tmp_path)
    with pytest.raises(ConfigError, match="unknown job"):
        job_files("nope", tmp_path)


def test_the_header_is_not_a_statement_or_a_malformed_directive() -> None:
    stmts = list(split_statements("-- @jobs: bars\nSELECT 1;\n"))
    assert [s.sql for s in stmts] == ["SELECT 1"]
    with pytest.raises(ConfigError, match="malformed directive"):
        list(split_statements("-- @job bars\nSELECT 1;\n"))


def test_jobs_listed_once() -> None:
    assert len(set(JOBS)) == len(JOBS)
