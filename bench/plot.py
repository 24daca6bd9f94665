"""``docs/performance.png``: the last ``make bench`` run as a picture (run with ``.venv-bench``'s
Python, which has matplotlib; the product's environment does not need it).

    .venv-bench/bin/python bench/plot.py [RESULTS.json] [OUT.png]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    """Draw throughput bars (records/s, same topic, same run) and the latency of the last run."""
    src = Path(argv[0]) if argv else ROOT / "bench" / "results" / "latest.json"
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "performance.png"
    results = json.loads(src.read_text())
    p = results.get("pipeline_run") or {}
    bars = [
        ("raw consume", (p.get("raw_consume") or {}).get("per_s")),
        ("raw consume\n+ json.loads", (p.get("raw_consume_json") or {}).get("per_s")),
        ("marketpipe\n(all sinks)", (p.get("pipeline") or {}).get("ticks_per_s")),
        ("Quix Streams\n1m OHLCV", (p.get("quix") or {}).get("per_s")),
        ("replay\n(producer)", (p.get("replay") or {}).get("per_s")),
    ]
    bars = [(k, v) for k, v in bars if v]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    colors = ["#9aa5b1" if "marketpipe" not in k else "#1f77b4" for k, _ in bars]
    ax1.bar([k for k, _ in bars], [v for _, v in bars], color=colors)
    for i, (_, v) in enumerate(bars):
        ax1.text(i, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=8)
    ax1.set_ylabel("records / s (one run, same topic)")
    ax1.set_title(f"{p.get('symbols')} symbols × {p.get('minutes')} min, {results.get('machine', {}).get('cpus')} CPUs")
    lat = p.get("latency") or {}
    if "p50_ms" in lat:
        ax2.bar(["p50", "p99"], [lat["p50_ms"], lat["p99_ms"]], color=["#2ca02c", "#d62728"])
        ax2.axhline(1000, color="black", linestyle="--", linewidth=0.8)
        ax2.set_ylabel("ms, watermark → row in PostgreSQL")
        ax2.set_title(f"bar latency at {lat.get('rate_sent', 0):,} trades/s")
    else:
        ax2.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
