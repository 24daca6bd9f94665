"""Turning provider values into typed bar fields; pure helpers shared by every loader."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_date(value: Any) -> date:
    """A session date from ``2024-03-05``, ``2024-03-05T00:00:00.000Z``, ``20240305`` or a date object.

    Timestamps are read by their date part as the provider wrote it, never converted between
    time zones: Tiingo stamps sessions at midnight UTC, which is the previous evening in New York.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return value.to_pydatetime().date()  # type: ignore[no-any-return]
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    match = _ISO_DATE.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        raise ValueError(f"unparseable date {text[:40]!r}")
    return date(int(match[1]), int(match[2]), int(match[3]))


def parse_price(value: Any, name: str) -> float:
    """A finite float; signs and ranges are the validator's business."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"unparseable {name} {str(value)[:40]!r}") from None
    if math.isnan(number):
        raise ValueError(f"missing {name}")
    return number


def parse_volume(value: Any) -> int:
    """Shares traded; missing (indices) is 0, fractional adjusted volumes are rounded."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    number = parse_price(value, "volume")
    if not math.isfinite(number):
        raise ValueError(f"unparseable volume {value!r}")
    return round(number)


def optional_float(value: Any, *, none_if: float | None = None) -> float | None:
    """A float, or ``None`` for blanks, NaN and the provider's "nothing happened" value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if math.isnan(number) or (none_if is not None and number == none_if):
        return None
    return number
