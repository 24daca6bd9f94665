"""Trading days and session opens from exchange_calendars, plus the pure validation rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from marketpipe.exceptions import CalendarError
from marketpipe.loaders import DailyBar, session_open_utc, trading_days
from marketpipe.loaders.output import COLUMNS, table_rows
from marketpipe.loaders.validate import bar_problem, split_valid


def test_trading_days_skip_weekends_and_holidays() -> None:
    days = trading_days(date(2024, 3, 25), date(2024, 4, 2))
    assert date(2024, 3, 29) not in days  # Good Friday
    assert [d.day for d in days] == [25, 26, 27, 28, 1, 2]
    assert trading_days(date(2024, 3, 15), date(2024, 3, 1)) == []


def test_trading_days_reach_back_further_than_the_default_20_years() -> None:
    assert trading_days(date(1995, 1, 1), date(1995, 1, 4)) == [date(1995, 1, 3), date(1995, 1, 4)]


def test_session_open_in_utc_follows_daylight_saving() -> None:
    assert session_open_utc(date(2024, 3, 8)) == datetime(2024, 3, 8, 14, 30, tzinfo=UTC)  # EST
    assert session_open_utc(date(2024, 3, 11)) == datetime(2024, 3, 11, 13, 30, tzinfo=UTC)  # EDT
    assert session_open_utc(date(2024, 3, 11)).tzinfo is UTC


def test_calendar_errors() -> None:
    with pytest.raises(CalendarError, match="2024-03-09 is not a XNYS trading day"):
        session_open_utc(date(2024, 3, 9))
    with pytest.raises(CalendarError, match="unknown exchange calendar 'NOPE'"):
        trading_days(date(2024, 3, 1), date(2024, 3, 2), "NOPE")


def bar(**changes: object) -> DailyBar:
    values: dict[str, object] = {"symbol": "A", "session_date": date(2024, 3, 5), "open": 10.0, "high": 11.0,
                                 "low": 9.0, "close": 10.5, "volume": 100}
    values.update(changes)
    return DailyBar(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({}, None),
        ({"open": 9.0, "low": 9.0, "close": 11.0, "high": 11.0}, None),  # extremes may equal open/close
        ({"volume": 0}, None),
        ({"low": 10.2}, "OHLC out of order"),
        ({"high": 10.4}, "OHLC out of order"),
        ({"volume": -1}, "negative volume -1"),
        ({"close": -1.0}, "close price -1.0 is not a positive number"),
        ({"high": float("nan")}, "high price nan is not a positive number"),
        ({"adj_close": 0.0}, "adj_close 0.0 is not a positive number"),
    ],
)
def test_bar_problem(changes: dict[str, object], problem: str | None) -> None:
    found = bar_problem(bar(**changes))
    assert found == problem if problem is None else (found is not None and found.startswith(problem))


def test_split_valid_keeps_order_and_first_duplicate() -> None:
    rows = [bar(), bar(close=10.6), bar(session_date=date(2024, 3, 10)), bar(symbol="B")]
    good, rejects = split_valid(rows, {date(2024, 3, 5)}, "XNYS")
    assert good == [rows[0], rows[3]]
    assert [r.bar for r in rejects] == [rows[1], rows[2]]


def test_table_rows_add_bar_start() -> None:
    [row] = table_rows([bar()])
    assert list(row) == COLUMNS
    assert row["bar_start"] == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
