"""The ``marketpipe`` commands, one function each: ``(args, settings) -> exit code``.

marketpipe/cli.py builds the argument parser and calls these; each imports what it needs when it runs,
so ``marketpipe --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from marketpipe.exceptions import ConfigError
from marketpipe.settings import Settings

if TYPE_CHECKING:
    from marketpipe.feeds.tick import HeartbeatSchedule

log = logging.getLogger("marketpipe")


def stack_command(args: argparse.Namespace, settings: Settings) -> int:
    """``stack up|down|status|schema``: the local stack; exit 1 when what was asked for is not healthy."""
    from marketpipe.stack.launcher import Stack, dumps, format_status

    if args.action == "schema":
        # Only the serving tables, as the app user (docker-compose runs it: the image's PostgreSQL has
        # no marketpipe to render them); `up` does it too, and provisions the BI role.
        from marketpipe.stack.pg_schema import apply_schema

        apply_schema(settings)
        print(f"serving tables up to date in {settings.postgres_db} ({settings.postgres_schema})")
        return 0
    stack = Stack(settings)
    if args.action == "down":
        stack.down()
        services = stack.status()
        print(dumps(stack.status_json(services, jobs=[])) if args.json else format_status(services))
        return 0
    if args.action == "up":
        stack.up()
    # Health is checked, never assumed: services, each pipeline job's state and its last checkpoint.
    services = stack.status()
    jobs = stack.job_status(flink_up=any(s.name == "flink" and s.healthy for s in services))
    report = stack.status_json(services, jobs)
    print(dumps(report) if args.json else format_status(services, jobs, report["advice"]))
    if args.action == "up":
        return 0 if report["services_healthy"] else 1  # `up` starts services; `jobs start` starts the jobs
    return 0 if report["healthy"] else 1


def contracts_command(args: argparse.Namespace, settings: Settings) -> int:
    """``register``: the topic contracts into the schema registry (``stack up`` does it too; compose runs it
    as a one-shot); ``show``: the schemas, as registered."""
    from marketpipe.contracts.registry import contract_schemas, register_contracts

    if args.action == "show":
        schemas: dict[str, object] = {}
        for name, schema in contract_schemas(settings):
            assert schema.schema_str is not None  # contract_schemas builds every schema from its text
            schemas[name] = json.loads(schema.schema_str)
        print(json.dumps(schemas, indent=2))
        return 0
    if not settings.schema_registry:
        raise ConfigError("MARKETPIPE_SCHEMA_REGISTRY is off: there is no registry to register the contracts in")
    done = register_contracts(settings)
    if args.json:
        print(json.dumps([{"subject": r.subject, "type": r.schema_type, "id": r.schema_id} for r in done]))
    else:
        for r in done:
            print(f"{r.subject}: {r.schema_type} schema id {r.schema_id} (BACKWARD)")
    return 0


def jobs_command(args: argparse.Namespace, settings: Settings) -> int:
    """``jobs start|stop|restart|status|explain``: the pipeline jobs on the Flink cluster."""
    from marketpipe.jobs.control import PipelineControl

    control = PipelineControl(settings)
    if args.action == "start":
        print(control.start(fresh=args.fresh, only=args.job))
    elif args.action == "stop":
        print(control.stop(savepoint=not args.no_savepoint, only=args.job))
    elif args.action == "restart":
        print(control.stop(savepoint=True, only=args.job))
        print(control.start(fresh=False, only=args.job))
    elif args.action == "explain":
        for job in [args.job] if args.job else ["bars", "indicators"]:
            print(control.explain(job))
    else:
        jobs = control.status()
        if args.json:
            print(json.dumps(jobs, indent=2, default=str))
        else:
            if not jobs:
                print("no jobs on the cluster")
            for j in jobs:
                print(f"{j['id']}  {j['state']:<10}  {j['name']}")
    return 0


def _heartbeats(settings: Settings) -> HeartbeatSchedule:
    from marketpipe.feeds.tick import HeartbeatSchedule

    return HeartbeatSchedule(settings.heartbeat_interval_s, settings.heartbeat_every_ticks)


def feed_command(args: argparse.Namespace, settings: Settings) -> int:
    """``feed synthetic``: random-walk trades into the raw topic, then the closing heartbeats."""
    from marketpipe.feeds.producer import TickProducer
    from marketpipe.feeds.synthetic import SyntheticFeed
    from marketpipe.monitoring import feed_metrics
    from marketpipe.rules.ticks import TickRules

    feed = SyntheticFeed(
        symbols=args.symbols,
        rate=args.rate,
        duration=args.duration,
        accelerate=args.accelerate,
        seed=args.seed,
    )
    producer = TickProducer(settings)
    feed_metrics.start(settings, "synthetic", producer)
    summary = feed.run(producer, progress=not args.quiet, heartbeats=_heartbeats(settings),
                       rules=TickRules.from_settings(settings))
    summary["expected_bars"] = len(summary["expected_bars"])
    summary["trades"] = sum(len(ts) for ts in summary["trades"].values())
    summary["heartbeats"] = producer.heartbeats
    print(json.dumps(summary, default=str))
    return 0


def replay_command(args: argparse.Namespace, settings: Settings) -> int:
    """``replay PATH``: a tick file into the raw topic; with ``--wait``, until its bars are in PostgreSQL."""
    from marketpipe.db import wait_for_bars
    from marketpipe.feeds.producer import TickProducer
    from marketpipe.feeds.replay import replay
    from marketpipe.monitoring import feed_metrics
    from marketpipe.rules.ticks import TickRules

    speed: Literal["max"] | float = "max" if args.speed == "max" else float(args.speed)
    producer = TickProducer(settings)
    feed_metrics.start(settings, "replay", producer)
    summary = replay(Path(args.path), producer, speed=speed, progress=not args.quiet, keep_trades=args.wait,
                     heartbeats=_heartbeats(settings), rules=TickRules.from_settings(settings))
    print(
        f"replayed {summary.rows} rows ({summary.valid_rows} valid-looking) of {len(summary.symbols)} "
        f"symbols: {producer.ticks_delivered} delivered, {producer.heartbeats} heartbeats; "
        f"{len(summary.expected_bars)} minutes with valid-looking trades",
        file=sys.stderr,
    )
    if not args.wait:
        return 0
    from marketpipe.rules.bar_config import bar_config

    expected = summary.expected_bars_by_rules(bar_config(settings))
    dead = len(summary.expected_bars) - len(expected)
    if not expected:
        # Nothing to compare: say so instead of reporting bars that nobody checked.
        print(
            f"--wait: nothing to wait for: the bar rules make no 1m bar of this file's {summary.rows} rows "
            f"({summary.valid_rows} valid-looking; their trades are dead-lettered or there are none)",
            file=sys.stderr,
        )
        return 0
    check = wait_for_bars(settings, expected, timeout=args.timeout, progress=not args.quiet)
    note = f"; {dead} minute(s) with valid-looking trades make no bar by the bar rules" if dead > 0 else ""
    print(
        f"{check.found} of {check.expected} expected bars are in postgres ({check.table}, checked by "
        f"symbol and bar_start){note}",
        file=sys.stderr,
    )
    return 0 if check.complete else 1


def backfill_command(args: argparse.Namespace, settings: Settings) -> int:
    """``backfill --bars FILE | --ticks FILE``: a batch job over stored bars or ticks, to completion."""
    from marketpipe.backfill import run_backfill, run_ticks_backfill

    updates = {}
    if args.pg_schema:
        updates["postgres_schema"] = args.pg_schema
    if args.lake_namespace:
        updates["lake_gold"] = args.lake_namespace
    settings = settings.model_copy(update=updates)
    if args.ticks:
        ticks = run_ticks_backfill(settings, Path(args.ticks), progress=not args.quiet)
        print(json.dumps({
            "ticks": ticks.ticks, "job_id": ticks.job_id, "job_seconds": round(ticks.seconds, 3),
            "postgres": f"{settings.postgres_schema}.bars",
        }))
        return 0
    if not args.timeframe:
        raise SystemExit("marketpipe backfill --bars: --timeframe is required")
    result = run_backfill(settings, Path(args.bars), args.timeframe, progress=not args.quiet)
    print(
        json.dumps(
            {
                "bars": result.bars,
                "symbols": result.symbols,
                "job_id": result.job_id,
                "job_seconds": round(result.seconds, 3),
                "bars_per_second": round(result.bars_per_second, 1),
                "postgres": f"{settings.postgres_schema}.indicators_{args.timeframe}, "
                f"{settings.postgres_schema}.signals",
                "lake": f"{settings.lake_gold}.indicators_{args.timeframe}, {settings.lake_gold}.signals",
            }
        )
    )
    return 0


def demo_command(args: argparse.Namespace, settings: Settings) -> int:
    """``demo``: stack up, jobs started, a synthetic feed, then the summary."""
    from marketpipe.demo import run_demo

    return run_demo(settings, seconds=args.seconds, keep=args.keep, accelerate=args.accelerate)


def check_command(args: argparse.Namespace, settings: Settings) -> int:
    """``check``: Soda quality checks on the serving tables (in .venv-orch); exit 1 on failures."""
    # Soda lives in .venv-orch (its pins conflict with PyFlink's): run the scan there as a subprocess.
    import os
    import subprocess

    from marketpipe.exceptions import InstallError
    from marketpipe.settings import REPO_ROOT, settings_env

    python = REPO_ROOT / ".venv-orch" / "bin" / "python"
    if not python.exists():
        raise InstallError(f"{python} is missing: run `make orch-venv` (it creates .venv-orch)")
    argv = [str(python), "-m", "orchestration.quality"]
    for suite in args.suite or []:
        argv += ["--suite", suite]
    if args.json:
        argv.append("--json")
    env = {**os.environ, **settings_env(settings)}
    return subprocess.run(argv, env=env, cwd=REPO_ROOT, check=False).returncode


def chart_command(args: argparse.Namespace, settings: Settings) -> int:
    """``chart``: the live candlestick view on loopback, until Ctrl-C."""
    from marketpipe.chart.server import serve

    return serve(settings, port=args.port)


def summary_command(args: argparse.Namespace, settings: Settings) -> int:
    """``summary``: row counts of every topic, table and lake table."""
    from marketpipe.demo import collect_counts

    print(json.dumps(collect_counts(settings), indent=None if args.json else 2, default=str))
    return 0


def daily_load_command(args: argparse.Namespace, settings: Settings) -> int:
    """``daily-load``: daily OHLCV bars from a provider or a file, written as CSV."""
    from datetime import date

    from marketpipe.loaders import get_loader, write_csv

    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as exc:
        raise ConfigError(f"--start/--end must be YYYY-MM-DD: {exc}") from None
    symbols = [s for s in args.symbols.split(",") if s.strip()] if args.symbols else []
    loader = get_loader(args.source, settings, path=Path(args.file) if args.file else None)
    bars = loader.load(symbols, start, end)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as out:
            written = write_csv(bars, out, settings.daily_calendar)
    else:
        written = write_csv(bars, sys.stdout, settings.daily_calendar)
    for reject in loader.last_rejects:
        print(f"rejected {reject.symbol} {reject.session_date or '-'}: {reject.reason}", file=sys.stderr)
    print(
        f"{written} bars{f' -> {args.out}' if args.out else ''}, {len(loader.last_rejects)} rejected",
        file=sys.stderr,
    )
    return 0


def metrics_command(args: argparse.Namespace, settings: Settings) -> int:
    """``metrics serve|show|render``: the Prometheus exporter, its figures once, or the config files."""
    from marketpipe.monitoring import exporter

    if args.action == "render":
        from marketpipe.monitoring.config import render_to

        def pairs(items: list[str], what: str) -> dict[str, str]:
            out: dict[str, str] = {}
            for item in items:
                name, sep, address = item.partition("=")
                if not sep or not name or ":" not in address:
                    raise SystemExit(f"marketpipe metrics render: {what} {item!r} is not NAME=HOST:PORT")
                out[name] = address
            return out

        written = render_to(settings, Path(args.out), targets=pairs(args.target, "--target"),
                            feeds=pairs(args.feed, "--feed"), mount=Path(args.mount) if args.mount else None)
        for path in written:
            print(path)
        return 0
    return exporter.serve(settings) if args.action == "serve" else exporter.show(settings)


def collect_command(args: argparse.Namespace, settings: Settings) -> int:
    """``collect``: live trades from a provider's websocket into the raw topic, until Ctrl-C."""
    from marketpipe.collectors.command import read_symbols, run_collect

    symbols = read_symbols(args.symbols, args.symbols_file, args.all)
    summary = run_collect(settings, provider=args.provider, symbols=symbols, feed=args.feed, url=args.url,
                          duration=args.duration, quiet=args.quiet, final_heartbeat=args.final_heartbeat)
    print(json.dumps(summary, default=str))
    return 0
