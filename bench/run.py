"""``make bench``: the whole pipeline end to end beside raw Kafka consume and Quix Streams (throughput,
latency at a steady rate, job start-up, replay rate, peak RSS: bench/pipeline.py on its own stack),
bar engine per tick, indicator math vs TA-Lib, streaming per-update cost, backfill bars/s.

Each measurement runs once (the math is repeated and its median taken) and is reported beside
TA-Lib computing the same indicators over the same bars. Wall times on a shared, small machine are
noisy: read the ratios as orders of magnitude. Writes ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import backfill, bar_engine, indicator_math, pipeline

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"

#: (full, quick) sizes.
SIZES: dict[str, dict[str, int]] = {
    "full": {"engine_ticks": 200_000, "stream_ticks": 200_000, "math_bars": 20_000, "math_repeats": 5,
             "stream_symbols": 50, "stream_bars": 1000, "stream_small_bars": 200, "backfill_symbols": 100,
             "backfill_bars": 2000},
    "smoke": {"engine_ticks": 2_000, "stream_ticks": 2_000, "math_bars": 300, "math_repeats": 1, "stream_symbols": 2,
              "stream_bars": 100, "stream_small_bars": 50, "backfill_symbols": 2, "backfill_bars": 100},
    "quick": {"engine_ticks": 50_000, "stream_ticks": 50_000, "math_bars": 5_000, "math_repeats": 3,
              "stream_symbols": 20, "stream_bars": 1000, "stream_small_bars": 200, "backfill_symbols": 20,
              "backfill_bars": 1000},
}


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _streaming(size: dict[str, int], timeout: float) -> dict[str, Any]:
    # Its own process: a fresh JVM, and a hung mini-cluster is bounded by the timeout.
    cmd = [sys.executable, "-m", "bench.streaming", "--symbols", str(size["stream_symbols"]),
           "--bars", str(size["stream_bars"]), "--small-bars", str(size["stream_small_bars"])]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise backfill.BenchError(f"streaming jobs did not finish in {timeout:.0f}s") from e
    for line in proc.stderr.splitlines():
        if line.startswith("  streaming:"):
            _progress(line)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise backfill.BenchError(f"streaming jobs failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _bars_stream(ticks: int, timeout: float) -> dict[str, Any]:
    # Its own process, like _streaming.
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.bars_stream", str(ticks)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise backfill.BenchError(f"bars jobs did not finish in {timeout:.0f}s") from e
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise backfill.BenchError(f"bars jobs failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _fmt(x: float | None, unit: str = "") -> str:
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}{unit}"
    return f"{x:.3g}{unit}"


def _measured(part: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(part, dict) and "error" not in part and "skipped" not in part


Row = tuple[str, str, str, str]


def _row(label: str, ours: float | None, theirs: float | None, unit: str, slower_by: float | None,
         their_unit: str | None = None) -> Row:
    """One table row: our figure and the reference's (in ``unit`` unless ``their_unit``), and the ratio."""
    return (label, _fmt(ours, unit), _fmt(theirs, unit if their_unit is None else their_unit), _fmt(slower_by, "x"))


def _shape(part: dict[str, Any]) -> str:
    return f"{part['symbols']}x{part['bars_per_symbol']}"


def _job_row(label: str, part: dict[str, Any], seconds: str, bars_per_s: str, slower_by: float) -> Row:
    """A run over the measurement's ``symbols x bars_per_symbol`` bars beside TA-Lib's bars/s on them."""
    return _row(f"{label} ({_shape(part)}, {part[seconds]:.1f}s)", part[bars_per_s],
                part["talib_bars_per_second"], " bars/s", slower_by)


def _bar_engine_rows(e: dict[str, Any]) -> list[Row]:
    return [_row(f"0 BarEngine.add per tick vs pandas groupby ({e['ticks']} ticks)",
                 e["engine_us_per_tick"], e["pandas_us_per_tick"], " us/tick", e["ratio_vs_pandas"])]


def _bar_engine_java_rows(j: dict[str, Any]) -> list[Row]:
    return [_row(f"0 bar engine, Java port vs Python reference, run_batch ({j['ticks']} ticks"
                 f"{', identical rows' if j['identical'] else ', ROWS DIFFER'})",
                 j["java_ticks_per_s"], j["python_ticks_per_s"], " ticks/s", 1 / j["java_vs_python"])]


def _bars_stream_rows(t: dict[str, Any]) -> list[Row]:
    rows = [_row(f"0 bars step (Python) in a streaming job vs SQL TUMBLE ({t['ticks']} ticks, {t['symbols']} symbols)",
                 t["python_ticks_per_second"], t["sql_ticks_per_second"], " ticks/s", t["ratio_vs_sql"])]
    if "java_ticks_per_second" in t:
        rows.append(_row("0 bars step (JVM, the job's default) in the same streaming job vs SQL TUMBLE",
                         t["java_ticks_per_second"], t["sql_ticks_per_second"], " ticks/s", t["java_ratio_vs_sql"]))
    return rows


def _indicator_math_rows(m: dict[str, Any]) -> list[Row]:
    return [_row(f"1 IndicatorSet.update ({m['bars']} bars, median of {m['repeats']})",
                 m["indicator_set_us_per_update"], m["talib_us_per_bar"], " us/bar", m["ratio_vs_talib"])]


def _streaming_rows(s: dict[str, Any]) -> list[Row]:
    return [
        _row(f"2 streaming job, marginal ({_shape(s)} vs {s['symbols']}x{s['small_bars_per_symbol']})",
             s["us_per_bar_marginal"], s["talib_us_per_bar"], " us/bar", s["ratio_vs_talib_marginal"]),
        _row(f"2 streaming job minus no-Python baseline ({_shape(s)})",
             s["us_per_bar_vs_baseline"], s["talib_us_per_bar"], " us/bar", s["ratio_vs_talib_vs_baseline"]),
        _job_row("2 streaming job throughput", s, "python_job_seconds", "python_job_bars_per_second",
                 s["talib_bars_per_second"] / s["python_job_bars_per_second"]),
    ]


def _backfill_rows(b: dict[str, Any]) -> list[Row]:
    return [_job_row("3 backfill Flink job", b, "job_seconds", "job_bars_per_second", b["ratio_job_vs_talib"]),
            _job_row("3 backfill command wall", b, "command_wall_seconds", "command_bars_per_second",
                     b["ratio_command_vs_talib"])]


def _pipeline_rows(p: dict[str, Any]) -> list[Row]:
    if not _measured(p.get("pipeline")):
        return []
    ours, raw = p["pipeline"].get("ticks_per_s"), p.get("raw_consume", {}).get("per_s")
    quix = p.get("quix", {}).get("per_s")
    rows = [_row(f"4 pipeline end to end, every sink ({p['symbols']} symbols) vs raw Kafka consume",
                 ours, raw, " ticks/s", raw / ours if ours and raw else None, " rec/s")]
    if quix:
        rows.append(_row("4 ... vs Quix Streams 1m OHLCV peer (same topic, same run)",
                         ours, quix, " ticks/s", quix / ours if ours else None, " rec/s"))
    return rows


#: The table's rows of each measurement, in table order; a measurement that errored or was skipped has none.
TABLE_ROWS: tuple[tuple[str, Callable[[dict[str, Any]], list[Row]]], ...] = (
    ("bar_engine", _bar_engine_rows),
    ("bar_engine_java", _bar_engine_java_rows),
    ("bars_stream", _bars_stream_rows),
    ("indicator_math", _indicator_math_rows),
    ("streaming", _streaming_rows),
    ("backfill", _backfill_rows),
    ("pipeline_run", _pipeline_rows),
)


def table(results: dict[str, Any]) -> str:
    """The human summary: one row per measurement, pipeline figure beside TA-Lib's."""
    rows = [row for name, rows_of in TABLE_ROWS if _measured(part := results.get(name)) for row in rows_of(part)]
    head = ("measurement", "marketpipe", "TA-Lib / pandas / SQL / peer", "slower by")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name in ("bar_engine", "bars_stream", "indicator_math", "streaming", "backfill", "pipeline_run"):
        part = results.get(name)
        if isinstance(part, dict) and ("error" in part or "skipped" in part):
            lines.append(f"{name}: {part.get('error') or part.get('skipped')}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0],
        epilog="Sizes (full / quick): math 20000 / 5000 bars; streaming 50x1000 / 20x1000 bars "
        "(symbols x bars); backfill 100x2000 / 20x1000 bars.",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, no Flink, no stack: checks the harness and its JSON (make test), never a speed")
    p.add_argument("--no-pipeline", action="store_true", help="skip the end-to-end run (bench/pipeline.py, own stack)")
    p.add_argument("--pipeline-symbols", type=int, default=500, help="symbols of the end-to-end replay")
    p.add_argument("--pipeline-minutes", type=int, default=390, help="minutes of the end-to-end replay")
    p.add_argument("--latency-rate", type=int, default=20_000, help="trades/s of the latency run (0: skip)")
    p.add_argument("--latency-seconds", type=float, default=200.0, help="length of the latency run")
    p.add_argument("--no-stack", action="store_true", help="skip the backfill (needs the local stack)")
    p.add_argument("--no-streaming", action="store_true", help="skip the PyFlink mini-cluster jobs")
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed per Flink step (default 900)")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS.relative_to(ROOT)})")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurements, print the table, write the JSON; 1 if a measurement failed."""
    args = parse_args(argv)
    if args.smoke:
        args.no_streaming = args.no_stack = args.no_pipeline = True
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    size = SIZES[mode]
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "sizes": size,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    failed = False

    _progress(f"[0/3] bar engine: BarEngine.add vs a pandas groupby, {size['engine_ticks']} ticks")
    results["bar_engine"] = bar_engine.run(size["engine_ticks"])
    _progress(f"[0/3] bar engine: Java port (runBatch) vs the Python reference, {size['engine_ticks']} ticks")
    results["bar_engine_java"] = bar_engine.run_java(size["engine_ticks"], size["math_repeats"])

    def stage(key: str, skipped: str | None, label: str, measure: Callable[[], dict[str, Any]],
              errors: tuple[type[BaseException], ...] = (backfill.BenchError,)) -> None:
        """One measurement into ``results[key]``: skipped by its flag, or its error kept in the results."""
        nonlocal failed
        if skipped:
            results[key] = {"skipped": skipped}
            return
        _progress(label)
        try:
            results[key] = measure()
        except errors as e:
            results[key], failed = {"error": f"{type(e).__name__}: {e}"}, True

    stage("bars_stream", "--no-streaming" if args.no_streaming else None,
          f"[0/3] bars step: build_bars on a PyFlink mini-cluster vs a SQL TUMBLE, {size['stream_ticks']} ticks",
          lambda: _bars_stream(size["stream_ticks"], args.timeout))

    _progress(f"[1/3] indicator math: IndicatorSet.update vs TA-Lib, {size['math_bars']} bars")
    results["indicator_math"] = indicator_math.run(size["math_bars"], size["math_repeats"])

    stage("streaming", "--no-streaming" if args.no_streaming else None,
          f"[2/3] streaming: attach_indicators on a PyFlink mini-cluster, "
          f"{size['stream_symbols']} symbols x {size['stream_bars']} bars",
          lambda: _streaming(size, args.timeout))

    def run_backfill() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
            return backfill.run(size["backfill_symbols"], size["backfill_bars"], Path(tmp), args.timeout)

    stage("backfill", "--no-stack" if args.no_stack else None,
          f"[3/3] backfill: marketpipe backfill on the local stack, "
          f"{size['backfill_symbols']} symbols x {size['backfill_bars']} bars",
          run_backfill, (backfill.BenchError, subprocess.TimeoutExpired))

    def run_pipeline() -> dict[str, Any]:
        return pipeline.run(argparse.Namespace(
            symbols=args.pipeline_symbols, minutes=args.pipeline_minutes, timeout=max(args.timeout, 1800),
            keep=False, latency_rate=args.latency_rate, latency_seconds=args.latency_seconds,
            ladder=not args.smoke))

    # Any failure of the end-to-end run is reported in the results, not lost.
    stage("pipeline_run", "--no-pipeline" if args.no_pipeline else None,
          f"[4/4] pipeline end to end on its own stack: {args.pipeline_symbols} symbols x "
          f"{args.pipeline_minutes} min, beside raw consume and Quix Streams",
          run_pipeline, (Exception,))
    if not args.no_pipeline and "error" not in results["pipeline_run"]:
        failed = failed or not results["pipeline_run"].get("pipeline", {}).get("complete")

    results["seconds"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    if not args.smoke and args.output == RESULTS:
        from bench import report

        report.main([str(args.output)])  # the figures block of docs/performance.md
    print(f"({mode} run, {results['seconds']:.0f}s on {os.cpu_count()} CPUs; one run on a shared machine "
          f"is noisy; results in {args.output})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
