"""``make backfill START=YYYY-MM-DD END=YYYY-MM-DD``: materialize a range of trading days from the shell.

Each session in the range (exchange calendar; weekends and holidays are not partitions) gets one run
of ``raw_daily_bars`` + ``daily_bars`` with their checks, under a tqdm bar; then ``daily_indicators``
runs once for the whole range (its single-run backfill policy: indicators are recomputed over all
history up to the last day anyway), then the dbt models. Runs are recorded in ``$DAGSTER_HOME``, so
they show in the UI (``make ui``) like backfills started there.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

from dagster import AssetSelection, DagsterInstance, materialize


def main(argv: Sequence[str] | None = None) -> int:
    """Parse START END, run the range, return 0 when every run succeeded."""
    from tqdm import tqdm

    from orchestration import definitions as d
    from orchestration.checks import ASSET_CHECKS, STREAMING_SPECS
    from orchestration.resources import build_resources
    from udfs.market.calendar import trading_days

    p = argparse.ArgumentParser(prog="make backfill", description=__doc__.splitlines()[0])
    p.add_argument("start", type=date.fromisoformat)
    p.add_argument("end", type=date.fromisoformat)
    p.add_argument("--no-dbt", action="store_true", help="skip the dbt build at the end")
    args = p.parse_args(argv)
    days = [x.isoformat() for x in trading_days(args.start, args.end, d.SETTINGS.daily_calendar)]
    valid = set(d.PARTITIONS.get_partition_keys())
    days = [x for x in days if x in valid]
    if not days:
        print(f"no {d.SETTINGS.daily_calendar} trading days between {args.start} and {args.end} "
              f"(partitions start {d.SETTINGS.daily_start})", file=sys.stderr)
        return 2
    instance = DagsterInstance.get()
    assets = [*d.DAILY_ASSETS, d.DBT_ASSETS, *STREAMING_SPECS, *ASSET_CHECKS]
    resources = build_resources(d.SETTINGS)
    failed: list[str] = []

    def run(selection: AssetSelection, **kw: Any) -> bool:
        result = materialize(assets, selection=selection, resources=resources, instance=instance,
                             raise_on_error=False, **kw)
        return bool(result.success)

    with tqdm(days, desc="daily bars", unit="day") as bar:
        for day in bar:
            bar.set_postfix_str(day)
            if not run(AssetSelection.assets("raw_daily_bars", "daily_bars"), partition_key=day):
                failed.append(day)
    loaded = [x for x in days if x not in failed]
    if loaded:
        print(f"daily_indicators over {loaded[0]}..{loaded[-1]} (one Flink batch job)", file=sys.stderr)
        tags = {"dagster/asset_partition_range_start": loaded[0], "dagster/asset_partition_range_end": loaded[-1]}
        if not run(AssetSelection.assets("daily_indicators"), tags=tags):
            failed.append("daily_indicators")
    if not args.no_dbt and not run(AssetSelection.groups("serving")):
        failed.append("dbt")
    print(f"{len(days) - len([f for f in failed if f[0].isdigit()])} of {len(days)} days loaded"
          + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
