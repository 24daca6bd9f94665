"""``marketpipe backfill --bars FILE --timeframe 1m|1d``: indicators and signals over stored bars.

The file is checked and rewritten as the canonical CSV of ``flink_sql/backfill/20_bars_file.sql``;
then the same SQL as the streaming ``indicators`` job (21–23) runs on the Flink cluster in BATCH
mode, with the same ``udfs/`` math (its batch wrapper hands each symbol's whole series to Python in
one call), and writes ``indicators_<timeframe>`` and ``signals`` in PostgreSQL and the lake.

Input columns: ``symbol``, ``ts`` (ISO-8601 with offset, or epoch nanoseconds; the bar's start) or
``date`` (``YYYY-MM-DD``, daily bars), ``open``, ``high``, ``low``, ``close``, ``volume``, and optional
``vwap`` (when absent the typical price (H+L+C)/3 stands in for session VWAP). A daily bar is labelled
by its session's open, 09:30 America/New_York, never UTC midnight.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from marketpipe import lake
from marketpipe.exceptions import FeedError, JobError
from marketpipe.jobs.manager import JobManager
from marketpipe.jobs.pipeline import job_name
from marketpipe.settings import Settings
from udfs.schema import INDICATOR_INPUT, binding_fields

log = logging.getLogger(__name__)

TIMEFRAMES = {"1m": 60_000, "1d": 86_400_000}
REQUIRED = ("symbol", "open", "high", "low", "close", "volume")
SESSION_OPEN = dtime(9, 30)
EXCHANGE_TZ = ZoneInfo("America/New_York")
#: The canonical bar file's columns: what the indicator step reads (udfs/schema.py, bar start as epoch ms),
#: as flink_sql/backfill/20_bars_file.sql declares them.
CANONICAL = [name for name, _ in binding_fields(INDICATOR_INPUT)]


@dataclass(frozen=True)
class BackfillResult:
    """What a backfill did."""

    bars: int
    symbols: int
    job_id: str
    seconds: float  # the Flink job's own duration

    @property
    def bars_per_second(self) -> float:
        """Throughput of the Flink job."""
        return self.bars / self.seconds if self.seconds > 0 else float("nan")


def read_bars(path: Path, timeframe: str) -> pd.DataFrame:
    """The file's bars in canonical columns, sorted by (symbol, bar_start_ms); FeedError if unusable."""
    if timeframe not in TIMEFRAMES:
        raise FeedError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAMES)}")
    if not path.exists():
        raise FeedError(f"{path}: no such file")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".parquet", ".pq")):
        df = pd.read_parquet(path)
    elif suffix.endswith((".csv", ".csv.gz")):
        # round_trip: the default float parser is not exact, and backfill must equal streaming bit for bit
        df = pd.read_csv(path, dtype={"symbol": str, "date": str, "ts": str}, float_precision="round_trip")
    else:
        raise FeedError(f"{path}: expected .csv, .csv.gz or .parquet")
    missing = [c for c in REQUIRED if c not in df.columns]
    if "ts" not in df.columns and "date" not in df.columns:
        missing.append("ts or date")
    if missing:
        raise FeedError(f"{path}: missing columns {', '.join(missing)}")
    out = pd.DataFrame({"symbol": df["symbol"].astype(str).str.strip().str.upper()})
    out["bar_start_ms"] = _bar_start_ms(df, timeframe, path)
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = pd.to_numeric(df[col], errors="coerce")
    out["vwap"] = (
        pd.to_numeric(df["vwap"], errors="coerce")
        if "vwap" in df.columns
        else (out["high"] + out["low"] + out["close"]) / 3
    )
    _validate(out, path, timeframe)
    out["volume"] = out["volume"].astype("int64")
    out = out.sort_values(["symbol", "bar_start_ms"], kind="stable").reset_index(drop=True)
    dup = out.duplicated(["symbol", "bar_start_ms"])
    if dup.any():
        row = out[dup].iloc[0]
        raise FeedError(f"{path}: two bars for {row.symbol} at {row.bar_start_ms} (epoch ms)")
    return out[CANONICAL]


def _bar_start_ms(df: pd.DataFrame, timeframe: str, path: Path) -> pd.Series[int]:
    if "ts" in df.columns:
        raw = df["ts"].astype(str)
        numeric = raw.str.fullmatch(r"\d+")
        ms = pd.Series(np.nan, index=df.index)
        ms[numeric] = raw[numeric].astype("int64") // 1_000_000
        iso = ~numeric
        if iso.any():
            if not raw[iso].str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).all():
                raise FeedError(f"{path}: ts must be ISO-8601 with an offset or epoch nanoseconds")
            parsed = pd.to_datetime(raw[iso], utc=True, format="ISO8601", errors="coerce")
            ms[iso] = parsed.astype("int64") // 1_000_000
            ms[iso & parsed.isna()] = np.nan
        if ms.isna().any():
            raise FeedError(f"{path}: unparseable ts in row {int(ms.isna().idxmax()) + 2}")
        start_ms = ms.astype("int64")
        if timeframe == "1m" and (start_ms % 60_000 != 0).any():
            raise FeedError(f"{path}: 1m bars must start on a whole minute")
        return start_ms
    dates = pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        raise FeedError(f"{path}: bad date in row {int(dates.isna().idxmax()) + 2} (want YYYY-MM-DD)")
    if timeframe != "1d":
        raise FeedError(f"{path}: a date column makes daily bars; use --timeframe 1d")
    return dates.map(
        lambda d: int(datetime.combine(d.date(), SESSION_OPEN, EXCHANGE_TZ).timestamp() * 1000)
    ).astype("int64")


def _validate(df: pd.DataFrame, path: Path, timeframe: str) -> None:
    prices = df[["open", "high", "low", "close", "vwap"]]
    bad = ~np.isfinite(prices).all(axis=1) | (prices <= 0).any(axis=1)
    bad |= ~np.isfinite(df["volume"]) | (df["volume"] < 0) | (df["volume"] % 1 != 0)
    bad |= (df["symbol"] == "") | (df["symbol"] == "NAN")
    bad |= (df["high"] < df[["open", "close", "low"]].max(axis=1))
    bad |= (df["low"] > df[["open", "close"]].min(axis=1))
    if bad.any():
        row = int(bad.idxmax())
        raise FeedError(
            f"{path}: row {row + 2} is not a valid {timeframe} bar "
            f"(positive finite prices, low <= open, close <= high, whole non-negative volume): "
            f"{df.iloc[row].to_dict()}"
        )


def prepare_target(settings: Settings) -> None:
    """Create the PostgreSQL schema and lake namespace a backfill writes into, if missing."""
    if settings.postgres_schema != "public":
        from marketpipe.stack.pg_schema import apply_schema

        apply_schema(settings, search_path=settings.postgres_schema)
    cat = lake.catalog(settings)
    if settings.lake_gold not in {ns[0] for ns in cat.list_namespaces()}:
        cat.create_namespace(settings.lake_gold)


def run_backfill(
    settings: Settings, path: Path, timeframe: str, *, progress: bool = True, timeout: float = 1800
) -> BackfillResult:
    """Run the backfill job to completion on the local cluster."""
    bars = read_bars(path, timeframe)
    work = settings.data_dir / "backfill"
    work.mkdir(parents=True, exist_ok=True)
    canonical = work / f"{path.stem}-{timeframe}-{int(time.time() * 1000)}.csv"
    bars.to_csv(canonical, header=False, index=False, float_format="%.17g")
    run_settings = settings.model_copy(
        update={"indicator_timeframe": timeframe, "backfill_path": canonical}
    )
    prepare_target(run_settings)
    job_id, details = run_batch_job(
        run_settings, "backfill", f"backfill {path.name} ({len(bars)} bars)", progress=progress,
        timeout=timeout,
    )
    canonical.unlink(missing_ok=True)
    return BackfillResult(
        bars=len(bars),
        symbols=int(bars["symbol"].nunique()),
        job_id=job_id,
        seconds=float(details.get("duration", 0)) / 1000,
    )


def run_batch_job(
    settings: Settings, job: str, desc: str, *, progress: bool, timeout: float
) -> tuple[str, dict[str, Any]]:
    """Submit a batch job of marketpipe/jobs/pipeline.py and wait for it with a progress bar."""
    from tqdm import tqdm

    from marketpipe.jobs.control import PIPELINE_SCRIPT

    jobs = JobManager(settings)
    # --detach: the client returns once the job is submitted; its progress and outcome are polled here.
    job_id = jobs.submit_python(PIPELINE_SCRIPT, [job, "--detach"], name=job_name(job))
    deadline = time.monotonic() + timeout
    with tqdm(desc=desc, unit="task", total=None, disable=None if progress else True) as bar:
        while True:
            details = jobs.job(job_id)
            state = details.get("state", "UNKNOWN")
            vertices = details.get("vertices", [])
            bar.total = len(vertices) or None
            bar.n = sum(1 for v in vertices if v.get("status") == "FINISHED")
            bar.set_postfix_str(state)
            if state == "FINISHED":
                return job_id, details
            if state in ("FAILED", "CANCELED") or time.monotonic() > deadline:
                if state not in ("FAILED", "CANCELED"):
                    jobs.cancel(job_id)
                raise JobError(f"{job} job {job_id} is {state}{jobs._root_cause(job_id)}")
            time.sleep(0.5)


@dataclass(frozen=True)
class TicksBackfillResult:
    """What a ``backfill --ticks`` did."""

    ticks: int
    job_id: str
    seconds: float


def write_ticks_file(path: Path, out: Path) -> int:
    """FILE's ticks as the canonical CSV of flink_sql/backfill/10_ticks_file.sql; returns the count.

    Each row is read and normalized exactly as ``marketpipe replay`` does before producing it, and
    written as the JSON value it would have on Kafka, so both runs see the same records.
    """
    import csv

    from marketpipe.feeds.replay import read_ticks

    n = 0
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        # the same `source` as a replay of the file: it selects the feed's condition table
        for n, tick in enumerate(read_ticks(path), start=1):
            writer.writerow((-1, n, tick.to_json().decode()))
    return n


def run_ticks_backfill(
    settings: Settings, path: Path, *, progress: bool = True, timeout: float = 1800
) -> TicksBackfillResult:
    """Bars of every timeframe from a tick file, in Flink BATCH mode over the streaming SQL (10-13, not 14)."""
    work = settings.data_dir / "backfill"
    work.mkdir(parents=True, exist_ok=True)
    canonical = work / f"{path.stem}-ticks-{int(time.time() * 1000)}.csv"
    ticks = write_ticks_file(path, canonical)
    if ticks == 0:
        canonical.unlink(missing_ok=True)
        raise FeedError(f"{path}: no ticks")
    run_settings = settings.model_copy(update={"backfill_path": canonical})
    prepare_target(run_settings)
    try:
        job_id, details = run_batch_job(
            run_settings, "backfill-ticks", f"backfill {path.name} ({ticks} ticks)", progress=progress,
            timeout=timeout,
        )
    finally:
        canonical.unlink(missing_ok=True)
    return TicksBackfillResult(ticks, job_id, float(details.get("duration", 0)) / 1000)
