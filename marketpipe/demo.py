"""``make demo``: the whole pipeline on the embedded synthetic feed, then a summary.

Brings the stack up, starts the pipeline job, streams the synthetic feed for ``seconds`` of wall time
(event time accelerated so a minute of wall time shows many bars), waits until the last bar is in
PostgreSQL and the lake has committed, prints counts and a sample query, and ends with one line of
JSON holding those counts.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from marketpipe import db, lake
from marketpipe.kafka_security import librdkafka_config
from marketpipe.settings import Settings

if TYPE_CHECKING:
    from marketpipe.rules.ticks import TickRules

log = logging.getLogger(__name__)

SAMPLE_QUERY = """\
SELECT b.symbol, to_char(b.bar_start, 'YYYY-MM-DD HH24:MI') AS bar_start, b.close, b.volume,
       round(i.rsi_14::numeric, 2) AS rsi_14, round(i.macd_hist::numeric, 4) AS macd_hist, s.action
FROM bars_1m b
JOIN indicators_1m i USING (symbol, bar_start)
LEFT JOIN signals s ON s.symbol = b.symbol AND s.bar_start = b.bar_start \
AND s.timeframe = '1m' AND s.strategy = 'macd_rsi'
ORDER BY b.bar_start DESC, b.symbol
LIMIT 8"""


def topic_counts(settings: Settings) -> dict[str, int]:
    """Messages currently held by each pipeline topic (high minus low watermark offsets)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            **librdkafka_config(settings),  # TLS/SASL of an external cluster
            "group.id": "marketpipe-summary",
        }
    )
    try:
        out: dict[str, int] = {}
        meta = consumer.list_topics(timeout=10)
        for topic in settings.topics:
            parts = meta.topics.get(topic)
            total = 0
            for p in (parts.partitions if parts else {}):
                lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += hi - lo
            out[topic] = total
        return out
    finally:
        consumer.close()


def collect_counts(settings: Settings) -> dict[str, Any]:
    """Counts for the summary: topics, PostgreSQL tables, Iceberg tables, and the tick balance."""
    topics = topic_counts(settings)
    tables = db.table_counts(settings)
    with db.connect(settings) as conn:
        clean = conn.execute("SELECT coalesce(sum(trade_count), 0) FROM bars_1m").fetchone()[0]  # type: ignore[index]
        actions = dict(conn.execute("SELECT action, count(*) FROM signals GROUP BY action").fetchall())
    return {
        "ticks_produced": None,
        "ticks_clean": int(clean),
        "ticks_dead_lettered": tables["ticks_dlq"],
        "bars": tables["bars_1m"],
        "signals": tables["signals"],
        "signal_actions": actions,
        "topics": topics,
        "postgres": tables,
        "iceberg": lake.row_counts(settings),
    }


def sample_query(settings: Settings) -> str:
    """The sample query and its output, formatted like psql."""
    with db.connect(settings) as conn:
        cur = conn.execute(SAMPLE_QUERY)
        cols = [c.name for c in cur.description or []]
        rows = [[("" if v is None else str(v)) for v in r] for r in cur.fetchall()]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def wait_for_lake(settings: Settings, expected_bars: int, timeout: float) -> None:
    """Iceberg commits on checkpoints: wait until the lake holds as many bars as PostgreSQL."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = lake.row_counts(settings).get("silver.bars")  # every timeframe: >= the 1m bars
        if n is not None and n >= expected_bars:
            return
        time.sleep(1.0)
    log.warning("the lake has not caught up with PostgreSQL after %.0fs", timeout)


def check_room(
    start: datetime, event_seconds: float, max_future_s: int, last: datetime | None, now: datetime | None = None,
    rules: TickRules | None = None,
) -> None:
    """Fail before feeding when the demo's event time would run further ahead of the wall clock than the
    pipeline accepts (``max_future_s``): those ticks would be dead-lettered as ``future`` and the last
    minutes before them would never close. It happens when earlier demos' bars (each run starts after
    the last) have used up the latest session and the next one is more than a day away (a weekend)."""
    from marketpipe.exceptions import FeedError
    from marketpipe.feeds.session import SessionClock, from_ns
    from marketpipe.rules.ticks import end_heartbeat_ns

    clock = SessionClock(start)
    end = from_ns(end_heartbeat_ns(clock.advance(int(event_seconds * 1e9)), rules))
    limit = (now or datetime.now(UTC)) + timedelta(seconds=max_future_s)
    if end > limit:
        where = f"the stack already holds bars up to {last:%Y-%m-%d %H:%M} UTC; " if last else ""
        raise FeedError(
            f"the demo's event time would reach {end:%Y-%m-%d %H:%M} UTC, more than "
            f"MARKETPIPE_MAX_FUTURE_S={max_future_s}s ahead of now, so its ticks would be dead-lettered as "
            f"`future`: {where}each demo starts after the last one. Run `make clean` (deletes .data) to "
            "start from empty, shorten it (DEMO_SECONDS), or run it again once the next session is within a day."
        )


def run_demo(settings: Settings, *, seconds: float, keep: bool, accelerate: float) -> int:
    """Run the demo; returns the process exit code."""
    from marketpipe.db import wait_for_bars
    from marketpipe.feeds.producer import TickProducer
    from marketpipe.feeds.session import default_start
    from marketpipe.feeds.synthetic import SyntheticFeed
    from marketpipe.jobs.control import PipelineControl
    from marketpipe.monitoring import feed_metrics
    from marketpipe.rules.bar_config import bar_config
    from marketpipe.rules.ticks import TickRules, bars_by_rules
    from marketpipe.stack.launcher import Stack, format_status

    stack = Stack(settings)
    print("== starting the local stack (Kafka, PostgreSQL, Flink, Iceberg catalog)", flush=True)
    print(format_status(stack.up()), flush=True)
    control = PipelineControl(settings)
    print("== starting the pipeline job", flush=True)
    print(control.start(fresh=False), flush=True)
    try:
        # Start after the data already in PostgreSQL (and the final heartbeat that closed it, at most
        # 65 s past its last tick, marketpipe.rules.ticks.end_heartbeat_ns), so a second demo's ticks are not
        # late for the first one's watermark.
        last = db.last_bar_end(settings)
        start = max(default_start(), last + timedelta(minutes=2)) if last else None
        rules = TickRules.from_settings(settings)
        check_room(start or default_start(), seconds * accelerate, settings.max_future_s, last, rules=rules)
        run_started = datetime.now(UTC) - timedelta(seconds=5)
        print(f"== streaming the synthetic feed for {seconds:.0f}s (event time x{accelerate:g})", flush=True)
        feed = SyntheticFeed(
            symbols=5, rate=40.0, duration=seconds, accelerate=accelerate, seed=None, start=start
        )
        producer = TickProducer(settings)
        feed_metrics.start(settings, "demo", producer)  # Prometheus scrapes the demo's feed too
        summary = feed.run(producer, progress=True, rules=rules)

        expected = bars_by_rules(summary["trades"], bar_config(settings))
        print(f"== waiting for the last of {len(expected)} bars to reach PostgreSQL", flush=True)
        wait_for_bars(settings, expected, timeout=180)
        wait_for_bars(settings, expected, timeout=180, table="indicators_1m")
        wait_for_lake(settings, db.table_counts(settings)["bars_1m"], timeout=60)
        counts = collect_counts(settings)
        # This run's share: its bars by key (tables are upserted and may hold earlier runs).
        counts.update(db.run_counts(settings, expected, run_started), ticks_produced=summary["ticks"])
        print("\n== summary of this run (tables and lake: totals)")
        print(f"ticks produced      {counts['ticks_produced']}")
        print(f"ticks clean         {counts['ticks_clean']}")
        print(f"ticks dead-lettered {counts['ticks_dead_lettered']}")
        print(f"bars (1m)           {counts['bars']}")
        print(f"signals             {counts['signals']}  (all runs by action: {counts['signal_actions']})")
        print("kafka topics        " + ", ".join(f"{k}={v}" for k, v in counts["topics"].items()))
        print("postgres tables     " + ", ".join(f"{k}={v}" for k, v in counts["postgres"].items()))
        print("iceberg tables      " + ", ".join(f"{k}={v}" for k, v in counts["iceberg"].items()))
        print(f"\n== sample query (psql {db.display_dsn(settings)})\n{SAMPLE_QUERY};\n")
        print(sample_query(settings))
        if settings.monitoring:
            print(f"\n== watch it: Prometheus {settings.prometheus_url} (alerts, graphs); the live chart: "
                  f"`make chart` -> http://{settings.host}:{settings.chart_port} (docs/monitoring.md)")
        print(json.dumps(counts, default=str), flush=True)
    finally:
        if not keep:
            print("== stopping (DEMO_KEEP=1 leaves the stack running)", flush=True)
            control.stop(savepoint=True)
            stack.down()
    return 0
