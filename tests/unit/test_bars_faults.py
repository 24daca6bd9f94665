"""Bad input the bar engine must survive with a reason (issue 9): duplicate trade ids, price outliers,
times outside the exchange calendar. Each rule is in docs/bars.md."""

from __future__ import annotations

import pickle
from datetime import date

from tests.unit.test_bars_golden import bars, ctx, ns, reasons
from udfs.bars.engine import BarEngine, run_batch
from udfs.bars.model import DUPLICATE, OUTSIDE_CALENDAR, PRICE_OUTLIER, UNKNOWN_CONDITION, Trade

NO_ROLLUPS: tuple[str, ...] = ()


def tid(ts_ns: int, price: float, trade_id: str | None, *, ex: str = "P", size: int = 100, seq: int = 0) -> Trade:
    return Trade(ts_ns, price, size, ex, "@", seq, None, trade_id)


def test_a_trade_id_seen_in_an_open_bar_is_dead_lettered_once_counted_once() -> None:
    out = run_batch("AAPL", [
        tid(ns(10, 0, 1), 100.0, "7", seq=1),
        tid(ns(10, 0, 1), 100.0, "7", seq=2),  # the same print again (a re-run of the same file)
        tid(ns(10, 0, 2), 100.0, "7", ex="Q", seq=3),  # same id on another exchange: another print
        tid(ns(10, 0, 3), 101.0, None, seq=4),  # no id: never a duplicate
        tid(ns(10, 0, 3), 101.0, None, seq=5),
    ], ctx(rollups=NO_ROLLUPS))
    assert bars(out) == [("1m", "10:00", 100.0, 101.0, 100.0, 101.0, 400, 4, "regular", 0)]
    assert reasons(out) == [("10:00", DUPLICATE)]


def test_duplicate_within_grace_does_not_revise_and_ids_are_forgotten_with_their_bar() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS))
    e.add(tid(ns(10, 0, 1), 100.0, "1"), ns(10, 0))
    assert bars(e.advance(ns(10, 1))) == [("1m", "10:00", 100.0, 100.0, 100.0, 100.0, 100, 1, "regular", 0)]
    again = e.add(tid(ns(10, 0, 1), 100.0, "1"), ns(10, 1, 10))  # within grace: still a duplicate
    assert again.bars == [] and [r.reason for r in again.rejected] == [DUPLICATE]
    e.add(tid(ns(10, 5, 1), 100.0, "2"), ns(10, 5))
    e.advance(ns(10, 10))
    assert set(e.state.seen_ids) <= set(e.state.minutes)  # bounded with the minutes
    assert ns(10) not in e.state.seen_ids


def test_price_outlier_against_the_median_of_recent_prices() -> None:
    trades = [tid(ns(10, 0, i), p, str(i), seq=i) for i, p in enumerate([100.0, 100.5, 99.5, 100.2])]
    trades += [tid(ns(10, 0, 10), 160.0, "x", seq=10), tid(ns(10, 0, 11), 100.1, "y", seq=11)]
    out = run_batch("AAPL", trades, ctx(rollups=NO_ROLLUPS, outlier_fraction=0.3))
    assert bars(out) == [("1m", "10:00", 100.0, 100.5, 99.5, 100.1, 500, 5, "regular", 0)]
    assert reasons(out) == [("10:00", PRICE_OUTLIER)]
    off = run_batch("AAPL", trades, ctx(rollups=NO_ROLLUPS))  # the rule is off unless configured
    assert off.rejected == [] and bars(off)[0][3] == 160.0


def test_outlier_reference_starts_again_each_session_day() -> None:
    d2 = date(2024, 6, 14)
    trades = [tid(ns(10, 0, i), 100.0, str(i), seq=i) for i in range(4)]
    trades += [tid(ns(10, 0, i, day=d2), 150.0, f"b{i}", seq=10 + i) for i in range(3)]  # a gap overnight
    out = run_batch("AAPL", trades, ctx(rollups=NO_ROLLUPS, outlier_fraction=0.3))
    assert out.rejected == []


def test_times_outside_the_calendar_are_dead_lettered_not_raised() -> None:
    out = run_batch("AAPL", [
        Trade(0, 100.0, 100, "P", "@", 1),  # 1970
        Trade(4_102_444_800 * 10**9, 100.0, 100, "P", "@", 2),  # 2100
        tid(ns(10, 0, 1), 100.0, "1", seq=3),
    ], ctx(rollups=NO_ROLLUPS))
    assert sorted(r.reason for r in out.rejected) == [OUTSIDE_CALENDAR, OUTSIDE_CALENDAR]
    assert len(out.bars) == 1


def test_new_state_survives_a_checkpoint_round_trip() -> None:
    c = ctx(rollups=NO_ROLLUPS, outlier_fraction=0.3)
    e = BarEngine("AAPL", c)
    e.add(tid(ns(10, 0, 1), 100.0, "1"), ns(10, 0))
    restored = BarEngine.loads(pickle.dumps(e.snapshot()), c)
    again = restored.add(tid(ns(10, 0, 2), 100.0, "1"), ns(10, 0, 1))
    assert [r.reason for r in again.rejected] == [DUPLICATE]


def test_unknown_condition_codes_are_dead_lettered_when_configured() -> None:
    trades = [Trade(ns(10, 0, 1), 100.0, 100, "P", "@", 1), Trade(ns(10, 0, 2), 101.0, 100, "P", "@ QQ", 2)]
    strict = run_batch("AAPL", trades, ctx(rollups=NO_ROLLUPS, unknown_conditions="dead_letter"))
    assert [r.reason for r in strict.rejected] == [UNKNOWN_CONDITION]
    assert bars(strict)[0][6] == 100
    lenient = run_batch("AAPL", trades, ctx(rollups=NO_ROLLUPS))  # the '*' row: volume only
    assert lenient.rejected == [] and bars(lenient)[0][6] == 200


def test_a_late_trade_is_late_even_when_it_is_also_an_outlier() -> None:
    e = BarEngine("AAPL", ctx(rollups=NO_ROLLUPS, outlier_fraction=0.3, grace_ms=0))
    for i, p in enumerate((100.0, 100.0, 100.0)):
        e.add(tid(ns(10, 0, i), p, str(i)), ns(10, 0))
    e.advance(ns(10, 2))
    out = e.add(tid(ns(10, 0, 30), 1.0, "x"), ns(10, 2))
    assert [r.reason for r in out.rejected] == ["late"]
