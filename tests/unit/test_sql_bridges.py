"""Nothing is registered out of sight: every view or table a job's SQL reads is declared in its files
before it is read — by ``CREATE`` or as an output named on a ``-- @python`` line (marketpipe/jobs/sql.py)."""

from __future__ import annotations

import re

import pytest

from marketpipe.jobs.sql import JOBS, load_statements, split_statements
from marketpipe.settings import Settings

_CREATED = re.compile(r"^\s*CREATE\s+(?:TEMPORARY\s+)?(?:VIEW|TABLE)\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?", re.I)
_READ = re.compile(r"\b(?:FROM|JOIN)\s+`?(\w+)`?(?!\s*\()", re.I)
_CATALOG = re.compile(r"^\s*CREATE\s+CATALOG\s+`?(\w+)`?", re.I)


def test_a_bridge_line_may_name_more_outputs() -> None:
    text = "-- @python bars_all, ticks_unbarred = udfs.flink.bars:build_bars(bar_input)\n"
    (st,) = split_statements(text)
    assert st.bridge is not None
    assert (st.bridge.view, st.bridge.more_views, st.bridge.views) == (
        "bars_all", ("ticks_unbarred",), ("bars_all", "ticks_unbarred"))
    assert (st.bridge.module, st.bridge.function, st.bridge.input_view) == (
        "udfs.flink.bars", "build_bars", "bar_input")


@pytest.mark.parametrize("job", JOBS)
def test_every_view_read_is_declared_first(job: str) -> None:
    declared: set[str] = set()
    unknown = []
    for st in load_statements(Settings(), job):
        if st.bridge is not None:
            if st.bridge.input_view not in declared:
                unknown.append((st.file, st.line, st.bridge.input_view))
            declared.update(st.bridge.views)
            continue
        sql = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", st.sql))  # no strings, no comments
        if _CATALOG.match(sql) or sql.upper().startswith(("USE", "SET")):
            continue
        created = _CREATED.match(sql)
        for name in _READ.findall(sql):
            if name.lower() not in declared and name.upper() not in ("TABLE", "UNNEST", "LATERAL"):
                unknown.append((st.file, st.line, name))
        if created:
            declared.add(created.group(1).lower())
        declared |= {m.lower() for m in re.findall(r"\bAS\s+(\w+)\s*\(", sql, re.I)}  # CTEs
    assert unknown == []
