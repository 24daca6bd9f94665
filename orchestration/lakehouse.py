"""Writes that replace exactly one slice of a table, in Iceberg and in PostgreSQL.

Re-running a partition must leave the tables as if it had run once. Iceberg gets a pyiceberg
``overwrite`` with a row filter: the matching rows are removed copy-on-write (whole data files
dropped, partly matching files rewritten) and the new rows appended in one snapshot, so the lake
never holds equality or position delete files that Flink and other readers would have to merge.
PostgreSQL gets delete-then-insert in one transaction, so a reader sees the old day or the new day,
never half of each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from udfs.market.calendar import session_open_utc

if TYPE_CHECKING:
    import psycopg
    from pyiceberg.catalog import Catalog
    from pyiceberg.expressions import BooleanExpression

    from marketpipe.loaders.base import DailyBar

COMMIT_ATTEMPTS = 5  # the streaming job commits to the gold tables too: retry a lost race

DAILY_BARS_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("session_date", pa.date32(), nullable=False),
        pa.field("bar_start", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.int64(), nullable=False),
        pa.field("adj_close", pa.float64()),
        pa.field("dividend", pa.float64()),
        pa.field("split_factor", pa.float64()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
PG_COLUMNS = [f.name for f in DAILY_BARS_SCHEMA]


def bars_to_arrow(bars: Sequence[DailyBar], calendar: str, loaded_at: datetime) -> pa.Table:
    """Loader rows as an Arrow table of :data:`DAILY_BARS_SCHEMA` (``bar_start`` = session open)."""
    rows: dict[str, list[Any]] = {name: [] for name in PG_COLUMNS}
    for b in bars:
        rows["symbol"].append(b.symbol)
        rows["session_date"].append(b.session_date)
        rows["bar_start"].append(session_open_utc(b.session_date, calendar))
        for name in ("open", "high", "low", "close", "volume", "adj_close", "dividend", "split_factor"):
            rows[name].append(getattr(b, name))
        rows["source"].append(b.source)
        rows["loaded_at"].append(loaded_at)
    return pa.Table.from_pydict(rows, schema=DAILY_BARS_SCHEMA)


def dedupe_latest(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """One row per key, the last one seen (a provider may repeat a row across pages)."""
    seen: dict[tuple[Any, ...], int] = {}
    cols = [table.column(k).to_pylist() for k in keys]
    for i, key in enumerate(zip(*cols, strict=True)):
        seen[key] = i
    keep = sorted(seen.values())
    return table.take(pa.array(keep, type=pa.int64())) if len(keep) != table.num_rows else table


def date_filter(column: str, days: Sequence[date]) -> BooleanExpression:
    """Rows whose ``column`` (a date) is one of ``days``."""
    from pyiceberg.expressions import EqualTo, In

    iso = sorted({d.isoformat() for d in days})
    return EqualTo(column, iso[0]) if len(iso) == 1 else In(column, iso)


def replace_rows(catalog: Catalog, name: str, rows: pa.Table, row_filter: BooleanExpression) -> int:
    """Replace the rows of Iceberg table ``name`` matching ``row_filter`` with ``rows``, in one
    snapshot; create the table from ``rows``' schema if missing. Returns the table's row count."""
    from pyiceberg.exceptions import CommitFailedException, NoSuchTableError

    for attempt in range(COMMIT_ATTEMPTS):
        try:
            table = catalog.load_table(name)
        except NoSuchTableError:
            table = catalog.create_table(name, schema=rows.schema)
        try:
            table.overwrite(rows, overwrite_filter=row_filter)
            break
        except CommitFailedException:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    return total_records(catalog, name)


def total_records(catalog: Catalog, name: str) -> int:
    """Rows in the current snapshot of ``name`` (0 when empty)."""
    snap = catalog.load_table(name).current_snapshot()
    if snap is None or snap.summary is None:
        return 0
    return int(snap.summary.additional_properties.get("total-records", 0))


def replace_pg_daily_bars(conn: psycopg.Connection[Any], rows: pa.Table, days: Sequence[date]) -> int:
    """Delete the ``daily_bars`` rows of ``days`` and insert ``rows``, in the caller's transaction."""
    conn.execute("DELETE FROM daily_bars WHERE session_date = ANY(%s)", (list(days),))
    cols = ", ".join(PG_COLUMNS)
    with conn.cursor() as cur, cur.copy(f"COPY daily_bars ({cols}) FROM STDIN") as copy:
        for row in rows.to_pylist():
            copy.write_row([row[c] for c in PG_COLUMNS])
    return int(rows.num_rows)


def end_of_day_utc(d: date) -> datetime:
    """Midnight UTC after ``d``: every bar labelled by ``d``'s session open starts before it."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)
