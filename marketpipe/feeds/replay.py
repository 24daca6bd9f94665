"""Replay a CSV or Parquet file of trades into the raw topic, in file order.

Columns: ``ts``, ``symbol``, ``price``, ``size`` (required); ``exchange``, ``conditions``, ``trade_id``
(optional). ``ts`` is ISO-8601 with an offset (``2024-06-13T09:30:00.123456-04:00``) or ``Z``, or integer
epoch nanoseconds; a timestamp without an offset is ambiguous and is sent as unparsed (``ts_ns`` null).
Rows are never dropped or repaired here: bad values travel as found and the Flink job dead-letters them.
Files are read in chunks, so their size is bounded only by the disk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from marketpipe.exceptions import FeedError
from marketpipe.feeds.tick import SYMBOL_RE, HeartbeatSchedule, Tick, TickSink, normalize_conditions
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


def _arrow_column(col: pa.ChunkedArray | pa.Array) -> list[Any]:
    # Aware timestamps as exact int64 nanoseconds; naive ones as text so they are reported, not guessed.
    if pa.types.is_timestamp(col.type):
        if col.type.tz is None:
            return col.cast(pa.string()).to_pylist()
        return col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64()).to_pylist()
    return col.to_pylist()


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FeedError(f"{path}: cannot read Parquet: {exc}") from exc
    names = pf.schema_arrow.names
    _check_columns(path, names)
    columns = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in names]
    for batch in pf.iter_batches(batch_size=_CHUNK_ROWS, columns=columns):
        values = {name: _arrow_column(batch.column(name)) for name in columns}
        for i in range(batch.num_rows):
            yield {name: values[name][i] for name in columns}


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
            ts_ns, ts_raw = parse_ts(row["ts"])
            yield Tick(
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

    return ticks()


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


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
    for tick in read_ticks(path):
        summary.add(tick)
    return summary


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
    """
    if speed != "max" and not (isinstance(speed, int | float) and speed > 0 and math.isfinite(speed)):
        raise FeedError(f"speed must be 'max' or a positive number, got {speed!r}")
    ticks = read_ticks(path)
    summary = ReplaySummary(keep_trades=keep_trades)
    schedule = heartbeats if heartbeats is not None else HeartbeatSchedule()
    total = count_rows(path)

    def beat() -> None:
        ts_ns = schedule.due()
        if ts_ns is not None:
            producer.send_heartbeats(ts_ns)

    def flush() -> None:
        producer.flush() if flush_timeout is None else producer.flush(flush_timeout)

    anchor_ns: int | None = None
    t0 = time.monotonic()
    try:
        with tqdm(total=total, unit="row", desc=f"replay {Path(path).name}",
                  disable=None if progress else True, mininterval=0.25) as bar:
            for tick in ticks:
                if speed != "max" and tick.ts_ns is not None:
                    if anchor_ns is None:
                        anchor_ns = tick.ts_ns
                    due_at = t0 + (tick.ts_ns - anchor_ns) / 1e9 / float(speed)
                    # Sleep in slices so a gap in the file still gets its heartbeats on time.
                    for _ in range(1_000_000):
                        delay = due_at - time.monotonic()
                        if delay <= 0.001:
                            break
                        time.sleep(min(delay, max(0.01, schedule.seconds_to_next())))
                        beat()
                producer.send(tick)
                summary.add(tick)
                schedule.observe(tick.ts_ns)
                beat()
                bar.update(1)
        flush()  # every row is in Kafka before the end heartbeats close the last bars
    except FeedError as exc:
        delivered = getattr(producer, "ticks_delivered", None)
        got = f"{delivered} of {total if total is not None else '?'} rows delivered" if delivered is not None \
            else f"{summary.rows} of {total if total is not None else '?'} rows queued"
        raise FeedError(
            f"replay of {Path(path).name} failed: {got} ({summary.rows} queued); the end heartbeats were "
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
