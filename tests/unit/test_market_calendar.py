"""Session segments on real XNYS days: normal, DST changes, half day, holidays, edges, pickling."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from udfs.market.calendar import MarketCalendar, SessionSlot, get_calendar

NY = ZoneInfo("America/New_York")


def ns(d: date, hh: int, mm: int = 0, ss: int = 0, nanos: int = 0) -> int:
    """Epoch ns UTC of a New York wall-clock time."""
    local = datetime(d.year, d.month, d.day, hh, mm, ss, tzinfo=NY)
    return (local - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000 + nanos


def utc_ns(y: int, mo: int, d: int, hh: int, mm: int = 0) -> int:
    return int(datetime(y, mo, d, hh, mm, tzinfo=UTC).timestamp()) * 1_000_000_000


@pytest.fixture(scope="module")
def cal() -> MarketCalendar:
    return get_calendar("XNYS")


def test_normal_day(cal: MarketCalendar) -> None:
    d = date(2024, 3, 5)  # EST: UTC-5
    pre, regular, post = cal.day(d)
    open_, close = utc_ns(2024, 3, 5, 14, 30), utc_ns(2024, 3, 5, 21)
    assert pre == SessionSlot("pre", d, utc_ns(2024, 3, 5, 9), open_, open_, close)
    assert regular == SessionSlot("regular", d, open_, close, open_, close)
    assert post == SessionSlot("post", d, close, utc_ns(2024, 3, 6, 1), open_, close)
    assert cal.tz == NY


@pytest.mark.parametrize(
    ("before", "after"), [(date(2024, 3, 8), date(2024, 3, 11)), (date(2024, 11, 1), date(2024, 11, 4))]
)
def test_dst_change_shifts_utc_open_by_one_hour(cal: MarketCalendar, before: date, after: date) -> None:
    def utc_hour(ts: int) -> float:
        return (ts % 86_400_000_000_000) / 3_600_000_000_000

    open_before, open_after = cal.day(before)[1].start_ns, cal.day(after)[1].start_ns
    assert abs(utc_hour(open_before) - utc_hour(open_after)) == 1.0
    for d in (before, after):  # 04:00 / 09:30 / 16:00 / 20:00 local on both sides
        pre, regular, post = cal.day(d)
        edges = (pre.start_ns, regular.start_ns, post.start_ns, post.end_ns)
        assert edges == (ns(d, 4), ns(d, 9, 30), ns(d, 16), ns(d, 20))


def test_half_day(cal: MarketCalendar) -> None:
    d = date(2024, 11, 29)
    _pre, regular, post = cal.day(d)
    assert regular.end_ns == ns(d, 13) == regular.regular_close_ns
    assert (post.start_ns, post.end_ns) == (ns(d, 13), ns(d, 17))
    assert cal.slot(ns(d, 16, 59, 59)) == post
    assert cal.slot(ns(d, 17)) is None


@pytest.mark.parametrize("d", [date(2024, 7, 4), date(2024, 3, 9), date(2024, 3, 10)])
def test_closed_days_have_no_slots(cal: MarketCalendar, d: date) -> None:
    assert cal.day(d) == ()
    for hh in (3, 4, 10, 17, 23):
        assert cal.slot(ns(d, hh)) is None


@pytest.mark.parametrize(
    ("hh", "mm", "ss", "nanos", "session"),
    [
        (3, 59, 59, 0, None),
        (4, 0, 0, 0, "pre"),
        (9, 29, 59, 999_999_999, "pre"),
        (9, 30, 0, 0, "regular"),
        (15, 59, 59, 999_999_999, "regular"),
        (16, 0, 0, 0, "post"),
        (19, 59, 59, 999_999_999, "post"),
        (20, 0, 0, 0, None),
        (23, 30, 0, 0, None),
    ],
)
def test_slot_edges(cal: MarketCalendar, hh: int, mm: int, ss: int, nanos: int, session: str | None) -> None:
    d = date(2024, 3, 5)
    got = cal.slot(ns(d, hh, mm, ss, nanos))
    assert (got.session if got else None) == session
    if got is not None:
        assert got.session_date == d
        assert (got.regular_open_ns, got.regular_close_ns) == (ns(d, 9, 30), ns(d, 16))


def test_slot_out_of_order_and_across_days(cal: MarketCalendar) -> None:
    a, b = date(2024, 3, 5), date(2024, 3, 6)
    assert cal.slot(ns(b, 10)).session_date == b  # type: ignore[union-attr]
    assert cal.slot(ns(a, 19)).session_date == a  # type: ignore[union-attr]  # post of a is the next UTC day
    assert cal.slot(ns(b, 5)).session == "pre"  # type: ignore[union-attr]


def test_next_close(cal: MarketCalendar) -> None:
    d = date(2024, 3, 5)
    assert cal.next_close_ns(ns(d, 5)) == ns(d, 9, 30)
    assert cal.next_close_ns(ns(d, 12)) == ns(d, 16)
    assert cal.next_close_ns(ns(d, 16)) == ns(d, 20)
    assert cal.next_close_ns(ns(d, 21)) is None


def test_pickle_round_trip(cal: MarketCalendar) -> None:
    custom = MarketCalendar("XNYS", pre_open=time(7, 0), post_close=time(18, 0))
    clone = pickle.loads(pickle.dumps(custom))
    d = date(2024, 3, 5)
    assert (clone.name, clone.pre_open, clone.post_close) == ("XNYS", time(7, 0), time(18, 0))
    assert clone.day(d) == custom.day(d)
    assert clone.day(d)[0].start_ns == ns(d, 7)
    assert pickle.loads(pickle.dumps(cal)).slot(ns(d, 10)) == cal.slot(ns(d, 10))


def test_get_calendar_is_cached() -> None:
    assert get_calendar() is get_calendar("XNYS")


def test_out_of_range_and_unknown_name(cal: MarketCalendar) -> None:
    with pytest.raises(ValueError, match="outside the XNYS calendar's range"):
        cal.day(date(1985, 1, 2))
    with pytest.raises(ValueError, match="outside"):
        cal.slot(ns(date(2200, 1, 2), 10))
    with pytest.raises(ValueError, match="unknown exchange calendar"):
        MarketCalendar("NOPE")
    assert cal.day(date(1990, 1, 2))  # history back to 1990 is loaded, not just the last 20 years
