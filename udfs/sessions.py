"""Which trading session a bar belongs to (pure; no Flink).

For now a session is the exchange's calendar date in America/New_York — what session VWAP resets on.
Exchange calendars (half days, holidays, per-symbol venues) refine this later (docs/bars.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

EXCHANGE_TZ = ZoneInfo("America/New_York")


def session_of(bar_start_ms: int) -> str:
    """The New York date (``YYYY-MM-DD``) of a bar that starts at ``bar_start_ms`` (epoch ms UTC)."""
    return datetime.fromtimestamp(bar_start_ms / 1000, UTC).astimezone(EXCHANGE_TZ).date().isoformat()
