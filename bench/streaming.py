"""Measurement 2: per-update cost of ``attach_indicators`` in a local PyFlink streaming mini-cluster.

Run as its own process (``python -m bench.streaming``) so the JVM and its mini-clusters start fresh
and a hung job is bounded by the caller's timeout. Jobs read a filesystem CSV with a rowtime and a
watermark (as tests/pipeline/test_indicator_bridge.py does) and write to ``blackhole``; only
``execute().wait()`` is timed, after the plan is built. Three timings give the cost two ways:

* ``python - baseline``: the same source and sink with the Table -> DataStream -> Table round trip but
  no Python step; the difference still holds the Python workers' start-up, a fixed cost per job.
* ``marginal``: the Python job at two sizes; the slope is the cost of one more bar, start-up excluded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import universe, write_flink_csv
from bench.reference import talib_seconds

WINDOW_END_OFFSET_MS = 59_999  # the rowtime of a 1-minute bar is its window_time

# As the pipeline's job configuration (marketpipe/jobs/pipeline.py), at parallelism 1.
JOB_CONFIG = {
    "table.local-time-zone": "UTC",
    "parallelism.default": "1",
    "python.fn-execution.bundle.size": "10000",
    "python.fn-execution.bundle.time": "1000",
}


def _log(msg: str) -> None:
    print(f"  streaming: {msg}", file=sys.stderr, flush=True)


def job_seconds(csv: Path, *, python_step: bool) -> float:
    """Wall time of one streaming job's ``execute().wait()`` over ``csv`` into a blackhole sink."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import DataTypes, Schema, StreamTableEnvironment

    from udfs.flink.indicators import OUTPUT_COLUMNS, attach_indicators

    t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    for key, value in JOB_CONFIG.items():
        t_env.get_config().set(key, value)
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE bars_src (
            symbol STRING, bar_start_ms BIGINT, `open` DOUBLE, high DOUBLE, low DOUBLE,
            `close` DOUBLE, volume BIGINT, vwap DOUBLE,
            rowtime AS TO_TIMESTAMP_LTZ(bar_start_ms + {WINDOW_END_OFFSET_MS}, 3),
            WATERMARK FOR rowtime AS rowtime
        ) WITH ('connector' = 'filesystem', 'path' = '{csv}', 'format' = 'csv')
        """
    )
    bars = t_env.from_path("bars_src")
    if python_step:
        out = attach_indicators(t_env, bars)
        columns, time_column = OUTPUT_COLUMNS, "rowtime"
    else:
        schema = (
            Schema.new_builder()
            .column_by_metadata("rt", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
            .watermark("rt", "SOURCE_WATERMARK()")
            .build()
        )
        # The stream keeps its rowtime column as a plain field; the record timestamps become `rt`.
        out = t_env.from_data_stream(t_env.to_data_stream(bars), schema)
        time_column = "rt"
        columns = tuple(n for n in bars.get_schema().get_field_names() if n != "rowtime")
    t_env.create_temporary_view("bench_out", out)
    types = dict(zip(out.get_schema().get_field_names(), out.get_schema().get_field_data_types(), strict=True))
    sink_cols = ", ".join(f"`{c}` {types[c]}" for c in columns)
    t_env.execute_sql(
        f"CREATE TEMPORARY TABLE bench_sink ({sink_cols}, rt TIMESTAMP_LTZ(3)) WITH ('connector' = 'blackhole')"
    )
    select = ", ".join(f"`{c}`" for c in columns)
    statements = t_env.create_statement_set()
    statements.add_insert_sql(
        f"INSERT INTO bench_sink SELECT {select}, CAST(`{time_column}` AS TIMESTAMP_LTZ(3)) FROM bench_out"
    )
    t0 = time.perf_counter()
    statements.execute().wait()
    return time.perf_counter() - t0


def run(symbols: int, bars: int, small_bars: int, workdir: Path) -> dict[str, Any]:
    """The three timings and TA-Lib's time for the same bars."""
    full, small = universe(symbols, bars), universe(symbols, small_bars)
    full_csv = write_flink_csv(full, workdir / "bars_full.csv")
    small_csv = write_flink_csv(small, workdir / "bars_small.csv")
    n_full, n_small = symbols * bars, symbols * small_bars
    _log(f"warm-up job ({n_small} bars, no Python step)")
    job_seconds(small_csv, python_step=False)  # JVM class loading and JIT, not counted
    _log(f"baseline job ({n_full} bars, no Python step)")
    baseline = job_seconds(full_csv, python_step=False)
    _log(f"python job ({n_small} bars)")
    py_small = job_seconds(small_csv, python_step=True)
    _log(f"python job ({n_full} bars)")
    py_full = job_seconds(full_csv, python_step=True)
    talib_s = talib_seconds(full)
    diff_us = (py_full - baseline) / n_full * 1e6
    marginal_us = (py_full - py_small) / (n_full - n_small) * 1e6
    talib_us = talib_s / n_full * 1e6
    return {
        "symbols": symbols,
        "bars_per_symbol": bars,
        "bars": n_full,
        "small_bars_per_symbol": small_bars,
        "parallelism": 1,
        "baseline_job_seconds": baseline,
        "python_job_seconds": py_full,
        "python_small_job_seconds": py_small,
        "python_job_bars_per_second": n_full / py_full,
        "us_per_bar_vs_baseline": diff_us,
        "us_per_bar_marginal": marginal_us,
        "talib_seconds": talib_s,
        "talib_us_per_bar": talib_us,
        "talib_bars_per_second": n_full / talib_s,
        "ratio_vs_talib_vs_baseline": diff_us / talib_us,
        "ratio_vs_talib_marginal": marginal_us / talib_us,
    }


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line with :func:`run`'s result."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--symbols", type=int, default=50)
    p.add_argument("--bars", type=int, default=1000, help="bars per symbol")
    p.add_argument("--small-bars", type=int, default=200, help="bars per symbol of the small job")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        result = run(args.symbols, args.bars, args.small_bars, Path(tmp))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
