"""Measurement 0b: ticks per second through the bars step (``build_bars``) in a PyFlink streaming
mini-cluster, the JVM step and the Python one, beside the same ticks aggregated by a plain SQL TUMBLE
window (no rules, no Python).

Run as its own process (``python -m bench.bars_stream N``) so the JVM starts fresh. Both jobs read a
filesystem CSV with an event-time watermark and write to ``blackhole``; only ``execute().wait()`` is
timed. The Python job's time includes its workers' start-up (a few seconds per job).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.bar_engine import ticks
from bench.streaming import JOB_CONFIG

SYMBOLS = 20


def write_csv(path: Path, n: int) -> None:
    """``n`` ticks over :data:`SYMBOLS` symbols (the same tick stream per symbol, shifted in time)."""
    per = n // SYMBOLS
    base = ticks(per)
    with path.open("w") as fh:
        k = 0
        for t in base:
            for s in range(SYMBOLS):
                k += 1
                fh.write(f"S{s:02d},{t.ts_ns + s},{t.price},{t.size},N,{t.conditions},,0,{k}\n")


def job_seconds(csv: Path, *, python_step: bool, engine: str = "python") -> float:
    """Wall time of one streaming job over ``csv`` into a blackhole sink."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    from marketpipe.rules.ticks import TickRules
    from udfs.flink.bars import CONFIG_KEY, build_bars

    t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    for key, value in JOB_CONFIG.items():
        t_env.get_config().set(key, value)
    t_env.get_config().set(CONFIG_KEY, json.dumps({"engine": engine}))
    if engine == "java":
        from marketpipe.settings import Settings
        from marketpipe.stack.jars import ensure_jars, lib_dir

        settings = Settings()
        ensure_jars(settings)
        t_env.get_config().set("pipeline.jars", (lib_dir(settings, "udfs") / "marketpipe-udfs.jar").as_uri())
    t_env.execute_sql(
        f"""
        CREATE TEMPORARY TABLE ticks_src (
            symbol STRING, ts_ns BIGINT, price DOUBLE, size BIGINT, exchange STRING, conditions STRING,
            trade_id STRING, kafka_partition INT, kafka_offset BIGINT,
            event_time AS TO_TIMESTAMP_LTZ(ts_ns / 1000000, 3),
            WATERMARK FOR event_time AS event_time - INTERVAL '{TickRules().watermark_delay_s}' SECOND
        ) WITH ('connector' = 'filesystem', 'path' = '{csv}', 'format' = 'csv')
        """
    )
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (symbol STRING, n BIGINT) WITH ('connector' = 'blackhole')")
    if python_step:
        bars, _ = build_bars(t_env, t_env.sql_query(
            "SELECT symbol, ts_ns, price, size, exchange, conditions, trade_id, kafka_partition, "
            "kafka_offset, CAST(NULL AS STRING) AS source, event_time FROM ticks_src"
        ))
        t_env.create_temporary_view("bars_out", bars)
        query = "INSERT INTO sink SELECT symbol, volume FROM bars_out"
    else:
        query = (
            "INSERT INTO sink SELECT symbol, SUM(size) FROM TABLE(TUMBLE(TABLE ticks_src, "
            "DESCRIPTOR(event_time), INTERVAL '1' MINUTE)) GROUP BY symbol, window_start, window_end"
        )
    result = t_env.execute_sql(query)
    t0 = time.perf_counter()
    result.wait()
    return time.perf_counter() - t0


def run(n: int) -> dict[str, Any]:
    """Ticks/s of the bars step and of the SQL-only baseline over the same ``n`` ticks."""
    with tempfile.TemporaryDirectory(prefix="bench-bars-") as tmp:
        csv = Path(tmp) / "ticks.csv"
        write_csv(csv, n)
        rows = sum(1 for _ in csv.open())
        baseline = job_seconds(csv, python_step=False)
        python = job_seconds(csv, python_step=True)
        java = job_seconds(csv, python_step=True, engine="java")
    return {"ticks": rows, "symbols": SYMBOLS, "python_job_seconds": python, "sql_job_seconds": baseline,
            "java_job_seconds": java, "java_ticks_per_second": rows / java,
            "python_ticks_per_second": rows / python, "sql_ticks_per_second": rows / baseline,
            "ratio_vs_sql": python / baseline, "java_ratio_vs_sql": java / baseline}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)))
