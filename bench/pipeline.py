"""``make bench-pipeline``: the streaming pipeline end to end, beside raw Kafka consumption, in one run.

On a stack of its own (``.data/bench``, ports +2000) it writes a real-like replay file (``--symbols``
symbols over one regular session, the fixture generator's condition mix), then measures, in order:

* ``replay``: ``marketpipe replay --speed max`` into ``ticks.raw`` (rows/s, the producer);
* ``raw_consume``: confluent-kafka reading the whole topic, bytes only, and with ``json.loads``;
* ``quix``: the Quix Streams 1m OHLCV peer (``bench/quix_bars.py``) over the same topic, when the
  ``.venv-bench`` interpreter exists (``make bench-venv``);
* ``pipeline``: both jobs started fresh on the backlog, until every record is counted by the bars job
  (``tick_counts``) and every expected bar is in PostgreSQL: ticks/s end to end, every sink written;
  ``startup_s`` is the time to submit both jobs and see them running;
* ``latency``: then, with the jobs running, a steady ``--latency-rate`` trades/s (bench/latency.py):
  p50/p99 from the watermark passing a minute to its bar row committed in PostgreSQL;
* ``peak_rss_mib``: the whole stack's resident memory at its highest (bench/rss.py).
* ``ladder``: then the bars job cut after each stage (source; + clean; + bar step; + PostgreSQL;
  + topics; + lake), each draining the whole topic bounded (bench/ladder.py): what each stage costs.

Ratios taken in one run are what to read; absolute numbers move with the machine's load. Results go
to ``bench/results/pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from confluent_kafka import Consumer, TopicPartition

from bench import ladder
from bench.latency import measure_latency
from bench.rss import PeakRss
from marketpipe import db
from marketpipe.feeds.fixtures import write_fixture
from marketpipe.jobs.control import PipelineControl
from marketpipe.settings import REPO_ROOT, Settings, settings_env
from marketpipe.stack.launcher import Stack

RESULTS = REPO_ROOT / "bench" / "results" / "pipeline.json"
BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
OFFSET = 2000


def bench_settings() -> Settings:
    """A stack of its own, away from the dev and test stacks."""
    return Settings(
        data_dir=REPO_ROOT / ".data" / "bench", kafka_port=19092 + OFFSET, kafka_controller_port=19093 + OFFSET,
        postgres_port=15432 + OFFSET, flink_rest_port=18081 + OFFSET, flink_rpc_port=16123 + OFFSET,
        prometheus_port=19090 + OFFSET, alertmanager_port=19095 + OFFSET, postgres_exporter_port=19187 + OFFSET,
        kafka_jmx_exporter_port=19404 + OFFSET, metrics_port=19400 + OFFSET, chart_port=18050 + OFFSET,
        schema_registry_port=18085 + OFFSET,
    )


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def consume_rate(settings: Settings, *, parse: bool, limit_s: float = 300) -> dict[str, Any]:
    """Read the raw topic from the beginning to its current end; records/s."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"bench-{time.time_ns()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    topic = settings.topic_raw
    parts = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    total, n = sum(ends.values()), 0
    t0 = time.perf_counter()
    deadline = t0 + limit_s
    while n < total and time.perf_counter() < deadline:
        for m in consumer.consume(10_000, timeout=1.0):
            if m.error():
                continue
            n += 1
            value = m.value()
            if parse and value is not None:
                json.loads(value)
    seconds = time.perf_counter() - t0
    consumer.close()
    return {"records": n, "seconds": round(seconds, 3), "per_s": round(n / seconds) if seconds else None,
            "complete": n >= total}


def pipeline_rate(settings: Settings, records: int, bars: int, *, limit_s: float) -> dict[str, Any]:
    """Start both jobs fresh on the backlog; seconds until every record is counted and every bar stored."""
    control = PipelineControl(settings)
    t_submit = time.perf_counter()
    control.start(fresh=True)
    t0 = time.perf_counter()
    counted = stored = 0
    deadline = t0 + limit_s
    t_counted: float | None = None
    last_change = time.perf_counter()
    while time.perf_counter() < deadline:
        with db.connect(settings) as conn:
            counted = int(db.scalar(conn, "SELECT coalesce(sum(raw_records), 0) FROM tick_counts"))
            now_stored = db.scalar(conn, "SELECT count(*) FROM bars_1m")
        if now_stored != stored:
            stored, last_change = now_stored, time.perf_counter()
        if counted >= records and t_counted is None:
            t_counted = time.perf_counter()
        # done: every record counted and no new bar for 10 s (the market rules make fewer bars than
        # minutes with trades: `bars` is an upper bound)
        if t_counted is not None and time.perf_counter() - last_change > 10:
            break
        time.sleep(1)
    seconds = (t_counted or time.perf_counter()) - t0
    bars_seconds = last_change - t0
    return {"startup_s": round(t0 - t_submit, 1), "records_counted": int(counted), "bars_stored": int(stored),
            "bars_upper_bound": bars, "seconds": round(seconds, 1), "bars_seconds": round(bars_seconds, 1),
            "ticks_per_s": round(counted / seconds) if seconds else None,
            "ticks_per_s_to_last_bar": round(counted / bars_seconds) if bars_seconds else None,
            "complete": t_counted is not None}


def quix_rate(settings: Settings, records: int, limit_s: float) -> dict[str, Any]:
    """The Quix Streams peer over the same topic, in its own interpreter."""
    if not BENCH_PYTHON.exists():
        return {"skipped": f"{BENCH_PYTHON} missing (make bench-venv)"}
    proc = subprocess.run(
        [str(BENCH_PYTHON), str(REPO_ROOT / "bench" / "quix_bars.py"), "--bootstrap", settings.kafka_bootstrap,
         "--topic", settings.topic_raw, "--records", str(records), "--timeout", str(limit_s)],
        capture_output=True, text=True, timeout=limit_s + 120, check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr[-1500:]}
    return dict(json.loads(lines[-1]))


def main(argv: list[str] | None = None) -> int:
    """Run the measurements; returns the exit code."""
    parser = argparse.ArgumentParser(prog="make bench-pipeline", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    results = run(args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if results.get("pipeline", {}).get("complete") else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this benchmark (also offered by ``make bench``, bench/run.py)."""
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=390)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for the pipeline to drain")
    parser.add_argument("--keep", action="store_true", help="leave the bench stack running")
    parser.add_argument("--latency-rate", type=int, default=20_000, help="trades/s of the latency run (0: skip)")
    parser.add_argument("--latency-seconds", type=float, default=200.0, help="length of the latency run")
    parser.add_argument("--no-ladder", dest="ladder", action="store_false",
                        help="skip the stage ladder (bench/ladder.py: the bars job cut after each stage)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of this module on a fresh bench stack, in one run; the results."""
    settings = bench_settings()
    env = {**os.environ, **settings_env(settings)}
    results: dict[str, Any] = {"when": datetime.now().astimezone().isoformat(timespec="seconds"),
                               "cpus": os.cpu_count(), "symbols": args.symbols, "minutes": args.minutes}
    stack = Stack(settings)
    stack.down()
    if settings.data_dir.exists():
        subprocess.run(["rm", "-rf", str(settings.data_dir)], check=True)  # our own dir
    try:
        _log("== stack up")
        stack.up()
        path = settings.data_dir / "replay.csv"
        names = [f"B{i:03d}" for i in range(args.symbols)]
        fixture = write_fixture(path, symbols=names, minutes=args.minutes, seed=1,
                                start=datetime(2024, 6, 13, 9, 30, tzinfo=ZoneInfo("America/New_York")),
                                bad_per_kind=2, open_burst=8.0)
        _log(f"== replay {fixture.rows} rows of {args.symbols} symbols")
        t0 = time.perf_counter()
        subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "replay", str(path), "--quiet"],
                       env=env, check=True, timeout=args.timeout)
        seconds = time.perf_counter() - t0
        results["replay"] = {"rows": fixture.rows, "seconds": round(seconds, 2), "per_s": round(fixture.rows / seconds)}
        _log("== raw consume")
        results["raw_consume"] = consume_rate(settings, parse=False)
        records = results["raw_consume"]["records"]  # rows + heartbeats
        results["raw_consume_json"] = consume_rate(settings, parse=True)
        _log("== quix streams peer")
        results["quix"] = quix_rate(settings, records, args.timeout)
        _log(json.dumps({k: results[k] for k in ("replay", "raw_consume", "raw_consume_json", "quix")}))
        _log("== pipeline (both jobs, every sink) on the backlog")
        with PeakRss(settings) as rss:
            results["pipeline"] = pipeline_rate(settings, records, len(fixture.bars), limit_s=args.timeout)
            if args.latency_rate > 0:
                _log(f"== latency at {args.latency_rate} trades/s")
                results["latency"] = measure_latency(settings, rate=args.latency_rate,
                                                     seconds=args.latency_seconds, symbols=args.symbols)
        results["peak_rss_mib"] = round(rss.peak_mib)
        if args.ladder:
            PipelineControl(settings).stop(savepoint=False)
            _log("== where the bars job's time goes: the job cut after each stage, same topic")
            results["ladder"] = ladder.run(settings, timeout=args.timeout, log=_log)
    finally:
        if not args.keep:
            stack.down()
    raw = results.get("raw_consume", {}).get("per_s") or 0
    ours = results.get("pipeline", {}).get("ticks_per_s") or 0
    quix = results.get("quix", {}).get("per_s") or 0
    results["ratios"] = {"pipeline_vs_raw_consume": round(ours / raw, 4) if raw else None,
                         "pipeline_vs_quix": round(ours / quix, 3) if quix else None}
    results["ratios"]["pipeline_vs_raw_consume_json"] = (
        round(ours / results["raw_consume_json"]["per_s"], 4)
        if results.get("raw_consume_json", {}).get("per_s") else None)
    return results


if __name__ == "__main__":
    sys.exit(main())
