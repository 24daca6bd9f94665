"""What the bars job does with a tick, for the code outside it (feeds, the CLI, the demo, tests, bench):
whether the tick is clean, which 1m bars the valid ones make, and which heartbeat closes the last one.

* **Tick validity.** The rule that runs is the ``CASE`` of flink_sql/11_ticks_clean.sql, over the
  fields ``mp_parse_tick`` (jvm/udfs ``TickJson``) reads. :func:`reject_reason` is its Python mirror,
  written once over the same fields (:class:`TickFields`), read either from a raw record
  (:func:`parse_record`) or from a feed's :class:`~marketpipe.feeds.tick.Tick` without the JSON
  (:func:`fields_of`); :func:`valid_mask` is the same rule over columns (the replay's hot path).
  tests/unit/test_ticks_clean_sql.py runs the SQL on Flink and this mirror over the same records and
  holds them equal. A clean trade may still land in no bar (late, market closed, ...): the bar engine
  decides that (:func:`bars_by_rules` runs it).
* **Expected bars.** ``(SYMBOL, minute start epoch ms)`` of each valid trade (:func:`minute_start_ms`);
  :func:`bars_by_rules` narrows them to the 1m bars the bar rules make.
* **Heartbeat timing.** A bar closes when the watermark, ``settings.watermark_delay_ms`` behind the
  largest event time, passes its end (:func:`end_heartbeat_ns`).

The bounds come from the settings (:meth:`TickRules.from_settings`); ``TickRules()`` has their defaults.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, overload

from udfs.bars.model import Trade

if TYPE_CHECKING:
    import numpy as np

    from marketpipe.feeds.tick import Tick
    from marketpipe.settings import Settings
    from udfs.bars.config import BarConfig

# A ticker symbol after trimming and upper-casing: what the bars job accepts (rendered into
# flink_sql/11_ticks_clean.sql as {{symbol_pattern}}; Python and Java regex alike).
SYMBOL_PATTERN = "^[A-Z][A-Z0-9./-]{0,15}$"
SYMBOL_RE = re.compile(SYMBOL_PATTERN)

NS_PER_MS = 1_000_000
NS_PER_MINUTE = 60_000 * NS_PER_MS
BAR_MS = 60_000  # the streaming bar length (1m; rollups are built from 1m bars)
# Past the watermark's promise: heartbeats of one round reach the partitions at slightly different
# moments and the bar step's timers fire a moment after the watermark; 3 s keeps the end-of-stream
# heartbeat clear of both.
HEARTBEAT_HEADROOM_MS = 3_000
_LONG = (-(2**63), 2**63 - 1)  # a JSON integer mp_parse_tick reads as a BIGINT
_MAX_NESTING = 64  # the parser's limit (TickJson: StreamReadConstraints.maxNestingDepth), the root included


@dataclass(frozen=True)
class TickRules:
    """The bounds of the cleaning rules and the timing of the bar step, from the settings."""

    max_price: float = 10_000_000.0  # exclusive
    max_size: int = 100_000_000  # inclusive
    min_event_time_ms: int = 631_238_400_000  # 1990-01-02 UTC
    max_future_s: int = 86_400
    max_record_bytes: int = 16_384
    watermark_delay_ms: int = 2_000
    closing_print_wait_ms: int = 60_000
    calendar: str = "XNYS"

    @classmethod
    def from_settings(cls, settings: Settings) -> TickRules:
        """The rules ``settings`` give the job (the same values flink_sql/ is rendered with)."""
        return cls(
            max_price=float(settings.max_price),
            max_size=int(settings.max_size),
            min_event_time_ms=min_event_time_ms(settings.min_event_time),
            max_future_s=int(settings.max_future_s),
            max_record_bytes=int(settings.max_record_bytes),
            watermark_delay_ms=int(settings.watermark_delay_ms),
            closing_print_wait_ms=int(settings.bars_closing_print_wait_ms),
            calendar=settings.calendar,
        )

    @property
    def watermark_delay_s(self) -> str:
        """The watermark delay as the SQL writes it: ``INTERVAL '<this>' SECOND``."""
        return f"{self.watermark_delay_ms / 1000:.3f}"


def min_event_time_ms(day: date) -> int:
    """Epoch ms of midnight UTC of ``day`` (``settings.min_event_time``): no earlier event time is trusted."""
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000)


# -- tick validity --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TickFields:
    """A raw record as ``mp_parse_tick`` reads it: what the cleaning ``CASE`` looks at.

    ``kind`` and ``symbol`` are what ``JSON_VALUE`` gives (a string's value, a number's or boolean's
    text; None for null, an object, an array or absent); ``symbol_type`` the JSON type of ``symbol``;
    ``ts_ns`` and ``size`` a JSON integer that fits a BIGINT, ``price`` any JSON number, else None.
    """

    is_object: bool = False
    kind: str | None = None
    symbol: str | None = None
    symbol_type: str | None = None
    ts_ns: int | None = None
    price: float | None = None
    size: int | None = None


class _Constant(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Constant(name)  # NaN and Infinity are not JSON (Jackson rejects them)


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else "array"


def _scalar_text(value: Any) -> str | None:
    """What ``JSON_VALUE`` gives of a value: a string itself, a number or boolean its JSON text (a text
    the rules only compare with words, so its exact digits do not matter)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return None


def _as_double(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond a double's range: Jackson gives infinity
        return math.inf if value > 0 else -math.inf


def _as_long(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if _LONG[0] <= value <= _LONG[1] else None


def _fields(obj: Mapping[str, Any]) -> TickFields:
    symbol = obj.get("symbol")
    return TickFields(
        is_object=True,
        kind=_scalar_text(obj.get("kind")),
        symbol=_scalar_text(symbol),
        symbol_type=_json_type(symbol) if "symbol" in obj else None,
        ts_ns=_as_long(obj.get("ts_ns")),
        price=_as_double(obj.get("price")),
        size=_as_long(obj.get("size")),
    )


def parse_record(payload: str | None) -> TickFields:
    """The fields of a raw record as ``mp_parse_tick`` reads them; not an object when it is not
    exactly one JSON object (a tombstone, truncated, an array, a string, trailing text)."""
    if payload is None or _too_deep(payload):
        return TickFields()
    try:
        obj = json.loads(payload, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return TickFields()
    if not isinstance(obj, dict):
        return TickFields()
    return _fields(obj)


def _too_deep(payload: str) -> bool:
    """Whether containers nest deeper than the parser reads (counted outside strings)."""
    if payload.count("[") + payload.count("{") <= _MAX_NESTING:
        return False
    depth = 0
    in_string = escaped = False
    for ch in payload:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > _MAX_NESTING:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def fields_of(tick: Tick) -> TickFields:
    """What ``mp_parse_tick`` reads of ``tick.to_json()``, without writing the JSON."""
    return _fields(tick.to_dict())


def _event_time_ok(ts_ns: int, rules: TickRules, now_ms: int | None) -> bool:
    """``mp_tick_event_time`` gives the record a time (not epoch 0): within [min, now + max_future]."""
    ms = -(-ts_ns // NS_PER_MS) if ts_ns < 0 else ts_ns // NS_PER_MS  # Java's long division
    now = (int(time.time()) * 1000) if now_ms is None else now_ms // 1000 * 1000
    return rules.min_event_time_ms <= ms <= now + rules.max_future_s * 1000


def reject_reason(
    payload: str | None, rules: TickRules | None = None, *, now_ms: int | None = None
) -> str | None:
    """Why flink_sql/11_ticks_clean.sql rejects a raw record (its ``reject_reason``), None when it does
    not (a clean trade or a heartbeat). ``now_ms`` stands for the wall clock of the future bound."""
    rules = rules or TickRules()
    if payload is None:
        return "tombstone"
    if len(payload) > rules.max_record_bytes:
        return "oversize"
    return _reason(parse_record(payload), rules, now_ms)


def outcome(payload: str | None, rules: TickRules | None = None, *, now_ms: int | None = None) -> str:
    """``heartbeat``, ``clean`` or ``rejected``: the ``outcome`` column of ``ticks_classified``."""
    if reject_reason(payload, rules, now_ms=now_ms) is not None:
        return "rejected"
    return "heartbeat" if parse_record(payload).kind == "heartbeat" else "clean"


def _reason(f: TickFields, rules: TickRules, now_ms: int | None) -> str | None:
    """The ``CASE`` of ``ticks_classified``, after tombstone and oversize, in its order."""
    if not f.is_object:
        return "malformed_json"
    kind = "trade" if f.kind is None else f.kind
    timed = f.ts_ns is not None and _event_time_ok(f.ts_ns, rules, now_ms)
    if kind == "heartbeat":
        return None if timed else "bad_heartbeat"
    if kind != "trade":
        return "unsupported_kind"
    symbol = None if f.symbol is None else f.symbol.strip(" ").upper()
    if not symbol:
        return "missing_symbol"
    if f.symbol_type != "string" or SYMBOL_RE.search(symbol) is None:
        return "invalid_symbol"
    if f.ts_ns is None:
        return "bad_timestamp"
    if not timed:
        return "timestamp_out_of_range"
    if f.price is None:
        return "bad_price"
    if not 0 < f.price < rules.max_price:
        return "invalid_price"
    if f.size is None:
        return "bad_size"
    if not 0 < f.size <= rules.max_size:
        return "invalid_size"
    return None


def tick_reject_reason(tick: Tick, rules: TickRules | None = None, *, now_ms: int | None = None) -> str | None:
    """Why the job would reject ``tick`` as sent on the wire, None for a clean trade."""
    rules = rules or TickRules()
    texts = (tick.symbol, tick.exchange, tick.conditions, tick.trade_id, tick.source, tick.ts_raw, tick.price,
             tick.size)
    # A \uXXXX escape is 6 characters: only a tick this long can be oversize (then its JSON is measured).
    if sum(len(t) for t in texts if isinstance(t, str)) * 6 + 400 > rules.max_record_bytes:
        return reject_reason(tick.to_json().decode("ascii"), rules, now_ms=now_ms)
    return _reason(fields_of(tick), rules, now_ms)


def looks_valid(tick: Tick, rules: TickRules | None = None, *, now_ms: int | None = None) -> bool:
    """Whether the job cleans ``tick`` (late rows, duplicates, outliers and other bar-step rejects are not
    predicted here: :func:`bars_by_rules` runs the bar rules)."""
    return tick_reject_reason(tick, rules, now_ms=now_ms) is None


def valid_mask(
    symbols: Any, has_ts: np.ndarray[Any, Any], ts_ns: np.ndarray[Any, Any], price: np.ndarray[Any, Any],
    size: np.ndarray[Any, Any], rules: TickRules | None = None, *, now_ms: int | None = None,
) -> np.ndarray[Any, Any]:
    """:func:`looks_valid` over columns: ``symbols`` an Arrow string array, trimmed and upper-cased;
    ``ts_ns`` int64 (anything where ``has_ts`` is false); ``price`` float64, NaN where it is not a JSON
    number; ``size`` float64, NaN where it is not a JSON integer."""
    import numpy as np
    import pyarrow.compute as pc

    rules = rules or TickRules()
    now = (int(time.time()) * 1000) if now_ms is None else now_ms // 1000 * 1000
    ms = np.where(has_ts, ts_ns, 0) // NS_PER_MS
    symbol_ok = np.array(pc.fill_null(pc.match_substring_regex(symbols, SYMBOL_PATTERN), False)
                         .to_numpy(zero_copy_only=False), dtype=bool)
    with np.errstate(invalid="ignore"):
        valid: np.ndarray[Any, Any] = (
            symbol_ok & has_ts & (ms >= rules.min_event_time_ms) & (ms <= now + rules.max_future_s * 1000)
            & (price > 0) & (price < rules.max_price) & (size > 0) & (size <= rules.max_size))
    return valid


# -- expected bars ----------------------------------------------------------------------------------------


@overload
def minute_start_ms(ts_ns: int) -> int: ...
@overload
def minute_start_ms(ts_ns: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...
def minute_start_ms(ts_ns: Any) -> Any:
    """Epoch milliseconds of the start of the UTC minute holding ``ts_ns`` (an int or an int64 array):
    the 1m bar a trade lands in."""
    return ts_ns // NS_PER_MINUTE * 60_000


def trade_of(tick: Tick, seq: int) -> Trade:
    """The bar engine's :class:`Trade` of a valid tick (``seq``: its position in the feed)."""
    assert tick.ts_ns is not None and tick.price is not None and tick.size is not None
    return Trade(tick.ts_ns, float(tick.price), int(tick.size), tick.exchange, tick.conditions, seq, tick.source)


def bars_by_rules(trades: Mapping[str, list[Trade]], config: BarConfig | Mapping[str, Any]) -> set[tuple[str, int]]:
    """``(symbol, minute start ms)`` of the 1m bars the bar rules make of ``trades`` (the pure engine
    of flink_sql/12_bars.sql, run here in batch with the job's configuration,
    :func:`marketpipe.rules.bar_config.bar_config`): minutes holding only trades that are dead-lettered
    (market closed, official reports, ...) have no bar."""
    from udfs.bars.config import Reference
    from udfs.bars.engine import run_batch

    ref = Reference(config)
    out: set[tuple[str, int]] = set()
    for symbol, ts in trades.items():
        for bar in run_batch(symbol, ts, ref.context(symbol)).bars:
            if bar.timeframe == "1m":
                out.add((symbol, bar.bar_start_ns // NS_PER_MS))
    return out


# -- heartbeat timing ---------------------------------------------------------------------------------------


def end_heartbeat_ns(last_ts_ns: int, rules: TickRules | None = None) -> int:
    """The event time of the end-of-stream heartbeat after a feed's last trade at ``last_ts_ns``.

    The bar step emits a minute once the watermark (the largest event time less
    ``watermark_delay_ms``) reaches its end, at most a bar length after the trade; the session's last
    regular minute waits ``closing_print_wait_ms`` longer for the closing auction print (docs/bars.md).
    Heartbeats move only the watermark, so this one is that far past the trade plus
    :data:`HEARTBEAT_HEADROOM_MS`.
    """
    rules = rules or TickRules()
    wait_ms = rules.closing_print_wait_ms if _in_last_regular_minute(last_ts_ns, rules.calendar) else 0
    return last_ts_ns + (BAR_MS + rules.watermark_delay_ms + HEARTBEAT_HEADROOM_MS + wait_ms) * NS_PER_MS


def _in_last_regular_minute(ts_ns: int, calendar: str) -> bool:
    from udfs.market.calendar import get_calendar

    try:
        slot = get_calendar(calendar).slot(ts_ns)
    except ValueError:  # a time outside the calendar's range: no session to wait for
        return False
    return slot is not None and slot.session == "regular" and ts_ns >= slot.regular_close_ns - NS_PER_MINUTE
