"""The serving tables in PostgreSQL, applied by ``marketpipe stack up`` (and ``stack schema``) on every start.

The tables the Flink JDBC sinks upsert into (the JDBC connector does not create tables) are rendered
from the rows of :mod:`udfs.schema` — the same rows the sinks are rendered from, so their columns
cannot drift apart: ``bars`` (every timeframe, keyed by symbol, timeframe and bar start, as the lake's
``silver.bars``), ``indicators_1m``/``indicators_1d``, ``signals``, ``ticks_dlq``, ``tick_counts``.
Each gets the columns an older table may lack (``ADD COLUMN IF NOT EXISTS``), so adding a column to a
row upgrades an existing database too. ``postgres_schema.sql`` holds what is not a row: the move from
the per-timeframe bar tables of earlier versions into ``bars``, indexes, ``daily_bars`` (loaded by the
Dagster assets) and the view ``tick_accounting``. The views ``bars_1m`` ... ``bars_1d`` come last:
one timeframe of ``bars`` each, with the columns the old tables had, for BI users and existing queries
(read-only: write ``bars``). Everything is idempotent and runs in one transaction.

Table names are unqualified: they land in the first schema of the connection's ``search_path``
(``public``; a backfill into another schema sets it, marketpipe/backfill.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

from marketpipe.exceptions import ServiceError
from marketpipe.settings import Settings
from udfs.schema import (
    BAR,
    BAR_TIMEFRAMES,
    DEAD_LETTER,
    INDICATOR,
    SIGNAL,
    TICK_COUNTS,
    TIMEFRAME_BAR,
    Row,
    pg_add_columns,
    pg_create_table,
)

SQL_FILE = Path(__file__).with_name("postgres_schema.sql")
#: The bar timeframes the indicators are served for: 1m by the streaming job, 1d by ``backfill --timeframe 1d``.
INDICATOR_TIMEFRAMES = ("1m", "1d")
#: Every table rendered from a row, in creation order.
ROW_TABLES: tuple[tuple[Row, str], ...] = (
    (BAR, "bars"),
    *((INDICATOR, f"indicators_{tf}") for tf in INDICATOR_TIMEFRAMES),
    (SIGNAL, "signals"),
    (DEAD_LETTER, "ticks_dlq"),
    (TICK_COUNTS, "tick_counts"),
)

log = logging.getLogger(__name__)


def bar_view(timeframe: str) -> str:
    """``bars_<timeframe>``: the bars of one timeframe, with the columns of the table of that name before."""
    columns = ", ".join(TIMEFRAME_BAR.names)
    return (
        f"CREATE OR REPLACE VIEW bars_{timeframe} AS\n"
        f"SELECT {columns}\nFROM bars WHERE timeframe = '{timeframe}';"
    )


def schema_sql() -> str:
    """The whole DDL, in the order it runs."""
    parts = ["-- Rendered by marketpipe/stack/pg_schema.py from the rows of udfs/schema.py."]
    for row, table in ROW_TABLES:
        parts.append(pg_create_table(row, table))
        added = pg_add_columns(row, table)
        if added:
            parts.append(added)
    parts.append(SQL_FILE.read_text())
    parts.append("-- One timeframe of bars each, as the per-timeframe tables of earlier versions were.")
    parts.extend(bar_view(tf) for tf in BAR_TIMEFRAMES)
    return "\n\n".join(parts) + "\n"


def _log_notice(diag: psycopg.errors.Diagnostic) -> None:
    """Log what PostgreSQL says while the schema is applied: a WARNING as one, the move of an old bar
    table (postgres_schema.sql) at INFO, the rest ("... already exists, skipping") at DEBUG."""
    message = diag.message_primary or ""
    if diag.severity_nonlocalized == "WARNING":
        level = logging.WARNING
    elif message.startswith("moved the rows"):
        level = logging.INFO
    else:
        level = logging.DEBUG
    log.log(level, "postgres: %s", message)


def apply_schema(settings: Settings, *, search_path: str | None = None) -> None:
    """Apply :func:`schema_sql` as the app user, in one transaction; into ``search_path`` when given."""
    try:
        with psycopg.connect(settings.postgres_dsn, connect_timeout=5) as conn:
            # The move from the old per-timeframe tables reports what it did (and drops) as notices.
            conn.add_notice_handler(_log_notice)
            if search_path is not None:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{search_path}"')
                conn.execute(f'SET search_path TO "{search_path}"')
            conn.execute(schema_sql().encode())  # no parameters: several statements are allowed
    except psycopg.Error as exc:
        raise ServiceError(f"postgres: applying the serving tables failed: {exc}") from exc
