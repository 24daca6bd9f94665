"""Exchange trading days and session opens, from ``exchange_calendars``.

Calendars are built per whole calendar year range and cached: building XNYS takes a noticeable
fraction of a second, and its default range (20 years back, 1 ahead) would make older backfills fail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import exchange_calendars as xcals
import pandas as pd

from marketpipe.exceptions import CalendarError

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar


@lru_cache(maxsize=16)
def _calendar(name: str, first_year: int, last_year: int) -> ExchangeCalendar:
    try:
        return xcals.get_calendar(name, start=date(first_year, 1, 1), end=date(last_year, 12, 31))
    except xcals.errors.InvalidCalendarName as exc:
        raise CalendarError(f"unknown exchange calendar {name!r} (exchange_calendars names, e.g. XNYS)") from exc
    except ValueError as exc:  # dates before the calendar's first supported day
        raise CalendarError(f"calendar {name} cannot cover {first_year}..{last_year}: {exc}") from exc


def _covering(name: str, start: date, end: date) -> ExchangeCalendar:
    # Always reach one year past today so calendars cached for recent ranges are reused.
    last = max(end.year, datetime.now(UTC).year + 1)
    return _calendar(name, min(start.year, last), last)


def trading_days(start: date, end: date, calendar: str = "XNYS") -> list[date]:
    """Sessions of ``calendar`` with ``start <= day <= end`` (empty when ``start > end``)."""
    if start > end:
        return []
    cal = _covering(calendar, start, end)
    # The year range may start on a holiday (1 January): clamp to the calendar's own sessions.
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if lo > hi:
        return []
    sessions = cal.sessions_in_range(lo, hi)
    return [ts.date() for ts in sessions]


def session_open_utc(d: date, calendar: str = "XNYS") -> datetime:
    """When the regular session of ``d`` opens, as an aware UTC datetime (``daily_bars.bar_start``).

    Raises :class:`CalendarError` when ``d`` is not a session of ``calendar``.
    """
    cal = _covering(calendar, d, d)
    ts = pd.Timestamp(d)
    if not cal.is_session(ts):
        raise CalendarError(f"{d.isoformat()} is not a {calendar} trading day")
    opened: pd.Timestamp = cal.session_open(ts)
    return opened.to_pydatetime().astimezone(UTC)
