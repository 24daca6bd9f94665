"""Soda scans over the serving tables: one runner for the Dagster asset checks and ``marketpipe check``.

The checks live in ``soda/checks/*.yml`` (docs/quality.md). The data source is rendered in memory from
``soda/configuration.template.yml`` and the settings, so no password is ever written to disk. Two
inputs come from the exchange calendar rather than SQL: every session of the configured range with
its open and close in UTC (``${SESSION_DATES}``, ``${SESSION_OPENS}``, ``${SESSION_CLOSES}``) for the
missing-bars and reconciliation checks, and whether the market is open now, which decides if the
freshness checks mean anything.

    python -m orchestration.quality [--suite daily_bars|bars|session ...] [--json]

exits 1 when a check fails (warnings do not fail) and 2 when the scan itself errs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from marketpipe.settings import REPO_ROOT, Settings, load_settings
from udfs.market.calendar import session_open_utc, trading_days

SODA_DIR = REPO_ROOT / "soda"
SUITES = {
    "daily_bars": SODA_DIR / "checks" / "daily_bars.yml",
    "bars": SODA_DIR / "checks" / "bars.yml",
    "session": SODA_DIR / "checks" / "bars_session.yml",
}
DATA_SOURCE = "marketpipe"
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class CheckOutcome:
    """One Soda check's verdict: ``pass``, ``warn`` or ``fail`` (``None`` when it could not run)."""

    name: str
    dataset: str
    outcome: str | None
    value: Any = None
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ScanReport:
    """Every outcome of a scan plus its error logs."""

    outcomes: list[CheckOutcome]
    errors: list[str]
    skipped: list[str] = field(default_factory=list)  # suites not run, with why

    @property
    def failed(self) -> list[CheckOutcome]:
        """Checks that failed or could not be evaluated."""
        return [o for o in self.outcomes if o.outcome not in ("pass", "warn")]

    @property
    def warned(self) -> list[CheckOutcome]:
        """Checks that warned."""
        return [o for o in self.outcomes if o.outcome == "warn"]

    @property
    def ok(self) -> bool:
        """No failure and no scan error."""
        return not self.failed and not self.errors

    def for_dataset(self, dataset: str) -> ScanReport:
        """The outcomes about one table."""
        return ScanReport([o for o in self.outcomes if o.dataset == dataset], self.errors, self.skipped)


def data_source_yaml(settings: Settings) -> str:
    """The Soda configuration for the stack's PostgreSQL, rendered from the template."""
    text = (SODA_DIR / "configuration.template.yml").read_text()
    values = {
        "host": settings.postgres_host or settings.host,
        "port": str(settings.postgres_port),
        "user": settings.postgres_user,
        "password": settings.postgres_password.get_secret_value(),
        "database": settings.postgres_db,
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value.replace('"', '\\"'))
    return text


@lru_cache(maxsize=8)
def _exchange(name: str, first_year: int, last_year: int) -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(name, start=date(first_year, 1, 1), end=date(last_year, 12, 31))


def session_variables(start: date, end: date, calendar: str) -> dict[str, str]:
    """``SESSION_DATES``/``_OPENS``/``_CLOSES``: the sessions in ``[start, end]`` as comma-separated
    lists (one SQL token each however long the range; Soda caps a query's tokens)."""
    import pandas as pd

    cal = _exchange(calendar, start.year, max(end.year, datetime.now(UTC).year + 1))
    days = trading_days(start, end, calendar)
    opens = [session_open_utc(d, calendar) for d in days]
    closes = [cal.session_close(pd.Timestamp(d)).to_pydatetime().astimezone(UTC) for d in days]
    return {
        "SESSION_DATES": ",".join(d.isoformat() for d in days),
        "SESSION_OPENS": ",".join(t.isoformat() for t in opens),
        "SESSION_CLOSES": ",".join(t.isoformat() for t in closes),
    }


def market_open(now: datetime, calendar: str) -> bool:
    """Whether ``calendar``'s regular session is running at ``now``."""
    import pandas as pd

    cal = _exchange(calendar, now.year, now.year + 1)
    return bool(cal.is_open_on_minute(pd.Timestamp(now).tz_convert("UTC").floor("min")))


def run_scan(
    settings: Settings, suites: Sequence[str] = ("daily_bars", "bars", "session"), *, now: datetime | None = None
) -> ScanReport:
    """Run the named suites against the settings' PostgreSQL; the session suite only while open."""
    _no_telemetry()
    from soda.scan import Scan

    now = now or datetime.now(UTC)
    skipped = []
    files = []
    for suite in suites:
        if suite == "session" and not market_open(now, settings.daily_calendar):
            skipped.append(f"session: {settings.daily_calendar} is closed at {now:%Y-%m-%d %H:%M} UTC, "
                           "freshness not checked")
            continue
        files.append(SUITES[suite])
    if not files:
        return ScanReport([], [], skipped)
    sampler = _CollectingSampler()
    scan = Scan()
    scan.set_data_source_name(DATA_SOURCE)
    scan.set_scan_definition_name("marketpipe")
    scan.add_configuration_yaml_str(data_source_yaml(settings))
    scan.add_variables(session_variables(settings.daily_start, now.date(), settings.daily_calendar))
    scan.sampler = sampler
    for path in files:
        scan.add_sodacl_yaml_file(str(path))
    scan.execute()
    outcomes = []
    for check in scan.get_scan_results().get("checks", []):
        name = check.get("name") or check.get("definition", "?")
        diag = check.get("diagnostics") or {}
        outcomes.append(
            CheckOutcome(
                name=name,
                dataset=check.get("table", ""),
                outcome=check.get("outcome"),
                value=diag.get("value"),
                samples=sampler.samples.get(name, []),
            )
        )
    errors = [str(log.message) for log in scan.get_error_logs()]
    return ScanReport(outcomes, errors, skipped)


def _no_telemetry() -> None:
    """Point Soda's global config at ``soda/soda-config.yml`` (usage stats off) before anything imports
    its telemetry, which would otherwise create ``~/.soda/config.yml`` with sending switched on."""
    from soda.common.config_helper import ConfigHelper

    ConfigHelper.get_instance(str(SODA_DIR / "soda-config.yml"))


class _CollectingSampler:
    """Keeps the first rows of each failed-rows sample so Dagster and the CLI can show them."""

    def __init__(self) -> None:
        self.samples: dict[str, list[dict[str, Any]]] = {}
        self.logs: Any = None

    def store_sample(self, sample_context: Any) -> Any:
        from soda.sampler.sample_ref import SampleRef

        sample = sample_context.sample
        schema = sample.get_schema()
        names = [c.name for c in schema.columns]
        rows = [dict(zip(names, map(_plain, row), strict=False)) for row in sample.get_rows()[:SAMPLE_ROWS]]
        if sample_context.check_name:
            self.samples[sample_context.check_name] = rows
        count = sample.get_rows_count()
        return SampleRef(name=sample_context.sample_name, schema=schema, total_row_count=count,
                         stored_row_count=len(rows), type=SampleRef.TYPE_NOT_PERSISTED,
                         message="kept in memory for Dagster metadata and the CLI")


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def format_table(report: ScanReport) -> str:
    """The outcomes as a fixed-width table, failures first, with sample rows under each failure."""
    order = {"fail": 0, None: 0, "warn": 1, "pass": 2}
    rows = sorted(report.outcomes, key=lambda o: (order.get(o.outcome, 0), o.dataset, o.name))
    width = max([len(o.name) for o in rows] + [5])
    lines = [f"{'outcome':<8} {'dataset':<12} {'check':<{width}}  value", "-" * (width + 30)]
    for o in rows:
        lines.append(f"{(o.outcome or 'error').upper():<8} {o.dataset:<12} {o.name:<{width}}  {o.value}")
        if o.outcome != "pass":
            lines.extend(f"{'':<22}{json.dumps(s, default=str)}" for s in o.samples)
    lines.extend(f"SKIPPED  {s}" for s in report.skipped)
    lines.extend(f"ERROR    {e}" for e in report.errors)
    n_fail, n_warn = len(report.failed), len(report.warned)
    lines.append(f"{len(rows) - n_fail - n_warn} passed, {n_warn} warned, {n_fail} failed")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orchestration.quality``: scan, print the table (or JSON), exit 1 on failures."""
    p = argparse.ArgumentParser(prog="marketpipe check", description="Soda checks on the serving tables")
    p.add_argument("--suite", action="append", choices=sorted(SUITES), help="only these suites (repeatable)")
    p.add_argument("--json", action="store_true", help="outcomes as JSON")
    args = p.parse_args(argv)
    report = run_scan(load_settings(), args.suite or list(SUITES))
    if args.json:
        print(json.dumps({"outcomes": [asdict(o) for o in report.outcomes], "errors": report.errors,
                          "skipped": report.skipped}, default=str))
    else:
        print(format_table(report))
    if report.errors:
        return 2
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
