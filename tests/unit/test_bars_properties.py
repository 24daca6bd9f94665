"""Property tests of the bar engine (docs/bars.md): bar invariants, volume conservation, rollups as
merges of their minutes, and streaming (any arrival order within the watermark bound) equals batch."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from udfs.bars.engine import BarEngine, Context, latest, run_batch
from udfs.bars.model import MINUTE_NS, BarRow, BarRules, Output, Trade
from udfs.market.calendar import get_calendar
from udfs.market.conditions import ConditionTable

NY = ZoneInfo("America/New_York")
MS = 1_000_000
DAY = date(2024, 6, 13)
CONDITIONS = ["@", "@", "@", "F", "@ F", "", "I", "I", "T", "O", "6", "M", "Q", "O I", "9", "Z"]
EXCHANGES = ["Q", "Q", "P", "N", None]
BOUND_MS = 2000
TABLE = ConditionTable.default()
CAL = get_calendar("XNYS")
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ny_ns(hh: int, mm: int) -> int:
    local = datetime(DAY.year, DAY.month, DAY.day, hh, mm, tzinfo=NY)
    return (local - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


#: windows of the regular session (the first one starts in the pre-market for opening prints)
WINDOWS = [(ny_ns(9, 28), ny_ns(9, 40)), (ny_ns(11, 0), ny_ns(11, 12))]


@st.composite
def trade_lists(draw: st.DrawFn) -> list[Trade]:
    lo, hi = draw(st.sampled_from(WINDOWS))
    n = draw(st.integers(1, 40))
    trades = []
    for seq in range(n):
        ts = lo + draw(st.integers(0, (hi - lo) // MS - 1)) * MS  # ms grid, like Flink's watermark
        trades.append(Trade(
            ts_ns=ts,
            price=draw(st.integers(9_500, 10_500)) / 100,
            size=draw(st.integers(1, 500)),
            exchange=draw(st.sampled_from(EXCHANGES)),
            conditions=draw(st.sampled_from(CONDITIONS)),
            seq=seq,
        ))
    return trades


rule_sets = st.builds(
    BarRules,
    empty_minutes=st.sampled_from(["none", "flat"]),
    ineligible_minutes=st.sampled_from(["previous_close", "carry"]),
)


def batch(trades: list[Trade], ctx: Context) -> tuple[Output, BarEngine]:
    """Like :func:`run_batch`, keeping the engine to look at what is left in its state."""
    engine = BarEngine("AAPL", ctx)
    out = Output()
    for trade in sorted(trades, key=lambda t: (t.ts_ns, t.seq)):
        out.extend(engine.add(trade))
    out.extend(engine.finish())
    return out, engine


def stream(trades: list[Trade], delays: list[int], ctx: Context, advance_every: int) -> Output:
    """Arrival in order of ``ts + delay`` (delay <= bound), watermark = max seen - bound - 1 ms."""
    engine = BarEngine("AAPL", ctx)
    out = Output()
    arrival = sorted(range(len(trades)), key=lambda i: (trades[i].ts_ns + delays[i] * MS, i))
    max_seen: int | None = None
    for k, i in enumerate(arrival):
        wm = None if max_seen is None else max_seen - (BOUND_MS + 1) * MS
        out.extend(engine.add(trades[i], wm))
        max_seen = trades[i].ts_ns if max_seen is None else max(max_seen, trades[i].ts_ns)
        if advance_every and k % advance_every == 0:
            out.extend(engine.advance(max_seen - (BOUND_MS + 1) * MS))
    out.extend(engine.finish())
    return out


def close_enough(a: BarRow, b: BarRow) -> bool:
    """Equal in everything but the revision; the float sums (pv_sum, vwap) up to summation order."""
    va, vb = a.values(), b.values()
    floats = {BarRow.__slots__.index(f) for f in ("pv_sum", "vwap")}
    return all(
        math.isclose(x, y, rel_tol=1e-12) if i in floats else x == y  # type: ignore[arg-type]
        for i, (x, y) in enumerate(zip(va, vb, strict=True))
    )


@PROPS
@given(trade_lists(), rule_sets)
def test_prices_are_ordered_in_every_bar(trades: list[Trade], rules: BarRules) -> None:
    out = run_batch("AAPL", trades, Context(rules, TABLE, CAL, "Q"))
    for b in out.bars:
        assert b.low <= b.open <= b.high, b
        assert b.low <= b.close <= b.high, b
        assert b.volume >= 0 and b.trade_count >= 0
        assert b.bar_start_ns < b.bar_end_ns


@PROPS
@given(trade_lists(), rule_sets)
def test_volume_is_conserved(trades: list[Trade], rules: BarRules) -> None:
    out, engine = batch(trades, Context(rules, TABLE, CAL, "Q"))
    rejected = Counter(id(r.trade) for r in out.rejected)
    eligible = 0
    for tr in trades:
        if rejected[id(tr)]:
            continue
        slot = CAL.slot(tr.ts_ns)
        assert slot is not None
        if TABLE.eligibility(tr.conditions, slot.session).volume:
            eligible += tr.size
    minutes = [b for b in latest(out.bars).values() if b.timeframe == "1m"]
    # volume with no bar to go into yet (no price so far, nothing after it) stays carried
    carry = engine.state.carry
    pending = carry[0] if carry else 0
    assert sum(b.volume for b in minutes) + pending == eligible
    if pending:  # only when no minute after the carried volume had a price
        assert carry is not None and carry[3] is not None  # carried volume has a first trade
        assert all(b.bar_start_ns < carry[3] for b in minutes if not b.filled)


@PROPS
@given(trade_lists(), rule_sets)
def test_rollups_are_merges_of_their_minutes(trades: list[Trade], rules: BarRules) -> None:
    out = run_batch("AAPL", trades, Context(rules, TABLE, CAL, "Q"))
    final = latest(out.bars).values()
    minutes = sorted((b for b in final if b.timeframe == "1m"), key=lambda b: b.bar_start_ns)
    for r in final:
        if r.timeframe == "1m":
            continue
        inside = [m for m in minutes if r.bar_start_ns <= m.bar_start_ns < r.bar_end_ns
                  and (r.timeframe != "1d" or m.session == "regular")]
        assert inside, r
        assert r.volume == sum(m.volume for m in inside)
        assert r.trade_count == sum(m.trade_count for m in inside)
        assert math.isclose(r.pv_sum, sum(m.pv_sum for m in inside), rel_tol=1e-12)
        real = [m for m in inside if not m.filled] or inside
        assert (r.open, r.close) == (real[0].open, real[-1].close)
        assert r.high == max(m.high for m in real) and r.low == min(m.low for m in real)
        assert all(m.session == r.session for m in inside)
        if r.timeframe == "1d":
            assert r.bar_end_ns - r.bar_start_ns == 390 * MINUTE_NS
        else:
            assert r.bar_end_ns - r.bar_start_ns <= {"5m": 5, "15m": 15, "1h": 60}[r.timeframe] * MINUTE_NS


@PROPS
@given(
    trade_lists().flatmap(lambda ts: st.tuples(
        st.just(ts), st.lists(st.integers(0, BOUND_MS), min_size=len(ts), max_size=len(ts)))),
    rule_sets,
    st.sampled_from([0, 1, 3]),
)
def test_streaming_within_the_bound_equals_batch(
    trades_delays: tuple[list[Trade], list[int]], rules: BarRules, advance_every: int
) -> None:
    trades, delays = trades_delays
    ctx = Context(rules, TABLE, CAL, "Q")
    expected = latest(run_batch("AAPL", trades, ctx).bars)
    streamed_out = stream(trades, delays, ctx, advance_every)
    streamed = latest(streamed_out.bars)
    assert streamed.keys() == expected.keys()
    for key, row in expected.items():
        assert close_enough(streamed[key], row), (streamed[key], row)
    assert all(r.reason != "late" for r in streamed_out.rejected)
    assert Counter(r.reason for r in streamed_out.rejected) == Counter(
        r.reason for r in run_batch("AAPL", trades, ctx).rejected)


@PROPS
@given(trade_lists(), rule_sets)
def test_in_order_streaming_equals_batch_without_revisions(trades: list[Trade], rules: BarRules) -> None:
    """Ticks in time order: every bar of the stream is emitted once and final (revision 0), except
    the previous bar that an ineligible minute's volume is carried into."""
    ctx = Context(rules, TABLE, CAL, "Q")
    expected = latest(run_batch("AAPL", trades, ctx).bars)
    out = stream(sorted(trades, key=lambda t: (t.ts_ns, t.seq)), [0] * len(trades), ctx, 1)
    streamed = latest(out.bars)
    assert streamed.keys() == expected.keys()
    for key, row in expected.items():
        assert close_enough(streamed[key], row)
    if rules.ineligible_minutes == "previous_close":
        assert all(b.revision == 0 for b in out.bars if b.timeframe == "1m")
