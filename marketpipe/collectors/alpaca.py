"""Alpaca's real-time stock trades (``wss://stream.data.alpaca.markets/v2/{iex,sip}``) via alpaca-py.

Built on :class:`alpaca.data.live.StockDataStream`: its URL per feed (or ``url_override``), headers and
websocket parameters, its auth and subscribe messages (msgpack) and its handler dispatch. We do not use its
``run()`` loop, because it cannot give the collector's guarantees: it retries a refused key forever (only
"insufficient subscription" ends it), logs error frames (405 symbol limit, 406 connection limit, ...)
without telling the caller, drops the error code when authentication fails, resets the staleness clock
only on market data and logs a malformed frame as an exception. So the collector core runs the SDK's
steps one connection at a time (:meth:`AlpacaStream.session`) and owns reconnects, back-off, stall
detection and error classification.

Wire (msgpack): ``[{"T":"success","msg":"connected"}]`` -> auth -> ``[{"T":"success","msg":"authenticated"}]``
or ``[{"T":"error","code":402,"msg":"auth failed"}]``; subscribe -> ``[{"T":"subscription","trades":[...]}]``;
trades ``{"T":"t","S","i","x","p","s","c":[...],"z","t":<msgpack Timestamp>}``, several per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgpack
from alpaca.data.enums import DataFeed
from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Trade
from websockets.legacy import client as websockets_legacy

from marketpipe.collectors.base import CollectorConfig, CollectorStats, Emit, ProviderStream
from marketpipe.collectors.exceptions import CollectorError, ProviderAuthError, ProviderLimitError
from marketpipe.collectors.mapping import alpaca_conditions
from marketpipe.feeds.tick import Tick

log = logging.getLogger(__name__)

SOURCE = "alpaca"
ALL_SYMBOLS = "*"
# Error codes (docs.alpaca.markets, "Real-time stock data": errors). Fatal: reconnecting cannot help.
AUTH_CODES = {401, 402, 404}  # not authenticated, auth failed, auth timeout
LIMIT_CODES = {405, 406, 408, 409}  # symbol limit, connection limit, v2 not enabled, insufficient subscription
_MAX_FRAMES = 10**12  # bounds a session's read loop in count; the connection's end bounds it in time


def _ts_ns(value: Any) -> tuple[int | None, str | None]:
    """Epoch ns of an Alpaca trade time: a msgpack Timestamp (exact ns), an aware datetime, or RFC 3339."""
    if isinstance(value, msgpack.Timestamp):
        return value.to_unix_nano(), None
    if isinstance(value, datetime) and value.tzinfo is not None:
        return int(value.timestamp()) * 10**9 + value.microsecond * 1000, None
    if isinstance(value, str):
        return _rfc3339_ns(value), value
    return None, None if value is None else repr(value)


def _rfc3339_ns(text: str) -> int | None:
    """``2024-06-18T14:00:00.123456789Z`` -> epoch ns (keeps all nine digits); None if not parseable."""
    head, dot, rest = text.partition(".")
    frac, zone = "", rest
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        frac, zone = rest[:digits], rest[digits:]
    try:
        base = datetime.fromisoformat(head + (zone if zone != "Z" else "+00:00"))
    except ValueError:
        return None
    if base.tzinfo is None:
        return None
    return int(base.timestamp()) * 10**9 + int((frac + "000000000")[:9] or 0)


def to_tick(msg: dict[str, Any]) -> Tick:
    """Our tick from one Alpaca trade event (values passed as found; the bars job validates them)."""
    ts_ns, ts_raw = _ts_ns(msg.get("t"))
    trade_id = msg.get("i")
    return Tick(
        symbol=msg.get("S"),
        ts_ns=ts_ns,
        price=msg.get("p"),
        size=msg.get("s"),
        exchange=msg.get("x"),
        conditions=alpaca_conditions(msg.get("c"), msg.get("z")),
        trade_id=None if trade_id is None else str(trade_id),
        source=SOURCE,
        ts_raw=ts_raw if ts_ns is None else None,
    )


def _error_of(frame: dict[str, Any]) -> CollectorError | None:
    """The fatal error an Alpaca error frame means, or None if reconnecting may help."""
    code, text = frame.get("code"), frame.get("msg", "error")
    if code in AUTH_CODES:
        return ProviderAuthError(f"alpaca refused the credentials: {text} ({code}); check "
                                 "MARKETPIPE_ALPACA_API_KEY / MARKETPIPE_ALPACA_API_SECRET")
    if code in LIMIT_CODES:
        return ProviderLimitError(f"alpaca: {text} ({code}): the account's plan does not allow this "
                                  "subscription (docs/collectors.md, limits)")
    return None


class _Sdk(StockDataStream):
    """StockDataStream whose connect and auth steps keep the provider's error code and message."""

    # websockets' client protocol once connected; the SDK's __init__ sets None, from which mypy would infer None.
    _ws: Any

    async def _connect(self) -> None:
        params: dict[str, Any] = dict(self._websocket_params or {})
        extra = {**dict(params.pop("extra_headers", {}) or {}), "Content-Type": "application/msgpack"}
        self._ws = ws = await websockets_legacy.connect(self._endpoint, extra_headers=extra, **params)
        reply = msgpack.unpackb(await ws.recv())
        self._check(reply, "connected")

    async def _auth(self) -> None:
        await self._ws.send(msgpack.packb({"action": "auth", "key": self._api_key, "secret": self._secret_key}))
        self._check(msgpack.unpackb(await self._ws.recv()), "authenticated")

    @staticmethod
    def _check(reply: Any, expected: str) -> None:
        first = reply[0] if isinstance(reply, list) and reply and isinstance(reply[0], dict) else {}
        if first.get("T") == "error":
            raise _error_of(first) or ConnectionError(f"alpaca: {first.get('msg')} ({first.get('code')})")
        if first.get("T") != "success" or first.get("msg") != expected:
            raise ConnectionError(f"alpaca: expected {expected!r}, got {reply!r:.200}")


class AlpacaStream(ProviderStream):
    """Trades of ``symbols`` (or every symbol: ``["*"]``) from Alpaca's ``feed`` (``iex`` or ``sip``)."""

    name = SOURCE

    def __init__(
        self,
        key: str,
        secret: str,
        symbols: Sequence[str],
        *,
        feed: str = "iex",
        url: str | None = None,
        config: CollectorConfig | None = None,
        stats: CollectorStats | None = None,
    ) -> None:
        super().__init__(config or CollectorConfig(), stats)
        if not symbols:
            raise CollectorError("alpaca: no symbols to subscribe")
        self.symbols = list(symbols)
        self.feed = feed
        self._emit: Emit | None = None
        # A bounded socket queue: while the buffer is full we stop reading and at most this many frames wait.
        self.sdk = _Sdk(key, secret, raw_data=True, feed=DataFeed(feed), url_override=url,
                        websocket_params={"ping_interval": 10, "ping_timeout": 60, "max_queue": 64})
        self.sdk.subscribe_trades(self._on_trade, *self.symbols)
        self.url = self.sdk._endpoint

    async def _on_trade(self, msg: Trade | dict[str, Any]) -> None:
        """The SDK's trade handler (raw dicts): map and hand to the buffer; awaiting it is the backpressure."""
        assert self._emit is not None and isinstance(msg, dict), "raw_data=True: the SDK hands dicts"
        await self._emit(to_tick(msg))

    async def session(self, emit: Emit) -> None:
        """Connect, authenticate, subscribe (the SDK's steps), then read frames until the connection ends."""
        self._emit = emit
        sdk = self.sdk
        try:
            await sdk._start_ws()
            self.stats.connects += 1
            await sdk._send_subscribe_msg()
            sdk._running = True
            self.subscribed()
            for _ in range(_MAX_FRAMES):
                frame = await sdk._ws.recv()
                self.stats.frame()
                await self._on_frame(frame)
        finally:
            sdk._running = False
            await sdk.close()

    async def _on_frame(self, frame: bytes | str) -> None:
        try:
            msgs = msgpack.unpackb(frame) if isinstance(frame, bytes) else None
        except (ValueError, msgpack.UnpackException) as exc:
            msgs, why = None, str(exc)
        else:
            why = "not a list of events"
        if not isinstance(msgs, list):
            self.stats.malformed += 1
            log.warning("alpaca: malformed frame skipped (%s): %r", why, frame[:120])
            return
        for msg in msgs:
            self.stats.messages += 1
            if not isinstance(msg, dict):
                self.stats.malformed += 1
                log.warning("alpaca: malformed event skipped: %r", msg)
                continue
            kind = msg.get("T")
            if kind == "t":
                await self.sdk._dispatch(msg)
            elif kind == "error":
                self._on_error(msg)
            elif kind == "subscription":
                self._on_subscription(msg)

    def _on_error(self, msg: dict[str, Any]) -> None:
        self.stats.error(f"{msg.get('code')}: {msg.get('msg')}")
        fatal = _error_of(msg)
        if fatal is not None:
            raise fatal
        log.error("alpaca error frame: %s (%s)", msg.get("msg"), msg.get("code"))

    def _on_subscription(self, msg: dict[str, Any]) -> None:
        granted = set(msg.get("trades") or [])
        missing = [s for s in self.symbols if s not in granted and ALL_SYMBOLS not in granted]
        log.info("alpaca: subscribed to trades of %d symbol(s)%s", len(granted),
                 f"; NOT subscribed (unknown symbol or not in the plan): {', '.join(missing[:20])}" if missing else "")
