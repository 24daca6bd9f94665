"""The streaming pipeline jobs, built from ``flink_sql/``.

Two jobs, joined by the ``bars.1m`` topic:

* ``bars``: raw ticks -> clean / dead-letter -> one-minute bars -> sinks
* ``indicators``: bars -> indicators (Python) -> signals -> sinks

Each runs the ``flink_sql/`` files whose first line (``-- @jobs: ...``) names it (marketpipe/jobs/sql.py).

Submitted by ``marketpipe jobs start`` as ``bin/flink run -py marketpipe/jobs/pipeline.py NAME``;
the client side runs this file to build the job graph (reading the SQL files and the same settings as
the CLI), the cluster runs it. DDL and views execute at once; every ``INSERT`` joins one statement set,
so a job's sinks share one source read, one checkpoint and one restart. (A Table -> DataStream bridge
is planned apart from the statement set, which is why the Python step starts its own job that reads
bars from Kafka: inside the ``bars`` job it would make the planner read the ticks twice.)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from marketpipe.jobs.sql import SQL_DIR, Statement, load_statements
from marketpipe.rules.bar_config import bar_config
from marketpipe.settings import Settings, load_settings

JOBS = ("bars", "indicators")  # the streaming jobs `marketpipe jobs` manages
BATCH_JOBS = ("backfill", "backfill-ticks")  # run by `marketpipe backfill`, to completion


def job_name(job: str) -> str:
    """Name of the Flink job on the cluster."""
    return f"marketpipe-{job}"


def table_config(settings: Settings, job: str) -> dict[str, str]:
    """Job configuration that belongs to the pipeline rather than to the cluster."""
    conf = {
        "pipeline.name": job_name(job),
        "table.local-time-zone": "UTC",
        "execution.checkpointing.interval": f"{settings.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "parallelism.default": str(settings.flink_parallelism),
        # Chained operators hand records over without a defensive copy (the SQL operators and our
        # functions never keep an input row past the call): measured as a large share of the chain.
        "pipeline.object-reuse": "true",
        # Python bundles: at most 1 s of latency (bundle.time); the size only matters for ticks through
        # the bars step, where 10000 measured ~1.4x the throughput of 1000 (make bench).
        "python.fn-execution.bundle.size": "10000",
        "python.fn-execution.bundle.time": "1000",
        # No table.exec.mini-batch: its assigner, put after the source, emits processing-time
        # watermarks that overtake the event-time ones the bar step waits on (measured: every trade late).
        # Read by udfs/flink/indicators.py (IndicatorConfig); empty means TA-Lib's default periods.
        "marketpipe.indicator-periods": json.dumps(settings.indicator_periods),
        # Read by udfs/flink/bars.py: bar rules and reference data (docs/bars.md).
        "marketpipe.bars": json.dumps(bar_config(settings).to_dict()),
    }
    if settings.source_idle_timeout_ms > 0:
        # Off by default: our producers heartbeat every partition, and an idle partition that wakes
        # up with older data would find the watermark already past it (its ticks would be late).
        conf["table.exec.source.idle-timeout"] = f"{settings.source_idle_timeout_ms} ms"
    return conf


def build(t_env: Any, statements: Sequence[Statement]) -> Any:
    """Execute DDL and bridges in order (a bridge's outputs registered as the views its line names);
    return the statement set holding every INSERT."""
    statement_set = t_env.create_statement_set()
    inserts = 0
    for st in statements:
        try:
            if st.bridge is not None:
                func = _resolve(st.bridge.module, st.bridge.function)
                out = func(t_env, t_env.from_path(st.bridge.input_view))
                tables = out if isinstance(out, tuple) else (out,)
                if len(tables) != len(st.bridge.views):
                    raise RuntimeError(f"{st.bridge.module}:{st.bridge.function} returned {len(tables)} "
                                       f"table(s) for the views {', '.join(st.bridge.views)}")
                for view, table in zip(st.bridge.views, tables, strict=True):
                    t_env.create_temporary_view(view, table)
            elif st.is_insert:
                statement_set.add_insert_sql(st.sql)
                inserts += 1
            else:
                t_env.execute_sql(st.sql)
        except Exception as exc:  # a Py4J error says little about where: add file and line
            raise RuntimeError(f"{st.file}:{st.line}: {exc}") from exc
    if inserts == 0:
        raise RuntimeError(f"no INSERT statements in the job's files in {SQL_DIR}: nothing to run")
    return statement_set


def _resolve(module: str, function: str) -> Callable[..., Any]:
    func = getattr(importlib.import_module(module), function, None)
    if not callable(func):
        raise RuntimeError(f"{module}:{function} is not a function")
    return func  # type: ignore[no-any-return]


def create_environment(settings: Settings, job: str) -> tuple[Any, Any]:
    """A streaming StreamExecutionEnvironment + StreamTableEnvironment configured for the pipeline."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment

    conf = Configuration()
    for key, value in table_config(settings, job).items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    t_env = StreamTableEnvironment.create(
        env, environment_settings=EnvironmentSettings.new_instance().in_streaming_mode().build()
    )
    for key, value in table_config(settings, job).items():
        t_env.get_config().set(key, value)
    return env, t_env


def main(argv: Sequence[str] | None = None) -> int:
    """Build and run the job (detached on a cluster when submitted by ``bin/flink run -d``)."""
    parser = argparse.ArgumentParser(prog="pipeline.py", description=__doc__)
    parser.add_argument("job", choices=JOBS + BATCH_JOBS, help="which job to build")
    parser.add_argument("--explain", action="store_true", help="print the plan instead of running")
    parser.add_argument("--detach", action="store_true",
                        help="batch jobs: return once submitted (the caller follows the job over REST)")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.job in BATCH_JOBS:
        return _run_batch(settings, args.job, explain=args.explain, wait=not args.detach)
    env, t_env = create_environment(settings, args.job)
    statement_set = build(t_env, load_statements(settings, args.job))
    if args.explain:
        print(statement_set.explain())
        return 0
    statement_set.attach_as_datastream()
    env.execute(job_name(args.job))
    return 0


def _run_batch(settings: Settings, job: str, *, explain: bool, wait: bool = True) -> int:
    """A bounded job in BATCH mode over the same SQL files; returns when it has finished (``wait``) or
    once it is submitted (a long backfill must not hold ``bin/flink run`` past its timeout)."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    conf = t_env.get_config()
    for key, value in table_config(settings, job).items():
        if not key.startswith(("execution.checkpointing", "table.exec.source.idle")):
            conf.set(key, value)
    statement_set = build(t_env, load_statements(settings, job))
    if explain:
        print(statement_set.explain())
        return 0
    result = statement_set.execute()
    if wait:
        result.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
