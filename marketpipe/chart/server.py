"""The chart's HTTP server: static page, JSON API and the SSE stream (endpoints: marketpipe.chart).

One ``ThreadingHTTPServer`` thread per request; each API request opens its own PostgreSQL connection
(autocommit, read-only queries) and each stream keeps one for its life. :func:`serve` runs until
SIGINT/SIGTERM, then ends the streams and closes the socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg

from marketpipe import db
from marketpipe.chart import health, queries
from marketpipe.chart.queries import ApiError
from marketpipe.chart.stream import Follower
from marketpipe.settings import Settings
from udfs.bars.model import TIMEFRAMES

log = logging.getLogger("marketpipe.chart")

STATIC_DIR = Path(__file__).with_name("static")
VENDOR_JS = "vendor/lightweight-charts.standalone.production.js"
# The only files served, by URL path (nothing else under static/ is reachable).
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/chart.js": ("chart.js", "text/javascript; charset=utf-8"),
    "/static/chart.css": ("chart.css", "text/css; charset=utf-8"),
    f"/static/{VENDOR_JS}": (VENDOR_JS, "text/javascript; charset=utf-8"),
}
POLL_S = 1.0
STREAM_MAX_S = 3600.0  # then the response ends and the browser's EventSource reconnects
STREAM_ERROR_BACKOFF_S = 3.0


class ChartServer(ThreadingHTTPServer):
    """The HTTP server with what its handlers read: the settings and a stop flag for the streams."""

    daemon_threads = True

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.stopping = threading.Event()
        super().__init__((settings.listen_host, port), ChartHandler)

    @property
    def url(self) -> str:
        """``http://host:port/`` of the page."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"


class ChartHandler(BaseHTTPRequestHandler):
    """Routes GET requests to the static files, the JSON API and the stream."""

    server: ChartServer
    server_version = "marketpipe-chart"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Access lines go to the debug log, not stderr."""
        log.debug("%s %s", self.address_string(), format % args)

    # --- responses -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    # --- routing ---------------------------------------------------------------------------------
    def do_GET(self) -> None:
        """Route by path; ApiError and an unreachable PostgreSQL become JSON errors."""
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        routes = {
            "/api/symbols": self._symbols,
            "/api/bars": self._bars,
            "/api/signals": self._signals,
            "/api/health": self._health,
            "/api/stream": self._stream,
        }
        try:
            if url.path in STATIC_FILES:
                self._static(url.path)
            elif url.path in routes:
                routes[url.path](params)
            else:
                raise ApiError(404, f"no such path: {url.path[:100]}")
        except ApiError as exc:
            self._error(exc.status, str(exc))
        except psycopg.OperationalError as exc:
            log.warning("postgres: %s", exc)
            self._error(503, f"PostgreSQL is unreachable ({db.display_dsn(self.server.settings)})")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client left

    def do_POST(self) -> None:
        """Refuse: the chart only reads."""
        self._error(405, "read-only: GET only")

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def _static(self, path: str) -> None:
        name, content_type = STATIC_FILES[path]
        file = STATIC_DIR / name
        if not file.is_file():
            raise ApiError(404, f"{name} is missing: run `make chart-vendor` (npm ci of marketpipe/chart)")
        self._send(200, file.read_bytes(), content_type, cache="no-cache")

    # --- the API ---------------------------------------------------------------------------------
    @property
    def _schema(self) -> str:
        return self.server.settings.postgres_schema

    def _symbols(self, params: dict[str, str]) -> None:
        with db.connect(self.server.settings) as conn:
            found = queries.symbols(conn, self._schema)
        self._json(200, {"symbols": found, "timeframes": list(TIMEFRAMES)})

    def _bars(self, params: dict[str, str]) -> None:
        symbol, tf = queries.symbol_param(params), queries.timeframe_param(params)
        limit = queries.int_param(params, "limit", queries.DEFAULT_LIMIT, 1, queries.MAX_LIMIT)
        with db.connect(self.server.settings) as conn:
            rows = queries.bars(conn, self._schema, symbol, tf, limit or queries.DEFAULT_LIMIT)
        if not rows:
            raise ApiError(404, f"no bars of {symbol} in bars_{tf}")
        self._json(200, {"symbol": symbol, "timeframe": tf, "bars": rows})

    def _signals(self, params: dict[str, str]) -> None:
        symbol, tf = queries.symbol_param(params), queries.timeframe_param(params)
        strategy = queries.strategy_param(params)
        since = queries.int_param(params, "since", None, 0, 2**40)
        start = None if since is None else queries.from_epoch(since)
        with db.connect(self.server.settings) as conn:
            present = queries.strategies(conn, self._schema, symbol, tf, start)
            rows = queries.signals(conn, self._schema, symbol, tf, strategy, start)
        self._json(200, {"symbol": symbol, "timeframe": tf, "strategy": strategy, "strategies": present,
                         "signals": rows})

    def _health(self, params: dict[str, str]) -> None:
        self._json(200, health.health(self.server.settings))

    # --- the stream ------------------------------------------------------------------------------
    def _event(self, event: str, data: Any, event_id: int | None = None) -> None:
        chunk = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
        chunk += f"data: {json.dumps(data, separators=(',', ':'), allow_nan=False)}\n\n"
        self.wfile.write(chunk.encode())
        self.wfile.flush()

    def _stream(self, params: dict[str, str]) -> None:
        symbol, tf = queries.symbol_param(params), queries.timeframe_param(params)
        since = queries.int_param(params, "since", None, 0, 2**40)
        last_id = self.headers.get("Last-Event-ID", "")
        if last_id.isdigit():  # a reconnect (same URL) resumes where the last response was, not at `since`
            since = int(last_id)
        follower = Follower(self._schema, symbol, tf, None if since is None else queries.from_epoch(since))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(b"retry: 2000\n\n")
        self._event("hello", {"symbol": symbol, "timeframe": tf, "poll_s": POLL_S})
        log.info("stream %s %s opened by %s", symbol, tf, self.address_string())
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client left
            self._follow(follower)
        log.info("stream %s %s closed", symbol, tf)

    def _follow(self, follower: Follower) -> None:
        """Poll and push until the client leaves, the server stops or STREAM_MAX_S pass."""
        stopping, settings = self.server.stopping, self.server.settings
        deadline = time.monotonic() + STREAM_MAX_S
        conn: psycopg.Connection[Any] | None = None
        failing = False
        try:
            while time.monotonic() < deadline and not stopping.is_set():
                try:
                    conn = conn or db.connect(settings)
                    bars, signals = follower.poll(conn)
                except psycopg.Error as exc:
                    log.log(logging.DEBUG if failing else logging.WARNING, "stream: postgres: %s", exc)
                    failing = True
                    self._event("status", {"postgres": "unreachable", "error": type(exc).__name__})
                    if conn is not None:
                        conn.close()
                        conn = None
                    stopping.wait(STREAM_ERROR_BACKOFF_S)
                    continue
                if failing:
                    failing = False
                    self._event("status", {"postgres": "ok"})
                event_id = queries.epoch(follower.key) if follower.key else None
                if bars:
                    self._event("bars", {"bars": bars}, event_id)
                if signals:
                    self._event("signals", {"signals": signals}, event_id)
                if not bars and not signals:
                    self.wfile.write(b": idle\n\n")  # a write is how a closed client is noticed
                    self.wfile.flush()
                stopping.wait(POLL_S)
        finally:
            if conn is not None:
                conn.close()


def serve(settings: Settings, port: int | None = None) -> int:
    """Serve the chart on ``settings.listen_host:port`` (default ``settings.chart_port``) until SIGINT/SIGTERM."""
    server = ChartServer(settings, settings.chart_port if port is None else port)
    if not (STATIC_DIR / VENDOR_JS).is_file():
        log.warning("%s is missing: the page cannot draw; run `make chart-vendor`", STATIC_DIR / VENDOR_JS)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True)
    thread.start()
    log.info("chart: %s (PostgreSQL %s, Prometheus %s)", server.url, db.display_dsn(settings),
             health.prometheus_url(settings))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        log.info("chart: stopping")
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
