"""``make soak``: the synthetic feed at a steady rate for a while; memory, lag and accounting at the end.

Starts the stack and the jobs (resuming from their checkpoints), lets the feed run ``--warmup``
seconds, samples the resident memory of every process of the stack (Kafka, PostgreSQL, the Flink
jobmanager, the taskmanager with its Python workers, the supervisor), runs ``--seconds`` more, samples
again, then reports per process start/end RSS and growth, the bars job's consumer lag on the raw
topic, and the accounting invariant (view ``tick_accounting``). Exits 1 when memory grew by 10 % or
more, the lag did not drain, or the accounts do not balance. Writes ``bench/results/soak.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from marketpipe import db
from marketpipe.jobs.control import PipelineControl
from marketpipe.settings import REPO_ROOT, Settings, load_settings, settings_env
from marketpipe.stack.launcher import Stack

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
GROWTH_LIMIT = 0.10


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _group_rss_kb(pgid: int) -> int:
    """RSS of every process in the group (a taskmanager and its Python workers)."""
    total = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getpgid(int(d)) == pgid:
                    total += _rss_kb(int(d))
            except OSError:
                continue
    return total


def memory(settings: Settings) -> dict[str, int]:
    """Resident memory (kB) of each process group of the stack, by its pid file name."""
    out: dict[str, int] = {}
    for pid_file in sorted(settings.run_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        out[pid_file.stem] = _group_rss_kb(pid)
    pg = settings.data_dir / "postgres" / "data" / "postmaster.pid"
    if pg.exists():
        out["postgres"] = _group_rss_kb(os.getpgid(int(pg.read_text().split()[0])))
    return {k: v for k, v in out.items() if v}


def lag(settings: Settings) -> int:
    """Records of the raw topic the bars job has not committed (Flink commits on checkpoints)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "marketpipe-pipeline"})
    try:
        parts = consumer.list_topics(settings.topic_raw, timeout=10).topics[settings.topic_raw].partitions
        tps = [TopicPartition(settings.topic_raw, p) for p in parts]
        committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
        total = 0
        for tp in tps:
            high = consumer.get_watermark_offsets(tp, timeout=10)[1]
            total += max(0, high - max(committed.get(tp.partition, 0), 0))
        return total
    finally:
        consumer.close()


def main(argv: list[str] | None = None) -> int:
    """Run the soak; returns the exit code."""
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="measured duration (default 600)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the first sample")
    parser.add_argument("--rate", type=float, default=300.0, help="ticks per second (default 300)")
    parser.add_argument("--symbols", type=int, default=20)
    args = parser.parse_args(argv)
    settings = load_settings()
    Stack(settings).up()
    print(PipelineControl(settings).start(), flush=True)
    feed = subprocess.Popen(
        [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "feed", "synthetic", "--symbols", str(args.symbols),
         "--rate", str(args.rate), "--duration", str(args.warmup + args.seconds + 5), "--accelerate", "1"],
        env={**os.environ, **settings_env(settings)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(args.warmup)
        start = memory(settings)
        lag_start = lag(settings)
        print(f"start: lag {lag_start}, RSS kB {start}", flush=True)
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and feed.poll() is None:
            time.sleep(min(30.0, max(0.0, deadline - time.monotonic())))
            print(f"  {args.seconds - (deadline - time.monotonic()):.0f}s: lag {lag(settings)}", flush=True)
        end = memory(settings)
    finally:
        feed.wait(timeout=60)
    time.sleep(3 * settings.checkpoint_interval_ms / 1000)  # the last records reach a checkpoint
    lag_end = lag(settings)
    with db.connect(settings) as conn:
        accounts = conn.execute("SELECT kafka_partition, raw_records, clean, rejected, heartbeats, balanced "
                                "FROM tick_accounting WHERE kafka_partition >= 0 ORDER BY 1").fetchall()
    growth = {k: (end.get(k, 0) - v) / v for k, v in start.items() if v}
    result: dict[str, Any] = {
        "seconds": args.seconds, "rate": args.rate, "symbols": args.symbols,
        "rss_kb_start": start, "rss_kb_end": end, "growth": growth,
        "lag_start": lag_start, "lag_end": lag_end, "feed_exit": feed.returncode,
        "accounting": [dict(zip(("partition", "raw", "clean", "rejected", "heartbeats", "balanced"), r, strict=True))
                       for r in accounts],
    }
    failures = [f"{k} grew {g:.0%}" for k, g in growth.items() if g >= GROWTH_LIMIT]
    if lag_end > 0:
        failures.append(f"lag {lag_end} records at the end")
    if not accounts or not all(r[5] for r in accounts):
        failures.append("tick_accounting does not balance")
    if feed.returncode != 0:
        failures.append(f"the feed exited {feed.returncode}: {feed.stderr.read()[-2000:] if feed.stderr else ''}")
    result["failures"] = failures
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    for name, kb in start.items():
        print(f"{name:28s} {kb / 1024:8.1f} MB -> {end.get(name, 0) / 1024:8.1f} MB  ({growth.get(name, 0):+.1%})")
    print(f"lag {lag_start} -> {lag_end}; accounting balanced: {bool(accounts) and all(r[5] for r in accounts)}")
    print("FAILED: " + "; ".join(failures) if failures else "soak passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
