"""The live candlestick view (``marketpipe chart``): its JSON API and the page in headless Chromium.

Runs its own PostgreSQL (a throw-away data dir under /tmp, a free port, the real schema), writes a
known session of 1m bars with indicators and signals, starts ``.venv/bin/marketpipe chart`` on a free
port (Prometheus's port has nothing on it), and checks the API, then the page: the series hold the
bars, the markers are the chosen strategy's buys and sells, a bar written to PostgreSQL afterwards
(and a revision of the last one) appears without a reload, and the health panel says Prometheus is
unreachable. Screenshots go to ``.data/artifacts/chart-*.png``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

pytest.importorskip("playwright", reason="the browser tier runs under .venv-orch (make test)")

from playwright.sync_api import Page

from marketpipe.settings import REPO_ROOT, Settings, settings_env
from marketpipe.stack.postgres import PostgresService, find_bindir
from tests.browser.support import free_port, screenshot, stop_group, wait_until_up

pytestmark = pytest.mark.browser

PROMETHEUS = Path("/usr/bin/prometheus")
MARKETPIPE = REPO_ROOT / ".venv" / "bin" / "marketpipe"
VENDOR_JS = REPO_ROOT / "marketpipe" / "chart" / "static" / "vendor" / "lightweight-charts.standalone.production.js"
START_TIMEOUT_S = 60
LIVE_TIMEOUT_MS = 20_000

SYMBOL = "TEST"
OTHER = "OTHR"
N_BARS = 60
WARM_FROM = 25  # indicators are NULL on the bars before this one
T0 = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
# macd_rsi: buys at bars 10 and 30, sells at 20 and 40 (4 markers); rsi_reversion: one buy; holds between.
SIGNALS = {("macd_rsi", 10): "buy", ("macd_rsi", 20): "sell", ("macd_rsi", 30): "buy", ("macd_rsi", 40): "sell",
           ("rsi_reversion", 50): "buy"}


def _bar(i: int, close: float | None = None, revision: int = 0) -> dict[str, Any]:
    start = T0 + timedelta(minutes=i)
    c = close if close is not None else 100 + 5 * math.sin(i / 6)
    o = 100 + 5 * math.sin((i - 1) / 6)
    return {"symbol": SYMBOL, "bar_start": start, "bar_end": start + timedelta(minutes=1), "open": o,
            "high": max(o, c) + 0.5, "low": min(o, c) - 0.5, "close": c, "volume": 1000 + 10 * i, "vwap": (o + c) / 2,
            "trade_count": 20 + i, "revision": revision}


def _upsert(conn: psycopg.Connection[Any], table: str, row: dict[str, Any], update: bool = True) -> None:
    """INSERT a row keyed by (symbol[, timeframe], bar_start); on conflict update its other columns (or do nothing)."""
    key = ("symbol", "timeframe", "bar_start") if "timeframe" in row else ("symbol", "bar_start")
    cols = [sql.Identifier(c) for c in row]
    changes = sql.SQL(", ").join(
        sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in row if c not in key
    )
    conn.execute(
        sql.SQL("INSERT INTO {t} ({cols}) VALUES ({values}) ON CONFLICT ({key}) DO {action}").format(
            key=sql.SQL(", ").join(sql.Identifier(c) for c in key),
            t=sql.Identifier(table), cols=sql.SQL(", ").join(cols),
            values=sql.SQL(", ").join(sql.Placeholder() for _ in cols),
            action=sql.SQL("UPDATE SET {}").format(changes) if update else sql.SQL("NOTHING"),
        ),
        list(row.values()),
    )


def _insert_bar(conn: psycopg.Connection[Any], bar: dict[str, Any]) -> None:
    _upsert(conn, "bars", {"timeframe": "1m", **bar})


def _insert_indicators(conn: psycopg.Connection[Any], bar: dict[str, Any], i: int) -> None:
    warm = i >= WARM_FROM  # like the real job: NULL while warming up
    c = bar["close"]
    values = {
        "ema_12": c - 0.2, "ema_26": c - 0.4, "rsi_14": 50 + 20 * math.sin(i / 5), "macd": 0.2 * math.sin(i / 4),
        "macd_signal": 0.15 * math.sin((i - 2) / 4), "sma_20": c - 0.1, "bb_middle": c - 0.1, "bb_upper": c + 2,
        "bb_lower": c - 2,
    }
    values["macd_hist"] = values["macd"] - values["macd_signal"]
    row = {"symbol": SYMBOL, "bar_start": bar["bar_start"], "close": c, "volume": bar["volume"]}
    row.update({k: (v if warm else None) for k, v in values.items()})
    row.update(dict.fromkeys(("is_warm", "ema_12_warm", "ema_26_warm", "rsi_14_warm", "macd_warm", "sma_20_warm",
                              "bb_warm", "atr_14_warm", "stoch_warm", "vwap_warm", "volume_sma_20_warm"), warm))
    _upsert(conn, "indicators_1m", row, update=False)


def _insert_signal(conn: psycopg.Connection[Any], i: int, strategy: str, action: str, timeframe: str = "1m") -> None:
    conn.execute(
        "INSERT INTO signals (symbol, timeframe, bar_start, strategy, action, reason, close) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (symbol, timeframe, bar_start, strategy) "
        "DO UPDATE SET action = excluded.action",
        (SYMBOL, timeframe, T0 + timedelta(minutes=i), strategy, action, f"test {action}", 100.0),
    )


def _seed(conn: psycopg.Connection[Any]) -> None:
    for i in range(N_BARS):
        bar = _bar(i)
        _insert_bar(conn, bar)
        _insert_indicators(conn, bar, i)
        for strategy in ("macd_rsi", "rsi_reversion"):
            _insert_signal(conn, i, strategy, SIGNALS.get((strategy, i), "hold"))
    _insert_signal(conn, 5, "macd_rsi", "buy", timeframe="1d")  # another timeframe: never drawn on 1m
    _insert_bar(conn, {**_bar(0), "symbol": OTHER})


@dataclass
class Chart:
    """The running chart server and the database it reads."""

    url: str
    settings: Settings
    log: Path

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:  # loopback
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.settings.postgres_dsn, autocommit=True, connect_timeout=10)


@contextlib.contextmanager
def _running_chart(settings: Settings, log_path: Path) -> Iterator[str]:
    """``marketpipe chart`` on a free port until the block ends; its URL. It must stop cleanly (exit 0)."""
    if not MARKETPIPE.exists() or not VENDOR_JS.exists():
        pytest.fail(f"{MARKETPIPE} or {VENDOR_JS} is missing: run `make install` (it vendors the chart's JS)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(MARKETPIPE), "chart", "--port", str(port)], cwd=REPO_ROOT,
            env={**os.environ, **settings_env(settings)}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_up(proc, f"{url}/", what="marketpipe chart", log=log_path, timeout_s=START_TIMEOUT_S)
            yield url
            os.killpg(proc.pid, signal.SIGTERM)  # a clean stop: streams end, the socket closes, exit 0
            assert proc.wait(timeout=20) == 0, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def chart() -> Iterator[Chart]:
    """A seeded PostgreSQL and ``marketpipe chart`` on free loopback ports (both stopped at the end)."""
    if find_bindir() is None:
        pytest.fail("no PostgreSQL binaries under /usr/lib/postgresql: `make system-deps` installs them")
    data_dir = Path(tempfile.mkdtemp(prefix="mp-chart-", dir="/tmp"))
    data_dir.chmod(0o755)
    settings = Settings(data_dir=data_dir, postgres_port=free_port(), prometheus_port=free_port())
    pg = PostgresService(settings)
    try:
        pg.start()
        pg.apply_schema()
        with psycopg.connect(settings.postgres_dsn, autocommit=True) as conn:
            _seed(conn)
        with _running_chart(settings, data_dir / "chart.log") as url:
            yield Chart(url, settings, data_dir / "chart.log")
    finally:
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_postgres_down_is_a_503_and_the_page_says_so(tmp_path: Path, page: Page) -> None:
    settings = Settings(data_dir=tmp_path, postgres_port=free_port(), prometheus_port=free_port())
    with _running_chart(settings, tmp_path / "chart.log") as url:
        status, body = Chart(url, settings, tmp_path / "chart.log").get(f"/api/bars?symbol={SYMBOL}")
        assert status == 503
        dsn = f"postgresql://marketpipe@127.0.0.1:{settings.postgres_port}/marketpipe"  # no password
        assert body["error"] == f"PostgreSQL is unreachable ({dsn})"
        page.goto(f"{url}/", timeout=60_000)
        page.get_by_text("cannot list symbols").wait_for(timeout=15_000)
        page.get_by_text("Prometheus unreachable").wait_for(timeout=15_000)


# --- the JSON API ------------------------------------------------------------------------------------

def test_symbols_lists_symbols_with_their_timeframes(chart: Chart) -> None:
    status, body = chart.get("/api/symbols")
    assert status == 200
    assert body["symbols"] == [{"symbol": OTHER, "timeframes": ["1m"]}, {"symbol": SYMBOL, "timeframes": ["1m"]}]
    assert body["timeframes"] == ["1m", "5m", "15m", "1h", "1d"]


def test_bars_joins_indicators_oldest_first(chart: Chart) -> None:
    status, body = chart.get(f"/api/bars?symbol={SYMBOL}&timeframe=1m&limit=50")
    assert status == 200
    bars = body["bars"]
    assert len(bars) == 50
    assert [b["time"] for b in bars] == [int((T0 + timedelta(minutes=i)).timestamp()) for i in range(10, N_BARS)]
    first, last = bars[0], bars[-1]
    assert first["ema_12"] is None and first["rsi_14"] is None  # bar 10 is still warming up
    expected = _bar(N_BARS - 1)
    assert last["close"] == pytest.approx(expected["close"])
    assert last["volume"] == expected["volume"]
    assert last["ema_12"] == pytest.approx(expected["close"] - 0.2)
    assert last["bb_upper"] == pytest.approx(expected["close"] + 2)
    assert last["macd_hist"] is not None and last["rsi_14"] is not None


def test_bars_without_an_indicator_table_still_answer(chart: Chart) -> None:
    with chart.connect() as conn:
        conn.execute("INSERT INTO bars SELECT '5m', * FROM bars_1m WHERE symbol = %s AND bar_start < %s",
                     (SYMBOL, T0 + timedelta(minutes=3)))
    status, body = chart.get(f"/api/bars?symbol={SYMBOL}&timeframe=5m")
    assert status == 200
    assert len(body["bars"]) == 3
    assert all(b["ema_12"] is None for b in body["bars"])


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"/api/bars?symbol={SYMBOL}&timeframe=2m", 400, "timeframe must be one of"),
        ("/api/bars?timeframe=1m", 400, "symbol is required"),
        ("/api/bars?symbol=DROP%20TABLE&timeframe=1m", 400, "not a symbol"),
        (f"/api/bars?symbol={SYMBOL}&limit=0", 400, "limit must be between"),
        (f"/api/bars?symbol={SYMBOL}&limit=abc", 400, "limit must be an integer"),
        ("/api/bars?symbol=NOPE&timeframe=1m", 404, "no bars of NOPE"),
        (f"/api/signals?symbol={SYMBOL}&strategy=a;b", 400, "not a strategy"),
        ("/api/nothing", 404, "no such path"),
    ],
)
def test_bad_requests_get_json_errors(chart: Chart, path: str, status: int, message: str) -> None:
    got, body = chart.get(path)
    assert got == status
    assert message in body["error"]


def test_signals_are_buys_and_sells_of_the_timeframe(chart: Chart) -> None:
    status, body = chart.get(f"/api/signals?symbol={SYMBOL}&timeframe=1m&strategy=macd_rsi")
    assert status == 200
    assert body["strategies"] == ["macd_rsi", "rsi_reversion"]
    got = [(s["time"], s["action"]) for s in body["signals"]]
    want = sorted(
        (int((T0 + timedelta(minutes=i)).timestamp()), a) for (st, i), a in SIGNALS.items() if st == "macd_rsi"
    )
    assert got == want
    _, every = chart.get(f"/api/signals?symbol={SYMBOL}&timeframe=1m")
    assert len(every["signals"]) == len(SIGNALS)
    since = int((T0 + timedelta(minutes=45)).timestamp())
    _, recent = chart.get(f"/api/signals?symbol={SYMBOL}&timeframe=1m&since={since}")
    assert recent["strategies"] == ["macd_rsi", "rsi_reversion"]  # macd_rsi still has holds after bar 45
    assert [(s["strategy"], s["action"]) for s in recent["signals"]] == [("rsi_reversion", "buy")]


def test_health_says_prometheus_is_unreachable(chart: Chart) -> None:
    status, body = chart.get("/api/health")
    assert status == 200
    assert body["prometheus"]["reachable"] is False
    assert body["prometheus"]["url"] == f"http://127.0.0.1:{chart.settings.prometheus_port}"
    assert body["prometheus"]["error"]


def _sse_events(
    url: str, path: str, want: int, timeout_s: float = 15, headers: dict[str, str] | None = None
) -> list[tuple[str, Any]]:
    """The first ``want`` named events of an SSE response (comments and the retry line skipped)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    events: list[tuple[str, Any]] = []
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Type") == "text/event-stream"
        deadline = time.monotonic() + timeout_s
        name = ""
        while len(events) < want and time.monotonic() < deadline:
            line = resp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    finally:
        conn.close()
    return events


def test_stream_starts_with_the_recent_bars_and_signals(chart: Chart) -> None:
    events = _sse_events(chart.url, f"/api/stream?symbol={SYMBOL}&timeframe=1m", want=3)
    assert [name for name, _ in events] == ["hello", "bars", "signals"]
    bars = events[1][1]["bars"]
    assert len(bars) == 20  # marketpipe.chart.stream.RECENT_BARS
    assert bars[-1]["time"] == int((T0 + timedelta(minutes=N_BARS - 1)).timestamp())
    # only buys and sells reach a client that has seen nothing (bar 40 is the only one among the last 20)
    assert [(s["strategy"], s["action"]) for s in events[2][1]["signals"]] == [("macd_rsi", "sell"),
                                                                              ("rsi_reversion", "buy")]


def test_stream_reconnect_resumes_at_last_event_id(chart: Chart) -> None:
    resume = int((T0 + timedelta(minutes=N_BARS - 5)).timestamp())
    events = _sse_events(chart.url, f"/api/stream?symbol={SYMBOL}&timeframe=1m&since=0", want=2,
                         headers={"Last-Event-ID": str(resume)})
    assert events[1][0] == "bars"
    assert [b["time"] for b in events[1][1]["bars"]] == [resume + 60 * i for i in range(5)]


def test_stream_rejects_a_bad_timeframe(chart: Chart) -> None:
    status, body = chart.get(f"/api/stream?symbol={SYMBOL}&timeframe=7m")
    assert status == 400 and "timeframe" in body["error"]


# --- the page (the `page` fixture: tests/browser/conftest.py) ----------------------------------------

def test_page_draws_bars_markers_and_follows_new_bars(chart: Chart, page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{chart.url}/?symbol={SYMBOL}&timeframe=1m", timeout=60_000)
    page.wait_for_function(f"window.mpChart && window.mpChart.candleCount() === {N_BARS}", timeout=30_000)
    assert page.evaluate("window.mpChart.markerCount()") == 4  # macd_rsi, the first strategy
    counts = page.evaluate("window.mpChart.seriesCounts()")
    assert counts["volume"] == N_BARS  # a line holds its warm values only (warm-up bars are whitespace)
    assert counts["rsi"] == counts["ema12"] == counts["bbUpper"] == counts["macdHist"] == N_BARS - WARM_FROM
    assert page.locator("#chart").get_attribute("data-candles") == str(N_BARS)
    page.wait_for_function("document.getElementById('status').textContent === 'live'", timeout=30_000)
    page.locator("#prometheus-unreachable").wait_for(timeout=30_000)
    assert "Prometheus unreachable" in page.locator("#health").inner_text()
    screenshot(page, "chart-initial.png")

    # the other strategy's markers
    page.select_option("#strategy", "rsi_reversion")
    page.wait_for_function("window.mpChart.markerCount() === 1", timeout=5_000)
    page.select_option("#strategy", "macd_rsi")
    page.wait_for_function("window.mpChart.markerCount() === 4", timeout=5_000)

    # live: a new bar, a revision of the last one and a new signal, without a reload
    page.evaluate("window.__notReloaded = true")
    revised_close = 123.25
    with chart.connect() as conn:
        _insert_bar(conn, _bar(N_BARS - 1, close=revised_close, revision=1))
        new_bar = _bar(N_BARS)
        _insert_bar(conn, new_bar)
        _insert_signal(conn, N_BARS, "macd_rsi", "buy")
    page.wait_for_function(f"window.mpChart.candleCount() === {N_BARS + 1}", timeout=LIVE_TIMEOUT_MS)
    page.wait_for_function("window.mpChart.markerCount() === 5", timeout=LIVE_TIMEOUT_MS)
    revised_time = int((T0 + timedelta(minutes=N_BARS - 1)).timestamp())
    page.wait_for_function(
        f"window.mpChart.state.bars.find((b) => b.time === {revised_time}).close === {revised_close}",
        timeout=LIVE_TIMEOUT_MS,
    )
    last = page.evaluate("window.mpChart.lastCandle()")
    assert last["time"] == int(new_bar["bar_start"].timestamp())
    assert last["close"] == pytest.approx(new_bar["close"])
    assert page.evaluate("window.__notReloaded") is True
    assert screenshot(page, "chart-live.png").stat().st_size > 10_000
    assert errors == []

    # leaving the page ends its stream on the server (noticed at the next write, about a second later)
    page.goto("about:blank")

    def streams() -> tuple[int, int]:
        text = chart.log.read_text()
        return text.count(f"stream {SYMBOL} 1m opened"), text.count(f"stream {SYMBOL} 1m closed")

    deadline = time.monotonic() + 15
    while streams()[0] != streams()[1] and time.monotonic() < deadline:
        time.sleep(0.5)
    opened, closed = streams()
    assert opened >= 2 and closed == opened  # this page's and test_stream_*'s


# --- the health panel with a real Prometheus ---------------------------------------------------------

LAST_BAR_END = int((T0 + timedelta(minutes=N_BARS)).timestamp())
# What marketpipe's exporter serves (names from the monitoring contract), as a fixed exposition.
METRICS = f"""\
marketpipe_kafka_consumer_lag{{group="marketpipe-pipeline",topic="ticks.raw",partition="0"}} 7
marketpipe_kafka_consumer_lag{{group="marketpipe-pipeline",topic="ticks.raw",partition="1"}} 0
marketpipe_ticks_dead_lettered_total{{stage="clean",reason="bad_price"}} 3
marketpipe_ticks_dead_lettered_total{{stage="bars",reason="late"}} 11
marketpipe_bar_last_end_seconds{{symbol="{SYMBOL}"}} {LAST_BAR_END}
"""
PROMETHEUS_YML = """\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [rules.yml]
scrape_configs:
  - job_name: marketpipe
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
"""
RULES_YML = """\
groups:
  - name: chart-test
    rules:
      - alert: MarketpipeNoBars
        expr: marketpipe_bar_last_end_seconds < 4000000000
        labels: {severity: warning}
        annotations: {summary: "no new bar", description: "always firing in this test"}
"""


class _Exposition(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = METRICS.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def prometheus(chart: Chart) -> Iterator[str]:
    """Debian's Prometheus on the chart's prometheus_port, scraping a fixed exposition, one rule firing."""
    if not PROMETHEUS.exists():
        pytest.fail(f"{PROMETHEUS} is missing: `make system-deps` installs prometheus")
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    threading.Thread(target=exporter.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    home = Path(tempfile.mkdtemp(prefix="mp-chart-prom-", dir="/tmp"))
    (home / "prometheus.yml").write_text(PROMETHEUS_YML.format(port=exporter.server_address[1]))
    (home / "rules.yml").write_text(RULES_YML)
    url = f"http://127.0.0.1:{chart.settings.prometheus_port}"
    log = (home / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
         f"--web.listen-address=127.0.0.1:{chart.settings.prometheus_port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until_up(proc, f"{url}/-/ready", what="prometheus", log=home / "prometheus.log", timeout_s=START_TIMEOUT_S)
        yield url
    finally:
        stop_group(proc)
        log.close()
        exporter.shutdown()
        exporter.server_close()
        shutil.rmtree(home, ignore_errors=True)


def test_health_reads_lag_dead_letters_last_bars_and_alerts(chart: Chart, prometheus: str, page: Page) -> None:
    deadline = time.monotonic() + 60
    while True:  # the first scrape and the first rule evaluation take a few seconds
        status, body = chart.get("/api/health")
        if body["prometheus"]["reachable"] and body.get("alerts_firing") and body.get("consumer_lag"):
            break
        assert time.monotonic() < deadline, body
        time.sleep(1)
    assert status == 200 and "errors" not in body
    assert [(r["topic"], r["partition"], r["lag"]) for r in body["consumer_lag"]] == [("ticks.raw", "0", 7),
                                                                                    ("ticks.raw", "1", 0)]
    assert [(r["reason"], r["stage"], r["count"]) for r in body["dead_letters"]] == [("late", "bars", 11),
                                                                                   ("bad_price", "clean", 3)]
    assert body["last_bar"] == [{"symbol": SYMBOL, "bar_end": LAST_BAR_END}]
    assert [(a["alertname"], a["severity"], a["summary"]) for a in body["alerts_firing"]] == [
        ("MarketpipeNoBars", "warning", "no new bar")
    ]

    page.goto(f"{chart.url}/?symbol={SYMBOL}&timeframe=1m", timeout=60_000)
    health = page.locator("#health")
    for text in ("MarketpipeNoBars", "ticks.raw", "late", "bad_price", SYMBOL):
        health.get_by_text(text, exact=True).first.wait_for(timeout=15_000)
    assert "Prometheus unreachable" not in health.inner_text()
    screenshot(page, "chart-health.png")
