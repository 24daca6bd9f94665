"""The daily domain: provider bars -> bronze -> silver + PostgreSQL -> indicators and signals.

Every asset is partitioned by trading date (:mod:`orchestration.partitions`) and replaces exactly its
slice when re-run, so a partition can be materialized any number of times.
"""

# No `from __future__ import annotations`: Dagster reads the context/resource annotations at runtime.

import contextlib
import tempfile
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.lakehouse import (
    DAILY_BARS_SCHEMA,
    bars_to_arrow,
    date_filter,
    dedupe_latest,
    end_of_day_utc,
    replace_pg_daily_bars,
    replace_rows,
)
from orchestration.partitions import partition_date
from orchestration.resources import FlinkBackfillResource, IcebergResource, LoaderResource, PostgresResource

BRONZE = "bronze.daily_raw"
SILVER = "silver.daily_bars"
GROUP = "daily"


def _markdown_rows(rows: list[dict[str, Any]], limit: int = 10) -> MetadataValue:
    if not rows:
        return MetadataValue.md("(none)")
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows[:limit]]
    return MetadataValue.md("\n".join(lines))


def build_daily_assets(partitions_def: Any) -> list[Any]:
    """The three partitioned assets over ``partitions_def`` (built once in ``definitions.py``)."""

    @asset(
        partitions_def=partitions_def,
        group_name=GROUP,
        kinds={"iceberg", "python"},
        description="Daily OHLCV of the configured symbols as the provider returned it, in bronze.daily_raw.",
    )
    def raw_daily_bars(
        context: AssetExecutionContext, loader: LoaderResource, iceberg: IcebergResource
    ) -> MaterializeResult:
        day = partition_date(context.partition_key)
        bars, rejects = loader.load(day, day)
        if not bars:
            raise Failure(
                description=f"{loader.source} returned no bars for {day} "
                f"({len(rejects)} rejects); the provider may not have published the day yet",
                metadata={"rejects": _markdown_rows([_reject_row(r) for r in rejects])},
            )
        table = bars_to_arrow(bars, loader.calendar, datetime.now(UTC))
        total = replace_rows(iceberg.catalog(), BRONZE, table, date_filter("session_date", [day]))
        missing = sorted(set(loader.symbols) - {b.symbol for b in bars})
        if missing:
            context.log.warning("no bar for %s on %s", ", ".join(missing), day)
        return MaterializeResult(
            metadata={
                "rows": len(bars),
                "source": loader.source,
                "symbols_missing": ", ".join(missing) or "none",
                "rejects": len(rejects),
                "reject_sample": _markdown_rows([_reject_row(r) for r in rejects]),
                "bronze_total_rows": total,
            }
        )

    @asset(
        partitions_def=partitions_def,
        group_name=GROUP,
        deps=[raw_daily_bars],
        kinds={"iceberg", "postgres"},
        description="Validated daily bars, one per symbol and session: Iceberg silver.daily_bars and "
        "PostgreSQL daily_bars, each partition replaced as a whole.",
    )
    def daily_bars(
        context: AssetExecutionContext, iceberg: IcebergResource, postgres: PostgresResource
    ) -> MaterializeResult:
        day = partition_date(context.partition_key)
        catalog = iceberg.catalog()
        raw = catalog.load_table(BRONZE).scan(row_filter=date_filter("session_date", [day])).to_arrow()
        rows = dedupe_latest(raw.select(DAILY_BARS_SCHEMA.names).cast(DAILY_BARS_SCHEMA), ["symbol", "session_date"])
        rows = rows.sort_by([("symbol", "ascending")])
        total = replace_rows(catalog, SILVER, rows, date_filter("session_date", [day]))
        with postgres.connect() as conn:  # one transaction: delete the day, insert it again
            replace_pg_daily_bars(conn, rows, [day])
        return MaterializeResult(
            metadata={
                "rows": rows.num_rows,
                "symbols": MetadataValue.text(", ".join(rows.column("symbol").to_pylist())),
                "silver_total_rows": total,
                "preview": _markdown_rows(rows.drop_columns(["loaded_at", "bar_start"]).to_pylist()),
            }
        )

    @asset(
        partitions_def=partitions_def,
        group_name=GROUP,
        deps=[daily_bars],
        kinds={"flink", "postgres", "iceberg"},
        backfill_policy=BackfillPolicy.single_run(),
        description="Indicators (indicators_1d) and signals (timeframe 1d) over every daily bar up to the "
        "partition, by `marketpipe backfill --timeframe 1d` on the Flink cluster: the streaming SQL and "
        "udfs/ math. A range backfill runs once, up to its last day.",
    )
    def daily_indicators(
        context: AssetExecutionContext,
        postgres: PostgresResource,
        iceberg: IcebergResource,
        flink_backfill: FlinkBackfillResource,
    ) -> MaterializeResult:
        last_day = max(partition_date(k) for k in context.partition_keys)
        with tempfile.TemporaryDirectory(prefix="daily-indicators-") as tmp:
            csv = Path(tmp) / f"daily-{last_day.isoformat()}.csv"
            n_bars, symbols = _export_daily_bars(postgres, last_day, csv)
            if n_bars == 0:
                raise Failure(description=f"daily_bars has no rows up to {last_day}")
            stage = f"stage_{uuid.uuid4().hex[:12]}"
            try:
                summary = flink_backfill.run(csv, lake_namespace=stage)
                lake = _publish_gold(iceberg, stage, symbols, last_day)
            finally:
                _drop_namespace(iceberg, stage)
        stale = _delete_stale_pg_rows(postgres, symbols, last_day, lake["keys"])
        return MaterializeResult(
            metadata={
                "bars_in": n_bars,
                "symbols": len(symbols),
                "up_to": last_day.isoformat(),
                "flink_job_id": summary.get("job_id", ""),
                "flink_job_seconds": summary.get("job_seconds", 0.0),
                "gold_indicators_rows": lake["indicators"],
                "gold_signals_rows": lake["signals"],
                "stale_postgres_rows_deleted": stale,
            }
        )

    return [raw_daily_bars, daily_bars, daily_indicators]


def _reject_row(r: Any) -> dict[str, Any]:
    return {"symbol": r.symbol, "session_date": r.session_date, "reason": r.reason}


def _export_daily_bars(postgres: PostgresResource, last_day: date, path: Path) -> tuple[int, list[str]]:
    """Every daily bar up to ``last_day`` as the backfill CLI's daily CSV (recursive indicators need
    the whole history, not just the partition)."""
    import csv

    with postgres.connect() as conn:
        rows = conn.execute(
            "SELECT symbol, session_date, open, high, low, close, volume FROM daily_bars "
            "WHERE session_date <= %s ORDER BY symbol, session_date",
            (last_day,),
        ).fetchall()
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["symbol", "date", "open", "high", "low", "close", "volume"])
        for sym, d, o, h, lo, c, v in rows:
            w.writerow([sym, d.isoformat(), repr(o), repr(h), repr(lo), repr(c), v])
    return len(rows), sorted({r[0] for r in rows})


def _publish_gold(iceberg: IcebergResource, stage: str, symbols: list[str], last_day: date) -> dict[str, Any]:
    """Move the backfill's staged lake output into gold, replacing what it recomputed.

    The backfill SQL appends to its lake tables; pointed at a fresh staging namespace, its output is
    exactly this run's rows, which then replace the same symbols' 1d rows up to ``last_day`` in gold
    with a filtered overwrite, so a re-run leaves no duplicates in gold.
    """
    from pyiceberg.expressions import And, EqualTo, In, LessThan

    catalog = iceberg.catalog()
    cutoff = end_of_day_utc(last_day).isoformat()
    in_range = And(In("symbol", symbols), LessThan("bar_start", cutoff))
    indicators = catalog.load_table(f"{stage}.indicators_1d").scan().to_arrow()
    signals = catalog.load_table(f"{stage}.signals").scan().to_arrow()
    n_ind = replace_rows(catalog, "gold.indicators_1d", indicators, in_range)
    n_sig = replace_rows(catalog, "gold.signals", signals, And(EqualTo("timeframe", "1d"), in_range))
    keys = {
        "indicators": _keys(indicators, ["symbol", "bar_start"]),
        "signals": _keys(signals, ["symbol", "bar_start", "strategy"]),
    }
    return {"indicators": n_ind, "signals": n_sig, "keys": keys}


def _keys(table: pa.Table, cols: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


def _delete_stale_pg_rows(
    postgres: PostgresResource, symbols: list[str], last_day: date, keys: dict[str, list[tuple[Any, ...]]]
) -> int:
    """Drop 1d indicator/signal rows up to ``last_day`` that this run no longer produced (JDBC upserts
    never delete, so a bar removed from daily_bars would otherwise keep its old indicators)."""
    cutoff = end_of_day_utc(last_day)
    ind = keys["indicators"]
    sig = keys["signals"]
    with postgres.connect() as conn:
        n = conn.execute(
            "DELETE FROM indicators_1d t WHERE t.symbol = ANY(%s) AND t.bar_start < %s AND NOT EXISTS ("
            " SELECT 1 FROM unnest(%s::text[], %s::timestamptz[]) k(symbol, bar_start)"
            " WHERE k.symbol = t.symbol AND k.bar_start = t.bar_start)",
            (symbols, cutoff, [k[0] for k in ind], [k[1] for k in ind]),
        ).rowcount
        n += conn.execute(
            "DELETE FROM signals t WHERE t.timeframe = '1d' AND t.symbol = ANY(%s) AND t.bar_start < %s"
            " AND NOT EXISTS (SELECT 1 FROM unnest(%s::text[], %s::timestamptz[], %s::text[])"
            " k(symbol, bar_start, strategy) WHERE k.symbol = t.symbol AND k.bar_start = t.bar_start"
            " AND k.strategy = t.strategy)",
            (symbols, cutoff, [k[0] for k in sig], [k[1] for k in sig], [k[2] for k in sig]),
        ).rowcount
    return n


def _drop_namespace(iceberg: IcebergResource, namespace: str) -> None:
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    catalog = iceberg.catalog()
    for name in ("indicators_1d", "signals"):
        with contextlib.suppress(NoSuchTableError):
            catalog.purge_table(f"{namespace}.{name}")
    with contextlib.suppress(NoSuchNamespaceError):
        catalog.drop_namespace(namespace)
