"""Bar latency at a steady tick rate: from the watermark passing a minute to its row committed in PostgreSQL.

Run by ``bench/pipeline.py`` once the backlog is drained (both jobs running). A paced producer sends
``rate`` trades a second over ``symbols`` symbols, live-like: event time is the wall clock shifted onto a
regular session (``anchor``, so the run does not depend on the time of day), with a heartbeat to every
partition every 100 ms; the consumer lag of the bars job is sampled every 10 s. Minute M's watermark moment
is when the producer has sent event time ``M end + watermark delay`` (the watermark's promise), converted
back to wall time; its commit time is ``pg_xact_commit_timestamp(xmin)`` of the 1m ``bars`` row (the
stack's PostgreSQL runs with ``track_commit_timestamp``). The latency of a bar is the difference; p50/p99
are over every bar of the full minutes in the run. Send and commit clocks are the same machine's.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from confluent_kafka import Producer

from bench.soak import lag
from marketpipe import db
from marketpipe.settings import Settings

NS = 1_000_000_000
MINUTE_NS = 60 * NS
SLOT_S = 0.05  # the producer sends a slot's trades every 50 ms
HEARTBEAT_S = 0.1
ANCHOR = datetime(2024, 6, 18, 10, 0, tzinfo=ZoneInfo("America/New_York"))  # a regular session


def _log(msg: str) -> None:
    print(f"  latency: {msg}", file=sys.stderr, flush=True)


def measure_latency(
    settings: Settings, *, rate: int = 20_000, seconds: float = 150.0, symbols: int = 500,
    anchor: datetime = ANCHOR,
) -> dict[str, Any]:
    """Produce ``rate`` trades/s for ``seconds``; latency of every full minute's bars (ms)."""
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5,
                         "compression.type": "lz4", "acks": "all", "enable.idempotence": True})
    topic = settings.topic_raw
    partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    names = [f"L{i:03d}" for i in range(symbols)]
    rng = random.Random(7)
    price = {s: 20.0 + 5 * i for i, s in enumerate(names)}
    anchor_ns = int(anchor.timestamp()) * NS
    start_wall = time.time()
    offset_ns = anchor_ns - int(start_wall * NS)  # event = wall + offset
    sent = 0
    per_slot = rate * SLOT_S
    next_beat = 0.0
    deadline = start_wall + seconds
    slot = 0
    seq = 0
    lags: list[int] = []  # raw-topic records the bars job has not committed, every 10 s
    next_lag = start_wall + 10
    while True:
        now = time.time()
        if now >= deadline:
            break
        if now >= next_lag:
            lags.append(lag(settings))
            next_lag = now + 10
        event_ns = int(now * NS) + offset_ns
        n = int(per_slot * (slot + 1)) - int(per_slot * slot)
        for _ in range(n):
            sym = names[rng.randrange(symbols)]
            price[sym] = max(1.0, round(price[sym] * math.exp(rng.gauss(0.0, 0.0005)), 2))
            seq += 1
            value = json.dumps({"symbol": sym, "ts_ns": event_ns - rng.randrange(20_000_000), "price": price[sym],
                                "size": rng.choice((100, 100, 200, 300, 500)), "exchange": "Q",
                                "conditions": "@", "trade_id": f"lat-{seq}", "source": "bench"},
                               separators=(",", ":")).encode()
            producer.produce(topic, value, key=sym.encode())
        sent += n
        if now >= next_beat:
            beat = json.dumps({"kind": "heartbeat", "ts_ns": event_ns}).encode()
            for p in range(partitions):
                producer.produce(topic, beat, partition=p)
            next_beat = now + HEARTBEAT_S
        producer.poll(0)
        slot += 1
        time.sleep(max(0.0, start_wall + slot * SLOT_S - time.time()))
    end_event = int(time.time() * NS) + offset_ns
    # Keep the watermark moving (heartbeats only) until the last full minute has had time to land.
    last_full_end = end_event // MINUTE_NS * MINUTE_NS
    settle_until = time.time() + (settings.watermark_delay_ms / 1000) + 10
    while time.time() < settle_until:
        beat = json.dumps({"kind": "heartbeat", "ts_ns": int(time.time() * NS) + offset_ns}).encode()
        for p in range(partitions):
            producer.produce(topic, beat, partition=p)
        producer.poll(0)
        time.sleep(HEARTBEAT_S)
    producer.flush(30)
    elapsed = time.time() - start_wall
    first_full_start = (anchor_ns // MINUTE_NS + 1) * MINUTE_NS
    delay_ns = settings.watermark_delay_ms * 1_000_000
    with db.connect(settings) as conn:
        if db.scalar(conn, "SHOW track_commit_timestamp") != "on":
            return {"error": "PostgreSQL runs without track_commit_timestamp: restart it (marketpipe stack down/up)"}
        rows = conn.execute(
            "SELECT bar_start, pg_xact_commit_timestamp(xmin) FROM bars WHERE timeframe = '1m' "  # a view has no xmin
            "AND symbol LIKE 'L%%' AND bar_start >= to_timestamp(%s) AND bar_start < to_timestamp(%s)",
            (first_full_start / NS, (last_full_end - MINUTE_NS) / NS + 1),
        ).fetchall()
    lat_ms = []
    for bar_start, committed in rows:
        if committed is None:
            continue
        end_ns = int(bar_start.timestamp()) * NS + MINUTE_NS
        watermark_wall = (end_ns + delay_ns - offset_ns) / NS
        lat_ms.append((committed.timestamp() - watermark_wall) * 1000)
    lat_ms.sort()
    minutes = (last_full_end - first_full_start) // MINUTE_NS
    result: dict[str, Any] = {
        "rate_target": rate, "rate_sent": round(sent / min(elapsed, seconds)), "seconds": seconds,
        "symbols": symbols, "full_minutes": int(minutes), "bars": len(lat_ms),
        # Flink commits offsets on checkpoints: flat means bounded by rate x checkpoint interval, not growing.
        "lag_samples": lags, "lag_bound_one_checkpoint": rate * settings.checkpoint_interval_ms // 1000,
    }
    if lat_ms:
        result.update({
            "p50_ms": round(lat_ms[len(lat_ms) // 2]),
            "p99_ms": round(lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]),
            "max_ms": round(lat_ms[-1]), "min_ms": round(lat_ms[0]),
        })
    _log(json.dumps(result))
    return result
