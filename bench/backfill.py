"""Measurement 3: throughput of the real ``marketpipe backfill`` on the local stack.

The stack is started with ``make up`` (a no-op when it runs). The command writes into its own
PostgreSQL schema and lake namespace (``bench``, ``bench_gold``) so the pipeline's tables are not
touched; its rows are upserts in PostgreSQL, but each run appends to the Iceberg tables.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.data import universe, write_backfill_csv
from bench.reference import talib_seconds

ROOT = Path(__file__).resolve().parent.parent
PG_SCHEMA = "bench"
LAKE_NAMESPACE = "bench_gold"


class BenchError(RuntimeError):
    """A benchmark step that could not run (stack down, command failed or timed out)."""


def _log(msg: str) -> None:
    print(f"  backfill: {msg}", file=sys.stderr, flush=True)


def _marketpipe() -> list[str]:
    exe = Path(sys.executable).with_name("marketpipe")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "marketpipe.cli"]


def stack_up(timeout: float) -> None:
    """``make up``: idempotent, starts only what is not running."""
    make = shutil.which("make")
    cmd = [make, "--no-print-directory", "-C", str(ROOT), "up"] if make else [*_marketpipe(), "stack", "up"]
    _log("make up" if make else "marketpipe stack up")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise BenchError(f"stack up failed ({proc.returncode}): {(proc.stdout + proc.stderr)[-2000:]}")


def run(symbols: int, bars: int, workdir: Path, timeout: float) -> dict[str, Any]:
    """Run the backfill once; its own JSON line, the command's wall time and TA-Lib's time."""
    series = universe(symbols, bars)
    path = write_backfill_csv(series, workdir / f"bench_bars_{symbols}x{bars}.csv")
    stack_up(timeout=min(timeout, 600))
    cmd = [*_marketpipe(), "backfill", "--bars", str(path), "--timeframe", "1m",
           "--pg-schema", PG_SCHEMA, "--lake-namespace", LAKE_NAMESPACE, "--quiet"]
    _log(f"marketpipe backfill ({symbols} x {bars} = {symbols * bars} bars)")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"marketpipe backfill did not finish in {timeout:.0f}s") from e
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise BenchError(f"marketpipe backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")
    out = json.loads(lines[-1])
    n = int(out["bars"])
    talib_s = talib_seconds(series)
    return {
        "symbols": symbols,
        "bars_per_symbol": bars,
        "bars": n,
        "job_id": out.get("job_id"),
        "job_seconds": out["job_seconds"],
        "job_bars_per_second": out["bars_per_second"],
        "command_wall_seconds": wall,
        "command_bars_per_second": n / wall,
        "talib_seconds": talib_s,
        "talib_bars_per_second": n / talib_s,
        "ratio_job_vs_talib": out["job_seconds"] / talib_s,
        "ratio_command_vs_talib": wall / talib_s,
        "targets": {"postgres_schema": PG_SCHEMA, "lake_namespace": LAKE_NAMESPACE},
    }
