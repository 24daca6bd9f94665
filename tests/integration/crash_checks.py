"""What "exactly once" means after a crash, checked on every sink (issue 9).

A crash run replays a fixture whose symbols are its own; afterwards, for those symbols:

* PostgreSQL bars_1m equals the bars DuckDB computes from the file (oracle.py), indicators_1m equals
  TA-Lib over those closes (so no bar was applied twice or skipped), every ticks_dlq row is there once;
* the Kafka topics, read ``read_committed``, hold each record once: bars.1m one record per bar,
  ticks.clean one per valid trade, ticks.dlq one per bad row, signals one per PostgreSQL signal row
  and with the same action;
* every Iceberg table holds each row once and as many rows as PostgreSQL / the fixture.

That is what an uninterrupted run produces (``test_pipeline.py`` checks the same oracle on one).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np
import talib
from confluent_kafka import Consumer, TopicPartition

from marketpipe import db, lake
from marketpipe.contracts.registry import value_decoder
from marketpipe.feeds.fixtures import Fixture
from marketpipe.settings import Settings
from tests.integration.oracle import expected_bars


def read_topic(settings: Settings, topic: str, timeout: float = 60) -> list[tuple[bytes | None, bytes | None]]:
    """Every committed record of ``topic`` (key, value), from the beginning to its end now."""
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"crash-check-{time.time_ns()}",
        "isolation.level": "read_committed", "enable.auto.commit": False, "auto.offset.reset": "earliest",
    })
    try:
        parts = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        # the last stable offset: read_committed stops there
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[tuple[bytes | None, bytes | None]] = []
        done: set[int] = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < len(parts) and time.monotonic() < deadline:
            msgs = consumer.consume(1000, timeout=1.0)
            for m in msgs:
                if m.error():
                    continue
                out.append((m.key(), m.value()))
                partition, offset = m.partition(), m.offset()
                assert partition is not None and offset is not None
                if offset + 1 >= ends[partition]:
                    done.add(partition)
            if not msgs:  # transaction markers at the end: the position passes the end without a record
                for p in parts:
                    pos = consumer.position([TopicPartition(topic, p)])[0].offset
                    if pos >= ends[p]:
                        done.add(p)
        return out
    finally:
        consumer.close()


def _pg(settings: Settings, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with db.connect(settings) as conn:
        return conn.execute(sql, args).fetchall()


def wait_settled(settings: Settings, fixture: Fixture, timeout: float = 600) -> None:
    """Until every bar of the fixture has its indicator row (the last stage) or ``timeout``."""
    symbols = list(fixture.symbols)
    want = len(expected_bars(fixture.path))  # the bars by market rules, not every minute with a trade
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = _pg(settings, "SELECT count(*) FROM indicators_1m WHERE symbol = ANY(%s)", symbols)[0][0]
        if n >= want:
            time.sleep(2 * settings.checkpoint_interval_ms / 1000 + 2)  # let the last transactions commit
            return
        time.sleep(2)


def check_exactly_once(settings: Settings, fixture: Fixture) -> list[str]:
    """Every difference from an uninterrupted run of ``fixture``; empty when there is none."""
    problems: list[str] = []
    symbols = sorted(fixture.symbols)
    sym_set = set(symbols)

    # -- PostgreSQL
    bars = _pg(settings, "SELECT symbol, (extract(epoch FROM bar_start) * 1000)::bigint, open, high, low, close, "
               "volume, trade_count FROM bars_1m WHERE symbol = ANY(%s) ORDER BY symbol, bar_start", symbols)
    got = {(s, ms): (o, h, lo, c, v, n) for s, ms, o, h, lo, c, v, n in bars}
    want = {(s, ms): (o, h, lo, c, v, n) for s, ms, o, h, lo, c, v, _, n in expected_bars(fixture.path)}
    if got != want:
        diff = sorted(set(got.items()) ^ set(want.items()))[:5]
        problems.append(f"bars_1m differ from the oracle ({len(got)} vs {len(want)} bars), e.g. {diff}")
    rows = _pg(settings, "SELECT symbol, close, ema_26, rsi_14, macd_hist FROM indicators_1m "
               "WHERE symbol = ANY(%s) ORDER BY symbol, bar_start", symbols)
    if len(rows) != len(want):
        problems.append(f"indicators_1m has {len(rows)} rows for {len(want)} bars")
    for symbol in symbols:
        rs = [r for r in rows if r[0] == symbol]
        closes = np.array([r[1] for r in rs], dtype=float)
        for col, ref in ((2, talib.EMA(closes, 26)), (3, talib.RSI(closes, 14)),
                         (4, talib.MACD(closes, 12, 26, 9)[2])):
            vals = np.array([np.nan if r[col] is None else r[col] for r in rs], dtype=float)
            if not np.allclose(vals, ref, rtol=1e-9, atol=1e-12, equal_nan=True):
                problems.append(f"indicators_1m {symbol} column {col} differs from TA-Lib")
    dlq = _pg(settings, "SELECT kafka_partition, kafka_offset, reason FROM ticks_dlq WHERE payload LIKE '%%BAD-%%' "
              "AND (symbol = ANY(%s) OR symbol IS NULL OR symbol = '')", symbols)
    reasons = Counter(r for *_, r in dlq)
    if sum(fixture.bad_rows.values()) > sum(reasons.values()):
        problems.append(f"ticks_dlq has {dict(reasons)}, the fixture's bad rows are {fixture.bad_rows}")
    signals = _pg(settings, "SELECT symbol, (extract(epoch FROM bar_start) * 1000)::bigint, strategy, action "
                  "FROM signals WHERE symbol = ANY(%s)", symbols)
    pg_signals = {(s, ms, st): a for s, ms, st, a in signals}

    # -- Kafka, read_committed
    def values(topic: str) -> list[dict[str, Any]]:
        # Avro against the registry for the contract topics (docs/contracts.md), JSON for ticks.dlq
        decode = value_decoder(settings, topic)
        return [decode(v) or {} for _, v in read_topic(settings, topic) if v is not None]

    bar_keys = Counter((r["symbol"], r["bar_start"], r.get("revision"))
                       for r in values(settings.topic_bars) if r.get("symbol") in sym_set)
    dup = [k for k, n in bar_keys.items() if n > 1]
    if dup or len(bar_keys) < len(want):
        problems.append(f"topic {settings.topic_bars}: {len(bar_keys)} distinct bars for {len(want)}, "
                        f"{len(dup)} duplicated, e.g. {dup[:3]}")
    clean = Counter(r["trade_id"] for r in values(settings.topic_clean) if r.get("symbol") in sym_set)
    if any(n > 1 for n in clean.values()) or len(clean) != fixture.valid_rows:
        problems.append(f"topic {settings.topic_clean}: {sum(clean.values())} records, {len(clean)} trade ids "
                        f"for {fixture.valid_rows} valid rows")
    dead = Counter((r["kafka_partition"], r["kafka_offset"]) for r in values(settings.topic_dlq)
                   if "BAD-" in (r.get("payload") or "") and (r.get("symbol") in sym_set or not r.get("symbol")))
    if any(n > 1 for n in dead.values()) or len(dead) != len(dlq):
        problems.append(f"topic {settings.topic_dlq}: {sum(dead.values())} records for {len(dlq)} dead letters")
    sig = Counter((r["symbol"], r["bar_start"], r["strategy"], r["action"])
                  for r in values(settings.topic_signals) if r.get("symbol") in sym_set)
    if any(n > 1 for n in sig.values()) or len(sig) != len(pg_signals):
        problems.append(f"topic {settings.topic_signals}: {sum(sig.values())} records, {len(sig)} distinct, "
                        f"PostgreSQL has {len(pg_signals)} signals")

    # -- Iceberg
    def keys(name: str, cols: list[str], symbol_col: str | None = "symbol") -> Counter[tuple[Any, ...]]:
        wanted = cols + ([symbol_col] if symbol_col and symbol_col not in cols else [])
        table = lake.read_table(settings, name).select(wanted).to_pydict()  # payloads may be bad UTF-8
        n = len(next(iter(table.values()))) if table else 0
        out: Counter[tuple[Any, ...]] = Counter()
        for i in range(n):
            if symbol_col is None or table[symbol_col][i] in sym_set:
                out[tuple(table[c][i] for c in cols)] += 1
        return out

    for name, cols, expected in (
        ("silver.ticks_clean", ["trade_id"], fixture.valid_rows),
        ("silver.bars", ["timeframe", "symbol", "bar_start", "revision"], None),
        (f"{settings.lake_gold}.indicators_1m", ["symbol", "bar_start"], len(want)),
        (f"{settings.lake_gold}.signals", ["symbol", "bar_start", "strategy"], len(pg_signals)),
    ):
        counted = keys(name, cols)
        dups = sum(n - 1 for n in counted.values() if n > 1)
        if dups or (expected is not None and len(counted) != expected):
            problems.append(f"iceberg {name}: {len(counted)} distinct rows (want {expected}), {dups} duplicates")
    raw = keys("bronze.ticks_raw", ["kafka_partition", "kafka_offset"], None)
    dups = sum(n - 1 for n in raw.values() if n > 1)
    if dups:
        problems.append(f"iceberg bronze.ticks_raw: {dups} duplicate (partition, offset) rows")
    return problems
