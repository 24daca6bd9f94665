"""Read the Iceberg lake from Python (pyiceberg ``SqlCatalog`` over the stack's PostgreSQL).

The catalog name must equal the Flink catalog's (``settings.iceberg_catalog``): catalog rows in
PostgreSQL are keyed by it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketpipe.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

NAMESPACES = ("bronze", "silver", "gold")
TABLES = (
    "bronze.ticks_raw",
    "silver.ticks_clean",
    "silver.bars",
    "gold.indicators_1m",
    "gold.signals",
)


def catalog(settings: Settings) -> SqlCatalog:
    """The pyiceberg view of the lake's JDBC catalog."""
    from pyiceberg.catalog.sql import SqlCatalog

    # The same URL as psycopg's (password quoted, TLS parameters included), for SQLAlchemy's psycopg2.
    uri = settings.postgres_dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
    return SqlCatalog(
        settings.iceberg_catalog, uri=uri, warehouse=settings.warehouse_dir.resolve().as_uri()
    )


def ensure_namespaces(settings: Settings) -> None:
    """Create the catalog tables and the bronze/silver/gold namespaces if missing."""
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    cat = catalog(settings)
    existing = {ns[0] for ns in cat.list_namespaces()}
    for ns in NAMESPACES:
        if ns not in existing:
            cat.create_namespace(ns)


def read_table(settings: Settings, name: str) -> pa.Table:
    """The whole current snapshot of ``namespace.table`` as Arrow (empty if nothing committed yet)."""
    return catalog(settings).load_table(name).scan().to_arrow()


def row_counts(settings: Settings) -> dict[str, int | None]:
    """Rows per lake table; None for a table the job has not created yet."""
    from pyiceberg.exceptions import NoSuchTableError

    cat = catalog(settings)
    out: dict[str, int | None] = {}
    for name in TABLES:
        try:
            table = cat.load_table(name)
        except NoSuchTableError:
            out[name] = None
            continue
        snap = table.current_snapshot()
        if snap is None or snap.summary is None:
            out[name] = 0
        else:
            out[name] = int(snap.summary.additional_properties.get("total-records", 0))
    return out
