"""Measurement 3: throughput of the real ``marketpipe backfill`` on the local stack.

The stack is started with ``make up`` (a no-op when it runs). The command writes into its own
PostgreSQL schema and lake namespace (``bench``, ``bench_gold``) so the pipeline's tables are not
touched; its rows are upserts in PostgreSQL, but each run appends to the Iceberg tables.

Beside the command's wall time and the Flink job's own time it reports the pure-Python batch path
(``udfs.flink.indicators.series_rows``, what the job's per-symbol UDTF runs) on the same series, and TA-Lib's time.
``--timeframe 1d`` writes daily bars (a ``date`` column, business days from 2015-01-02), e.g. 500
symbols x 2520 bars = 10 years. Standalone: ``python -m bench.backfill --symbols 500 --bars 2520
--timeframe 1d`` (the stack of the current ``MARKETPIPE_*`` settings; ``--no-stack``: compute only).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.data import Series, universe, write_backfill_csv
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


def write_daily_csv(series: list[Series], path: Path) -> Path:
    """A ``marketpipe backfill --timeframe 1d`` input: one bar per business day, no vwap column."""
    import numpy as np
    import pandas as pd

    dates = pd.bdate_range("2015-01-02", periods=len(series[0])).strftime("%Y-%m-%d")
    with path.open("w") as f:
        f.write("symbol,date,open,high,low,close,volume\n")
        for s in series:
            cols = (s.open.tolist(), s.high.tolist(), s.low.tolist(), s.close.tolist(),
                    s.volume.astype(np.int64).tolist())
            for d, o, h, lo, c, v in zip(dates, *cols, strict=True):
                f.write(f"{s.symbol},{d},{o!r},{h!r},{lo!r},{c!r},{v}\n")
    return path


def compute_seconds(series: list[Series], timeframe: str) -> float:
    """Time of the batch indicator path (what the job's UDTF runs per symbol) over every series."""
    import numpy as np

    from udfs.flink.indicators import series_rows

    args = []
    for s in series:
        ts = s.start_ms if timeframe == "1m" else 1_420_209_000_000 + 86_400_000 * np.arange(len(s))
        args.append((ts.tolist(), s.open.tolist(), s.high.tolist(), s.low.tolist(), s.close.tolist(),
                     s.volume.astype(np.int64).tolist(), s.vwap.tolist()))
    series_rows(*args[0])  # imports, session cache
    t0 = time.perf_counter()
    for a in args:
        series_rows(*a)
    return time.perf_counter() - t0


def run(
    symbols: int, bars: int, workdir: Path, timeout: float, *, timeframe: str = "1m", stack: bool = True
) -> dict[str, Any]:
    """Run the backfill once; its own JSON line, the command's wall time, the compute path's and TA-Lib's time."""
    series = universe(symbols, bars)
    n = symbols * bars
    talib_s = talib_seconds(series)
    compute_s = compute_seconds(series, timeframe)
    out: dict[str, Any] = {
        "symbols": symbols,
        "bars_per_symbol": bars,
        "timeframe": timeframe,
        "bars": n,
        "compute_seconds": compute_s,
        "compute_bars_per_second": n / compute_s,
        "talib_seconds": talib_s,
        "talib_bars_per_second": n / talib_s,
    }
    if not stack:
        return out
    name = f"bench_bars_{symbols}x{bars}_{timeframe}.csv"
    path = (write_daily_csv if timeframe == "1d" else write_backfill_csv)(series, workdir / name)
    stack_up(timeout=min(timeout, 600))
    cmd = [*_marketpipe(), "backfill", "--bars", str(path), "--timeframe", timeframe,
           "--pg-schema", PG_SCHEMA, "--lake-namespace", LAKE_NAMESPACE, "--quiet"]
    _log(f"marketpipe backfill ({symbols} x {bars} = {n} {timeframe} bars)")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"marketpipe backfill did not finish in {timeout:.0f}s") from e
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise BenchError(f"marketpipe backfill failed ({proc.returncode}): {proc.stderr[-2000:]}")
    res = json.loads(lines[-1])
    n = int(res["bars"])
    out.update({
        "bars": n,
        "job_id": res.get("job_id"),
        "job_seconds": res["job_seconds"],
        "job_bars_per_second": res["bars_per_second"],
        "command_wall_seconds": wall,
        "command_bars_per_second": n / wall,
        "ratio_job_vs_talib": res["job_seconds"] / talib_s,
        "ratio_command_vs_talib": wall / talib_s,
        "targets": {"postgres_schema": PG_SCHEMA, "lake_namespace": LAKE_NAMESPACE},
    })
    return out


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line with :func:`run`'s result."""
    import argparse
    import tempfile

    p = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__)
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--bars", type=int, default=2520, help="bars per symbol")
    p.add_argument("--timeframe", choices=("1m", "1d"), default="1d")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--no-stack", action="store_true", help="only the compute path and TA-Lib")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        out = run(args.symbols, args.bars, Path(tmp), args.timeout, timeframe=args.timeframe,
                  stack=not args.no_stack)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
