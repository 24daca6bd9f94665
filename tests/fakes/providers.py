"""A fake Stooq + Tiingo HTTP server on 127.0.0.1 serving recorded answers and scripted failures.

    with FakeProviderServer() as server:
        server.script("AAPL", rate_limited(retry_after=1), SERVE)   # 429 then the recording
        loader = StooqLoader(client, base_url=server.base_url)

Routes (the providers' documented ones):

* ``GET /q/d/l/?s=aapl.us&d1=YYYYMMDD&d2=YYYYMMDD&i=d`` -> ``tests/data/providers/stooq/aapl.us.csv``
  filtered to ``d1..d2``; an unknown symbol gets Stooq's body ``No data``.
* ``GET /tiingo/daily/<symbol>/prices?startDate=&endDate=&format=json`` with ``Authorization: Token
  <key>`` -> ``tests/data/providers/tiingo/<SYMBOL>.json`` filtered; a wrong key gets 401
  ``{"detail": "Invalid token."}``, an unknown symbol 404 ``{"detail": "Error: Ticker 'X' not found"}``.

Scripted answers (``script``) are consumed one per request of that symbol, before the recording.
Every request is recorded (``requests``, ``count``) so tests can assert retries.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RECORDINGS = Path(__file__).resolve().parent.parent / "data" / "providers"
VALID_KEY = "test-key-123"
MAX_DELAY_S = 30.0  # a slow answer never holds a handler thread longer than this


@dataclass(frozen=True)
class Scripted:
    """One canned answer; ``serve_recording`` sends the normal answer after ``delay_s``."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    serve_recording: bool = False


SERVE = Scripted(serve_recording=True)


def rate_limited(retry_after: int | None = 1) -> Scripted:
    """HTTP 429, optionally with ``Retry-After`` (seconds)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Scripted(429, b'{"detail": "Too many requests"}', {"Content-Type": "application/json", **headers})


def server_error(status: int = 500) -> Scripted:
    """A 5xx with an HTML body, as load balancers send them."""
    return Scripted(status, b"<html><body><h1>500 Internal Server Error</h1></body></html>",
                    {"Content-Type": "text/html"})


def slow(delay_s: float) -> Scripted:
    """The normal answer, but only after ``delay_s`` (beyond the client's timeout in tests)."""
    return Scripted(delay_s=delay_s, serve_recording=True)


TRUNCATED_JSON = Scripted(200, b'[{"date":"2024-03-01T00:00:00.000Z","close":179.66,"high":180.5',
                          {"Content-Type": "application/json"})
CSV_GARBAGE = Scripted(200, b"\x00\x17garbage;;;\nnot,a,stooq\n", {"Content-Type": "text/csv"})
STOOQ_HITS_LIMIT = Scripted(200, b"Exceeded the daily hits limit", {"Content-Type": "text/plain"})
STOOQ_HTML = Scripted(
    200, b"<!DOCTYPE html><html><head><title>Stooq</title></head><body>Please try later</body></html>",
    {"Content-Type": "text/html"},
)


@dataclass(frozen=True)
class RecordedRequest:
    """What the server saw of one request."""

    provider: str
    symbol: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeProviderServer:
    """Context manager running the fake on ``127.0.0.1:<free port>``; ``base_url`` serves both providers."""

    def __init__(self, api_key: str = VALID_KEY, recordings: Path = RECORDINGS) -> None:
        self.api_key = api_key
        self.recordings = recordings
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> FakeProviderServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Binds a free port on 127.0.0.1 and serves in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Wakes slow handlers, stops serving and closes the socket."""
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # -- scripting and counting ----------------------------------------------------------------
    def script(self, symbol: str, *answers: Scripted) -> None:
        """Queue answers for the next requests of ``symbol`` (either provider), in order."""
        with self._lock:
            self._scripts[symbol.upper()].extend(answers)

    def count(self, provider: str | None = None, symbol: str | None = None) -> int:
        """Requests seen, optionally of one provider ("stooq"/"tiingo") and/or symbol."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (provider is None or r.provider == provider) and (symbol is None or r.symbol == symbol.upper())
            )

    def _record(self, request: RecordedRequest) -> Scripted | None:
        with self._lock:
            self.requests.append(request)
            queue = self._scripts.get(request.symbol)
            return queue.popleft() if queue else None

    # -- answers -------------------------------------------------------------------------------
    def stooq_answer(self, query: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        """The recorded CSV of ``s`` filtered to ``d1..d2`` (YYYYMMDD), or ``No data``."""
        path = self.recordings / "stooq" / f"{query.get('s', '').lower()}.csv"
        if not path.is_file():
            return 200, b"No data", {"Content-Type": "text/plain"}
        lo, hi = _iso(query.get("d1", "19000101")), _iso(query.get("d2", "29991231"))
        lines = path.read_text().splitlines()
        rows = [ln for ln in lines[1:] if lo <= ln[:10] <= hi]
        if not rows:
            return 200, b"No data", {"Content-Type": "text/plain"}
        body = "\r\n".join([lines[0], *rows]) + "\r\n"
        return 200, body.encode(), {"Content-Type": "text/csv",
                                    "Content-Disposition": f"attachment;filename={query['s']}_d.csv"}

    def tiingo_answer(self, symbol: str, query: dict[str, str], auth: str) -> tuple[int, bytes, dict[str, str]]:
        """The recorded price list of ``symbol`` filtered to ``startDate..endDate``, or Tiingo's errors."""
        json_type = {"Content-Type": "application/json"}
        if auth != f"Token {self.api_key}":
            return 401, json.dumps({"detail": "Invalid token."}).encode(), json_type
        path = self.recordings / "tiingo" / f"{symbol}.json"
        if not path.is_file():
            return 404, json.dumps({"detail": f"Error: Ticker '{symbol.lower()}' not found"}).encode(), json_type
        lo, hi = query.get("startDate", "1900-01-01"), query.get("endDate", "2999-12-31")
        items = [i for i in json.loads(path.read_text()) if lo <= i["date"][:10] <= hi]
        return 200, json.dumps(items).encode(), json_type


def _iso(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:6]}-{compact[6:8]}"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeProviderServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:  # http.server's naming
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = [p for p in url.path.split("/") if p]
        if parts[:3] == ["q", "d", "l"]:
            provider, symbol = "stooq", query.get("s", "").upper().removesuffix(".US")
        elif len(parts) == 4 and parts[:2] == ["tiingo", "daily"] and parts[3] == "prices":
            provider, symbol = "tiingo", urllib.parse.unquote(parts[2]).upper()
        else:
            self._send(404, b'{"detail": "Not found."}', {"Content-Type": "application/json"})
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        scripted = self.fake._record(RecordedRequest(provider, symbol, url.path, query, headers))
        # A delay is bounded, and cut short when the server closes so tests never wait for a slow answer.
        if (scripted is not None and scripted.delay_s
                and self.fake._closing.wait(min(scripted.delay_s, MAX_DELAY_S))):
            return
        if scripted is not None and not scripted.serve_recording:
            self._send(scripted.status, scripted.body, dict(scripted.headers))
            return
        if provider == "stooq":
            status, body, out_headers = self.fake.stooq_answer(query)
        else:
            status, body, out_headers = self.fake.tiingo_answer(symbol, query, headers.get("authorization", ""))
        self._send(status, body, out_headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left; that is the point of a slow answer
