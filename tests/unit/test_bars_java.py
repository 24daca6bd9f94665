"""The Java bar engine (jvm/udfs, dev.marketpipe.bars) gives the same output as the Python oracle
(udfs/bars/), row for row and bit for bit: every bar field, every reject and its reason, in order,
and the wake-up times. Inputs: the calls of the golden, fault and property tests (recorded while those
tests run), and a large generated replay fed streaming-style (watermarks, timers, checkpoint restores)
and batch-style under several rule settings. The harness is tests/unit/bars_java.py."""

from __future__ import annotations

import heapq
import random
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.unit import bars_java, test_bars_faults, test_bars_golden, test_bars_properties
from tests.unit.bars_java import Recorder, Session, cases_of, java_batch_ns, mismatches, run_java
from udfs.bars.model import NS_PER_MS, Trade

NY = ZoneInfo("America/New_York")


def assert_same(sessions: list[Session], tmp_path: Path) -> list[list[dict[str, Any]]]:
    java = run_java(sessions, tmp_path)
    diff = mismatches(sessions, java)
    assert not diff, "\n\n".join(diff)
    return java


def record_module(module: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Session]:
    recorder = Recorder(tmp_path)
    recorder.patch(monkeypatch, module)
    recorder.patch(monkeypatch, test_bars_golden)  # helpers other modules import from it
    ran = 0
    for _, fn, kwargs in cases_of(module, tmp_path):
        fn(**kwargs)
        ran += 1
    assert ran and recorder.sessions
    return list(recorder.sessions.values())


@pytest.mark.parametrize("module", [test_bars_golden, test_bars_faults, test_bars_properties],
                         ids=["golden", "faults", "properties"])
def test_recorded_test_calls_agree(module: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sessions = record_module(module, monkeypatch, tmp_path)
    assert sum(len(s.events) for s in sessions) >= 15
    assert_same(sessions, tmp_path)


def test_snapshot_bytes_round_trip_is_exact(tmp_path: Path) -> None:
    """A snapshot in the middle of a day, then the rest: same as without (checked on both engines)."""
    s = Session({"rules": {"empty_minutes": "flat", "outlier_fraction": 0.3}})
    t0 = int(datetime(2024, 6, 13, 9, 29, tzinfo=NY).timestamp()) * 10**9
    for i in range(400):
        ts = t0 + i * 7_919 * NS_PER_MS
        s.add("AAPL", Trade(ts, 100 + (i % 13) / 8, 10 + i % 90, "Q", ("@", "I", "F", "O")[i % 4], i, None,
                            str(i % 50)), ts - 2_001 * NS_PER_MS)
        if i % 37 == 0:
            s.snapshot("AAPL")
    s.finish("AAPL")
    assert_same([s], tmp_path)


# ---- a large generated replay

DAYS = [
    date(2024, 3, 8),    # Friday, EST
    date(2024, 3, 9),    # Saturday: market_closed
    date(2024, 3, 11),   # Monday after the DST change (EDT)
    date(2024, 11, 29),  # half day: closes 13:00, post until 17:00
]
LISTED = ["Q", "N", "P", "A", "Z"]
CONDITIONS = (["@"] * 30 + ["F"] * 6 + ["@ F", "I", "I", "I", "@ I", "T", "U", "Z", "4", "9", "9 I", "B", "K",
              "", None, "M", "Q", "X", "QQ", "@ XX", "E", "W", "7", "H", "C", "P"])
BOUND_MS = 2000


def ns(day: date, hh: int, mm: int, ss: float = 0.0) -> int:
    local = datetime(day.year, day.month, day.day, hh, mm, tzinfo=NY)
    return (local - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000 + int(ss * 1e9)


def symbols_file(tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    """n symbols, most with a listing exchange, a few unlisted (no listing: no auction waits)."""
    names = [f"S{i:03d}" for i in range(n)]
    rows = ["symbol,listing_exchange,calendar"]
    rows += [f"{s},{'' if i % 9 == 0 else LISTED[i % len(LISTED)]}," for i, s in enumerate(names)]
    path = tmp_path / "symbols.csv"
    path.write_text("\n".join(rows) + "\n")
    return path, names


def generate(symbols: list[str], listing: dict[str, str | None], per_symbol: int, seed: int) -> list[
        tuple[str, Trade, int]]:
    """(symbol, trade, arrival delay ms): a realistic mix over DAYS, in time order per symbol with
    out-of-order ticks, late ticks beyond grace, duplicates, outliers and auction prints."""
    rng = random.Random(seed)
    out: list[tuple[str, Trade, int]] = []
    seq = 0
    for sym in symbols:
        price = rng.uniform(20, 400)
        per_day = per_symbol // len(DAYS)
        for day in DAYS:
            opening, closing = ns(day, 9, 30), ns(day, 13 if day.month == 11 else 16, 0)
            stamps = []
            n_day = per_day if day.weekday() < 5 else per_day // 50  # a few weekend ticks
            busy = windows(day, opening, closing)
            for _ in range(n_day):
                lo, hi = rng.choice(busy)
                ts = lo + rng.randrange(0, hi - lo)
                stamps.append(ts - ts % NS_PER_MS if rng.random() < 0.7 else ts)
            stamps.sort()
            ex = listing[sym]
            for ts in stamps:
                seq += 1
                price = max(1.0, price * (1 + rng.gauss(0, 0.0008)))
                p = round(price * (rng.choice([0.4, 1.7]) if rng.random() < 0.002 else 1), 4)  # outliers
                exchange = rng.choice(["Q", "N", "P", "Z", "D", "K", ex or "Q", None])
                cond = rng.choice(CONDITIONS)
                size = rng.choice([1, 5, 37, 100, 100, 100, 200, 300, 500, 1000, 2500])
                r = rng.random()
                delay = rng.randrange(0, BOUND_MS + 1)
                if r < 0.004:
                    delay = rng.randrange(62_000, 240_000)  # late: beyond grace
                elif r < 0.02:
                    delay = rng.randrange(BOUND_MS, 60_000)  # late but within grace: revisions
                trade = Trade(ts, p, size, exchange, cond, seq, rng.choice([None, None, "sip", "vendor_x"]),
                              str(seq) if rng.random() < 0.9 else None)
                out.append((sym, trade, delay))
                if rng.random() < 0.005:  # the same print again (same exchange and id), a moment later
                    seq += 1
                    out.append((sym, Trade(ts, p, size, exchange, cond, seq, trade.source, trade.trade_id),
                                delay + rng.randrange(0, 3000)))
            if ex is not None:  # the listing exchange's auction prints (one a bit early / late)
                for code, ts in (("O", opening - rng.randrange(0, 900) * NS_PER_MS),
                                 ("6", closing + rng.randrange(0, 4000) * NS_PER_MS),
                                 ("O I", opening + 2 * NS_PER_MS)):
                    seq += 1
                    out.append((sym, Trade(ts, round(price, 2), rng.randrange(1000, 90000), ex, code, seq, None,
                                           f"a{seq}"), rng.randrange(0, BOUND_MS)))
    return out


def windows(day: date, opening: int, closing: int) -> list[tuple[int, int]]:
    """Busy stretches of a day (short, so the replay's timers stay cheap): before pre_open, pre-market,
    the open, midday, the close with the post-market start, and across post_close."""
    return [
        (ns(day, 3, 55), ns(day, 4, 5)), (ns(day, 8, 0), ns(day, 8, 20)),
        (opening - 300 * 10**9, opening + 1800 * 10**9), (ns(day, 12, 40), ns(day, 13, 20)),
        (closing - 1200 * 10**9, closing + 600 * 10**9), (ns(day, 19, 50), ns(day, 20, 10)),
    ] if day.month != 11 else [
        (opening - 300 * 10**9, opening + 1800 * 10**9), (closing - 1200 * 10**9, closing + 600 * 10**9),
        (ns(day, 16, 50), ns(day, 17, 10)),
    ]


def register(
    timers: dict[str, int], heap: list[tuple[int, str]], sym: str, wake: int | None, wm: int | None
) -> None:
    """A timer at the engine's wake-up, as udfs/flink/bars.py registers it: only past the watermark."""
    if wake is not None and timers.get(sym) != wake and (wm is None or wake > wm):
        timers[sym] = wake
        heapq.heappush(heap, (wake, sym))


def stream(session: Session, ticks: list[tuple[str, Trade, int]], snapshot_every: int, seed: int) -> None:
    """Feed like the Flink job: arrival order by event time + delay, watermark = max seen - bound - 1 ms
    (global, as Flink's), timers at each symbol's next wake-up fired by advance, checkpoint restores."""
    rng = random.Random(seed)
    arrival = sorted(range(len(ticks)), key=lambda i: (ticks[i][1].ts_ns + ticks[i][2] * NS_PER_MS, i))
    max_seen: int | None = None
    timers: dict[str, int] = {}  # symbol -> registered wake-up (Flink keeps one per key and time)
    heap: list[tuple[int, str]] = []
    for i in arrival:
        sym, trade, _ = ticks[i]
        wm = None if max_seen is None else max_seen - (BOUND_MS + 1) * NS_PER_MS
        session.add(sym, trade, wm)
        register(timers, heap, sym, session.outputs[-1]["next_wakeup_ns"], wm)
        max_seen = trade.ts_ns if max_seen is None else max(max_seen, trade.ts_ns)
        wm = max_seen - (BOUND_MS + 1) * NS_PER_MS
        while heap and heap[0][0] <= wm:  # event-time timers that the watermark passed
            at, other = heapq.heappop(heap)
            if timers.get(other) == at:
                del timers[other]
                session.advance(other, wm)
                register(timers, heap, other, session.outputs[-1]["next_wakeup_ns"], wm)
        if rng.random() < 1 / snapshot_every:
            session.snapshot(sym)
    for sym in sorted({t[0] for t in ticks}):
        session.finish(sym)


RULES = [
    {"empty_minutes": "none", "ineligible_minutes": "previous_close", "unknown_conditions": "volume_only",
     "outlier_fraction": 0.0, "extended_hours": True},
    {"empty_minutes": "flat", "ineligible_minutes": "carry", "unknown_conditions": "dead_letter",
     "outlier_fraction": 0.3, "extended_hours": True, "grace_ms": 30_000},
    {"empty_minutes": "flat", "ineligible_minutes": "previous_close", "unknown_conditions": "dead_letter",
     "outlier_fraction": 0.3, "extended_hours": False, "rollups": ["5m", "1d"]},
    {"empty_minutes": "none", "ineligible_minutes": "carry", "unknown_conditions": "volume_only",
     "outlier_fraction": 0.0, "extended_hours": True, "rollups": [], "closing_print_wait_ms": 5_000,
     "pre_open": "07:00", "post_close": "18:30"},
]


def vendor_table(tmp_path: Path) -> Path:
    path = tmp_path / "vendor_x.csv"
    path.write_text(
        "code,session,updates_open_close,updates_high_low,updates_volume,is_opening_print,is_closing_print,"
        "is_official_report,description\n"
        "@,all,true,true,true,false,false,false,regular\n"
        "F,all,false,false,true,false,false,false,volume only here\n"
        "T,post,true,true,true,false,false,false,a post-market regular sale\n"
        "*,pre,false,true,true,false,false,false,unknown in pre: high/low and volume\n"
    )
    return path


def test_large_replay_streaming_and_batch(tmp_path: Path) -> None:
    path, names = symbols_file(tmp_path, 52)
    listing = {s: (None if i % 9 == 0 else LISTED[i % len(LISTED)]) for i, s in enumerate(names)}
    big = generate(names, listing, 5_300, seed=7)
    assert len(big) >= 200_000
    small = generate(names[:9], listing, 2_000, seed=11)
    reasons: Counter[str] = Counter()
    sessions = []
    for k, rules in enumerate(RULES):
        config = {"rules": rules, "symbols_file": str(path), "calendar": "XNYS",
                  "feed_conditions_files": {"vendor_x": str(vendor_table(tmp_path)), "sip": None}}
        ticks = big if k == 0 else small
        streamed = Session(config)
        stream(streamed, ticks, snapshot_every=500, seed=k)
        batch = Session(config)
        for sym in sorted({t[0] for t in ticks}):
            batch.batch(sym, [t for s, t, _ in ticks if s == sym])
        sessions += [streamed, batch]
        for s in (streamed, batch):
            reasons.update(r[-1] for o in s.outputs for r in o["rejected"])
    # the replay exercises every rule
    assert {"late", "market_closed", "duplicate_trade_id", "price_outlier", "unknown_condition", "no_effect",
            "official_report", "extended_hours"} <= set(reasons), reasons
    sessions.append(sessions[1])  # the big batch again: Java timed warm (JIT compiled)
    java = assert_same(sessions, tmp_path)
    py_ns, java_ns = sessions[1].python_batch_ns, java_batch_ns([java[-1]])
    n = len(big)
    print(f"\nrun_batch throughput on {n} ticks, {len(names)} symbols: "
          f"python {n / (py_ns / 1e9):,.0f} ticks/s, java {n / (java_ns / 1e9):,.0f} ticks/s "
          f"(x{py_ns / java_ns:.1f}); rejects {dict(reasons)}")


def test_harness_builds_the_jar_when_missing() -> None:
    assert bars_java.ensure_jar().exists()


# ---- the JVM bar step's output columns come from the job config (udfs/schema.py's bar row)


@pytest.fixture(scope="module")
def java_step_env() -> tuple[Any, Any]:
    """A streaming table environment with the jar, and a table of the bar step's input columns."""
    pytest.importorskip("pyflink")
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    from udfs.flink.bars import INPUT_COLUMNS

    t_env = StreamTableEnvironment.create(StreamExecutionEnvironment.get_execution_environment())
    t_env.get_config().set("pipeline.jars", bars_java.ensure_jar().as_uri())
    t_env.get_config().set("table.local-time-zone", "UTC")
    ticks = t_env.sql_query(
        "SELECT * FROM (VALUES ('AAPL', CAST(0 AS BIGINT), 1.0E0, CAST(1 AS BIGINT), 'Q', '@', 't', 0, "
        f"CAST(0 AS BIGINT), CAST(NULL AS STRING), TO_TIMESTAMP_LTZ(0, 3))) AS t({', '.join(INPUT_COLUMNS)})"
    )
    return t_env, ticks


def test_java_step_emits_the_schema_bar_row(java_step_env: tuple[Any, Any]) -> None:
    from udfs.flink.bars import _BAR_FIELDS, build_bars
    from udfs.flink.keyed import data_types

    t_env, ticks = java_step_env
    bars, _ = build_bars(t_env, ticks)
    schema = bars.get_schema()
    assert tuple(zip(schema.get_field_names(), schema.get_field_data_types(), strict=True)) == tuple(
        zip((n for n, _ in _BAR_FIELDS), data_types(_BAR_FIELDS), strict=True))


def _renamed(fields: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(("bar_begin_ms" if n == "bar_start_ms" else n, t) for n, t in fields)


def _retyped(fields: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((n, "INT" if n == "volume" else t) for n, t in fields)


@pytest.mark.parametrize(("change", "message"), [
    (_renamed, "unknown bar column 'bar_begin_ms': the JVM bar step has no value for it"),
    (_retyped, "bar column 'volume' is INT in the config, but the JVM bar step's values are BIGINT"),
], ids=["renamed", "retyped"])
def test_java_step_fails_at_build_on_a_column_it_cannot_fill(
    java_step_env: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, change: Any, message: str,
) -> None:
    """A column udfs/schema.py renames (or retypes) without the JVM step learning it fails the job build,
    naming the column, instead of emitting rows that do not match the declared row."""
    from udfs.flink import bars

    t_env, ticks = java_step_env
    monkeypatch.setattr(bars, "_BAR_FIELDS", change(bars._BAR_FIELDS))
    # py4j's Py4JJavaError (untyped), carrying the Java exception and its message
    with pytest.raises(Exception, match=re.escape(f"java.lang.IllegalArgumentException: {message}")):
        bars.build_bars(t_env, ticks)


def test_java_step_fails_at_build_when_the_unbarred_row_is_not_what_it_fills(
    java_step_env: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The trades in no bar are udfs/schema.py's UNBARRED row; the JVM step fills them positionally, so a
    changed row fails the build, listing both, instead of shifting values into the wrong columns."""
    from udfs.flink import bars

    t_env, ticks = java_step_env
    _, unbarred = bars.build_bars(t_env, ticks)
    assert tuple(unbarred.get_schema().get_field_names()) == bars.REJECT_COLUMNS
    monkeypatch.setattr(bars, "_REJECT_FIELDS", (*bars._REJECT_FIELDS, ("venue", "STRING")))
    with pytest.raises(Exception, match=re.escape("java.lang.IllegalArgumentException: the trades in no bar are [")):
        bars.build_bars(t_env, ticks)
