"""Soda scans as Dagster asset checks, and the streamed tables they watch.

The streamed tables (written by the Flink jobs, not by Dagster) appear as external assets of the
``streaming`` group so their checks and their lineage into dbt show in the asset graph. A failing Soda
check fails the asset check (severity ERROR); a warning-only outcome (volume anomalies) passes it
with severity WARN noted in the metadata. Metadata carries every outcome and sample failing rows.
"""

# No `from __future__ import annotations`: Dagster reads the context/resource annotations at runtime.

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    AssetSpec,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from orchestration.quality import CheckOutcome, ScanReport, run_scan
from orchestration.resources import SodaResource

BAR_TABLES = ("bars_1m", "bars_5m", "bars_15m", "bars_1h", "bars_1d")
STREAMING_TABLES = (*BAR_TABLES, "indicators_1m", "signals", "ticks_dlq")

STREAMING_SPECS = [
    AssetSpec(
        name,
        group_name="streaming",
        kinds={"flink", "postgres"},
        description=f"PostgreSQL `{name}`, upserted by the streaming Flink jobs (flink_sql/); not run by Dagster.",
    )
    for name in STREAMING_TABLES
]


def _outcomes_md(outcomes: list[CheckOutcome]) -> MetadataValue:
    lines = ["| outcome | check | value |", "|---|---|---|"]
    lines += [f"| {o.outcome or 'error'} | {o.name} | {o.value} |" for o in outcomes]
    return MetadataValue.md("\n".join(lines))


def _samples_md(outcomes: list[CheckOutcome]) -> MetadataValue:
    parts = []
    for o in outcomes:
        if o.outcome == "pass":
            continue
        parts.append(f"**{o.name}** ({o.outcome or 'error'}, value {o.value})")
        if o.samples:
            cols = list(o.samples[0])
            parts.append("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
            parts.append("\n".join("| " + " | ".join(str(r[c]) for c in cols) + " |" for r in o.samples))
    return MetadataValue.md("\n\n".join(parts) or "all checks passed")


def to_result(report: ScanReport, asset: str, check_name: str) -> AssetCheckResult:
    """One asset check's result from the outcomes about ``asset``."""
    mine = report.for_dataset(asset)
    failed, warned = mine.failed, mine.warned
    passed = not failed and not report.errors
    return AssetCheckResult(
        asset_key=AssetKey(asset),
        check_name=check_name,
        passed=passed,
        severity=AssetCheckSeverity.WARN if passed or not failed else AssetCheckSeverity.ERROR,
        description=(
            f"{len(failed)} failed, {len(warned)} warned of {len(mine.outcomes)} Soda checks"
            if mine.outcomes else "; ".join(report.skipped) or "no Soda checks ran"
        ),
        metadata={
            "failed": len(failed),
            "warned": len(warned),
            "checks": len(mine.outcomes),
            "outcomes": _outcomes_md(mine.outcomes),
            "failures": _samples_md(mine.outcomes),
            "scan_errors": MetadataValue.text("\n".join(report.errors) or "none"),
            "skipped": MetadataValue.text("\n".join(report.skipped) or "none"),
        },
    )


@asset_check(
    asset="daily_bars",
    name="soda_daily_bars",
    description="Soda (soda/checks/daily_bars.yml): OHLC invariants, unique keys, every session present, "
    "no bars on closed days, volume anomalies (warn), reconciliation with streamed 1m bars.",
)
def soda_daily_bars(soda: SodaResource) -> AssetCheckResult:
    """Scan daily_bars."""
    return to_result(run_scan(soda.settings(), ["daily_bars"]), "daily_bars", "soda_daily_bars")


@multi_asset_check(
    specs=[
        AssetCheckSpec("soda_bars", asset=t, description="Soda (soda/checks/bars.yml): unique keys, OHLC invariants.")
        for t in BAR_TABLES
    ]
    + [
        AssetCheckSpec(
            "soda_freshness",
            asset="bars_1m",
            description="Soda (soda/checks/bars_session.yml): newest bar under 5 minutes old; only "
            "evaluated while the exchange's regular session runs, passes as skipped otherwise.",
        )
    ],
)
def soda_bars(soda: SodaResource) -> Iterator[AssetCheckResult]:
    """Scan every bars table (and freshness, during the session) in one Soda scan."""
    report = run_scan(soda.settings(), ["bars", "session"])
    for table in BAR_TABLES:
        yield to_result(_only(report, exclude_freshness=True), table, "soda_bars")
    yield to_result(_only(report, exclude_freshness=False), "bars_1m", "soda_freshness")


def _only(report: ScanReport, *, exclude_freshness: bool) -> ScanReport:
    def is_fresh(o: CheckOutcome) -> bool:
        return "fresh" in o.name

    keep: list[Any] = [o for o in report.outcomes if is_fresh(o) != exclude_freshness]
    return ScanReport(keep, report.errors, report.skipped)


ASSET_CHECKS = [soda_daily_bars, soda_bars]
