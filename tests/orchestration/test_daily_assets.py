"""The Dagster asset graph materialized on the real local stack with recorded Stooq answers.

Three March 2024 sessions are loaded through the fake provider into bronze/silver Iceberg and
PostgreSQL, indicators and signals are computed by the Flink backfill, dbt builds the marts with their
tests; a partition re-run leaves every table exactly as it was; Soda passes on good data and fails on
corrupted data (visible in the Dagster check and in ``marketpipe check``), and a re-run restores it.
"""

from __future__ import annotations

import csv
import os
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("dagster", reason="the orchestration tier runs under .venv-orch (make test)")

import psycopg
from dagster import AssetSelection, DagsterInstance, materialize

from marketpipe.settings import REPO_ROOT, Settings, settings_env
from orchestration.assets.daily import build_daily_assets
from orchestration.assets.dbt import build_dbt_assets, ensure_manifest
from orchestration.checks import ASSET_CHECKS, STREAMING_SPECS, soda_daily_bars
from orchestration.partitions import trading_date_partitions
from orchestration.quality import run_scan
from orchestration.resources import SodaResource, build_resources

pytestmark = pytest.mark.orchestration

DAYS = ["2024-03-01", "2024-03-04", "2024-03-05"]
SYMBOLS = ["AAPL", "MSFT", "SPY"]


@pytest.fixture(scope="module")
def graph(orch_stack: Settings, provider: str) -> dict[str, Any]:
    """Assets, resources and an instance wired to the test stack and the fake provider."""
    from marketpipe.dbt import dbt_env

    settings = orch_stack.model_copy(update={"stooq_base_url": provider})
    parts = trading_date_partitions(date(2024, 3, 1), settings.daily_calendar)
    daily = build_daily_assets(parts)
    dbt = build_dbt_assets(ensure_manifest(dbt_env(settings)))
    return {
        "settings": settings,
        "assets": [*daily, dbt, *STREAMING_SPECS, *ASSET_CHECKS],
        "resources": build_resources(settings),
        "instance": DagsterInstance.ephemeral(),
    }


def _run(graph: dict[str, Any], selection: AssetSelection, partition: str | None = None) -> Any:
    result = materialize(
        graph["assets"], selection=selection, partition_key=partition,
        resources=graph["resources"], instance=graph["instance"], raise_on_error=False,
    )
    assert result.success, "run failed: " + "; ".join(
        str(e.event_specific_data.error) for e in result.all_events if e.is_failure and e.event_specific_data
    )
    return result


def _load(graph: dict[str, Any], day: str) -> None:
    _run(graph, AssetSelection.assets("raw_daily_bars", "daily_bars"), day)


def _snapshot(settings: Settings) -> dict[str, Any]:
    """Every row the graph writes, in a comparable form (loaded_at excluded: it is the load's time)."""
    from marketpipe import lake

    with psycopg.connect(settings.postgres_dsn) as conn:
        pg = {
            t: conn.execute(q).fetchall()
            for t, q in {
                "daily_bars": "SELECT symbol, session_date, bar_start, open, high, low, close, volume, source "
                "FROM daily_bars ORDER BY 1, 2",
                "indicators_1d": "SELECT symbol, bar_start, close, ema_12, rsi_14, macd, is_warm "
                "FROM indicators_1d ORDER BY 1, 2",
                "signals": "SELECT symbol, bar_start, strategy, action FROM signals WHERE timeframe = '1d' "
                "ORDER BY 1, 2, 3",
            }.items()
        }
    cat = lake.catalog(settings)
    iceberg = {}
    for name, keys in {
        "bronze.daily_raw": ["symbol", "session_date"],
        "silver.daily_bars": ["symbol", "session_date"],
        "gold.indicators_1d": ["symbol", "bar_start"],
    }.items():
        table = cat.load_table(name)
        rows = table.scan().to_arrow().drop_columns(
            [c for c in ("loaded_at",) if c in table.schema().column_names]
        ).sort_by([(k, "ascending") for k in keys]).to_pylist()
        summary = table.current_snapshot().summary.additional_properties  # type: ignore[union-attr]
        iceberg[name] = {"rows": rows, "delete_files": int(summary.get("total-delete-files", 0))}
    return {"pg": pg, "iceberg": iceberg}


def _recorded(recordings: Path) -> dict[tuple[str, str], tuple[float, float, float, float, int]]:
    out = {}
    for sym in SYMBOLS:
        with (recordings / "stooq" / f"{sym.lower()}.us.csv").open() as fh:
            for r in csv.DictReader(fh):
                out[(sym, r["Date"])] = (float(r["Open"]), float(r["High"]), float(r["Low"]), float(r["Close"]),
                                         int(r["Volume"]))
    return out


@pytest.fixture(scope="module")
def loaded(graph: dict[str, Any]) -> dict[str, Any]:
    """Three sessions loaded, indicators computed for the last, dbt built; returns the snapshot."""
    for day in DAYS:
        _load(graph, day)
    _run(graph, AssetSelection.assets("daily_indicators"), DAYS[-1])
    dbt = _run(graph, AssetSelection.groups("serving"))
    failed = [e for e in dbt.get_asset_check_evaluations() if not e.passed]
    assert not failed, f"dbt tests failed: {[e.check_name for e in failed]}"
    return _snapshot(graph["settings"])


def test_partitions_are_the_exchange_sessions() -> None:
    parts = trading_date_partitions(date(2024, 3, 1), "XNYS", today=date(2024, 4, 3))
    march = [k for k in parts.get_partition_keys() if k.startswith("2024-03")]
    assert len(march) == 20  # 21 weekdays less Good Friday
    assert "2024-03-29" not in march and "2024-03-02" not in march and "2024-03-28" in march


def test_materialized_rows_match_the_recordings(loaded: dict[str, Any], recordings: Path) -> None:
    rows = loaded["pg"]["daily_bars"]
    assert len(rows) == len(DAYS) * len(SYMBOLS)
    recorded = _recorded(recordings)
    for sym, day, bar_start, o, h, lo, c, v, source in rows:
        assert (o, h, lo, c, v) == recorded[(sym, day.isoformat())]
        assert source == "stooq"
        assert bar_start.astimezone().utcoffset() is not None and bar_start.hour in (14, 13)  # 09:30 New York
    for name in ("bronze.daily_raw", "silver.daily_bars", "gold.indicators_1d"):
        assert len(loaded["iceberg"][name]["rows"]) == len(DAYS) * len(SYMBOLS), name
    assert len(loaded["pg"]["indicators_1d"]) == len(DAYS) * len(SYMBOLS)


def test_rerunning_a_partition_replaces_it_exactly(graph: dict[str, Any], loaded: dict[str, Any]) -> None:
    _load(graph, DAYS[1])
    _run(graph, AssetSelection.assets("daily_indicators"), DAYS[-1])
    again = _snapshot(graph["settings"])
    assert again["pg"] == loaded["pg"]
    for name, table in again["iceberg"].items():
        assert table["rows"] == loaded["iceberg"][name]["rows"], f"{name} changed on re-run"
        assert table["delete_files"] == 0, f"{name} has delete files"


def _execute(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(settings.postgres_dsn) as conn:
        conn.execute(sql, params)


def _soda_cli(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "marketpipe"), "check", "--suite", "daily_bars"],
        env={**os.environ, **settings_env(settings)}, capture_output=True, text=True, timeout=300, check=False,
    )


def test_soda_passes_on_good_data_and_fails_on_corrupted(graph: dict[str, Any], loaded: dict[str, Any]) -> None:
    settings: Settings = graph["settings"]
    # a streamed regular session of AAPL on 2024-03-04 that agrees with the batch bar: the
    # reconciliation check really compares something
    o, h, lo, c, v = 178.6, 180.67, 172.82, 173.18, 100603146
    minutes = [("14:30", o, o + 0.5, o - 0.5, o - 0.1), ("17:00", 176.0, h, lo, 175.0),
               ("20:59", 174.0, 174.5, 173.0, c)]
    for i, (hm, bo, bh, bl, bc) in enumerate(minutes):
        _execute(settings,
                 "INSERT INTO bars (timeframe, symbol, bar_start, bar_end, open, high, low, close, volume, vwap, "
                 "trade_count, session, session_date) VALUES ('1m', 'AAPL', %s::timestamptz, %s::timestamptz + "
                 "interval '1 minute', %s, %s, %s, %s, %s, %s, 10, 'regular', '2024-03-04')",
                 (f"2024-03-04 {hm}+00", f"2024-03-04 {hm}+00", bo, bh, bl, bc, v // 3 + (v % 3 if i == 0 else 0), bc))
    good = run_scan(settings, ["daily_bars", "bars"])
    assert good.ok, [(x.name, x.outcome, x.samples) for x in good.failed] + good.errors
    assert len(good.outcomes) >= 17
    assert _soda_cli(settings).returncode == 0

    # corrupt: a close 2 % off the streamed one, an inverted high/low, a missing session
    _execute(settings,
             "UPDATE daily_bars SET close = close * 1.02 WHERE symbol = 'AAPL' AND session_date = '2024-03-04'")
    _execute(settings, "UPDATE daily_bars SET high = low - 1 WHERE symbol = 'MSFT' AND session_date = '2024-03-04'")
    _execute(settings, "DELETE FROM daily_bars WHERE symbol = 'SPY' AND session_date = '2024-03-04'")
    bad = run_scan(settings, ["daily_bars"])
    failed = {x.name for x in bad.failed}
    assert any("reconciles" in n for n in failed), failed
    assert any("OHLC" in n for n in failed), failed
    assert any("every trading day" in n for n in failed), failed
    missing = next(x for x in bad.failed if "every trading day" in x.name)
    assert missing.samples == [{"symbol": "SPY", "missing_session": "2024-03-04"}]

    # visible in Dagster: the asset check fails with the failures in its metadata
    result = soda_daily_bars(soda=SodaResource(**_pg(settings), calendar=settings.daily_calendar))
    assert result.passed is False
    assert "reconciles" in result.metadata["failures"].value and "SPY" in result.metadata["failures"].value

    # and in the CLI: exit 1 with a readable table
    cli = _soda_cli(settings)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "FAIL" in cli.stdout and "every trading day present" in cli.stdout

    # restore by re-running the partition: the checks pass again
    _load(graph, DAYS[1])
    assert run_scan(settings, ["daily_bars"]).ok


def _pg(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.host, "port": settings.postgres_port, "dbname": settings.postgres_db,
        "user": settings.postgres_user, "password": settings.postgres_password.get_secret_value(),
    }


def test_volume_spike_warns_without_failing(graph: dict[str, Any], loaded: dict[str, Any]) -> None:
    """A day with over 10x its 20-session average volume is flagged as a warning (news, not bad
    data): the scan stays ok. 21 consecutive XNYS sessions of a made-up symbol, the last one spiking."""
    from marketpipe.loaders.calendar import session_open_utc, trading_days

    settings: Settings = graph["settings"]
    days = trading_days(date(2024, 1, 2), date(2024, 2, 5), settings.daily_calendar)[:21]
    assert len(days) == 21
    _execute(settings, "DELETE FROM daily_bars WHERE symbol = 'ZZVOL'")
    try:
        for i, d in enumerate(days):
            volume = 1_000_000 if i < 20 else 50_000_000
            _execute(settings,
                     "INSERT INTO daily_bars (symbol, session_date, bar_start, open, high, low, close, volume, "
                     "source) VALUES ('ZZVOL', %s, %s, 10, 11, 9, 10.5, %s, 'test')",
                     (d, session_open_utc(d, settings.daily_calendar), volume))
        report = run_scan(settings, ["daily_bars"])
        warned = [x for x in report.warned if "volume anomaly" in x.name]
        assert warned, [(x.name, x.outcome) for x in report.outcomes]
        assert not [x for x in report.failed if "volume anomaly" in x.name]
        _execute(settings, "UPDATE daily_bars SET volume = 1000000 WHERE symbol = 'ZZVOL'")
        calm = run_scan(settings, ["daily_bars"])
        assert not [x for x in calm.warned if "volume anomaly" in x.name]
    finally:
        _execute(settings, "DELETE FROM daily_bars WHERE symbol = 'ZZVOL'")


def test_unbalanced_tick_accounting_warns(graph: dict[str, Any], loaded: dict[str, Any]) -> None:
    """A partition whose counts do not add up (raw 10 = clean 5 + rejected 3 + heartbeats 1, plus one
    record lost) is flagged by the bars scan (docs/ticks.md); a balanced one passes."""
    settings: Settings = graph["settings"]
    _execute(settings, "DELETE FROM tick_counts WHERE kafka_partition = 99")
    try:
        _execute(settings, "INSERT INTO tick_counts VALUES (99, 10, 5, 3, 1, 9)")
        report = run_scan(settings, ["bars"])
        check = [x for x in report.outcomes if x.dataset == "tick_accounting"]
        assert [x.outcome for x in check] == ["warn"], [(x.name, x.outcome) for x in report.outcomes]
        assert check[0].samples and check[0].samples[0]["kafka_partition"] == 99
        _execute(settings, "UPDATE tick_counts SET raw_records = 6, rejected = 0 WHERE kafka_partition = 99")
        calm = run_scan(settings, ["bars"])
        assert [x.outcome for x in calm.outcomes if x.dataset == "tick_accounting"] == ["pass"]
    finally:
        _execute(settings, "DELETE FROM tick_counts WHERE kafka_partition = 99")
