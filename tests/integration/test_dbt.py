"""dbt serving layer on the real stack: every model builds, every data test passes, marts hold what they
should on known rows, a corrupt bar fails the OHLC test, and the BI role reads marts and nothing else.

Known rows use symbols prefixed ``ZZDBT`` (the replay fixture's symbols never look like that); they are
inserted with psycopg, and deleted again (and the marts rebuilt) when the module is done, so the shared
session stack is left as it was found.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
import pytest
from psycopg import errors

from marketpipe.dbt import dbt_env
from marketpipe.settings import REPO_ROOT, Settings

DBT_PROJECT = REPO_ROOT / "dbt_project"
# dbt has its own venv: dbt-core 1.11 needs protobuf>=6, apache-beam (under apache-flink) needs <6.
DBT_CANDIDATES = (REPO_ROOT / ".venv-dbt" / "bin" / "dbt", REPO_ROOT / ".venv" / "bin" / "dbt")

PREFIX = "ZZDBT"
DAILY = f"{PREFIX}D"  # 25 provider daily bars, one 1d signal, one indicators_1d row, streaming bars_1d
FIVE = f"{PREFIX}F"  # 25 five-minute bars and buy/hold/sell signals on them
BAD = f"{PREFIX}X"  # the deliberately corrupt rows
DAY0 = date(2020, 1, 1)
T0 = datetime(2020, 1, 2, 14, 30, tzinfo=UTC)
SOURCE_TABLES = ("signals", "indicators_1d", "daily_bars", "bars_5m", "bars_1d")

pytestmark = pytest.mark.integration


class _Stack(Protocol):
    settings: Settings


def dbt_executable() -> Path:
    """The dbt CLI of ``.venv-dbt`` (or ``.venv``); fail when neither has one (`make test` installs it)."""
    for candidate in DBT_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "dbt is not installed: python3.11 -m venv .venv-dbt && "
        ".venv-dbt/bin/pip install -r requirements-dbt.txt"
    )


def run_dbt(settings: Settings, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``dbt ARGS`` on dbt_project/ against ``settings``' database, artifacts kept under ``workdir``."""
    return subprocess.run(
        [
            str(dbt_executable()),
            *args,
            "--project-dir", str(DBT_PROJECT),
            "--profiles-dir", str(DBT_PROJECT),
            # keep artifacts out of the working tree (other tests may build concurrently)
            "--target-path", str(workdir / "target"),
            "--log-path", str(workdir / "logs"),
            "--no-use-colors",
        ],
        env=dbt_env(settings),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _delete_known_rows(settings: Settings) -> None:
    with psycopg.connect(settings.postgres_dsn) as conn:
        for table in SOURCE_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE symbol LIKE %s", (f"{PREFIX}%",))


def _insert_known_rows(settings: Settings) -> None:
    """Rows whose mart values are easy to compute by hand (see the assertions)."""
    with psycopg.connect(settings.postgres_dsn) as conn:
        # DAILY: close 100 + i, high close + 1, low close - 2, open close - 1; volume 1000 for days
        # 0..19 and 3000 on day 20; adj_close half the close, missing on day 0.
        for i in range(25):
            close = 100.0 + i
            conn.execute(
                "INSERT INTO daily_bars (symbol, session_date, bar_start, open, high, low, close, volume,"
                " adj_close, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'file:test')",
                (
                    DAILY, DAY0 + timedelta(days=i), T0 + timedelta(days=i - 1),
                    close - 1, close + 1, close - 2, close, 3000 if i == 20 else 1000,
                    None if i == 0 else close / 2,
                ),
            )
        # streaming 1d bars: one on a day daily_bars has (hidden by it), one after its history (kept)
        for day, close in ((3, 555.0), (30, 130.0)):
            conn.execute(
                "INSERT INTO bars (timeframe, symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
                " trade_count, session, session_date) VALUES ('1d', %s, %s, %s, %s, %s, %s, %s, 10, %s, 1,"
                " 'regular', %s)",
                (
                    DAILY, T0 + timedelta(days=day - 1, minutes=1), T0 + timedelta(days=day),
                    close, close, close, close, close, DAY0 + timedelta(days=day),
                ),
            )
        conn.execute(
            "INSERT INTO indicators_1d (symbol, bar_start, close, volume, rsi_14, is_warm, ema_12_warm,"
            " ema_26_warm, rsi_14_warm, macd_warm, sma_20_warm, bb_warm, atr_14_warm, stoch_warm,"
            " vwap_warm, volume_sma_20_warm) VALUES (%s, %s, 100, 1000, 42.5,"
            " false, false, false, true, false, false, false, false, false, false, false)",
            (DAILY, T0 - timedelta(days=1)),
        )
        # FIVE: 25 five-minute bars with close 10 + i
        for i in range(25):
            close = 10.0 + i
            start = T0 + timedelta(minutes=5 * i)
            conn.execute(
                "INSERT INTO bars (timeframe, symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
                " trade_count, session, session_date, pv_sum) VALUES ('5m', %s, %s, %s, %s, %s, %s, %s, 100,"
                " %s, 3, 'regular', %s, %s)",
                (FIVE, start, start + timedelta(minutes=5), close, close + 0.5, close - 0.5, close, close,
                 T0.date(), close * 100),
            )
        signals = [
            (DAILY, "1d", T0 - timedelta(days=1), "buy", 100.0),
            (FIVE, "5m", T0, "buy", 10.0),
            (FIVE, "5m", T0 + timedelta(minutes=15), "hold", 13.0),
            (FIVE, "5m", T0 + timedelta(minutes=50), "sell", 20.0),
            (FIVE, "5m", T0 + timedelta(minutes=60), "hold", 22.0),
        ]
        for symbol, timeframe, start, action, close in signals:
            conn.execute(
                "INSERT INTO signals (symbol, timeframe, bar_start, strategy, action, reason, close)"
                " VALUES (%s, %s, %s, 'zz_test', %s, %s, %s)",
                (symbol, timeframe, start, action, f"test {action}", close),
            )


@pytest.fixture(scope="module")
def built(
    stack: _Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.CompletedProcess[str]]:
    """The known rows inserted and ``dbt build`` run once over them; everything removed afterwards."""
    settings = stack.settings
    workdir = tmp_path_factory.mktemp("dbt")
    _delete_known_rows(settings)  # an earlier run that died may have left them
    _insert_known_rows(settings)
    try:
        yield run_dbt(settings, workdir, "build")
    finally:
        _delete_known_rows(settings)
        run_dbt(settings, workdir, "run")  # the marts forget the known rows too


def _rows(settings: Settings, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.postgres_dsn) as conn:
        return conn.execute(query, params).fetchall()


def _mart_rows(settings: Settings, mart: str, columns: str, where: str, *params: Any) -> list[tuple[Any, ...]]:
    """``columns`` of the rows of ``marts.<mart>`` that ``where`` selects: what a BI tool reads."""
    return _rows(settings, f"SELECT {columns} FROM marts.{mart} WHERE {where}", *params)


def test_dbt_build_passes_every_test(built: subprocess.CompletedProcess[str]) -> None:
    assert built.returncode == 0, f"dbt build failed:\n{built.stdout}\n{built.stderr}"
    assert "ERROR=0" in built.stdout and "FAIL" not in built.stdout.replace("FAIL=0", "")


def test_schemas_are_exactly_staging_and_marts(stack: _Stack, built: object) -> None:
    found = {
        (schema, name)
        for schema, name in _rows(
            stack.settings,
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('public', 'pg_catalog', 'information_schema')",
        )
    }
    assert {
        ("marts", "fct_bars_with_indicators"),
        ("marts", "dim_latest_signal"),
        ("marts", "fct_daily_summary"),
        ("marts", "fct_signal_history"),
        ("staging", "stg_bars"),
        ("staging", "stg_daily_bars"),
        ("staging", "stg_indicators_1d"),
    } <= found
    # not dbt's default <profile schema>_<custom schema>
    assert not {schema for schema, _ in found} & {"analytics_marts", "analytics_staging"}


def test_daily_summary_on_known_rows(stack: _Stack, built: object) -> None:
    rows = _mart_rows(
        stack.settings, "fct_daily_summary",
        "session_date, daily_return, adj_daily_return, gap_return, range_abs, range_pct,"
        " volume_avg_20d, volume_ratio_20d, adj_or_close_price, prev_session_date",
        "symbol = %s ORDER BY session_date", DAILY,
    )
    assert len(rows) == 25
    by_day = {(r[0] - DAY0).days: r for r in rows}
    first, second, third = by_day[0], by_day[1], by_day[2]
    assert first[1] is None and first[3] is None and first[9] is None  # no previous day
    assert first[8] == pytest.approx(100.0)  # no adjusted close: falls back to the close
    assert second[1] == pytest.approx(101 / 100 - 1)
    assert second[2] is None  # day 0 has no adjusted close
    assert second[3] == pytest.approx(100 / 100 - 1)  # open 100 vs previous close 100
    assert third[2] == pytest.approx(51.0 / 50.5 - 1)
    assert third[4] == pytest.approx(3.0) and third[5] == pytest.approx(3.0 / 102)
    assert by_day[19][6] is None and by_day[19][7] is None  # only 19 prior days
    assert by_day[20][6] == pytest.approx(1000.0) and by_day[20][7] == pytest.approx(3.0)
    # day 21's window holds day 20's 3000 and 19 days of 1000
    assert by_day[21][6] == pytest.approx((3000 + 19 * 1000) / 20)
    assert by_day[21][7] == pytest.approx(1000 / 1100)


def test_signal_history_forward_returns(stack: _Stack, built: object) -> None:
    rows = _mart_rows(
        stack.settings, "fct_signal_history",
        "timeframe, action, entry_price, forward_return_1, forward_return_5, forward_return_20,"
        " signed_return_1, direction",
        "symbol LIKE %s ORDER BY symbol, bar_start", f"{PREFIX}%",
    )
    assert len(rows) == 3, rows  # holds are left out
    daily, buy, sell = rows
    # 1d: measured on the provider's daily closes 100, 101, ..., 124
    assert daily[:3] == ("1d", "buy", pytest.approx(100.0))
    assert daily[3] == pytest.approx(0.01) and daily[4] == pytest.approx(0.05)
    assert daily[5] == pytest.approx(0.20)
    # 5m buy on close 10: 11, 15 and 30 later
    assert buy[:3] == ("5m", "buy", pytest.approx(10.0))
    assert buy[3] == pytest.approx(0.1) and buy[4] == pytest.approx(0.5) and buy[5] == pytest.approx(2.0)
    assert buy[6] == pytest.approx(0.1) and buy[7] == 1
    # 5m sell on close 20 (bar 10): 21 and 25 later; bar 30 does not exist yet
    assert sell[:3] == ("5m", "sell", pytest.approx(20.0))
    assert sell[3] == pytest.approx(0.05) and sell[4] == pytest.approx(0.25) and sell[5] is None
    assert sell[6] == pytest.approx(-0.05) and sell[7] == -1


def test_latest_signal_and_bars_with_indicators(stack: _Stack, built: object) -> None:
    latest = _mart_rows(
        stack.settings, "dim_latest_signal", "action, signal_bar_start, last_trade_action, last_trade_bar_start",
        "symbol = %s AND timeframe = '5m' AND strategy = 'zz_test'", FIVE,
    )
    assert latest == [("hold", T0 + timedelta(minutes=60), "sell", T0 + timedelta(minutes=50))]

    bars = _mart_rows(
        stack.settings, "fct_bars_with_indicators", "timeframe, bar_source, close_price, rsi_14, signals, buy_signals",
        "symbol = %s ORDER BY bar_start", DAILY,
    )
    assert len(bars) == 26  # 25 provider days + the streaming day after them; day 3 is the provider's
    assert bars[0] == ("1d", "daily_bars", 100.0, 42.5, {"zz_test": "buy"}, 1)
    assert bars[3][1:3] == ("daily_bars", 103.0)
    assert bars[-1][:4] == ("1d", "stream", 130.0, None)
    five = _mart_rows(
        stack.settings, "fct_bars_with_indicators", "count(*), count(rsi_14), sum(sell_signals)",
        "symbol = %s AND timeframe = '5m'", FIVE,
    )
    assert five == [(25, 0, 1)]  # no indicators on 5m bars


@pytest.mark.parametrize("table", ["daily_bars", "bars_5m"])
def test_ohlc_test_fails_on_corrupt_bar(stack: _Stack, built: object, table: str, tmp_path: Path) -> None:
    settings = stack.settings
    with psycopg.connect(settings.postgres_dsn) as conn:
        if table == "daily_bars":
            conn.execute(
                "INSERT INTO daily_bars (symbol, session_date, bar_start, open, high, low, close, volume,"
                " source) VALUES (%s, %s, %s, 10, 9, 11, 10, 5, 'file:test')",
                (BAD, DAY0, T0),
            )
        else:
            conn.execute(
                "INSERT INTO bars (timeframe, symbol, bar_start, bar_end, open, high, low, close, volume, vwap,"
                " trade_count) VALUES ('5m', %s, %s, %s, 10, 9, 11, 10, 5, 10, 1)",
                (BAD, T0, T0 + timedelta(minutes=5)),
            )
    try:
        model = "stg_daily_bars" if table == "daily_bars" else "stg_bars"
        result = run_dbt(settings, tmp_path, "test", "--select", f"test_name:ohlc_invariant,{model}")
    finally:
        with psycopg.connect(settings.postgres_dsn) as conn:
            conn.execute(f"DELETE FROM {table} WHERE symbol = %s", (BAD,))
    assert result.returncode != 0, result.stdout
    assert f"FAIL 1 ohlc_invariant_{model}" in result.stdout, result.stdout


def _bi_connect(settings: Settings) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(
        host=settings.postgres_host or settings.host,
        port=settings.postgres_port,
        dbname=settings.postgres_db,
        user=settings.bi_user,
        password=settings.bi_password.get_secret_value(),
        autocommit=True,
    )


def test_bi_role_reads_marts_only(stack: _Stack, built: object) -> None:
    settings = stack.settings
    with _bi_connect(settings) as bi:
        row = bi.execute("SELECT count(*) FROM marts.fct_daily_summary WHERE symbol = %s", (DAILY,))
        assert row.fetchone() == (25,)
        # unqualified names resolve to marts: what a BI tool's table browser shows
        row = bi.execute("SELECT count(*) FROM fct_signal_history WHERE symbol = %s", (FIVE,))
        assert row.fetchone() == (2,)
        assert bi.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        # The read-only default is a second guard only; the boundary is privileges, so lift it.
        bi.execute("SET default_transaction_read_only = off")
        denied = [
            "INSERT INTO marts.fct_daily_summary (symbol) VALUES ('X')",
            "UPDATE marts.fct_daily_summary SET volume = 0",
            "DELETE FROM marts.fct_daily_summary",
            "TRUNCATE marts.fct_daily_summary",
            "CREATE TABLE marts.bi_probe (x int)",
            "CREATE TABLE public.bi_probe (x int)",
            "CREATE TEMP TABLE bi_probe (x int)",
            "CREATE SCHEMA bi_probe",
            "SELECT 1 FROM public.bars_1m LIMIT 1",
            "SELECT 1 FROM public.daily_bars LIMIT 1",
            "SELECT 1 FROM staging.stg_bars LIMIT 1",
            "DROP TABLE marts.fct_daily_summary",
        ]
        for statement in denied:
            with pytest.raises(errors.InsufficientPrivilege):
                bi.execute(statement)
                pytest.fail(f"the BI role may run: {statement}")


def _project_schemas(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Every schema in the database but the system ones, each with its tables and their first column."""
    with psycopg.connect(settings.postgres_dsn) as app:
        schemas = [
            r[0]
            for r in app.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'"
                " ORDER BY nspname"
            )
        ]
        tables = app.execute(
            "SELECT n.nspname, c.relname, a.attname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = 1"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) ORDER BY 1, 2",
            (schemas,),
        ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {s: [] for s in schemas}
    for schema, table, column in tables:
        out[schema].append((table, column))
    return out


def test_bi_role_cannot_write_anywhere(stack: _Stack, built: object) -> None:
    """No table, schema, temp table or large object, in any schema of the database (docs/serving.md)."""
    from psycopg import sql

    settings = stack.settings
    schemas = _project_schemas(settings)
    assert {"public", "staging", "marts"} <= set(schemas), schemas
    assert schemas["public"] and schemas["marts"], schemas
    denied: list[sql.SQL | sql.Composed] = [
        sql.SQL("CREATE SCHEMA bi_probe"),
        sql.SQL("CREATE TEMP TABLE bi_probe (x int)"),
        sql.SQL("SELECT lo_from_bytea(0, 'x')"),
        sql.SQL("SELECT lo_create(0)"),
        sql.SQL("SELECT lo_creat(-1)"),
        sql.SQL("SELECT lo_import('/etc/hostname')"),
        sql.SQL("SELECT lo_import('/etc/hostname', 4242)"),
        sql.SQL("SELECT lo_export(1, '/tmp/bi_probe')"),
    ]
    for schema, tables in schemas.items():
        s = sql.Identifier(schema)
        denied.append(sql.SQL("CREATE TABLE {}.bi_probe (x int)").format(s))
        denied.append(sql.SQL("CREATE VIEW {}.bi_probe AS SELECT 1 AS x").format(s))
        for table, column in tables:
            t, c = sql.Identifier(schema, table), sql.Identifier(column)
            denied += [
                sql.SQL("INSERT INTO {} DEFAULT VALUES").format(t),
                sql.SQL("UPDATE {} SET {} = {}").format(t, c, c),
                sql.SQL("DELETE FROM {}").format(t),
                sql.SQL("TRUNCATE {}").format(t),
            ]
    with _bi_connect(settings) as bi:
        # The read-only default is a second guard only; the boundary is privileges, so lift it.
        bi.execute("SET default_transaction_read_only = off")
        for statement in denied:
            with pytest.raises(errors.InsufficientPrivilege):
                bi.execute(statement)
                pytest.fail(f"the BI role may run: {statement.as_string(bi)}")
        assert bi.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone() == (0,)
    for dbname in ("postgres", "template1"):  # the other databases are closed to it
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(
                host=settings.postgres_host or settings.host, port=settings.postgres_port, dbname=dbname,
                user=settings.bi_user, password=settings.bi_password.get_secret_value(),
            )


def test_bi_role_reads_tables_created_in_marts_later(stack: _Stack, built: object) -> None:
    settings = stack.settings
    with psycopg.connect(settings.postgres_dsn, autocommit=True) as app:
        app.execute("CREATE TABLE marts.zzdbt_probe AS SELECT 1 AS x")
    try:
        with _bi_connect(settings) as bi:
            assert bi.execute("SELECT x FROM marts.zzdbt_probe").fetchall() == [(1,)]
    finally:
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as app:
            app.execute("DROP TABLE marts.zzdbt_probe")


def test_dbt_docs_generate(stack: _Stack, built: object, tmp_path: Path) -> None:
    result = run_dbt(stack.settings, tmp_path, "docs", "generate")
    assert result.returncode == 0, f"dbt docs generate failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "target" / "catalog.json").is_file()


def test_dbt_build_over_pipeline_output(stack: _Stack, replayed: object, tmp_path: Path) -> None:
    settings = stack.settings
    result = run_dbt(settings, tmp_path, "build")
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout}\n{result.stderr}"

    with psycopg.connect(settings.postgres_dsn) as conn:
        row = conn.execute(
            "select count(*) from marts.fct_bars_with_indicators where timeframe = '1m'"
        ).fetchone()
    assert row is not None and row[0] > 0, "the mart is empty although the pipeline wrote bars"
