"""``marketpipe``: run the local stack, the pipeline job and the feeds.

Usage::

    marketpipe stack up|down|status [--json]
    marketpipe jobs start|stop|restart|status|explain [--job bars|indicators]
    marketpipe feed synthetic --symbols N --rate R --duration S [--accelerate X]
    marketpipe replay PATH [--speed max|N] [--wait]
    marketpipe backfill --bars FILE --timeframe 1m|1d
    marketpipe backfill --ticks FILE
    marketpipe demo [--seconds S] [--keep]
    marketpipe summary [--json]
    marketpipe chart [--port N]
    marketpipe check [--suite daily_bars|bars|session] [--json]
    marketpipe daily-load --source stooq|tiingo|file --symbols A,B --start D --end D [--file F] [--out CSV]
    marketpipe metrics serve|show
    marketpipe contracts register|show [--json]
    marketpipe collect --provider alpaca|massive --symbols A,B|--symbols-file F|--all [--feed iex|sip]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from marketpipe.exceptions import ConfigError, MarketpipeError
from marketpipe.settings import Settings, load_settings

if TYPE_CHECKING:
    from marketpipe.feeds.tick import HeartbeatSchedule

log = logging.getLogger("marketpipe")


def _stack(args: argparse.Namespace, settings: Settings) -> int:
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


def _contracts(args: argparse.Namespace, settings: Settings) -> int:
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


def _jobs(args: argparse.Namespace, settings: Settings) -> int:
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


def _feed(args: argparse.Namespace, settings: Settings) -> int:
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


def _replay(args: argparse.Namespace, settings: Settings) -> int:
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


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
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


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from marketpipe.demo import run_demo

    return run_demo(settings, seconds=args.seconds, keep=args.keep, accelerate=args.accelerate)


def _check(args: argparse.Namespace, settings: Settings) -> int:
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


def _chart(args: argparse.Namespace, settings: Settings) -> int:
    from marketpipe.chart.server import serve

    return serve(settings, port=args.port)


def _summary(args: argparse.Namespace, settings: Settings) -> int:
    from marketpipe.demo import collect_counts

    print(json.dumps(collect_counts(settings), indent=None if args.json else 2, default=str))
    return 0


def _daily_load(args: argparse.Namespace, settings: Settings) -> int:
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


def _metrics(args: argparse.Namespace, settings: Settings) -> int:
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


def _collect(args: argparse.Namespace, settings: Settings) -> int:
    from marketpipe.collectors.command import read_symbols, run_collect

    symbols = read_symbols(args.symbols, args.symbols_file, args.all)
    summary = run_collect(settings, provider=args.provider, symbols=symbols, feed=args.feed, url=args.url,
                          duration=args.duration, quiet=args.quiet, final_heartbeat=args.final_heartbeat)
    print(json.dumps(summary, default=str))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(
        prog="marketpipe",
        description="Ticks -> Kafka -> Flink SQL -> bars, indicators, signals -> PostgreSQL + Iceberg.",
        epilog="Settings come from MARKETPIPE_* environment variables or .env (see docs/configuration.md).",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("stack", help="start, stop or inspect the local Kafka/Flink/PostgreSQL stack")
    s.add_argument("action", choices=["up", "down", "status", "schema"],
                   help="schema: create or upgrade the serving tables in PostgreSQL only")
    s.add_argument("--json", action="store_true", help="machine-readable status")
    s.set_defaults(func=_stack)

    j = sub.add_parser("jobs", help="manage the Flink SQL pipeline jobs (bars, indicators)")
    j.add_argument("action", choices=["start", "stop", "restart", "status", "explain"])
    j.add_argument("--job", choices=["bars", "indicators"], help="only this job (default: both)")
    j.add_argument("--fresh", action="store_true", help="start: ignore the last savepoint")
    j.add_argument("--no-savepoint", action="store_true", help="stop: cancel without a savepoint")
    j.add_argument("--json", action="store_true", help="status as JSON")
    j.set_defaults(func=_jobs)

    ct = sub.add_parser("contracts", help="the topic schemas: register them in the schema registry, or show them")
    ct.add_argument("action", choices=["register", "show"])
    ct.add_argument("--json", action="store_true", help="register: the subjects and ids as JSON")
    ct.set_defaults(func=_contracts)

    f = sub.add_parser("feed", help="produce a live feed into Kafka")
    fsub = f.add_subparsers(dest="feed", required=True, metavar="FEED")
    syn = fsub.add_parser("synthetic", help="random-walk trades for several US symbols")
    syn.add_argument("--symbols", type=int, default=5, help="number of symbols (default 5)")
    syn.add_argument("--rate", type=float, default=50.0, help="ticks per wall second (default 50)")
    syn.add_argument("--duration", type=float, default=60.0, help="wall seconds (default 60)")
    syn.add_argument(
        "--accelerate", type=float, default=1.0, help="event time runs X times faster (default 1)"
    )
    syn.add_argument("--seed", type=int, default=None, help="random seed (reproducible feed)")
    syn.add_argument("--quiet", action="store_true", help="no progress bar")
    syn.set_defaults(func=_feed)

    r = sub.add_parser("replay", help="replay a CSV/Parquet tick file into Kafka")
    r.add_argument("path", help="CSV or Parquet: ts, symbol, price, size[, exchange, conditions, trade_id]")
    r.add_argument("--speed", default="max", help="'max' (default) or a speed-up factor of event time")
    r.add_argument("--wait", action="store_true", help="return once every bar of the file is in PostgreSQL")
    r.add_argument("--timeout", type=float, default=600.0, help="--wait limit in seconds (default 600)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_replay)

    b = sub.add_parser(
        "backfill",
        help="bars from ticks (--ticks) or indicators and signals from bars (--bars), "
        "in Flink batch mode over the streaming SQL",
    )
    what = b.add_mutually_exclusive_group(required=True)
    what.add_argument("--bars", help="CSV/Parquet: symbol, ts|date, open, high, low, close, volume[, vwap]")
    what.add_argument("--ticks", help="tick file as for `marketpipe replay`: bars of every timeframe")
    b.add_argument("--timeframe", choices=["1m", "1d"], help="bar timeframe of a --bars file")
    b.add_argument("--pg-schema", help="PostgreSQL schema to write into (default: public)")
    b.add_argument("--lake-namespace", help="Iceberg namespace for the gold tables (default: gold)")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_backfill)

    d = sub.add_parser("demo", help="stack up, job start, synthetic feed, summary")
    d.add_argument("--seconds", type=float, default=60.0, help="wall seconds of feed (default 60)")
    d.add_argument("--accelerate", type=float, default=60.0, help="event-time speed-up (default 60)")
    d.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    d.set_defaults(func=_demo)

    m = sub.add_parser("summary", help="row counts of every topic, table and lake table")
    m.add_argument("--json", action="store_true", help="one line of JSON")
    m.set_defaults(func=_summary)

    ch = sub.add_parser("chart", help="the live candlestick view: a web page on loopback, reading PostgreSQL")
    ch.add_argument("--port", type=int, default=None, help="listen here (default: MARKETPIPE_CHART_PORT, 18050)")
    ch.set_defaults(func=_chart)

    c = sub.add_parser("check", help="Soda quality checks on the serving tables (exit 1 on failures)")
    c.add_argument("--suite", action="append", choices=["daily_bars", "bars", "session"],
                   help="only this suite (repeatable; default all; session only while the market is open)")
    c.add_argument("--json", action="store_true", help="outcomes as JSON")
    c.set_defaults(func=_check)

    dl = sub.add_parser("daily-load", help="daily OHLCV bars from Stooq, Tiingo or a file, as CSV")
    dl.add_argument("--source", choices=["stooq", "tiingo", "file"], required=True)
    dl.add_argument("--symbols", default="", help="comma-separated, e.g. AAPL,MSFT (file: empty = all)")
    dl.add_argument("--start", required=True, help="first session date, YYYY-MM-DD (inclusive)")
    dl.add_argument("--end", required=True, help="last session date, YYYY-MM-DD (inclusive)")
    dl.add_argument("--file", help="--source file: CSV or Parquet with symbol,date,open,high,low,close,volume")
    dl.add_argument("--out", help="write CSV here instead of printing it")
    dl.set_defaults(func=_daily_load)

    co = sub.add_parser("collect", help="live trades from a provider's websocket into Kafka (until Ctrl-C)",
                        epilog="Credentials: MARKETPIPE_ALPACA_API_KEY/_SECRET or MARKETPIPE_MASSIVE_API_KEY "
                        "(environment, .env or /run/secrets), never arguments. See docs/collectors.md.")
    co.add_argument("--provider", choices=["alpaca", "massive"], required=True)
    co.add_argument("--symbols", help="comma-separated tickers, e.g. AAPL,MSFT")
    co.add_argument("--symbols-file", help="file of tickers (one or more per line, # comments)")
    co.add_argument("--all", action="store_true", help="every symbol the plan allows (alpaca *, massive T.*)")
    co.add_argument("--feed", choices=["iex", "sip"], default="iex", help="alpaca data feed (default iex)")
    co.add_argument("--url", help="endpoint override (tests, a self-hosted gateway): ws[s]://host:port[/path]")
    co.add_argument("--duration", type=float, default=None, help="stop after S wall seconds (default: run forever)")
    co.add_argument("--final-heartbeat", action="store_true",
                    help="on exit, heartbeat past the last minute so its bars close (a finite run, not a service)")
    co.add_argument("--quiet", action="store_true", help="no status lines")
    co.set_defaults(func=_collect)

    mx = sub.add_parser("metrics", help="marketpipe's Prometheus exporter (Flink, consumer lag, pipeline SLIs)")
    mxsub = mx.add_subparsers(dest="action", required=True, metavar="ACTION")
    mxsub.add_parser(
        "serve", help="serve GET /metrics until SIGTERM or Ctrl-C",
        description="Serve marketpipe's metrics (read fresh from Flink, Kafka and PostgreSQL at each scrape) "
        "on http://MARKETPIPE_HOST:MARKETPIPE_METRICS_PORT/metrics (default 127.0.0.1:19400) until SIGTERM or "
        "Ctrl-C. Metric names: docs/monitoring.md.",
    ).set_defaults(func=_metrics)
    mxsub.add_parser(
        "show", help="print one scrape; exit 1 if a source failed",
        description="Read every source once and print the metrics in the Prometheus text format; exit 1 "
        "(naming the source on stderr) if Flink, Kafka or PostgreSQL could not be read.",
    ).set_defaults(func=_metrics)
    rd = mxsub.add_parser(
        "render", help="write Prometheus' config, alert rules and Alertmanager's config for a deployment",
        description="Render the same templates `stack up` uses (marketpipe/monitoring/) into DIR, with other "
        "addresses: prometheus.yml, rules.yml (thresholds from MARKETPIPE_ALERT_*), alertmanager.yml and "
        "feeds/*.json. docker-compose.yml runs it as a one-shot.",
    )
    rd.add_argument("--out", required=True, help="directory to write into (created)")
    rd.add_argument("--target", action="append", default=[], metavar="JOB=HOST:PORT",
                    help="address of a scrape job (prometheus, alertmanager, marketpipe, postgres, kafka); "
                    "the others keep the local stack's")
    rd.add_argument("--feed", action="append", default=[], metavar="NAME=HOST:PORT",
                    help="a long-running feed's /metrics address (a static target of the feeds job)")
    rd.add_argument("--mount", help="where Prometheus sees DIR (default: DIR itself)")
    rd.set_defaults(func=_metrics)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``marketpipe`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args, load_settings()))
    except MarketpipeError as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
