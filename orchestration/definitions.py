"""Dagster definitions of marketpipe's batch half: the one place assets, resources, schedules and checks
are wired (``make ui`` loads it, ``make backfill`` runs it).

Graph (docs/orchestration.md)::

    raw_daily_bars -> daily_bars -> daily_indicators -> dbt models (serving)
    (bronze.daily_raw)  (silver.daily_bars + PG daily_bars)  (indicators_1d + signals, Flink batch)

The daily assets are partitioned by trading date; dbt models are not partitioned (they rebuild from the
serving tables). Every setting comes from :func:`marketpipe.settings.load_settings`.
"""

# No `from __future__ import annotations`: Dagster reads the context/resource annotations at runtime.

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from marketpipe.dbt import dbt_env
from marketpipe.settings import Settings, load_settings
from orchestration.assets.daily import build_daily_assets
from orchestration.assets.dbt import build_dbt_assets, ensure_manifest
from orchestration.checks import ASSET_CHECKS, STREAMING_SPECS
from orchestration.partitions import EXCHANGE_TZ, trading_date_partitions
from orchestration.resources import build_resources
from udfs.market.calendar import trading_days

SETTINGS: Settings = load_settings()
PARTITIONS = trading_date_partitions(SETTINGS.daily_start, SETTINGS.daily_calendar)
DAILY_ASSETS = build_daily_assets(PARTITIONS)
DBT_ASSETS = build_dbt_assets(ensure_manifest(dbt_env(SETTINGS)))

DAILY_SELECTION = AssetSelection.groups("daily")
daily_job = define_asset_job(
    "daily_ohlcv",
    selection=DAILY_SELECTION,
    partitions_def=PARTITIONS,
    description="Load, store and compute indicators for one trading day (one partition).",
)
serving_job = define_asset_job(
    "serving_dbt", selection=AssetSelection.groups("serving"), description="dbt build of the serving marts."
)


@schedule(
    job=daily_job,
    cron_schedule="0 18 * * 1-5",
    execution_timezone=EXCHANGE_TZ,
    default_status=DefaultScheduleStatus.RUNNING,
    description="18:00 New York on weekdays, after the close (and after half-day closes); "
    "skips exchange holidays by asking the calendar.",
)
def daily_after_close(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
    """Today's partition if today is a session of the exchange calendar."""
    tick = context.scheduled_execution_time or datetime.now(UTC)
    today = tick.astimezone(ZoneInfo(EXCHANGE_TZ)).date()
    if not trading_days(today, today, SETTINGS.daily_calendar):
        return SkipReason(f"{today} is not a {SETTINGS.daily_calendar} trading day")
    return RunRequest(run_key=today.isoformat(), partition_key=today.isoformat())


@schedule(
    job=serving_job,
    cron_schedule="30 19 * * 1-5",
    execution_timezone=EXCHANGE_TZ,
    default_status=DefaultScheduleStatus.RUNNING,
    description="dbt build after the daily load (19:30 New York, weekdays).",
)
def serving_after_daily(context: ScheduleEvaluationContext) -> RunRequest:
    """Rebuild the marts once a day."""
    tick = context.scheduled_execution_time or datetime.now(UTC)
    return RunRequest(run_key=tick.astimezone(ZoneInfo(EXCHANGE_TZ)).date().isoformat())


defs = Definitions(
    assets=[*DAILY_ASSETS, DBT_ASSETS, *STREAMING_SPECS],
    asset_checks=ASSET_CHECKS,
    jobs=[daily_job, serving_job],
    schedules=[daily_after_close, serving_after_daily],
    resources=build_resources(SETTINGS),
)
