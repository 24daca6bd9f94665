"""Exchange trading days and session opens for the daily loaders: :mod:`udfs.market.calendar` (the one
owner of sessions and trading days), with its errors as :class:`~marketpipe.exceptions.CalendarError`."""

from __future__ import annotations

from datetime import date, datetime

from marketpipe.exceptions import CalendarError
from udfs.market import calendar as _calendar


def trading_days(start: date, end: date, calendar: str = "XNYS") -> list[date]:
    """Sessions of ``calendar`` with ``start <= day <= end`` (:func:`udfs.market.calendar.trading_days`)."""
    try:
        return _calendar.trading_days(start, end, calendar)
    except ValueError as exc:
        raise CalendarError(str(exc)) from exc


def session_open_utc(d: date, calendar: str = "XNYS") -> datetime:
    """When the regular session of ``d`` opens, UTC (:func:`udfs.market.calendar.session_open_utc`).

    Raises :class:`CalendarError` when ``d`` is not a session of ``calendar``.
    """
    try:
        return _calendar.session_open_utc(d, calendar)
    except ValueError as exc:
        raise CalendarError(str(exc)) from exc
