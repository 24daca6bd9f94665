"""The figures of one ``make bench`` run, written into ``docs/performance.md`` (between its
``<!-- figures:begin -->`` and ``<!-- figures:end -->`` markers) from ``bench/results/latest.json``.

    python -m bench.report [RESULTS.json] [--doc docs/performance.md] [--check]

Only the marked block is generated; the analysis around it is written by hand. ``--check`` exits 1
when the block differs from what the results give (the doc does not match the last run).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def _n(x: Any, unit: str = "") -> str:
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) < 100:
        return f"{x:.3g}{unit}"
    return f"{x:,.0f}{unit}"


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, figure, note) for every measurement present in ``results``."""
    p = results.get("pipeline_run") or {}
    out: list[tuple[str, str, str]] = []
    if p:
        shape = f"{p.get('symbols')} symbols × {p.get('minutes')} min"
        raw = _get(p, "raw_consume", "per_s")
        out += [
            ("raw Kafka consume, bytes (confluent-kafka)", _n(raw, " rec/s"), shape),
            ("raw Kafka consume + json.loads", _n(_get(p, "raw_consume_json", "per_s"), " rec/s"), ""),
            ("Quix Streams 3.28, 1m OHLCV peer (bench/quix_bars.py)", _n(_get(p, "quix", "per_s"), " rec/s"), ""),
            ("**marketpipe bars + indicators jobs, every sink**", _n(_get(p, "pipeline", "ticks_per_s"), " ticks/s"),
             f"{_n(_get(p, 'pipeline', 'records_counted'))} records, {_n(_get(p, 'pipeline', 'bars_stored'))} 1m bars"),
            ("pipeline ÷ raw consume", _n(_get(p, "ratios", "pipeline_vs_raw_consume")), "goal ≥ 0.4"),
            ("pipeline ÷ Quix Streams", _n(_get(p, "ratios", "pipeline_vs_quix"), "×"), "goal ≥ 5×"),
            ("jobs submitted and running (both)", _n(_get(p, "pipeline", "startup_s"), " s"), "goal ≤ 30 s"),
            ("`marketpipe replay --speed max`", _n(_get(p, "replay", "per_s"), " rows/s"),
             "whole command, goal ≥ 150k"),
            (f"bar latency p50 / p99 at {_n(_get(p, 'latency', 'rate_sent'))} trades/s",
             f"{_n(_get(p, 'latency', 'p50_ms'))} / {_n(_get(p, 'latency', 'p99_ms'))} ms",
             f"{_n(_get(p, 'latency', 'bars'))} bars; watermark → row committed in PostgreSQL; goal p99 ≤ 1 s"),
            ("consumer lag of the bars job during that run (every 10 s)",
             ", ".join(_n(x) for x in (_get(p, "latency", "lag_samples") or [])) or "–",
             f"records; flat = at most one checkpoint of input ({_n(_get(p, 'latency', 'lag_bound_one_checkpoint'))})"),
            ("peak RSS of the whole stack", _n(p.get("peak_rss_mib"), " MiB"), "Kafka, Flink, PostgreSQL, workers"),
        ]
    e = results.get("bar_engine_java") or {}
    if "java_ticks_per_s" in e:
        out.append(("bar engine alone: Java port vs Python reference", f"{_n(e['java_ticks_per_s'])} vs "
                    f"{_n(e['python_ticks_per_s'])} ticks/s", f"{_n(e.get('ticks'))} ticks, identical rows"))
    b = results.get("backfill") or {}
    if "job_bars_per_second" in b:
        out.append(("indicator + signal backfill, Flink job", _n(b["job_bars_per_second"], " bars/s"),
                    f"{b.get('symbols')}×{b.get('bars_per_symbol')} bars; "
                    f"TA-Lib {_n(b.get('talib_bars_per_second'))} bars/s"))
    if "compute_bars_per_second" in b:
        out.append(("indicator set, batch compute path", _n(b["compute_bars_per_second"], " bars/s"),
                    "bit-identical to streaming"))
    return out


def ladder_rows(results: dict[str, Any]) -> list[str]:
    """The stage ladder (bench/ladder.py) as a markdown table: rate and cost per record of each stage."""
    lad = _get(results, "pipeline_run", "ladder") or {}
    stages = [(k, v) for k, v in lad.items() if isinstance(v, dict)]
    if not stages:
        return []
    lines = ["", f"The bars job cut after each stage, each draining the same {_n(lad.get('records'))} records "
             "(bench/ladder.py; Flink's RUNNING → FINISHED time):", "",
             "| stage | what runs | records/s | µs per record | this stage adds |", "|---|---|---|---|---|"]
    prev_us: float | None = None
    for name, r in stages:
        per_s = r.get("per_s")
        if not per_s:
            lines.append(f"| {name} | {r.get('what', '')} | {r.get('error', '–')} | | |")
            continue
        us = 1e6 / per_s
        added = f"{us - prev_us:+.1f} µs" if prev_us is not None else ""
        lines.append(f"| {name} | {r.get('what', '')} | {_n(per_s)} | {us:.1f} | {added} |")
        prev_us = us
    return lines


def block(results: dict[str, Any]) -> str:
    """The generated markdown block (markers included)."""
    lines = [BEGIN, "", f"One run, {results.get('started_at', '?')}, {_get(results, 'machine', 'cpus') or '?'} CPUs "
             f"({results.get('mode', '?')} sizes); generated by `python -m bench.report` from "
             "`bench/results/latest.json`.", "", "| measurement | figure | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(results)]
    lines += ladder_rows(results)
    lines += ["", "![throughput and latency of the last run](performance.png)", "", END]
    return "\n".join(lines)


def render(doc: str, results: dict[str, Any]) -> str:
    """``doc`` with its marked block replaced (appended when it has none)."""
    new = block(results)
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + new + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n" + new + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the figures block of the doc."""
    p = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="?", type=Path, default=RESULTS)
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--check", action="store_true", help="exit 1 if the doc's block is not the results'")
    args = p.parse_args(argv)
    results = json.loads(args.results.read_text())
    doc = args.doc.read_text() if args.doc.exists() else ""
    new = render(doc, results)
    if args.check:
        return 0 if new == doc else 1
    args.doc.write_text(new)
    print(f"wrote the figures of {args.results} into {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
