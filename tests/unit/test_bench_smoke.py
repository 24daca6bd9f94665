"""`make bench` harness smoke run: tiny sizes, no Flink and no stack. It checks the harness runs and
writes sane JSON, and that the report renders it into docs/performance.md's figures block; it never
checks a speed (that is what `make bench` is for)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import report

ROOT = Path(__file__).resolve().parents[2]


def _numbers(d: Any) -> list[float]:
    if isinstance(d, dict):
        return [x for v in d.values() for x in _numbers(v)]
    if isinstance(d, list):
        return [x for v in d for x in _numbers(v)]
    return [float(d)] if isinstance(d, (int, float)) and not isinstance(d, bool) else []


def test_smoke_run_writes_sane_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--output", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "smoke"
    assert results["bar_engine"]["ticks"] == 2_000
    assert results["bar_engine"]["engine_us_per_tick"] > 0
    assert results["indicator_math"]["bars"] == 300
    assert results["bar_engine_java"]["identical"] is True
    assert results["bar_engine_java"]["java_ticks_per_s"] > 0
    for skipped in ("bars_stream", "streaming", "backfill", "pipeline_run"):
        assert "skipped" in results[skipped]
    assert all(math.isfinite(x) for x in _numbers(results))
    assert "BarEngine.add per tick" in proc.stdout  # the human table


PIPELINE = {
    "symbols": 500, "minutes": 390,
    "replay": {"rows": 614_843, "seconds": 4.0, "per_s": 153_711},
    "raw_consume": {"records": 615_029, "per_s": 150_000}, "raw_consume_json": {"per_s": 100_000},
    "quix": {"per_s": 15_000},
    "pipeline": {"startup_s": 25.0, "records_counted": 615_029, "bars_stored": 175_000, "ticks_per_s": 80_000,
                 "complete": True},
    "latency": {"rate_sent": 20_000, "p50_ms": 700, "p99_ms": 950, "bars": 1000},
    "peak_rss_mib": 5000, "ratios": {"pipeline_vs_raw_consume": 0.533, "pipeline_vs_quix": 5.33},
    "ladder": {"records": 615_029, "source": {"what": "Kafka source", "per_s": 200_000},
               "clean": {"what": "+ parse", "per_s": 100_000}, "bars": {"what": "+ bars", "error": "job FAILED"}},
}


def test_report_renders_and_checks_the_figures_block(tmp_path: Path) -> None:
    results = {"started_at": "2026-11-27T20:00:00+00:00", "mode": "full", "machine": {"cpus": 2},
               "pipeline_run": PIPELINE}
    src, doc = tmp_path / "latest.json", tmp_path / "performance.md"
    src.write_text(json.dumps(results))
    doc.write_text("# Performance\n\nhand-written analysis\n\n" + report.BEGIN + "\nold\n" + report.END + "\n\nmore\n")
    assert report.main([str(src), "--doc", str(doc), "--check"]) == 1  # stale block
    assert report.main([str(src), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "hand-written analysis" in text and text.endswith("more\n") and "old" not in text
    assert "| **marketpipe bars + indicators jobs, every sink** | 80,000 ticks/s |" in text
    assert "| pipeline ÷ Quix Streams | 5.33× | goal ≥ 5× |" in text
    assert "700 / 950 ms" in text
    # the stage ladder: rate, cost per record, and what each stage adds to the one before
    assert "| source | Kafka source | 200,000 | 5.0 |  |" in text
    assert "| clean | + parse | 100,000 | 10.0 | +5.0 µs |" in text
    assert "| bars | + bars | job FAILED | | |" in text
    assert report.main([str(src), "--doc", str(doc), "--check"]) == 0
