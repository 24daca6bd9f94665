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
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from marketpipe import commands
from marketpipe.exceptions import MarketpipeError
from marketpipe.settings import load_settings

if TYPE_CHECKING:
    pass

log = logging.getLogger("marketpipe")


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
    s.set_defaults(func=commands.stack_command)

    j = sub.add_parser("jobs", help="manage the Flink SQL pipeline jobs (bars, indicators)")
    j.add_argument("action", choices=["start", "stop", "restart", "status", "explain"])
    j.add_argument("--job", choices=["bars", "indicators"], help="only this job (default: both)")
    j.add_argument("--fresh", action="store_true", help="start: ignore the last savepoint")
    j.add_argument("--no-savepoint", action="store_true", help="stop: cancel without a savepoint")
    j.add_argument("--json", action="store_true", help="status as JSON")
    j.set_defaults(func=commands.jobs_command)

    ct = sub.add_parser("contracts", help="the topic schemas: register them in the schema registry, or show them")
    ct.add_argument("action", choices=["register", "show"])
    ct.add_argument("--json", action="store_true", help="register: the subjects and ids as JSON")
    ct.set_defaults(func=commands.contracts_command)

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
    syn.set_defaults(func=commands.feed_command)

    r = sub.add_parser("replay", help="replay a CSV/Parquet tick file into Kafka")
    r.add_argument("path", help="CSV or Parquet: ts, symbol, price, size[, exchange, conditions, trade_id]")
    r.add_argument("--speed", default="max", help="'max' (default) or a speed-up factor of event time")
    r.add_argument("--wait", action="store_true", help="return once every bar of the file is in PostgreSQL")
    r.add_argument("--timeout", type=float, default=600.0, help="--wait limit in seconds (default 600)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=commands.replay_command)

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
    b.set_defaults(func=commands.backfill_command)

    d = sub.add_parser("demo", help="stack up, job start, synthetic feed, summary")
    d.add_argument("--seconds", type=float, default=60.0, help="wall seconds of feed (default 60)")
    d.add_argument("--accelerate", type=float, default=60.0, help="event-time speed-up (default 60)")
    d.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    d.set_defaults(func=commands.demo_command)

    m = sub.add_parser("summary", help="row counts of every topic, table and lake table")
    m.add_argument("--json", action="store_true", help="one line of JSON")
    m.set_defaults(func=commands.summary_command)

    ch = sub.add_parser("chart", help="the live candlestick view: a web page on loopback, reading PostgreSQL")
    ch.add_argument("--port", type=int, default=None, help="listen here (default: MARKETPIPE_CHART_PORT, 18050)")
    ch.set_defaults(func=commands.chart_command)

    c = sub.add_parser("check", help="Soda quality checks on the serving tables (exit 1 on failures)")
    c.add_argument("--suite", action="append", choices=["daily_bars", "bars", "session"],
                   help="only this suite (repeatable; default all; session only while the market is open)")
    c.add_argument("--json", action="store_true", help="outcomes as JSON")
    c.set_defaults(func=commands.check_command)

    dl = sub.add_parser("daily-load", help="daily OHLCV bars from Stooq, Tiingo or a file, as CSV")
    dl.add_argument("--source", choices=["stooq", "tiingo", "file"], required=True)
    dl.add_argument("--symbols", default="", help="comma-separated, e.g. AAPL,MSFT (file: empty = all)")
    dl.add_argument("--start", required=True, help="first session date, YYYY-MM-DD (inclusive)")
    dl.add_argument("--end", required=True, help="last session date, YYYY-MM-DD (inclusive)")
    dl.add_argument("--file", help="--source file: CSV or Parquet with symbol,date,open,high,low,close,volume")
    dl.add_argument("--out", help="write CSV here instead of printing it")
    dl.set_defaults(func=commands.daily_load_command)

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
    co.set_defaults(func=commands.collect_command)

    mx = sub.add_parser("metrics", help="marketpipe's Prometheus exporter (Flink, consumer lag, pipeline SLIs)")
    mxsub = mx.add_subparsers(dest="action", required=True, metavar="ACTION")
    mxsub.add_parser(
        "serve", help="serve GET /metrics until SIGTERM or Ctrl-C",
        description="Serve marketpipe's metrics (read fresh from Flink, Kafka and PostgreSQL at each scrape) "
        "on http://MARKETPIPE_HOST:MARKETPIPE_METRICS_PORT/metrics (default 127.0.0.1:19400) until SIGTERM or "
        "Ctrl-C. Metric names: docs/monitoring.md.",
    ).set_defaults(func=commands.metrics_command)
    mxsub.add_parser(
        "show", help="print one scrape; exit 1 if a source failed",
        description="Read every source once and print the metrics in the Prometheus text format; exit 1 "
        "(naming the source on stderr) if Flink, Kafka or PostgreSQL could not be read.",
    ).set_defaults(func=commands.metrics_command)
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
    rd.set_defaults(func=commands.metrics_command)
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
