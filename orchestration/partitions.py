"""Trading-date partitions: one partition per session of the exchange calendar, none for weekends
or holidays.

Why a time-window definition with exclusions rather than a static list of sessions: a time window
grows by itself as days pass (a long-running ``dagster dev`` gets tomorrow's partition without a
reload, and the schedule can always ask for "today"), while a static list is frozen at load time.
A weekday cron (``0 0 * * 1-5``) cannot express holidays, so every weekday that is not a session of
the exchange calendar (holidays, ad-hoc closures such as 2025-01-09) is listed as an exclusion,
computed from ``exchange_calendars`` through :mod:`udfs.market.calendar` (the one owner of sessions
and trading days, the calendar the bar rules and the loaders use). Holidays are
rule-based, so the list reaches a year past today; past that horizon the exclusions run out, which
is why the horizon moves with the clock at each code-location load.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dagster import TimeWindowPartitionsDefinition

from udfs.market.calendar import trading_days

EXCHANGE_TZ = "America/New_York"
PARTITION_FMT = "%Y-%m-%d"


def non_session_weekdays(start: date, end: date, calendar: str) -> list[date]:
    """Weekdays in ``[start, end]`` on which ``calendar`` has no session (holidays, closures)."""
    sessions = set(trading_days(start, end, calendar))
    days = (start + timedelta(days=i) for i in range((end - start).days + 1))
    return [d for d in days if d.weekday() < 5 and d not in sessions]


def trading_date_partitions(start: date, calendar: str, *, today: date | None = None) -> TimeWindowPartitionsDefinition:
    """Partitions keyed ``YYYY-MM-DD``, one per session from ``start``; today's exists from midnight
    New York (``end_offset=1``) so the evening schedule can materialize it."""
    today = today or datetime.now(UTC).date()
    horizon = date(today.year + 1, 12, 31)
    holidays = non_session_weekdays(start, horizon, calendar)
    return TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        # Naive on purpose: Dagster reads start and exclusions as wall-clock times in `timezone`.
        start=datetime(start.year, start.month, start.day),  # noqa: DTZ001
        timezone=EXCHANGE_TZ,
        fmt=PARTITION_FMT,
        end_offset=1,
        exclusions=[datetime(d.year, d.month, d.day) for d in holidays],  # noqa: DTZ001
    )


def partition_date(key: str) -> date:
    """The session date of a partition key."""
    return datetime.strptime(key, PARTITION_FMT).replace(tzinfo=UTC).date()
