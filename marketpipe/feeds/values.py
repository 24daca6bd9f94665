"""Exact, never-raising conversion of one replay-file cell to a wire value.

Every parser returns the value "as found" when it cannot convert: the edge passes rows on and the
Flink job (flink_sql/11_ticks_clean.sql) dead-letters them with a reason. Timestamps are parsed with integer
arithmetic so nanoseconds survive (a float holds epoch nanoseconds only to ~256 ns).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any

from marketpipe.feeds.tick import RawNumber, Tick, normalize_conditions

_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)?"
)
_INT = re.compile(r"[+-]?\d+")
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_NS_PER_S = 1_000_000_000


def is_missing(value: Any) -> bool:
    """``None``, a float NaN (a null cell after pandas), ``pandas.NA``/``NaT`` or a blank string."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def parse_iso_ns(text: str) -> int | None:
    """Epoch ns of an ISO-8601 timestamp with ``Z`` or a numeric offset; ``None`` otherwise.

    A timestamp without an offset is ambiguous (exchange time? UTC? the writer's zone?) and is
    deliberately not guessed: it returns ``None`` so the row is dead-lettered as ``bad_timestamp``.
    """
    m = _ISO.fullmatch(text.strip())
    if m is None or (m["z"] is None and m["sign"] is None):
        return None
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    try:
        ordinal = dt.date(year, month, day).toordinal()
        dt.time(hour, minute, second)  # validates the ranges; a leap second (:60) is rejected
    except ValueError:
        return None
    offset_s = 0
    if m["sign"] is not None:
        oh, om = int(m["oh"]), int(m["om"] or 0)
        if oh > 23 or om > 59:
            return None
        offset_s = (oh * 3600 + om * 60) * (1 if m["sign"] == "+" else -1)
    seconds = (ordinal - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second - offset_s
    fraction = int((m[7] or "").ljust(9, "0"))
    return seconds * _NS_PER_S + fraction


def parse_ts(value: Any) -> tuple[int | None, str | None]:
    """``(ts_ns, ts_raw)``: ``(ns, None)`` when parsed, ``(None, original text)`` when not.

    Accepts ISO-8601 with an offset or ``Z``, integer epoch nanoseconds (number or digits), an
    integral float (precision is whatever the file kept), and aware datetimes/``pandas.Timestamp``.
    A missing value is ``(None, None)``.
    """
    if is_missing(value):
        return None, None
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, int):
        return value, None
    if isinstance(value, float):
        return (int(value), None) if value.is_integer() else (None, repr(value))
    if isinstance(value, dt.datetime):  # also pandas.Timestamp
        if value.tzinfo is None:
            return None, value.isoformat()
        nanos = getattr(value, "value", None)  # pandas.Timestamp keeps nanoseconds here
        if isinstance(nanos, int):
            return nanos, None
        return parse_iso_ns(value.isoformat()), None
    text = str(value)
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped), None
    ns = parse_iso_ns(stripped)
    return (ns, None) if ns is not None else (None, text)


def parse_number(value: Any) -> RawNumber:
    """A JSON number when the cell holds a finite number, else the original text; missing is ``None``.

    A float NaN in a typed column is a value that was found (nulls arrive as ``None``), so it travels
    as the text ``"nan"`` like infinity, and the job rejects it.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if hasattr(value, "item"):  # a numpy scalar
        return parse_number(value.item())
    text = str(value)
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        return int(stripped)
    try:
        number = float(stripped)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def parse_size(value: Any) -> RawNumber:
    """Like :func:`parse_number`, but an integral float (``100.0``, as a float column stores sizes)
    becomes an int, since the job reads size as an integer."""
    number = parse_number(value)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def parse_text(value: Any) -> str | None:
    """Stripped text, or ``None`` when missing (an integral float id such as ``42.0`` prints as ``42``)."""
    if is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def row_tick(row: dict[str, Any], source: str) -> Tick:
    """One row's tick, bad values kept as found (the exact per-cell parsers; the reference for the fast path)."""
    ts_ns, ts_raw = parse_ts(row["ts"])
    return Tick(
        symbol=parse_text(row["symbol"]),
        ts_ns=ts_ns,
        price=parse_number(row["price"]),
        size=parse_size(row["size"]),
        exchange=parse_text(row.get("exchange")),
        conditions=normalize_conditions(parse_text(row.get("conditions"))),
        trade_id=parse_text(row.get("trade_id")),
        source=parse_text(row.get("source")) or source,  # a file may name each row's feed
        ts_raw=ts_raw,
    )
