"""Golden cases of the bar engine (docs/bars.md): hand-written ticks, exact expected bars and rejects.

Bars are compared as ``(timeframe, start HH:MM New York, open, high, low, close, volume, trade_count,
session, revision)``. Times are written in New York wall-clock time and converted to epoch ns UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from udfs.bars.engine import BarEngine, Context, latest, run_batch
from udfs.bars.model import MINUTE_NS, BarRow, BarRules, Output, Trade
from udfs.market.calendar import get_calendar
from udfs.market.conditions import ConditionTable

NY = ZoneInfo("America/New_York")
MS = 1_000_000
D = date(2024, 6, 13)  # an ordinary Thursday (EDT)
NO_ROLLUPS: tuple[str, ...] = ()

Bar = tuple[str, str, float, float, float, float, int, int, str, int]


def ns(hh: int, mm: int = 0, ss: int = 0, ms: int = 0, *, day: date = D) -> int:
    """Epoch ns UTC of a New York wall-clock time."""
    local = datetime(day.year, day.month, day.day, hh, mm, ss, ms * 1000, tzinfo=NY)
    return (local - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def utc(day: date, hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC).timestamp()) * 10**9


def hhmm(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, NY).strftime("%H:%M")


def ctx(listing: str | None = "Q", **rules: object) -> Context:
    return Context(BarRules(**rules), ConditionTable.default(), get_calendar("XNYS"), listing)  # type: ignore[arg-type]


def t(ts_ns: int, price: float, size: int = 100, cond: str | None = "@", ex: str | None = "P", seq: int = 0) -> Trade:
    return Trade(ts_ns, price, size, ex, cond, seq)


def short(b: BarRow) -> Bar:
    return (b.timeframe, hhmm(b.bar_start_ns), b.open, b.high, b.low, b.close, b.volume, b.trade_count,
            b.session, b.revision)


def one_trade(tf: str, label: str, price: float, session: str = "regular", revision: int = 0) -> Bar:
    """The bar of a single trade of the default 100 shares: open, high, low and close are all ``price``."""
    return (tf, label, price, price, price, price, 100, 1, session, revision)


def bars(out: Output, tf: str | None = None) -> list[Bar]:
    return [short(b) for b in out.bars if tf is None or b.timeframe == tf]


def final(out: Output, tf: str | None = None) -> list[Bar]:
    """The latest revision of every bar, in (timeframe order of appearance, start) order."""
    rows = latest(out.bars).values()
    return sorted((short(b) for b in rows if tf is None or b.timeframe == tf), key=lambda r: (r[0], r[1]))


def reasons(out: Output) -> list[tuple[str, str]]:
    return [(hhmm(r.trade.ts_ns), r.reason) for r in out.rejected]


# ---- intervals and labels


def test_minute_is_half_open_and_labelled_by_its_start() -> None:
    out = run_batch("AAPL", [
        t(ns(10, 0, 0), 100.0, 100),
        t(ns(10, 0, 59, 999), 102.0, 300),
        t(ns(10, 0, 30), 99.0, 100),
        t(ns(10, 1, 0), 101.0, 50),
    ], ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [
        ("1m", "10:00", 100.0, 102.0, 99.0, 102.0, 500, 3, "regular", 0),
        ("1m", "10:01", 101.0, 101.0, 101.0, 101.0, 50, 1, "regular", 0),
    ]
    first = out.bars[0]
    assert (first.bar_start_ns, first.bar_end_ns) == (ns(10), ns(10, 1))
    assert (first.first_trade_ns, first.last_trade_ns) == (ns(10), ns(10, 0, 59, 999))
    assert first.pv_sum == 100.0 * 100 + 102.0 * 300 + 99.0 * 100
    assert first.vwap == pytest.approx(first.pv_sum / 500)
    assert first.session_date == D and out.rejected == []


def test_equal_timestamps_are_ordered_by_sequence_not_arrival() -> None:
    ts = ns(10, 0, 5)
    a, b = t(ts, 100.0, seq=2), t(ts, 101.0, seq=1)
    out = run_batch("AAPL", [a, b], ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [("1m", "10:00", 101.0, 101.0, 100.0, 100.0, 200, 2, "regular", 0)]


# ---- event time, watermark, grace, revisions


def test_bar_is_emitted_when_the_watermark_passes_its_end() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
    assert e.add(t(ns(10, 0, 10), 100.0), ns(10, 0, 8)).bars == []
    assert e.add(t(ns(10, 0, 50), 101.0), ns(10, 0, 48)).bars == []
    assert e.advance(ns(10, 1) - 2 * MS).bars == []
    assert bars(e.advance(ns(10, 1) - MS)) == [("1m", "10:00", 100.0, 101.0, 100.0, 101.0, 200, 2, "regular", 0)]
    assert e.advance(ns(10, 1, 30)).bars == []  # emitted once


def test_late_within_grace_revises_the_bar_and_its_rollups() -> None:
    e = BarEngine("AAPL", ctx())
    e.add(t(ns(10, 29, 10), 100.0, 100), ns(10, 29, 8))
    first = e.advance(ns(10, 30))  # the watermark passed 10:30: the 10:29 bar and the buckets ending 10:30
    assert bars(first) == [
        one_trade("1m", "10:29", 100.0),
        one_trade("15m", "10:15", 100.0),  # same end: by timeframe name
        one_trade("1h", "09:30", 100.0),
        one_trade("5m", "10:25", 100.0),
    ]
    # a tick for 10:29 arrives 30 s after the bar was emitted (grace is 60 s): revision 1 of everything
    late = e.add(t(ns(10, 29, 40), 103.0, 50), ns(10, 30, 30))
    assert late.rejected == []
    assert bars(late) == [
        ("1m", "10:29", 100.0, 103.0, 100.0, 103.0, 150, 2, "regular", 1),
        ("15m", "10:15", 100.0, 103.0, 100.0, 103.0, 150, 2, "regular", 1),
        ("1h", "09:30", 100.0, 103.0, 100.0, 103.0, 150, 2, "regular", 1),
        ("5m", "10:25", 100.0, 103.0, 100.0, 103.0, 150, 2, "regular", 1),
    ]
    # a second revision of the same bar
    again = e.add(t(ns(10, 29, 0), 98.0, 10), ns(10, 30, 50))
    assert bars(again, "1m") == [("1m", "10:29", 98.0, 103.0, 98.0, 103.0, 160, 3, "regular", 2)]
    assert [b[-1] for b in bars(again)] == [2, 2, 2, 2]
    # the same ticks in a batch run give the same bars (revision apart)
    batch = run_batch("AAPL", [
        t(ns(10, 29, 10), 100.0, 100), t(ns(10, 29, 40), 103.0, 50), t(ns(10, 29, 0), 98.0, 10),
    ], ctx())
    streamed = {k: v.values() for k, v in latest(first.bars + late.bars + again.bars).items()}
    assert {k: v.values() for k, v in latest(batch.bars).items() if k[0] != "1d"} == streamed


def test_late_beyond_grace_is_rejected_late() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS, grace_ms=60_000))
    e.add(t(ns(10, 29, 10), 100.0), ns(10, 29, 8))
    assert len(e.advance(ns(10, 30)).bars) == 1
    # the 10:29 bar ended at 10:30; grace ends at 10:31 (watermark >= 10:31 - 1 ms)
    out = e.add(t(ns(10, 29, 40), 103.0), ns(10, 31) - MS)
    assert out.bars == [] and reasons(out) == [("10:29", "late")]
    # also for a minute that never had a bar
    out = e.add(t(ns(10, 20, 0), 103.0), ns(10, 31))
    assert out.bars == [] and reasons(out) == [("10:20", "late")]
    # just inside grace is a revision
    e2 = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
    e2.add(t(ns(10, 29, 10), 100.0), None)
    e2.advance(ns(10, 30))
    assert bars(e2.add(t(ns(10, 29, 40), 103.0), ns(10, 31) - 2 * MS), "1m")[0][-1] == 1


def test_quiet_symbol_closes_on_advance_and_says_when() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
    assert e.add(t(ns(10, 0, 10), 100.0), ns(10, 0, 8)).bars == []
    wake = e.next_wakeup_ns()
    assert wake == ns(10, 1) - MS
    assert e.advance(wake - 1).bars == []
    assert bars(e.advance(wake)) == [one_trade("1m", "10:00", 100.0)]
    # nothing left to emit; the kept last minute is no timer, so the symbol goes to sleep
    assert e.next_wakeup_ns() is None


def test_timers_keep_rollups_moving_for_a_quiet_symbol() -> None:
    e = BarEngine("AAPL", ctx(rollups=("5m",)))
    e.add(t(ns(10, 2, 10), 100.0), ns(10, 2, 8))
    emitted: list[Bar] = []
    while (wake := e.next_wakeup_ns()) is not None:
        emitted += bars(e.advance(wake))
    assert emitted == [
        one_trade("1m", "10:02", 100.0),
        one_trade("5m", "10:00", 100.0),
    ]
    assert e.state.buckets == {} and list(e.state.minutes) == [ns(10, 2)]


# ---- session end and auctions


def test_last_regular_bar_waits_for_the_closing_print_when_the_listing_exchange_is_known() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS, closing_print_wait_ms=60_000))
    e.add(t(ns(15, 59, 30), 100.0), ns(15, 59, 28))
    assert e.next_wakeup_ns() == ns(16, 1) - MS
    assert e.advance(ns(16, 0, 30)).bars == []
    assert bars(e.advance(ns(16, 1) - MS)) == [one_trade("1m", "15:59", 100.0)]


def test_last_regular_bar_closes_at_the_close_without_a_listing_exchange() -> None:
    e = BarEngine("XYZ", ctx(listing=None, rollups=("1d",)))
    e.add(t(ns(15, 59, 30), 100.0), ns(15, 59, 28))
    assert e.next_wakeup_ns() == ns(16) - MS
    assert bars(e.advance(ns(16) - MS)) == [
        one_trade("1m", "15:59", 100.0),
        one_trade("1d", "09:30", 100.0),
    ]
    # advancing far: nothing stays open, state is bounded
    assert e.advance(ns(23)).bars == []
    assert e.next_wakeup_ns() is None
    assert len(e.state.minutes) == 1 and e.state.buckets == {}


def test_closing_print_after_16_is_the_close_of_the_last_regular_bar() -> None:
    ticks = [
        t(ns(15, 59, 10), 100.0, 100),
        t(ns(15, 59, 50), 101.0, 100),
        t(ns(16, 0, 3), 99.5, 5000, cond="6", ex="Q"),  # the listing exchange's closing cross
        t(ns(16, 0, 20), 99.0, 10, cond="T", ex="P"),   # a Form T post-market print: volume only
        t(ns(16, 0, 30), 99.7, 20, cond="@", ex="P"),
    ]
    out = run_batch("AAPL", ticks, ctx(rollups=("1d",)))
    assert final(out) == [
        ("1d", "09:30", 100.0, 101.0, 99.5, 99.5, 5200, 3, "regular", 0),
        ("1m", "15:59", 100.0, 101.0, 99.5, 99.5, 5200, 3, "regular", 0),
        ("1m", "16:00", 99.7, 99.7, 99.7, 99.7, 30, 2, "post", 0),
    ]
    # streaming: the closing print ends the wait, so the bar goes out as soon as the print is in
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
    e.add(ticks[0], None)
    e.add(ticks[1], None)
    assert e.advance(ns(16, 0, 1)).bars == []
    assert bars(e.add(ticks[2], ns(16, 0, 1))) == [("1m", "15:59", 100.0, 101.0, 99.5, 99.5, 5200, 3, "regular", 0)]


def test_closing_print_of_another_exchange_is_a_post_market_trade() -> None:
    out = run_batch("AAPL", [t(ns(15, 59, 10), 100.0), t(ns(16, 0, 3), 99.5, 5000, cond="6", ex="N")],
                    ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [
        one_trade("1m", "15:59", 100.0),
        ("1m", "16:00", 99.5, 99.5, 99.5, 99.5, 5000, 1, "post", 0),
    ]


def test_opening_print_of_the_listing_exchange_sets_the_first_regular_open() -> None:
    ticks = [
        t(ns(9, 29, 59, 800), 100.0, 8000, cond="O", ex="Q"),  # stamped a moment before 09:30
        t(ns(9, 30, 0, 100), 100.5, 100, cond="@", ex="P"),
        t(ns(9, 30, 20), 99.8, 100, cond="@", ex="P"),
    ]
    out = run_batch("AAPL", ticks, ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [("1m", "09:30", 100.0, 100.5, 99.8, 99.8, 8200, 3, "regular", 0)]
    # an earlier-stamped regular trade does not beat the opening print either
    out = run_batch("AAPL", [t(ns(9, 30, 0, 50), 101.0, 100), t(ns(9, 30, 0, 400), 100.0, 8000, "O", "Q")],
                    ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [("1m", "09:30", 100.0, 101.0, 100.0, 100.0, 8100, 2, "regular", 0)]


def test_opening_print_of_another_exchange_does_not_set_the_open() -> None:
    ticks = [
        t(ns(9, 29, 59, 800), 100.0, 8000, cond="O", ex="P"),
        t(ns(9, 30, 0, 100), 100.5, 100, cond="@", ex="P"),
    ]
    out = run_batch("AAPL", ticks, ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [
        ("1m", "09:29", 100.0, 100.0, 100.0, 100.0, 8000, 1, "pre", 0),
        one_trade("1m", "09:30", 100.5),
    ]


def test_several_auction_prints_in_a_minute_do_not_depend_on_arrival_order() -> None:
    a, b = t(ns(9, 30, 1), 100.0, 10, "O", "Q", seq=1), t(ns(9, 30, 2), 101.0, 10, "O", "Q", seq=2)
    c, d = t(ns(16, 0, 2), 99.0, 10, "6", "Q", seq=3), t(ns(16, 0, 3), 98.0, 10, "6", "Q", seq=4)
    results = []
    for order in ([a, b, c, d], [b, a, d, c]):
        e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
        out = Output()
        for tick in order:
            out.extend(e.add(tick, ns(9, 29)))
        out.extend(e.finish())
        results.append(bars(out))
    assert results[0] == results[1] == [
        ("1m", "09:30", 100.0, 101.0, 100.0, 101.0, 20, 2, "regular", 0),  # earliest opening print
        ("1m", "15:59", 99.0, 99.0, 98.0, 98.0, 20, 2, "regular", 0),      # latest closing print
    ]


@pytest.mark.parametrize("cond", ["O I", "6 I"])
def test_auction_print_that_is_only_volume_eligible_gives_the_price(cond: str) -> None:
    """'O I' / '6 I' combine to an auction print with no open/close eligibility (AND of the codes)."""
    when = ns(9, 29, 59) if cond.startswith("O") else ns(16, 0, 3)
    label = "09:30" if cond.startswith("O") else "15:59"
    out = run_batch("AAPL", [t(when, 10.0, 50, cond=cond, ex="Q")], ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [("1m", label, 10.0, 10.0, 10.0, 10.0, 50, 1, "regular", 0)]


@pytest.mark.parametrize("cond", ["M", "Q", "@ M"])
def test_official_reports_are_not_trades(cond: str) -> None:
    out = run_batch("AAPL", [t(ns(10, 0, 5), 100.0), t(ns(10, 0, 30), 150.0, 9999, cond=cond, ex="Q")],
                    ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [one_trade("1m", "10:00", 100.0)]
    assert reasons(out) == [("10:00", "official_report")]


def test_trade_eligible_for_nothing_is_rejected_no_effect() -> None:
    out = run_batch("AAPL", [t(ns(10, 0, 5), 100.0), t(ns(10, 0, 30), 150.0, 10, cond="9 I")],
                    ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [one_trade("1m", "10:00", 100.0)]
    assert reasons(out) == [("10:00", "no_effect")]


# ---- ineligible minutes


def test_ineligible_minute_previous_close() -> None:
    ticks = [t(ns(10, 0, 5), 100.0, 100), t(ns(10, 1, 5), 101.0, 30, cond="I"), t(ns(10, 1, 9), 102.0, 20, cond="I")]
    out = run_batch("AAPL", ticks, ctx(rollups=("5m",), ineligible_minutes="previous_close"))
    assert bars(out) == [
        one_trade("1m", "10:00", 100.0),
        ("1m", "10:01", 100.0, 100.0, 100.0, 100.0, 50, 2, "regular", 0),
        ("5m", "10:00", 100.0, 100.0, 100.0, 100.0, 150, 3, "regular", 0),
    ]
    odd = out.bars[1]
    assert odd.filled is False and odd.vwap == pytest.approx((101.0 * 30 + 102.0 * 20) / 50)


def test_ineligible_minute_carry_revises_the_previous_bar() -> None:
    ticks = [t(ns(10, 0, 5), 100.0, 100), t(ns(10, 1, 5), 101.0, 30, cond="I")]
    e = BarEngine("AAPL", ctx(rollups=("5m",), ineligible_minutes="carry"))
    out = Output()
    for tick in ticks:
        out.extend(e.add(tick, tick.ts_ns - 2000 * MS))
    out.extend(e.advance(ns(10, 2)))
    out.extend(e.advance(ns(10, 6)))
    assert bars(out) == [
        one_trade("1m", "10:00", 100.0),
        ("1m", "10:00", 100.0, 100.0, 100.0, 100.0, 130, 2, "regular", 1),  # no 10:01 bar
        ("5m", "10:00", 100.0, 100.0, 100.0, 100.0, 130, 2, "regular", 0),
    ]
    batch = run_batch("AAPL", ticks, ctx(rollups=("5m",), ineligible_minutes="carry"))
    assert final(batch) == [
        ("1m", "10:00", 100.0, 100.0, 100.0, 100.0, 130, 2, "regular", 1),
        ("5m", "10:00", 100.0, 100.0, 100.0, 100.0, 130, 2, "regular", 0),
    ]


def test_carry_after_a_quiet_gap_goes_forward_not_into_a_final_bar() -> None:
    """Carrying revises the previous bar, so only within its grace period; later volume waits for the
    next bar with a price (a final bar and its rollups are never rewritten)."""
    ticks = [
        t(ns(9, 31, 5), 100.0, 100), t(ns(9, 33, 5), 99.0, 50),
        t(ns(11, 0, 5), 101.0, 7, cond="I"),
        t(ns(11, 2, 5), 102.0, 10),
    ]
    e = BarEngine("AAPL", ctx(rollups=("5m",), ineligible_minutes="carry"))
    out = Output()
    for tick in ticks:
        out.extend(e.add(tick, tick.ts_ns - 2000 * MS))
    out.extend(e.advance(ns(11, 10)))
    assert bars(out) == [
        one_trade("1m", "09:31", 100.0),
        ("1m", "09:33", 99.0, 99.0, 99.0, 99.0, 50, 1, "regular", 0),
        ("5m", "09:30", 100.0, 100.0, 99.0, 99.0, 150, 2, "regular", 0),
        ("1m", "11:02", 102.0, 102.0, 102.0, 102.0, 17, 2, "regular", 0),
        ("5m", "11:00", 102.0, 102.0, 102.0, 102.0, 17, 2, "regular", 0),
    ]
    assert final(run_batch("AAPL", ticks, ctx(rollups=("5m",), ineligible_minutes="carry"))) == final(out)


def test_carry_stays_inside_the_session() -> None:
    """Post-market odd lots at 16:00 do not go into the regular session's 15:59 bar (or its 1d bar)."""
    ticks = [t(ns(15, 59, 5), 100.0, 100), t(ns(16, 0, 5), 101.0, 7, cond="I"), t(ns(16, 1, 5), 101.5, 10)]
    out = run_batch("AAPL", ticks, ctx(rollups=("1d",), ineligible_minutes="carry"))
    assert final(out) == [
        one_trade("1d", "09:30", 100.0),
        one_trade("1m", "15:59", 100.0),
        ("1m", "16:01", 101.5, 101.5, 101.5, 101.5, 17, 2, "post", 0),
    ]


@pytest.mark.parametrize("policy", ["previous_close", "carry"])
def test_ineligible_first_minute_without_previous_close_is_carried_forward(policy: str) -> None:
    ticks = [t(ns(10, 0, 5), 101.0, 30, cond="I"), t(ns(10, 1, 5), 100.0, 100)]
    out = run_batch("AAPL", ticks, ctx(rollups=NO_ROLLUPS, ineligible_minutes=policy))
    assert bars(out) == [("1m", "10:01", 100.0, 100.0, 100.0, 100.0, 130, 2, "regular", 0)]
    assert out.bars[0].first_trade_ns == ns(10, 0, 5)


# ---- empty minutes


def test_empty_minutes_none_makes_no_rows() -> None:
    out = run_batch("AAPL", [t(ns(10, 0, 5), 100.0), t(ns(10, 3, 5), 101.0)], ctx(rollups=NO_ROLLUPS))
    assert [b[1] for b in bars(out)] == ["10:00", "10:03"]


def test_empty_minutes_flat_fills_between_trades_and_to_the_session_end() -> None:
    out = run_batch("AAPL", [t(ns(10, 0, 5), 100.0), t(ns(10, 3, 5), 101.0)],
                    ctx(rollups=("5m",), empty_minutes="flat"))
    one = [b for b in out.bars if b.timeframe == "1m"]
    assert [short(b) for b in one[:5]] == [
        one_trade("1m", "10:00", 100.0),
        ("1m", "10:01", 100.0, 100.0, 100.0, 100.0, 0, 0, "regular", 0),
        ("1m", "10:02", 100.0, 100.0, 100.0, 100.0, 0, 0, "regular", 0),
        one_trade("1m", "10:03", 101.0),
        ("1m", "10:04", 101.0, 101.0, 101.0, 101.0, 0, 0, "regular", 0),
    ]
    assert [b.filled for b in one[:5]] == [False, True, True, False, True]
    # the batch end fills the rest of the regular segment (10:00 .. 15:59), never past its end
    assert len(one) == 360 and hhmm(one[-1].bar_start_ns) == "15:59"
    # a rollup ignores filled minutes when it has real ones
    assert final(out, "5m")[0] == ("5m", "10:00", 100.0, 101.0, 100.0, 101.0, 200, 2, "regular", 0)
    assert final(out, "5m")[1] == ("5m", "10:05", 101.0, 101.0, 101.0, 101.0, 0, 0, "regular", 0)


def test_empty_minutes_flat_streaming_fills_as_the_watermark_moves() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS, empty_minutes="flat"))
    e.add(t(ns(10, 0, 5), 100.0), None)
    assert [b[1] for b in bars(e.advance(ns(10, 1)))] == ["10:00"]
    assert e.next_wakeup_ns() == ns(10, 2) - MS
    assert [(b[1], b[6]) for b in bars(e.advance(ns(10, 3)))] == [("10:01", 0), ("10:02", 0)]
    # a late trade within grace for a flat minute revises it into a real bar
    rev = e.add(t(ns(10, 2, 30), 100.5), ns(10, 3, 1))
    assert bars(rev) == [one_trade("1m", "10:02", 100.5, revision=1)]
    assert rev.bars[0].filled is False


# ---- sessions and calendar


@pytest.mark.parametrize(
    ("day", "utc_hour"), [(date(2024, 3, 11), 13), (date(2024, 3, 8), 14)], ids=["EDT", "EST"]
)
def test_dst_change(day: date, utc_hour: int) -> None:
    ticks = [t(utc(day, utc_hour, 30, 5), 100.0), t(utc(day, utc_hour, 29, 5), 99.0)]
    out = run_batch("AAPL", ticks, ctx(rollups=("1h", "1d")))
    rows = {(b.timeframe, b.bar_start_ns): b for b in out.bars}
    assert rows[("1m", utc(day, utc_hour, 30))].session == "regular"
    assert rows[("1m", utc(day, utc_hour, 29))].session == "pre"
    assert hhmm(utc(day, utc_hour, 30)) == "09:30"
    assert rows[("1h", utc(day, utc_hour, 30))].bar_end_ns == utc(day, utc_hour + 1, 30)
    daily = rows[("1d", utc(day, utc_hour, 30))]
    assert daily.bar_end_ns == utc(day, utc_hour + 7) and daily.session_date == day  # 16:00 local
    # the pre-market 1h bucket 09:00-09:30 local
    assert rows[("1h", utc(day, utc_hour))].bar_end_ns == utc(day, utc_hour, 30)


def test_half_day() -> None:
    day = date(2024, 11, 29)  # closes 13:00; post 13:00-17:00
    ticks = [t(ns(12, 59, 30, day=day), 100.0), t(ns(13, 5, day=day), 101.0), t(ns(16, 59, day=day), 102.0)]
    out = run_batch("AAPL", ticks, ctx(rollups=("1h", "1d")))
    assert final(out) == [
        one_trade("1d", "09:30", 100.0),
        one_trade("1h", "12:30", 100.0),
        one_trade("1h", "13:00", 101.0, "post"),
        one_trade("1h", "16:00", 102.0, "post"),
        one_trade("1m", "12:59", 100.0),
        one_trade("1m", "13:05", 101.0, "post"),
        one_trade("1m", "16:59", 102.0, "post"),
    ]
    rows = latest(out.bars)
    assert rows[("1d", "AAPL", ns(9, 30, day=day))].bar_end_ns == ns(13, day=day)
    assert rows[("1h", "AAPL", ns(12, 30, day=day))].bar_end_ns == ns(13, day=day)
    # the last regular bar is 12:59 and waits for the closing print after 13:00
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
    e.add(ticks[0], None)
    assert e.next_wakeup_ns() == ns(13, 1, day=day) - MS
    out = run_batch("AAPL", [t(ns(17, 0, 0, day=day), 100.0)], ctx())
    assert reasons(out) == [("17:00", "market_closed")]


@pytest.mark.parametrize(
    "when",
    [
        ns(10, day=date(2024, 7, 4)),    # Independence Day
        ns(10, day=date(2024, 7, 6)),    # Saturday
        ns(3, 59, 59, day=D),            # before the pre-market
        ns(20, day=D),                   # post-market ends at 20:00
    ],
    ids=["holiday", "weekend", "before-pre", "after-post"],
)
def test_closed_market_is_rejected(when: int) -> None:
    out = run_batch("AAPL", [t(when, 100.0)], ctx())
    assert out.bars == [] and [r.reason for r in out.rejected] == ["market_closed"]


def test_extended_hours_off_rejects_pre_and_post_but_keeps_auction_prints() -> None:
    ticks = [
        t(ns(8, 0), 99.0),
        t(ns(9, 29, 59, 800), 100.0, 500, cond="O", ex="Q"),
        t(ns(16, 0, 3), 101.0, 700, cond="6", ex="Q"),
        t(ns(17, 0), 102.0),
    ]
    out = run_batch("AAPL", ticks, ctx(rollups=NO_ROLLUPS, extended_hours=False))
    assert bars(out) == [
        ("1m", "09:30", 100.0, 100.0, 100.0, 100.0, 500, 1, "regular", 0),
        ("1m", "15:59", 101.0, 101.0, 101.0, 101.0, 700, 1, "regular", 0),
    ]
    assert reasons(out) == [("08:00", "extended_hours"), ("17:00", "extended_hours")]


# ---- rollups


def test_rollups_are_session_aligned() -> None:
    ticks = [
        t(ns(4, 10), 90.0), t(ns(9, 10), 91.0), t(ns(9, 29, 30), 92.0),          # pre
        t(ns(9, 30, 1), 100.0), t(ns(10, 29, 1), 101.0), t(ns(10, 30, 1), 102.0),  # regular
        t(ns(15, 30, 1), 103.0), t(ns(15, 59, 1), 104.0),
        t(ns(16, 0, 1), 105.0), t(ns(19, 59, 1), 106.0),                         # post
    ]
    out = run_batch("AAPL", ticks, ctx())
    spans = {tf: sorted((hhmm(b.bar_start_ns), hhmm(b.bar_end_ns), b.session) for b in latest(out.bars).values()
                        if b.timeframe == tf) for tf in ("1h", "1d", "15m")}
    assert spans["1h"] == [
        ("04:00", "05:00", "pre"), ("09:00", "09:30", "pre"),
        ("09:30", "10:30", "regular"), ("10:30", "11:30", "regular"), ("15:30", "16:00", "regular"),
        ("16:00", "17:00", "post"), ("19:00", "20:00", "post"),
    ]
    assert spans["1d"] == [("09:30", "16:00", "regular")]
    assert ("09:15", "09:30", "pre") in spans["15m"] and ("09:30", "09:45", "regular") in spans["15m"]
    daily = next(b for b in out.bars if b.timeframe == "1d")
    assert (daily.open, daily.high, daily.low, daily.close, daily.volume, daily.trade_count) == (
        100.0, 104.0, 100.0, 104.0, 500, 5)
    assert daily.session_date == D
    assert (daily.first_trade_ns, daily.last_trade_ns) == (ns(9, 30, 1), ns(15, 59, 1))
    assert daily.pv_sum == sum(p * 100 for p in (100.0, 101.0, 102.0, 103.0, 104.0))
    hour = latest(out.bars)[("1h", "AAPL", ns(9, 30))]
    assert (hour.open, hour.close, hour.volume) == (100.0, 101.0, 200)


def test_rollup_waits_for_the_closing_print_minute() -> None:
    e = BarEngine("AAPL", ctx(rollups=("1d",)))
    e.add(t(ns(15, 59, 5), 100.0), None)
    assert e.advance(ns(16, 0, 30)).bars == []  # the 1d bar ends at 16:00 but holds for 15:59
    assert [b[0] for b in bars(e.advance(ns(16, 1)))] == ["1m", "1d"]


# ---- state


def test_state_stays_bounded_over_a_day_and_survives_a_checkpoint() -> None:
    c = ctx(empty_minutes="flat")
    e = BarEngine("AAPL", c)
    out = Output()
    peak_minutes = peak_buckets = 0
    ts = ns(4, 0)
    seq = 0
    while ts < ns(20):
        seq += 1
        out.extend(e.add(t(ts, 100.0 + seq % 7, seq=seq), ts - 2000 * MS))
        peak_minutes = max(peak_minutes, len(e.state.minutes))
        peak_buckets = max(peak_buckets, len(e.state.buckets))
        if seq == 2000:  # checkpoint and restore mid-day
            e = BarEngine.loads(e.dumps(), c)
        ts += 17_000 * MS
    out.extend(e.advance(ns(23)))
    assert peak_minutes <= 4
    assert peak_buckets <= 8  # 5m, 15m, 1h open + those in grace + the session's 1d
    assert len(e.state.minutes) == 1 and e.state.buckets == {}
    assert e.next_wakeup_ns() is None
    assert out.rejected == []
    one = [b for b in latest(out.bars).values() if b.timeframe == "1m"]
    assert len(one) == 16 * 60 and all(b.revision == 0 for b in out.bars)
    assert sum(b.volume for b in one) == seq * 100
    daily = latest(out.bars)[("1d", "AAPL", ns(9, 30))]
    assert daily.bar_end_ns - daily.bar_start_ns == 390 * MINUTE_NS


def test_grace_of_the_last_regular_bar_runs_from_when_it_was_due() -> None:
    """Held for the closing print until 16:01, the 15:59 bar still takes revisions for the grace
    period after that (not after its end), so a tick at 15:59:50 arriving at 16:01:30 revises it."""
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS, grace_ms=60_000, closing_print_wait_ms=60_000))
    e.add(t(ns(15, 59, 10), 100.0), ns(15, 59, 20))
    assert bars(e.advance(ns(16, 1, 0))) == [one_trade("1m", "15:59", 100.0)]
    out = e.add(t(ns(15, 59, 50), 101.0, seq=1), ns(16, 1, 30))
    assert bars(out) == [("1m", "15:59", 100.0, 101.0, 100.0, 101.0, 200, 2, "regular", 1)]
    out = e.add(t(ns(15, 59, 55), 102.0, seq=2), ns(16, 2, 0))  # grace over: 16:01 + 60 s
    assert reasons(out) == [("15:59", "late")]


def test_a_feed_can_have_its_own_condition_table(tmp_path: Path) -> None:
    """MARKETPIPE_CONDITIONS_TABLES_BY_FEED: trades whose `source` names a feed use that feed's table."""
    strict = tmp_path / "strict.csv"
    rows = ["code,session,updates_open_close,updates_high_low,updates_volume,is_opening_print,"
            "is_closing_print,is_official_report,description",
            "@,all,true,true,true,false,false,false,regular sale",
            "F,all,false,false,true,false,false,false,this vendor's F: volume only"]
    strict.write_text("\n".join(rows) + "\n")
    base = ctx(rollups=NO_ROLLUPS)
    feed_ctx = Context(base.rules, base.conditions, base.calendar, base.listing_exchange,
                       {"vendor_x": ConditionTable.from_csv(strict)})
    trades = [
        Trade(ns(10, 0, 1), 100.0, 100, "P", "@", 1, "vendor_x"),
        Trade(ns(10, 0, 2), 105.0, 100, "P", "F", 2, "vendor_x"),  # volume only under vendor_x's table
        Trade(ns(10, 0, 3), 106.0, 100, "P", "F", 3, "other"),      # the default table: F is a regular sale
    ]
    out = run_batch("AAPL", trades, feed_ctx)
    assert final(out, "1m") == [("1m", "10:00", 100.0, 106.0, 100.0, 106.0, 300, 3, "regular", 0)]
    out = run_batch("AAPL", trades[:2], feed_ctx)
    assert final(out, "1m") == [("1m", "10:00", 100.0, 100.0, 100.0, 100.0, 200, 2, "regular", 0)]
