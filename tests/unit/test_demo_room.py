"""`make demo` refuses, with a remedy, a run whose event time would be dead-lettered as `future`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketpipe.demo import check_room
from marketpipe.exceptions import FeedError

FRIDAY_EVENING = datetime(2026, 11, 27, 23, 40, tzinfo=UTC)  # after the half day's 13:00 NY close


def test_a_run_that_fits_in_the_session_passes() -> None:
    start = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)  # 09:30 New York: an hour of event time fits
    check_room(start, 3600, 86_400, None, now=FRIDAY_EVENING)


def test_a_run_rolling_over_the_weekend_fails_with_the_remedy() -> None:
    last = datetime(2026, 11, 27, 17, 55, tzinfo=UTC)  # earlier demos used the session up to 12:55 NY
    start = datetime(2026, 11, 27, 17, 57, tzinfo=UTC)
    with pytest.raises(FeedError, match="make clean") as err:
        check_room(start, 1800, 86_400, last, now=FRIDAY_EVENING)
    assert "2026-11-30" in str(err.value)  # it would run into Monday's session
    assert "2026-11-27 17:55" in str(err.value)
