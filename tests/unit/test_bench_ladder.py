"""bench/ladder_job.py cuts the product's bars job after each stage: check the cut, not a speed."""

from __future__ import annotations

import pytest

from bench.ladder_job import PROBE_TABLE, STAGES, stage_statements
from marketpipe.jobs.sql import Statement, load_statements
from marketpipe.settings import Settings


@pytest.fixture(scope="module")
def statements() -> list[Statement]:
    return load_statements(Settings(), "bars")


def _targets(sts: list[Statement]) -> list[str]:
    return [st.sql.split(None, 3)[2].split(".")[-1] for st in sts if st.is_insert]


def _bridges(sts: list[Statement]) -> list[str]:
    return [st.bridge.function for st in sts if st.bridge is not None]


def test_every_stage_reads_the_topic_bounded(statements: list[Statement]) -> None:
    for name, stage in STAGES.items():
        sts = stage_statements(stage, statements)
        source = [st for st in sts if "CREATE TABLE ticks_kafka" in st.sql]
        assert len(source) == 1, name
        assert "'scan.bounded.mode' = 'latest-offset'" in source[0].sql, name
        assert _targets(sts), name  # something to run


def test_probe_stages_stop_before_the_next_bridge(statements: list[Statement]) -> None:
    source = stage_statements(STAGES["source"], statements)
    assert _bridges(source) == [] and _targets(source) == [PROBE_TABLE]
    clean = stage_statements(STAGES["clean"], statements)
    assert _bridges(clean) == ["read_once"] and _targets(clean) == [PROBE_TABLE]
    bars = stage_statements(STAGES["bars"], statements)
    assert _bridges(bars) == ["read_once", "build_bars"] and _targets(bars) == [PROBE_TABLE]


def test_sink_stages_add_the_product_inserts_in_order(statements: list[Statement]) -> None:
    product = _targets(statements)
    pg = _targets(stage_statements(STAGES["postgres"], statements))
    topics = _targets(stage_statements(STAGES["topics"], statements))
    everything = _targets(stage_statements(STAGES["all"], statements))
    assert pg and all(t.startswith("pg_") for t in pg)
    assert set(pg) < set(topics) < set(everything)
    assert all(t.startswith(("pg_", "kafka_")) for t in topics)
    assert everything == product  # the last stage is the product's bars job
