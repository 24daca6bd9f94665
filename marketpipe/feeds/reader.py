"""Reading a CSV or Parquet file of trades, in file order, in chunks (their size is bounded only by the disk).

Columns: ``ts``, ``symbol``, ``price``, ``size`` (required); ``exchange``, ``conditions``, ``trade_id``,
``source`` (optional). ``ts`` is ISO-8601 with an offset (``2024-06-13T09:30:00.123456-04:00``) or ``Z``,
or integer epoch nanoseconds; a timestamp without an offset is ambiguous and is sent as unparsed
(``ts_ns`` null). Rows are never dropped or repaired here: bad values travel as found and the Flink job
dead-letters them. :func:`read_ticks` gives one ``Tick`` per row (the exact per-cell parsers);
:func:`read_batches` the same rows in wire form, a batch at a time (:mod:`marketpipe.feeds.columns`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from marketpipe.exceptions import FeedError
from marketpipe.feeds.columns import TickBatch, encode
from marketpipe.feeds.tick import Tick
from marketpipe.feeds.values import row_tick
from marketpipe.rules.ticks import TickRules

REQUIRED_COLUMNS = ("ts", "symbol", "price", "size")
OPTIONAL_COLUMNS = ("exchange", "conditions", "trade_id", "source")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_CHUNK_ROWS = 50_000
_CSV_BLOCK_BYTES = 1 << 20  # about 15,000 rows of a typical tick file per batch


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


def _csv_header(path: Path) -> tuple[list[str], list[str]]:
    """The CSV's header, checked for the required columns, and the known columns it has."""
    try:
        header = list(pd.read_csv(path, nrows=0).columns)
    except (ValueError, OSError) as exc:
        raise FeedError(f"{path}: cannot read CSV header: {exc}") from exc
    _check_columns(path, header)
    return header, [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in header]


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    # Every cell as text, nothing turned into NaN: conversion is ours, exact and per row.
    _, usecols = _csv_header(path)
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
            yield row_tick(row, source)

    return ticks()


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _csv_batches(path: Path) -> Iterator[dict[str, Any]]:
    header, usecols = _csv_header(path)
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


def read_batches(
    path: str | Path, source: str = "replay", rules: TickRules | None = None
) -> Iterator[TickBatch]:
    """The rows of a CSV or Parquet file in file order, in batches already in wire form: what
    :func:`read_ticks` yields, one ``Tick.to_json()`` per row, without a Python object per row.

    ``rules`` are the job's bounds the batches mark clean rows by (default: the settings' defaults).
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
            yield encode(raw, len(next(iter(raw.values()))), source, rules)

    return batches()


def count_rows(path: str | Path) -> int | None:
    """Row count for the progress bar (Parquet metadata; CSV lines minus the header)."""
    path = Path(path)
    if _kind(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    if path.name.lower().endswith(".gz"):
        return None
    with path.open("rb") as fh:
        return max(0, sum(1 for _ in fh) - 1)
