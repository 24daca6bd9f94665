"""The synthetic feed's clock: it runs only during the regular sessions of the NYSE calendar (XNYS).

Sessions come from :mod:`udfs.market.calendar` (the owner of sessions, the calendar the bar rules use):
no weekend or holiday sessions, 13:00 closes on half days, so a synthetic feed never trades while the
bar step would dead-letter its ticks as ``market_closed``. Times are aware datetimes or epoch
nanoseconds UTC; New York time is used only to find session bounds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from udfs.market.calendar import EXCHANGE_TZ, get_calendar

CALENDAR = "XNYS"
NEW_YORK = EXCHANGE_TZ
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


def to_ns(dt: datetime) -> int:
    """Epoch nanoseconds of an aware datetime (exact: integer microseconds times 1000)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware datetime")
    return (dt - _EPOCH) // _ONE_US * 1000


def from_ns(ns: int) -> datetime:
    """Aware UTC datetime of epoch nanoseconds (truncated to microseconds)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _regular(day: date) -> tuple[int, int] | None:
    return get_calendar(CALENDAR).regular(day)


def is_trading_day(day: date) -> bool:
    """Whether the NYSE has a regular session on ``day``."""
    return _regular(day) is not None


def session_bounds_ns(day: date) -> tuple[int, int]:
    """Open and close of the NYSE regular session of ``day`` in epoch nanoseconds (DST-aware; 13:00
    on half days). A day without a session gets the usual 09:30-16:00 bounds."""
    bounds = _regular(day)
    if bounds is not None:
        return bounds
    open_ = datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK)
    close = datetime.combine(day, SESSION_CLOSE, tzinfo=NEW_YORK)
    return to_ns(open_), to_ns(close)


def next_weekday(day: date) -> date:
    """The first trading day (NYSE calendar) after ``day``."""
    return get_calendar(CALENDAR).next_session(day)  # the longest market closure is far below its 30 days


def default_start(now: datetime | None = None) -> datetime:
    """The most recent weekday 09:30 New York at or before ``now``, as an aware UTC datetime."""
    now_ny = (now or datetime.now(UTC)).astimezone(NEW_YORK)
    day = now_ny.date()
    for _ in range(30):
        if is_trading_day(day) and datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK) <= now_ny:
            break
        day -= timedelta(days=1)
    return datetime.combine(day, SESSION_OPEN, tzinfo=NEW_YORK).astimezone(UTC)


class SessionClock:
    """Event clock that only runs during the session.

    ``start`` is moved into a session: before 09:30 on a weekday it becomes 09:30 that day; at or after
    16:00, or on a weekend, the next weekday's 09:30. Advancing past 16:00 carries the overshoot into the
    next weekday's session, so every timestamp lies in [09:30, 16:00) New York and time never goes back.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"naive start {start!r}: pass an aware datetime")
        ny = start.astimezone(NEW_YORK)
        self._day = ny.date()
        if not is_trading_day(self._day):
            self._day = next_weekday(self._day)
        self._open, self._close = session_bounds_ns(self._day)
        if to_ns(start) >= self._close:
            self._day = next_weekday(self._day)
            self._open, self._close = session_bounds_ns(self._day)
        self.now_ns = max(to_ns(start), self._open)

    def _roll(self) -> None:
        while self.now_ns >= self._close:
            overshoot = self.now_ns - self._close
            self._day = next_weekday(self._day)
            self._open, self._close = session_bounds_ns(self._day)
            self.now_ns = self._open + overshoot

    def advance(self, ns: int) -> int:
        """Move the clock ``ns`` nanoseconds of trading time forward; returns the new time."""
        if ns < 0:
            raise ValueError("the session clock does not go back")
        self.now_ns += ns
        self._roll()
        return self.now_ns
