"""Trading sessions and days: the one owner of the session idea, used by the bar engine, the feeds
(marketpipe/feeds/session.py), the daily loaders (marketpipe/loaders/calendar.py), the indicators'
session resets (:func:`session_of`) and the Dagster partitions (orchestration/partitions.py).

Exchange sessions per trading day: pre-market, regular and post-market segments, in UTC ns.

The regular session of each day (open, close; 13:00 closes on half days) comes from
``exchange_calendars``. Around it:

* ``pre``     = [``pre_open`` local, regular open)        — 04:00 ET by default
* ``regular`` = [open, close)
* ``post``    = [close, ``post_close`` local)             — 20:00 ET by default; on an early-close
  day the post session ends :data:`EARLY_CLOSE_POST` (4 h) after the close (17:00 ET on a 13:00
  close), as the venues run a 4-hour late session then.

Closed days (weekends, holidays) have no segments. Local times are converted to UTC per day with
``zoneinfo``, so DST changes move the UTC instants. Lunch breaks (non-US venues) are ignored: the
regular segment spans open to close.

:meth:`MarketCalendar.slot` runs for every tick: the exchange schedule is read once (as plain
ints), the segments of a day are built once per date, and the segments overlapping each UTC day
are cached, so a lookup is a dict get and at most a few comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from exchange_calendars import ExchangeCalendar

EARLIEST = "1990-01-01"  # exchange_calendars defaults to the last 20 years only
EARLY_CLOSE_POST = timedelta(hours=4)  # post session length after an early close
NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
# The zone of the default calendar (XNYS): the date an indicator's session VWAP resets on (session_of).
EXCHANGE_TZ = ZoneInfo("America/New_York")


@dataclass(frozen=True, slots=True)
class SessionSlot:
    """One session segment of one trading day; all instants are epoch ns UTC."""

    session: str  # "pre" | "regular" | "post"
    session_date: date  # trading day in the exchange's calendar
    start_ns: int  # start of this session segment on that day ([start_ns, end_ns))
    end_ns: int
    regular_open_ns: int  # that day's regular open and close (close is early on half days)
    regular_close_ns: int


class MarketCalendar:
    """Session segments of one exchange calendar (``exchange_calendars`` name, e.g. ``XNYS``)."""

    def __init__(self, name: str = "XNYS", pre_open: time = time(4, 0), post_close: time = time(20, 0)) -> None:
        """Nothing is loaded until first use; unknown ``name`` raises ValueError at once."""
        import exchange_calendars as xcals

        if name not in xcals.get_calendar_names(include_aliases=True):
            raise ValueError(f"unknown exchange calendar {name!r} (see exchange_calendars.get_calendar_names())")
        self.name = name
        self.pre_open = pre_open
        self.post_close = post_close
        self._loaded = False
        self._tz: ZoneInfo | None = None
        self._hours: dict[date, tuple[int, int]] = {}  # session date -> (open ns, close ns)
        self._early: frozenset[date] = frozenset()
        self._first = self._last = _EPOCH_DATE
        self._days: dict[date, tuple[SessionSlot, ...]] = {}
        self._by_utc_day: dict[int, tuple[SessionSlot, ...]] = {}
        self._last_slot: SessionSlot | None = None

    @property
    def tz(self) -> ZoneInfo:
        """The exchange's time zone (loads the calendar)."""
        self._load()
        assert self._tz is not None
        return self._tz

    def slot(self, ts_ns: int) -> SessionSlot | None:
        """The segment containing ``ts_ns``; None on a closed day or outside pre..post."""
        last = self._last_slot
        if last is not None and last.start_ns <= ts_ns < last.end_ns:
            return last  # ticks arrive mostly in order: the common case is the previous answer
        utc_day = ts_ns // NS_PER_DAY
        candidates = self._by_utc_day.get(utc_day)
        if candidates is None:
            candidates = self._overlapping(utc_day)
        for s in candidates:
            if s.start_ns <= ts_ns < s.end_ns:
                self._last_slot = s
                return s
        return None

    def day(self, d: date) -> tuple[SessionSlot, ...]:
        """The segments of trading day ``d`` in order; ``()`` when the exchange is closed."""
        slots = self._days.get(d)
        if slots is None:
            slots = self._build_day(d)
            self._days[d] = slots
        return slots

    def next_close_ns(self, ts_ns: int) -> int | None:
        """End of the segment containing ``ts_ns`` (when its bars can be final); None outside any."""
        s = self.slot(ts_ns)
        return None if s is None else s.end_ns

    def regular(self, d: date) -> tuple[int, int] | None:
        """Open and close (epoch ns) of the regular session of ``d``; None when the exchange is closed."""
        for s in self.day(d):
            if s.session == "regular":
                return s.start_ns, s.end_ns
        return None

    def next_session(self, d: date, *, within_days: int = 30) -> date:
        """The first trading day after ``d`` (ValueError when none within ``within_days``)."""
        for k in range(1, within_days + 1):
            if self.regular(d + timedelta(days=k)) is not None:
                return d + timedelta(days=k)
        raise ValueError(f"no {self.name} session within {within_days} days after {d}")

    def _overlapping(self, utc_day: int) -> tuple[SessionSlot, ...]:
        """Segments of the local days around UTC day ``utc_day`` that overlap it (cached)."""
        lo, hi = utc_day * NS_PER_DAY, (utc_day + 1) * NS_PER_DAY
        d = _EPOCH_DATE + timedelta(days=utc_day)
        found = tuple(
            s
            for k in (-1, 0, 1)
            for s in self.day(d + timedelta(days=k))
            if s.start_ns < hi and s.end_ns > lo
        )
        if len(self._by_utc_day) > 20_000:
            self._by_utc_day.clear()
        self._by_utc_day[utc_day] = found
        return found

    def _build_day(self, d: date) -> tuple[SessionSlot, ...]:
        self._load()
        if not self._first <= d <= self._last:
            raise ValueError(
                f"{d} is outside the {self.name} calendar's range {self._first}..{self._last} "
                "(exchange_calendars covers from 1990 to about a year ahead)"
            )
        hours = self._hours.get(d)
        if hours is None:
            return ()
        open_ns, close_ns = hours
        pre_start = self._local_ns(d, self.pre_open)
        if d in self._early:
            post_end = close_ns + EARLY_CLOSE_POST // timedelta(microseconds=1) * 1000
        else:
            post_end = self._local_ns(d, self.post_close)
        segments = (("pre", pre_start, open_ns), ("regular", open_ns, close_ns), ("post", close_ns, post_end))
        return tuple(
            SessionSlot(name, d, start, end, open_ns, close_ns) for name, start, end in segments if start < end
        )

    def _local_ns(self, d: date, t: time) -> int:
        local = datetime.combine(d, t, tzinfo=self._tz)
        return (local - _EPOCH) // timedelta(microseconds=1) * 1000

    def _load(self) -> None:
        """Read the exchange schedule once into plain dicts (no pandas after this)."""
        if self._loaded:
            return
        import exchange_calendars as xcals

        try:
            cal = xcals.get_calendar(self.name, start=EARLIEST)
        except ValueError:  # a calendar that starts later than EARLIEST
            cal = xcals.get_calendar(self.name)
        sched = cal.schedule
        days = [ts.date() for ts in sched.index]
        opens = sched["open"].values.astype("int64").tolist()  # tz-aware UTC -> datetime64[ns] -> ns
        closes = sched["close"].values.astype("int64").tolist()
        self._hours = {d: (o, c) for d, o, c in zip(days, opens, closes, strict=True)}
        self._early = frozenset(ts.date() for ts in cal.early_closes)
        self._first, self._last = cal.first_session.date(), cal.last_session.date()
        self._tz = ZoneInfo(str(cal.tz))
        self._loaded = True

    def __reduce__(self) -> tuple[Any, tuple[str, time, time]]:
        """Pickle as (name, pre_open, post_close); the schedule is reloaded on first use."""
        return (get_calendar, (self.name, self.pre_open, self.post_close))

    def __repr__(self) -> str:
        return f"MarketCalendar({self.name!r}, pre_open={self.pre_open}, post_close={self.post_close})"


def get_calendar(name: str = "XNYS", pre_open: time = time(4, 0), post_close: time = time(20, 0)) -> MarketCalendar:
    """A shared :class:`MarketCalendar` per ``(name, pre_open, post_close)`` (one schedule load each)."""
    return _shared(name, pre_open, post_close)


@lru_cache(maxsize=32)
def _shared(name: str, pre_open: time, post_close: time) -> MarketCalendar:
    return MarketCalendar(name, pre_open, post_close)


def session_of(bar_start_ms: int) -> str:
    """The session an indicator's running values (session VWAP) reset on: the date (``YYYY-MM-DD``) in
    :data:`EXCHANGE_TZ` of a bar that starts at ``bar_start_ms`` (epoch ms UTC)."""
    return datetime.fromtimestamp(bar_start_ms / 1000, UTC).astimezone(EXCHANGE_TZ).date().isoformat()


# -- trading days (daily bars, Dagster partitions) ----------------------------------------------------
# Built per whole calendar-year range and cached: building XNYS takes a noticeable fraction of a second,
# and its default range (20 years back, 1 ahead) would make older backfills fail.


@lru_cache(maxsize=16)
def _year_calendar(name: str, first_year: int, last_year: int) -> ExchangeCalendar:
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(name, start=date(first_year, 1, 1), end=date(last_year, 12, 31))
    except xcals.errors.InvalidCalendarName as exc:
        raise ValueError(f"unknown exchange calendar {name!r} (exchange_calendars names, e.g. XNYS)") from exc
    except ValueError as exc:  # dates before the calendar's first supported day
        raise ValueError(f"calendar {name} cannot cover {first_year}..{last_year}: {exc}") from exc


def _covering(name: str, start: date, end: date) -> ExchangeCalendar:
    # Always reach one year past today so calendars cached for recent ranges are reused.
    last = max(end.year, datetime.now(UTC).year + 1)
    return _year_calendar(name, min(start.year, last), last)


def trading_days(start: date, end: date, calendar: str = "XNYS") -> list[date]:
    """Sessions of ``calendar`` with ``start <= day <= end`` (empty when ``start > end``).

    Raises ValueError for an unknown calendar or a range it cannot cover.
    """
    import pandas as pd

    if start > end:
        return []
    cal = _covering(calendar, start, end)
    # The year range may start on a holiday (1 January): clamp to the calendar's own sessions.
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if lo > hi:
        return []
    return [ts.date() for ts in cal.sessions_in_range(lo, hi)]


def session_open_utc(d: date, calendar: str = "XNYS") -> datetime:
    """When the regular session of ``d`` opens, as an aware UTC datetime (``daily_bars.bar_start``).

    Raises ValueError when ``d`` is not a session of ``calendar``.
    """
    import pandas as pd

    cal = _covering(calendar, d, d)
    ts = pd.Timestamp(d)
    if not cal.is_session(ts):
        raise ValueError(f"{d.isoformat()} is not a {calendar} trading day")
    opened: pd.Timestamp = cal.session_open(ts)
    return opened.to_pydatetime().astimezone(UTC)
