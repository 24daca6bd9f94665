"""Replay a CSV or Parquet file of trades into the raw topic, in file order.

Columns: ``ts``, ``symbol``, ``price``, ``size`` (required); ``exchange``, ``conditions``, ``trade_id``
(optional). ``ts`` is ISO-8601 with an offset (``2024-06-13T09:30:00.123456-04:00``) or ``Z``, or integer
epoch nanoseconds; a timestamp without an offset is ambiguous and is sent as unparsed (``ts_ns`` null).
Rows are never dropped or repaired here: bad values travel as found and the Flink job dead-letters them.
Files are read in chunks, so their size is bounded only by the disk.

The hot path is columnar (:func:`read_batches`): a chunk of rows is read with pyarrow and each column is
turned into its JSON fragments and typed values with vectorized kernels; the cells the kernels do not
cover (anything but plain text, integers, short decimals and ISO times with an offset) go through the
exact per-cell parsers of ``marketpipe.feeds.values``, so a batch's records are byte for byte what
``Tick.to_json()`` makes of the same rows (tests/unit/test_replay_fast.py checks it).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from marketpipe.exceptions import FeedError
from marketpipe.feeds.tick import (
    SYMBOL_PATTERN,
    SYMBOL_RE,
    HeartbeatSchedule,
    Tick,
    TickSink,
    normalize_conditions,
)
from udfs.bars.model import Trade
from marketpipe.feeds.values import parse_number, parse_size, parse_text, parse_ts
from marketpipe.settings import Settings

REQUIRED_COLUMNS = ("ts", "symbol", "price", "size")
OPTIONAL_COLUMNS = ("exchange", "conditions", "trade_id", "source")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
HEARTBEAT_AFTER_S = 60 + 5  # past the largest event time: one bar length plus slack for the watermark
# The job's bounds (flink_sql/11_ticks_clean.sql renders the same settings and SYMBOL_PATTERN).
MAX_PRICE = float(Settings.model_fields["max_price"].default)
MAX_SIZE = int(Settings.model_fields["max_size"].default)
NS_PER_MINUTE = 60_000_000_000
_CHUNK_ROWS = 50_000


def _kind(path: Path) -> Literal["csv", "parquet"]:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    known = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise FeedError(f"{path}: unknown file type (expected one of {known})")


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise FeedError(f"{path}: missing required column(s) {', '.join(missing)} (found: {', '.join(columns)})")


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    # Every cell as text, nothing turned into NaN: conversion is ours, exact and per row.
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except (ValueError, OSError) as exc:
        raise FeedError(f"{path}: cannot read CSV header: {exc}") from exc
    _check_columns(path, header)
    usecols = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in header]
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                         usecols=usecols, chunksize=_CHUNK_ROWS)
    with reader:
        for chunk in reader:
            yield from chunk.to_dict("records")


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    # The batches the fast path reads (_parquet_batches), as one dict per row.
    for batch in _parquet_batches(path):
        values = {name: col.to_pylist() for name, col in batch.items()}
        n = len(next(iter(values.values()))) if values else 0
        for i in range(n):
            yield {name: column[i] for name, column in values.items()}


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    kind = _kind(path)
    if not path.is_file():
        raise FeedError(f"{path}: no such file")
    return _csv_rows(path) if kind == "csv" else _parquet_rows(path)


def read_ticks(path: str | Path, source: str = "replay") -> Iterator[Tick]:
    """Ticks of a CSV or Parquet file in file order, one per row, bad values kept as found.

    Raises ``FeedError`` (before yielding anything) for a missing file, an unknown extension or
    missing required columns.
    """
    rows = _rows(Path(path))
    first = next(rows, None)  # reading the first chunk surfaces file errors eagerly

    def ticks() -> Iterator[Tick]:
        if first is None:
            return
        for row in _chain(first, rows):
            yield _row_tick(row, source)

    return ticks()


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _row_tick(row: dict[str, Any], source: str) -> Tick:
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


# -- the columnar hot path ----------------------------------------------------------------------------

_CSV_BLOCK_BYTES = 1 << 20  # about 15,000 rows of a typical tick file per batch
# Printable ASCII but space, '"' and '\': JSON (json.dumps, ensure_ascii) writes these as they are.
_SAFE = r"\x21\x23-\x5b\x5d-\x7e"
_TEXT_FAST = rf"^[{_SAFE}](?:[ {_SAFE}]*[{_SAFE}])?$"  # nothing to strip, nothing to escape
_CODES_FAST = rf"^[{_SAFE}]+(?: [{_SAFE}]+)*$"  # conditions after commas became spaces: already normalized
_INT_FAST = r"^-?(?:[0-9]{1,18}|[0-8][0-9]{18})$"  # fits int64 (epoch ns have 19 digits)
_DEC_FAST = r"^-?[0-9]{1,20}\.[0-9]{1,20}$"
_NULL = pa.scalar("null")
_NO_STRING = pa.scalar(None, pa.string())
_DAYS_BEFORE_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _bools(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.array(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)  # a writable copy


def _is_int64_safe(col: Any) -> bool:
    return isinstance(col, pa.Array) and (
        pa.types.is_signed_integer(col.type) or col.type in (pa.uint8(), pa.uint16(), pa.uint32()))


def _nulls_to_empty(col: pa.Array) -> pa.Array:
    return pc.fill_null(col, "") if col.null_count else col


def _quoted(col: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise('"', col, '"', "")


def _text_column(col: Any, *, codes: bool = False) -> tuple[np.ndarray, pa.Array, pa.Array]:
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


def _number_column(col: Any, *, size: bool) -> tuple[np.ndarray, pa.Array, np.ndarray]:
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


def _iso_ns(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
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

    def at(pos: np.ndarray | int) -> np.ndarray:
        return chars[:, pos] if isinstance(pos, int) else chars[rows, pos]

    def digits(*positions: int) -> np.ndarray:
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
    yy = y - (mo_c <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo_c + np.where(mo_c > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    offset = (oh * 3600 + om * 60) * np.where(sign == 45, -1, 1)
    seconds = days * 86400 + h * 3600 + mi * 60 + s - offset
    ns = np.where(ok, seconds, 0) * 1_000_000_000 + np.where(ok, frac, 0)
    return ok, ns


def _ts_column(col: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    ts: np.ndarray
    has_ts: np.ndarray
    _raw: dict[str, Any]
    _source: str
    _slow: dict[int, Tick]  # rows the vectorized kernels left to the per-cell parsers, as those make them
    _valid: np.ndarray  # valid-looking (looks_valid), every row
    _symbol: list[str | None]  # stripped upper-case symbol of valid-looking rows, in row order
    _price: np.ndarray
    _size: np.ndarray
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
    return [_row_tick(dict(zip(names, cells, strict=True)), source) for cells in zip(*cols.values(), strict=True)]


def _pylist(col: Any, start: int, stop: int) -> list[Any]:
    return col.slice(start, stop - start).to_pylist() if isinstance(col, pa.Array) else list(col[start:stop])


def _encode(raw: dict[str, Any], rows: int, source: str) -> TickBatch:
    """Columns of one batch (Arrow arrays, or plain lists for the exact path only) -> a ``TickBatch``."""
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
    valid = (ok & _bools(pc.match_substring_regex(norm, SYMBOL_PATTERN)) & has_ts
             & (price > 0) & (price < MAX_PRICE) & (size > 0) & (size <= MAX_SIZE))
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
            valid[i] = looks_valid(tick)
        ts = np.array(ts, dtype=object if big else np.int64)  # a writable copy
        for i, tick in slow.items():
            ts[i] = tick.ts_ns if tick.ts_ns is not None else 0
    names = pc.filter(norm, pa.array(valid)).to_pylist()
    for pos, i in enumerate(np.flatnonzero(valid).tolist()):
        if i in slow:
            names[pos] = (slow[i].symbol or "").strip().upper()
    return TickBatch(rows, values, keys, ts, has_ts, raw, source, slow, valid, names, price, size, texts, symbols)


def _csv_batches(path: Path) -> Iterator[dict[str, Any]]:
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except (ValueError, OSError) as exc:
        raise FeedError(f"{path}: cannot read CSV header: {exc}") from exc
    _check_columns(path, header)
    usecols = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in header]
    done = 0
    if len(set(header)) == len(header):
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(usecols, pa.string()), include_columns=usecols,
                    strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            if reader.schema.names != usecols:
                raise pa.ArrowInvalid(f"columns {reader.schema.names}")
            for batch in reader:
                if batch.num_rows:
                    yield {name: batch.column(name) for name in usecols}
                    done += batch.num_rows
            return
        except pa.ArrowInvalid:
            pass  # something only pandas reads the way it always has (a ragged row, bad UTF-8, ...)
    # The reference reader, from where pyarrow stopped: every cell as text, nothing turned into NaN.
    reader = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False,
                         usecols=usecols, chunksize=_CHUNK_ROWS)
    with reader:
        for chunk in reader:
            if done >= len(chunk):
                done -= len(chunk)
                continue
            chunk = chunk.iloc[done:]
            done = 0
            yield {name: chunk[name].tolist() for name in usecols}


def _arrow_typed(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    # Kept in Arrow: aware timestamps as exact int64 ns; naive ones as text, so they are reported, not guessed.
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            return col.cast(pa.string())
        return col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64())
    if pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_dictionary(col.type) and pa.types.is_string(col.type.value_type):
        return col.cast(pa.string())
    return col


def _parquet_batches(path: Path) -> Iterator[dict[str, Any]]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FeedError(f"{path}: cannot read Parquet: {exc}") from exc
    names = pf.schema_arrow.names
    _check_columns(path, names)
    columns = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in names]
    for batch in pf.iter_batches(batch_size=_CHUNK_ROWS, columns=columns):
        if batch.num_rows:
            yield {name: _arrow_typed(batch.column(name)) for name in columns}


def read_batches(path: str | Path, source: str = "replay") -> Iterator[TickBatch]:
    """The rows of a CSV or Parquet file in file order, in batches already in wire form: what
    :func:`read_ticks` yields, one ``Tick.to_json()`` per row, without a Python object per row.

    Raises ``FeedError`` (before yielding anything) as :func:`read_ticks` does.
    """
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise FeedError(f"{path}: no such file")
    columns = _csv_batches(path) if kind == "csv" else _parquet_batches(path)
    first = next(columns, None)  # reading the first chunk surfaces file errors eagerly

    def batches() -> Iterator[TickBatch]:
        if first is None:
            return
        for raw in _chain(first, columns):
            yield _encode(raw, len(next(iter(raw.values()))), source)

    return batches()


def looks_valid(tick: Tick) -> bool:
    """The job's own checks in light form: a ticker symbol, a timestamp, a positive finite price below
    ``MAX_PRICE`` and a positive integer size up to ``MAX_SIZE``. (Late rows, duplicates, outliers
    and other bar-step rejects are not predicted.)"""
    price, size = tick.price, tick.size
    symbol = tick.symbol.strip().upper() if tick.symbol else ""
    return (
        SYMBOL_RE.fullmatch(symbol) is not None
        and tick.ts_ns is not None
        and isinstance(price, int | float) and not isinstance(price, bool)
        and math.isfinite(price) and 0 < price < MAX_PRICE
        and isinstance(size, int) and not isinstance(size, bool) and 0 < size <= MAX_SIZE
    )


def minute_start_ms(ts_ns: int) -> int:
    """Epoch milliseconds of the start of the UTC minute holding ``ts_ns``."""
    return ts_ns // NS_PER_MINUTE * 60_000


@dataclass
class ReplaySummary:
    """What a replay sent. ``expected_bars`` holds ``(SYMBOL, minute start epoch ms)`` of valid-looking rows:
    the bars the pipeline should produce, for a bounded wait in tests."""

    rows: int = 0
    valid_rows: int = 0
    symbols: set[str] = field(default_factory=set)
    min_ts_ns: int | None = None
    max_ts_ns: int | None = None
    expected_bars: set[tuple[str, int]] = field(default_factory=set)
    heartbeat_ts_ns: int | None = None
    # valid-looking trades per symbol, in file order: what the bar rules run on (expected_bars_by_rules)
    trades: dict[str, list[Trade]] = field(default_factory=dict)
    keep_trades: bool = True  # off when nothing will ask for expected_bars_by_rules (saves memory)

    def add(self, tick: Tick) -> None:
        """Account for one row."""
        self.rows += 1
        if tick.symbol and tick.symbol.strip():
            self.symbols.add(tick.symbol.strip().upper())
        if tick.ts_ns is not None:
            self.min_ts_ns = tick.ts_ns if self.min_ts_ns is None else min(self.min_ts_ns, tick.ts_ns)
            self.max_ts_ns = tick.ts_ns if self.max_ts_ns is None else max(self.max_ts_ns, tick.ts_ns)
        if looks_valid(tick):
            self.valid_rows += 1
            assert tick.symbol is not None and tick.ts_ns is not None
            symbol = tick.symbol.strip().upper()
            self.expected_bars.add((symbol, minute_start_ms(tick.ts_ns)))
            if not self.keep_trades:
                return
            assert tick.price is not None and tick.size is not None
            self.trades.setdefault(symbol, []).append(
                Trade(tick.ts_ns, float(tick.price), int(tick.size), tick.exchange, tick.conditions, self.rows,
                      tick.source)
            )

    def add_batch(self, batch: TickBatch) -> None:
        """Account for the rows of a batch: the same as :meth:`add` of each row's tick, in order."""
        base = self.rows
        self.rows += batch.rows
        self.symbols |= batch._symbols
        has = batch.has_ts
        if has.any():
            stamps = batch.ts[has]
            lo, hi = int(stamps.min()), int(stamps.max())
            self.min_ts_ns = lo if self.min_ts_ns is None else min(self.min_ts_ns, lo)
            self.max_ts_ns = hi if self.max_ts_ns is None else max(self.max_ts_ns, hi)
        valid = np.flatnonzero(batch._valid)
        if not len(valid):
            return
        self.valid_rows += len(valid)
        ts = batch.ts[valid]
        self.expected_bars.update(zip(batch._symbol, (ts // NS_PER_MINUTE * 60_000).tolist(), strict=True))
        if not self.keep_trades:
            return
        stamps_l, prices, sizes = ts.tolist(), batch._price[valid].tolist(), batch._size[valid].tolist()
        take = pa.array(valid)
        exchanges, conditions, sources = (pc.take(batch._text[name], take).to_pylist()
                                          for name in ("exchange", "conditions", "source"))
        for k, i in enumerate(valid.tolist()):
            tick = batch._slow.get(i)
            if tick is None:
                trade = Trade(stamps_l[k], prices[k], int(sizes[k]), exchanges[k], conditions[k], base + i + 1,
                              sources[k])
            else:
                assert tick.ts_ns is not None and tick.price is not None and tick.size is not None
                trade = Trade(tick.ts_ns, float(tick.price), int(tick.size), tick.exchange, tick.conditions,
                              base + i + 1, tick.source)
            self.trades.setdefault(batch._symbol[k], []).append(trade)

    def expected_bars_by_rules(self, config: dict[str, Any]) -> set[tuple[str, int]]:
        """The 1m bars the bar rules make of these trades (see :func:`bars_by_rules`)."""
        return bars_by_rules(self.trades, config)


def bars_by_rules(trades: dict[str, list[Trade]], config: dict[str, Any]) -> set[tuple[str, int]]:
    """``(symbol, minute start ms)`` of the 1m bars the bar rules make of ``trades`` (the pure engine
    of flink_sql/12_bars.sql, run here in batch with the job's configuration): minutes holding only
    trades that are dead-lettered (market closed, official reports, ...) have no bar."""
    from udfs.bars.config import Reference
    from udfs.bars.engine import run_batch

    ref = Reference(config)
    out: set[tuple[str, int]] = set()
    for symbol, ts in trades.items():
        for bar in run_batch(symbol, ts, ref.context(symbol)).bars:
            if bar.timeframe == "1m":
                out.add((symbol, bar.bar_start_ns // 1_000_000))
    return out


def count_rows(path: str | Path) -> int | None:
    """Row count for the progress bar (Parquet metadata; CSV lines minus the header)."""
    path = Path(path)
    if _kind(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.name.lower().endswith(".gz"):
        return None
    with path.open("rb") as fh:
        return max(0, sum(1 for _ in fh) - 1)


def summarize(path: str | Path) -> ReplaySummary:
    """The summary a replay of ``path`` would return, without sending anything."""
    summary = ReplaySummary()
    for batch in read_batches(path):
        summary.add_batch(batch)
    return summary


_SLICE_ROWS = 4_000  # rows sent between two heartbeat checks (about 20 ms at full speed)


def replay(
    path: str | Path,
    producer: TickSink,
    speed: Literal["max"] | float = "max",
    progress: bool = True,
    *,
    flush_timeout: float | None = None,
    keep_trades: bool = True,
    heartbeats: HeartbeatSchedule | None = None,
) -> ReplaySummary:
    """Send every row of ``path`` in file order with heartbeats along the way, flush, then send the end
    heartbeats at max ts + 65 s and flush again.

    ``speed="max"`` sends as fast as the producer accepts; a number paces by event time divided by
    ``speed`` (``1.0`` = as recorded, ``60.0`` = a minute per second), anchored at the first parsed
    timestamp. Rows without a timestamp, or earlier than one already sent, go out immediately.
    ``heartbeats`` (default: every second and every 10,000 rows) times the heartbeats sent while
    streaming, at the latest event time sent so far. ``flush_timeout`` None leaves the wait to the
    producer (its delivery timeout). The end heartbeats go out only once every row is delivered; when
    delivery fails for good, the ``FeedError`` says how far the replay got and that they were not sent.

    A producer with ``send_encoded(values, keys)`` (:class:`~marketpipe.feeds.producer.TickProducer`)
    gets the rows in their wire form, a batch at a time; any other ``TickSink`` gets one ``Tick`` per row.
    """
    if speed != "max" and not (isinstance(speed, int | float) and speed > 0 and math.isfinite(speed)):
        raise FeedError(f"speed must be 'max' or a positive number, got {speed!r}")
    batches = read_batches(path)
    summary = ReplaySummary(keep_trades=keep_trades)
    schedule = heartbeats if heartbeats is not None else HeartbeatSchedule()
    total = count_rows(path) if progress else None
    send_encoded: Callable[[Sequence[bytes], Sequence[bytes | None]], None] | None = getattr(
        producer, "send_encoded", None)
    queued = 0

    def beat() -> None:
        ts_ns = schedule.due()
        if ts_ns is not None:
            producer.send_heartbeats(ts_ns)

    def flush() -> None:
        producer.flush() if flush_timeout is None else producer.flush(flush_timeout)

    def send(batch: TickBatch, start: int, stop: int) -> None:
        nonlocal queued
        if send_encoded is not None:
            before = int(getattr(producer, "produced", 0))
            try:
                send_encoded(batch.values[start:stop], batch.keys[start:stop])
            finally:
                queued += int(getattr(producer, "produced", before + stop - start)) - before
        else:
            for tick in batch.ticks(start, stop):
                producer.send(tick)
                queued += 1

    anchor_ns: int | None = None
    t0 = time.monotonic()
    try:
        with tqdm(total=total, unit="row", desc=f"replay {Path(path).name}",
                  disable=None if progress else True, mininterval=0.25) as bar:
            for batch in batches:
                due: np.ndarray | None = None  # per row: seconds after t0 it is due (paced); NaN: at once
                if speed != "max":
                    if anchor_ns is None and batch.has_ts.any():
                        anchor_ns = int(batch.ts[int(np.argmax(batch.has_ts))])
                    due = np.full(batch.rows, np.nan)
                    if anchor_ns is not None:
                        offsets = (batch.ts[batch.has_ts] - anchor_ns).astype(np.float64)
                        due[batch.has_ts] = offsets / 1e9 / float(speed)
                start = 0
                while start < batch.rows:
                    stop = min(batch.rows, start + _SLICE_ROWS, start + schedule.ticks_to_next())
                    if due is not None:
                        # Sleep in slices so a gap in the file still gets its heartbeats on time.
                        for _ in range(1_000_000):
                            delay = t0 + due[start] - time.monotonic()
                            if not delay > 0.001:  # also NaN: no time, goes at once
                                break
                            time.sleep(min(delay, max(0.01, schedule.seconds_to_next())))
                            beat()
                        ahead = due[start + 1:stop] > time.monotonic() - t0 + 0.001
                        if ahead.any():
                            stop = start + 1 + int(np.argmax(ahead))
                    send(batch, start, stop)
                    schedule.observe_many(stop - start, batch.max_ts(start, stop))
                    beat()
                    bar.update(stop - start)
                    start = stop
                summary.add_batch(batch)
        flush()  # every row is in Kafka before the end heartbeats close the last bars
    except FeedError as exc:
        if total is None:
            total = count_rows(path)
        delivered = getattr(producer, "ticks_delivered", None)
        got = f"{delivered} of {total if total is not None else '?'} rows delivered" if delivered is not None \
            else f"{queued} of {total if total is not None else '?'} rows queued"
        raise FeedError(
            f"replay of {Path(path).name} failed: {got} ({queued} queued); the end heartbeats were "
            f"NOT sent, so the last bars stay open. Cause: {exc}"
        ) from exc
    if summary.max_ts_ns is not None:
        summary.heartbeat_ts_ns = summary.max_ts_ns + HEARTBEAT_AFTER_S * 1_000_000_000
        try:
            producer.send_heartbeats(summary.heartbeat_ts_ns)
            flush()
        except FeedError as exc:
            raise FeedError(
                f"replay of {Path(path).name}: all {summary.rows} rows delivered, but the end heartbeats "
                f"were NOT delivered, so the last bars stay open. Cause: {exc}"
            ) from exc
    return summary
