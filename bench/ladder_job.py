"""The bars job cut after one stage, over a bounded read of ``ticks.raw`` (submitted by bench/ladder.py).

``python bench/ladder_job.py STAGE`` builds the product's own ``bars`` job from ``flink_sql/`` (the
same statements, settings and bridges as ``marketpipe/jobs/pipeline.py``), with two changes:

* the Kafka source stops at the offsets the topic has when the job starts (``scan.bounded.mode``), so
  the job finishes once the backlog is read and its run time is the drain time;
* only the statements up to the stage run: the files after it are left out, and a stage that ends
  inside a file (``source``, ``clean``, ``bars``) writes its last view into a ``blackhole`` table.

A DataStream bridge joins the job as soon as its ``-- @python`` line runs, consumer or not, so a
stage must stop before the next bridge rather than merely leave its output unread.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from marketpipe.jobs.pipeline import build, create_environment
from marketpipe.jobs.sql import Statement, load_statements
from marketpipe.settings import load_settings


@dataclass(frozen=True)
class Stage:
    """Where the job is cut: the files kept whole, and an optional probe ``(file, view, column)``."""

    files: tuple[str, ...]
    probe: tuple[str, str, str] | None
    inserts: tuple[str, ...] = ()  # INSERT targets kept (by prefix of the table name); () = every one
    what: str = ""


_SOURCE = ("00_catalog.sql", "10_ticks_source.sql")
_CLEAN = (*_SOURCE, "11_ticks_clean.sql")
_BARS = (*_CLEAN, "12_bars.sql")
STAGES: dict[str, Stage] = {
    "source": Stage(_SOURCE, ("10_ticks_source.sql", "ticks_raw", "kafka_offset"),
                    what="Kafka source, event time and watermark (mp_tick_event_time)"),
    "clean": Stage(_CLEAN, ("11_ticks_clean.sql", "ticks_parsed", "kafka_offset"),
                   what="+ parse and classify (mp_parse_tick, the cleaning CASE, read_once)"),
    "bars": Stage(_BARS, ("12_bars.sql", "bars", "volume"),
                  what="+ the bar step (BarStep) and rollups"),
    "postgres": Stage((*_BARS, "13_bars_sinks.sql"), None,
                      what="+ the PostgreSQL sinks (bars, ticks_dlq, tick_counts)"),
    "topics": Stage((*_BARS, "13_bars_sinks.sql", "14_bars_topics_lake.sql"), None, ("pg_", "kafka_"),
                    what="+ the Kafka topics (ticks.clean, dead letters, bars.1m, rollups)"),
    "all": Stage((*_BARS, "13_bars_sinks.sql", "14_bars_topics_lake.sql"), None,
                 what="+ the Iceberg lake (bronze, silver): the product's bars job"),
}
PROBE_TABLE = "ladder_probe"


def bounded(st: Statement) -> Statement:
    """The raw-topic source, stopping at the topic's end offsets when the job starts."""
    if "CREATE TABLE ticks_kafka" not in st.sql:
        return st
    marker = "'scan.startup.mode'"
    if marker not in st.sql:
        raise RuntimeError(f"{st.file}:{st.line}: no {marker} option to put the bounded mode beside")
    return Statement(st.file, st.line, st.sql.replace(marker, f"'scan.bounded.mode' = 'latest-offset', {marker}", 1))


def stage_statements(stage: Stage, statements: Sequence[Statement]) -> list[Statement]:
    """The job's statements cut at ``stage``, with the probe sink when the stage has one."""
    out: list[Statement] = []
    for st in statements:
        if st.file not in stage.files:
            continue
        if st.is_insert:
            if stage.probe is not None:
                continue
            target = st.sql.split(None, 3)[2]
            if stage.inserts and not target.split(".")[-1].startswith(stage.inserts):
                continue
        out.append(bounded(st))
    if stage.probe is not None:
        file, view, column = stage.probe
        out.append(Statement(file, 0, f"CREATE TEMPORARY TABLE {PROBE_TABLE} (v BIGINT) "
                                      "WITH ('connector' = 'blackhole')"))
        out.append(Statement(file, 0, f"INSERT INTO {PROBE_TABLE} SELECT CAST({column} AS BIGINT) FROM {view}"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Build the cut job and run it to the end of the bounded input."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in STAGES:
        print(f"usage: ladder_job.py {{{'|'.join(STAGES)}}}", file=sys.stderr)
        return 2
    settings = load_settings()
    env, t_env = create_environment(settings, "bars")
    statement_set = build(t_env, stage_statements(STAGES[args[0]], load_statements(settings, "bars")))
    statement_set.attach_as_datastream()
    env.execute(f"bench-ladder-{args[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
