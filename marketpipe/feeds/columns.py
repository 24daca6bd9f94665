"""The columnar hot path of a replay: a chunk of file rows in wire form without a Python object per row.

Each column is turned into its JSON fragments and typed values with vectorized kernels (pyarrow,
numpy); the cells the kernels do not cover (anything but plain text, integers, short decimals and
ISO times with an offset) go through the exact per-cell parsers of :mod:`marketpipe.feeds.values`, so
a batch's records are byte for byte what ``Tick.to_json()`` makes of the same rows
(tests/unit/test_replay_fast.py checks it). Which rows are clean is asked of
:mod:`marketpipe.rules.ticks`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from marketpipe.feeds.tick import Tick
from marketpipe.feeds.values import row_tick
from marketpipe.rules.ticks import TickRules, looks_valid, valid_mask

# Printable ASCII but space, '"' and '\': JSON (json.dumps, ensure_ascii) writes these as they are.
_SAFE = r"\x21\x23-\x5b\x5d-\x7e"
_TEXT_FAST = rf"^[{_SAFE}](?:[ {_SAFE}]*[{_SAFE}])?$"  # nothing to strip, nothing to escape
_CODES_FAST = rf"^[{_SAFE}]+(?: [{_SAFE}]+)*$"  # conditions after commas became spaces: already normalized
_INT_FAST = r"^-?(?:[0-9]{1,18}|[0-8][0-9]{18})$"  # fits int64 (epoch ns have 19 digits)
_DEC_FAST = r"^-?[0-9]{1,20}\.[0-9]{1,20}$"
_NULL = pa.scalar("null")
_NO_STRING = pa.scalar(None, pa.string())
_DAYS_BEFORE_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _bools(arr: pa.Array | pa.ChunkedArray) -> NDArray[Any]:
    return np.array(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)  # a writable copy


def _is_int64_safe(col: Any) -> bool:
    return isinstance(col, pa.Array) and (
        pa.types.is_signed_integer(col.type) or col.type in (pa.uint8(), pa.uint16(), pa.uint32()))


def _nulls_to_empty(col: pa.Array) -> pa.Array:
    return pc.fill_null(col, "") if col.null_count else col


def _quoted(col: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', col, '"', "")


def _text_column(col: Any, *, codes: bool = False) -> tuple[NDArray[Any], pa.Array, pa.Array]:
    """``(ok, value, json)`` of a text column: missing is ``None``; plain stripped ASCII is itself;
    ``ok`` is False where only the per-cell parser can say (the row then takes the exact path)."""
    if not isinstance(col, pa.Array) or not pa.types.is_string(col.type):
        n = len(col)
        return np.zeros(n, dtype=bool), pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    col = _nulls_to_empty(col)
    text = pc.replace_substring(col, ",", " ") if codes else col
    fast = pc.match_substring_regex(text, _CODES_FAST if codes else _TEXT_FAST)
    empty = pc.equal(col, "")
    ok = _bools(pc.or_(fast, empty))
    value = pc.if_else(fast, text, _NO_STRING)
    return ok, value, pc.if_else(fast, _quoted(text), _NULL)


def _number_column(col: Any, *, size: bool) -> tuple[NDArray[Any], pa.Array, NDArray[Any]]:
    """``(ok, json, number)`` of a price (``size`` False) or size column; ``number`` is float64, NaN where
    the value is not a number (price) or not an integer (size), as the validity checks need it."""
    n = len(col)
    if _is_int64_safe(col):
        col = col.cast(pa.int64())
        number = pc.cast(col, pa.float64(), safe=False).to_numpy(zero_copy_only=False)  # nulls become NaN
        return np.ones(n, dtype=bool), pc.fill_null(pc.cast(col, pa.string()), "null"), number
    if isinstance(col, pa.Array) and pa.types.is_floating(col.type):
        values = col.cast(pa.float64()).to_pylist()
        texts: list[str | None] = []
        for v in values:
            if v is None:
                texts.append("null")
            elif not math.isfinite(v):
                texts.append(None)  # sent as text: the exact path writes it
            elif size and v.is_integer():
                texts.append(str(int(v)))
            else:
                texts.append(repr(v))
        number = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if size:
            number[number != np.floor(number)] = np.nan
        ok = np.array([t is not None for t in texts], dtype=bool)
        return ok, pa.array(texts, pa.string()), number
    if not isinstance(col, pa.Array) or not pa.types.is_string(col.type):
        return np.zeros(n, dtype=bool), pa.nulls(n, pa.string()), np.full(n, np.nan)
    col = _nulls_to_empty(col)
    empty = pc.equal(col, "")
    is_int = pc.match_substring_regex(col, _INT_FAST)
    as_int = pc.cast(pc.if_else(is_int, col, "0"), pa.int64())
    json_text = pc.if_else(is_int, pc.cast(as_int, pa.string()), _NULL)
    number = pc.if_else(is_int, pc.cast(as_int, pa.float64(), safe=False), pa.scalar(None, pa.float64()))
    # A decimal: float() of it, written as repr() writes it. Arrow parses decimals exactly as float()
    # (correctly rounded) and, between 1e-4 and 1e15 and when it uses no exponent, writes the same
    # shortest digits as repr() (which adds ".0" to a whole number).
    is_dec = pc.match_substring_regex(col, _DEC_FAST)
    dec = pc.cast(pc.if_else(is_dec, col, "1.0"), pa.float64())
    dec_abs = pc.abs(dec)
    in_range = pc.and_(is_dec, pc.and_(pc.greater_equal(dec_abs, 1e-4), pc.less(dec_abs, 1e15)))
    if size:  # a whole float is sent as an int, anything else as a float (and is not a valid size)
        whole = pc.and_(in_range, pc.equal(pc.floor(dec), dec))
        json_text = pc.if_else(whole, pc.cast(pc.cast(pc.if_else(whole, dec, 0.0), pa.int64()), pa.string()),
                               json_text)
        number = pc.if_else(whole, dec, number)
        in_range = pc.and_(in_range, pc.invert(whole))
    else:
        number = pc.if_else(in_range, dec, number)
    dec_text = pc.cast(dec, pa.string())
    fixed = pc.and_(in_range, pc.invert(pc.match_substring(dec_text, "e")))
    dec_text = pc.if_else(pc.match_substring(dec_text, "."), dec_text,
                          pc.binary_join_element_wise(dec_text, ".0", ""))
    json_text = pc.if_else(fixed, dec_text, json_text)
    if size:
        fixed = pc.or_(fixed, whole)
    else:
        number = pc.if_else(fixed, number, pc.if_else(is_int, number, pa.scalar(None, pa.float64())))
    ok = pc.or_(pc.or_(empty, is_int), fixed)
    return _bools(ok), json_text, pc.fill_null(number, np.nan).to_numpy(zero_copy_only=False)


def _iso_ns(col: pa.Array) -> tuple[NDArray[Any], NDArray[Any]]:
    """``(ok, ns)``: ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]`` with ``Z`` or ``±HH:MM``, valid and within 1700-2200,
    as epoch ns by the integer arithmetic of ``parse_iso_ns``; read from the UTF-8 bytes with numpy."""
    n = len(col)
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int32)[col.offset:col.offset + n + 1]
    data = col.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    padded = np.zeros(len(raw) + 40, dtype=np.uint8)
    padded[:len(raw)] = raw
    start = offsets[:-1].astype(np.int64)
    length = offsets[1:].astype(np.int64) - start
    ok = (length >= 20) & (length <= 35)
    start = np.where(ok, start, len(raw))  # out of shape: read the zero padding
    length = np.where(ok, length, 20)
    chars = padded[start[:, None] + np.arange(36)].astype(np.int64)  # one gather: the first 36 bytes of each
    rows = np.arange(n)

    def at(pos: NDArray[Any] | int) -> NDArray[Any]:
        return chars[:, pos] if isinstance(pos, int) else chars[rows, pos]

    def digits(*positions: int) -> NDArray[Any]:
        nonlocal ok
        value = np.zeros(n, dtype=np.int64)
        for pos in positions:
            d = at(pos) - 48
            ok &= (d >= 0) & (d <= 9)
            value = value * 10 + d
        return value

    y, mo, d = digits(0, 1, 2, 3), digits(5, 6), digits(8, 9)
    h, mi, s = digits(11, 12), digits(14, 15), digits(17, 18)
    ok &= (at(4) == 45) & (at(7) == 45) & (at(10) == 84) & (at(13) == 58) & (at(16) == 58)  # - - T : :
    last = at(length - 1)
    zulu = last == 90  # Z
    sign = at(length - 6)
    zone_len = np.where(zulu, 1, 6)
    oh = (at(length - 5) - 48) * 10 + at(length - 4) - 48
    om = (at(length - 2) - 48) * 10 + at(length - 1) - 48
    zone_ok = zulu | (((sign == 43) | (sign == 45)) & (at(length - 3) == 58)  # + or -, :
                      & np.all([(at(length - k) >= 48) & (at(length - k) <= 57) for k in (5, 4, 2, 1)], axis=0))
    ok &= zone_ok
    oh, om = np.where(zulu, 0, oh), np.where(zulu, 0, om)
    mid = length - 19 - zone_len  # "" or "." and 1-9 digits
    ok &= (mid == 0) | ((mid >= 2) & (mid <= 10) & (at(19) == 46))
    frac = np.zeros(n, dtype=np.int64)
    for k in range(9):
        inside = k < mid - 1
        digit = at(20 + k) - 48
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        frac = frac * 10 + np.where(inside, digit, 0)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    mo_c = np.clip(mo, 1, 12)
    month_days = _DAYS_BEFORE_MONTH[mo_c] + ((mo_c == 2) & leap)
    # int64 nanoseconds hold 1678-2261; the rest goes the exact way
    ok &= ((y >= 1700) & (y <= 2200) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= month_days)
           & (h <= 23) & (mi <= 59) & (s <= 59) & (oh <= 23) & (om <= 59))
    # days from civil (H. Hinnant), years >= 1
    yy: NDArray[Any] = y - (mo_c <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo_c + np.where(mo_c > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    offset = (oh * 3600 + om * 60) * np.where(sign == 45, -1, 1)
    seconds = days * 86400 + h * 3600 + mi * 60 + s - offset
    ns = np.where(ok, seconds, 0) * 1_000_000_000 + np.where(ok, frac, 0)
    return ok, ns


def _ts_column(col: Any) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """``(ok, has_ts, ns)`` of the ``ts`` column (``ns`` int64, 0 where there is no time)."""
    n = len(col)
    if _is_int64_safe(col):
        col = col.cast(pa.int64())
        return np.ones(n, dtype=bool), _bools(pc.is_valid(col)), pc.fill_null(col, 0).to_numpy(zero_copy_only=False)
    if not isinstance(col, pa.Array) or not pa.types.is_string(col.type):
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    col = _nulls_to_empty(col)
    empty = _bools(pc.equal(col, ""))
    is_int = _bools(pc.match_substring_regex(col, _INT_FAST))
    ints = pc.cast(pc.if_else(pa.array(is_int), col, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    iso_ok, iso = _iso_ns(col)
    has = is_int | iso_ok
    return empty | has, has, np.where(is_int, ints, iso)


@dataclass
class TickBatch:
    """Consecutive rows of a replay file in wire form: ``values[i]``/``keys[i]`` are exactly
    ``Tick.to_json()``/``Tick.key`` of row ``i``; ``ts``/``has_ts`` its event time (numpy; an object array
    in the rare batch holding a time beyond int64)."""

    rows: int
    values: list[bytes]
    keys: list[bytes | None]
    ts: NDArray[Any]
    has_ts: NDArray[Any]
    _raw: dict[str, Any]
    _source: str
    _slow: dict[int, Tick]  # rows the vectorized kernels left to the per-cell parsers, as those make them
    _valid: NDArray[Any]  # clean by the job's rules (marketpipe.rules.ticks), every row
    _symbol: list[str]  # stripped upper-case symbol of the clean rows, in row order
    _price: NDArray[Any]
    _size: NDArray[Any]
    _text: dict[str, pa.Array]  # exchange, conditions, source values (for trades)
    _symbols: set[str]

    def ticks(self, start: int = 0, stop: int | None = None) -> list[Tick]:
        """Rows ``start:stop`` as ``Tick`` objects (for sinks that take ticks one by one)."""
        return _ticks(self._raw, self._source, start, self.rows if stop is None else stop)

    def max_ts(self, start: int, stop: int) -> int | None:
        """The largest event time of rows ``start:stop``, None if none has one."""
        has = self.has_ts[start:stop]
        if not has.any():
            return None
        return int(self.ts[start:stop][has].max())


def _ticks(raw: dict[str, Any], source: str, start: int, stop: int) -> list[Tick]:
    cols = {name: _pylist(col, start, stop) for name, col in raw.items()}
    names = list(cols)
    return [row_tick(dict(zip(names, cells, strict=True)), source) for cells in zip(*cols.values(), strict=True)]


def _pylist(col: Any, start: int, stop: int) -> list[Any]:
    return col.slice(start, stop - start).to_pylist() if isinstance(col, pa.Array) else list(col[start:stop])


def encode(raw: dict[str, Any], rows: int, source: str, rules: TickRules | None = None) -> TickBatch:
    """Columns of one batch (Arrow arrays, or plain lists for the exact path only) -> a ``TickBatch``;
    which rows are valid is :mod:`marketpipe.rules.ticks`' to say (``rules``: the job's bounds)."""
    sym_ok, symbol, sym_json = _text_column(raw["symbol"])
    ts_ok, has_ts, ts = _ts_column(raw["ts"])
    price_ok, price_json, price = _number_column(raw["price"], size=False)
    size_ok, size_json, size = _number_column(raw["size"], size=True)
    ok = sym_ok & ts_ok & price_ok & size_ok
    texts: dict[str, pa.Array] = {}
    jsons: dict[str, Any] = {}
    for name in ("exchange", "conditions", "trade_id"):
        if name in raw:
            col_ok, texts[name], jsons[name] = _text_column(raw[name], codes=name == "conditions")
            ok &= col_ok
        else:
            texts[name], jsons[name] = pa.nulls(rows, pa.string()), _NULL
    default = pa.scalar(source, pa.string())
    if "source" in raw:
        col_ok, value, src_json = _text_column(raw["source"])
        ok &= col_ok
        texts["source"] = pc.fill_null(value, default)
        jsons["source"] = pc.if_else(pc.is_valid(value), src_json, json.dumps(source))
    else:
        texts["source"], jsons["source"] = pa.repeat(default, rows), pa.scalar(json.dumps(source))
    tail = pa.array(np.where(has_ts, "", ',"ts_raw":null'), pa.string())
    ts_json = pc.if_else(pa.array(has_ts), pc.cast(pa.array(ts, pa.int64()), pa.string()), _NULL)
    joined = pc.binary_join_element_wise(
        '{"kind":"trade","symbol":', sym_json, ',"ts_ns":', ts_json, ',"price":', price_json,
        ',"size":', size_json, ',"exchange":', jsons["exchange"], ',"conditions":', jsons["conditions"],
        ',"trade_id":', jsons["trade_id"], ',"source":', jsons["source"], tail, "}", "")
    values: list[bytes] = joined.cast(pa.binary()).to_pylist()
    keys: list[bytes | None] = symbol.cast(pa.binary()).to_pylist()

    norm = pc.utf8_upper(symbol)
    valid = ok & valid_mask(norm, has_ts, ts, price, size, rules)
    symbols = set(pc.unique(pc.drop_null(pc.filter(norm, pa.array(ok)))).to_pylist())
    slow: dict[int, Tick] = {}
    slow_rows = np.flatnonzero(~ok)
    if len(slow_rows):
        big = False
        picked = {name: pc.take(col, pa.array(slow_rows)) if isinstance(col, pa.Array)
                  else [col[i] for i in slow_rows.tolist()] for name, col in raw.items()}
        for i, tick in zip(slow_rows.tolist(), _ticks(picked, source, 0, len(slow_rows)), strict=True):
            slow[i] = tick
            values[i], keys[i] = tick.to_json(), tick.key
            has_ts[i] = tick.ts_ns is not None
            if tick.ts_ns is not None:
                big = big or not -(2**63) <= tick.ts_ns < 2**63
            if tick.symbol and tick.symbol.strip():
                symbols.add(tick.symbol.strip().upper())
            valid[i] = looks_valid(tick, rules)
        ts = np.array(ts, dtype=object if big else np.int64)  # a writable copy
        for i, tick in slow.items():
            ts[i] = tick.ts_ns if tick.ts_ns is not None else 0
    names = pc.filter(norm, pa.array(valid)).to_pylist()
    for pos, i in enumerate(np.flatnonzero(valid).tolist()):
        if i in slow:
            names[pos] = (slow[i].symbol or "").strip().upper()
    return TickBatch(rows, values, keys, ts, has_ts, raw, source, slow, valid, names, price, size, texts, symbols)
