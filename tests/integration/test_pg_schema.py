"""`stack up`'s schema apply moves a database of an earlier version (one table per bar timeframe) into
the one `bars` table with views of the old names, keeping every row, and does it once (idempotent)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from marketpipe.stack.pg_schema import apply_schema

pytestmark = pytest.mark.integration

SCHEMA = "zz_pg_migration"
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
# The bar tables of the earlier version (postgres_schema.sql before udfs/schema.py), an old one without
# the later columns (pv_sum, filled, revision came later: they get their defaults).
OLD_TABLE = """CREATE TABLE {t} (
    symbol text NOT NULL, bar_start timestamptz NOT NULL, bar_end timestamptz NOT NULL,
    open double precision NOT NULL, high double precision NOT NULL, low double precision NOT NULL,
    close double precision NOT NULL, volume bigint NOT NULL, vwap double precision NOT NULL,
    trade_count bigint NOT NULL, session text NOT NULL DEFAULT 'regular', session_date date,
    first_trade_at timestamptz, last_trade_at timestamptz {extra}
    PRIMARY KEY (symbol, bar_start))"""
NEW_COLUMNS = ", pv_sum double precision NOT NULL DEFAULT 0, filled boolean NOT NULL DEFAULT false, " \
              "revision integer NOT NULL DEFAULT 0,"


def test_per_timeframe_tables_move_into_bars_once(stack, caplog) -> None:  # type: ignore[no-untyped-def]
    settings = stack.settings
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(SCHEMA)))
        for tf, extra in (("1m", NEW_COLUMNS), ("5m", NEW_COLUMNS), ("1d", ",")):
            conn.execute(OLD_TABLE.format(t=f"bars_{tf}", extra=extra))
        for i in range(3):
            conn.execute(
                "INSERT INTO bars_1m (symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
                " trade_count, revision) VALUES ('AAA', %s, %s, 1, 2, 0.5, 1.5, 10, 1.25, 3, %s)",
                (T0 + timedelta(minutes=i), T0 + timedelta(minutes=i + 1), i % 2))
        conn.execute("INSERT INTO bars_5m (symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
                     " trade_count, pv_sum) VALUES ('AAA', %s, %s, 1, 2, 0.5, 1.5, 30, 1.25, 9, 37.5)",
                     (T0, T0 + timedelta(minutes=5)))
        conn.execute("INSERT INTO bars_1d (symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
                     " trade_count) VALUES ('AAA', %s, %s, 1, 2, 0.5, 1.5, 30, 1.25, 9)",
                     (T0, T0 + timedelta(hours=6, minutes=30)))
        # something built on an old table, as dbt's staging view was
        conn.execute("CREATE VIEW old_reader AS SELECT * FROM bars_5m")
        before = conn.execute("SELECT * FROM bars_1m ORDER BY bar_start").fetchall()
    try:
        for i in range(2):  # the second apply finds views and changes nothing
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="marketpipe.stack.pg_schema"):
                apply_schema(settings, search_path=SCHEMA)
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            # what is dropped with an old table is named, once
            assert ([w for w in warnings if "old_reader" in w] != []) == (i == 0), warnings
            with psycopg.connect(settings.postgres_dsn) as conn:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(SCHEMA)))
                kinds: dict[str, str] = dict(conn.execute(
                    "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relname LIKE 'bars%%' AND c.relkind IN ('r', 'v')",
                    (SCHEMA,)).fetchall())
                assert kinds == {"bars": "r", **{f"bars_{tf}": "v" for tf in ("1m", "5m", "15m", "1h", "1d")}}
                assert conn.execute("SELECT * FROM bars_1m ORDER BY bar_start").fetchall() == before
                counts: dict[str, int] = dict(
                    conn.execute("SELECT timeframe, count(*) FROM bars GROUP BY 1").fetchall())
                assert counts == {"1m": 3, "5m": 1, "1d": 1}
                assert conn.execute("SELECT pv_sum, filled, revision FROM bars_1d").fetchall() == [(0.0, False, 0)]
                assert conn.execute("SELECT pv_sum FROM bars_5m").fetchall() == [(37.5,)]
                key = conn.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'bars'::regclass"
                    " AND contype = 'p'").fetchone()
                assert key == ("PRIMARY KEY (symbol, timeframe, bar_start)",)
                assert conn.execute("SELECT to_regclass('old_reader')").fetchone() == (None,)
                assert conn.execute(
                    "SELECT sum(revision) FROM bars WHERE timeframe = '1m' AND revision > 0").fetchone() == (1,)
    finally:
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
