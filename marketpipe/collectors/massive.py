"""Massive's (formerly Polygon.io) real-time stock trades (``wss://socket.massive.com/stocks``) via the
``massive`` SDK's :class:`~massive.WebSocketClient`.

The SDK does one connection well — the connected status, ``{"action":"auth","params":KEY}`` (an
``auth_failed`` raises its ``AuthError``), subscribing ``T.<SYMBOL>`` (and re-subscribing after a
reconnect) — and takes our back-off as ``reconnect_delays`` for connection attempts that fail. We run it
with ``raw=True`` and ``max_reconnects=0`` and keep the rest in the collector core, because its own
loop has no stall detection, ends for good when the server closes normally, stops after
``max_reconnects`` drops, parses frames with no guard (one malformed frame would end the client with a
``JSONDecodeError``) and only logs error statuses (``max_connections``, plan errors).

Wire (JSON arrays): ``[{"ev":"status","status":"connected"}]`` -> auth -> ``auth_success`` /
``auth_failed``; subscribe -> ``{"ev":"status","status":"success","message":"subscribed to: T.AAPL"}``;
trades ``{"ev":"T","sym","x":exchange id,"i":trade id,"z":tape,"p","s","c":[condition ids],"t":SIP ms,
"q":sequence}``, several per frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from massive import WebSocketClient
from massive.exceptions import AuthError

from marketpipe.collectors.base import CollectorConfig, CollectorStats, Emit, ProviderStream
from marketpipe.collectors.exceptions import CollectorError, ProviderAuthError, ProviderLimitError
from marketpipe.collectors.mapping import CodeMap, massive_conditions, massive_exchanges
from marketpipe.feeds.tick import Tick

log = logging.getLogger(__name__)

SOURCE = "massive"
ALL_SYMBOLS = "*"
DEFAULT_FEED = "socket.massive.com"
OK_STATUSES = {"connected", "auth_success", "success"}
FATAL_STATUSES = {"auth_failed": ProviderAuthError, "max_connections": ProviderLimitError}
# Error statuses that mean "the plan does not include this" (checked case-insensitively in the message).
PLAN_MESSAGES = ("not authorized", "not entitled", "upgrade", "plan")


def to_tick(msg: dict[str, Any], conditions: CodeMap | None = None, exchanges: CodeMap | None = None) -> Tick:
    """Our tick from one Massive trade event: ``t`` is SIP time in milliseconds (ns = ms * 10**6, exact);
    exchange and condition ids through the data tables (unknown ids as ``massive:<id>``)."""
    conditions = conditions or massive_conditions()
    exchanges = exchanges or massive_exchanges()
    t = msg.get("t")
    ts_ns = t * 1_000_000 if isinstance(t, int) and not isinstance(t, bool) else None
    x = msg.get("x")
    trade_id = msg.get("i")
    return Tick(
        symbol=msg.get("sym"),
        ts_ns=ts_ns,
        price=msg.get("p"),
        size=msg.get("s"),
        exchange=None if x is None else exchanges.code(x),
        conditions=conditions.codes_of(msg.get("c")),
        trade_id=None if trade_id is None else str(trade_id),
        source=SOURCE,
        ts_raw=None if ts_ns is not None or t is None else repr(t),
    )


class _Client(WebSocketClient):  # type: ignore[misc]  # the massive SDK ships no types
    """The SDK client, with its status messages (connected, auth, max_connections) reported to us."""

    def __init__(self, stream: MassiveStream, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stream = stream

    def _log_server_statuses(self, msgs: list[Any]) -> None:
        self._stream.stats.frame()
        for m in msgs if isinstance(msgs, list) else []:
            if isinstance(m, dict) and m.get("ev") == "status":
                self._stream.on_status(m)
        super()._log_server_statuses(msgs)


class MassiveStream(ProviderStream):
    """Trades of ``symbols`` (or all: ``["*"]``) from Massive; ``feed`` is ``host[:port]``."""

    name = SOURCE

    def __init__(
        self,
        api_key: str,
        symbols: Sequence[str],
        *,
        feed: str = DEFAULT_FEED,
        secure: bool = True,
        config: CollectorConfig | None = None,
        stats: CollectorStats | None = None,
    ) -> None:
        super().__init__(config or CollectorConfig(), stats)
        if not symbols:
            raise CollectorError("massive: no symbols to subscribe")
        self.symbols = list(symbols)
        self.conditions = massive_conditions()
        self.exchanges = massive_exchanges()
        self.client = _Client(self, api_key=api_key, feed=feed, market="stocks", secure=secure, raw=True,
                              max_reconnects=0, subscriptions=[f"T.{s}" for s in self.symbols])
        self.url = self.client.url

    def on_status(self, m: dict[str, Any]) -> None:
        """React to one status message: count errors, raise the fatal ones, mark the subscription."""
        self.stats.messages += 1
        status, text = m.get("status"), str(m.get("message", ""))
        if status == "connected":
            self.stats.connects += 1
        elif status in ("auth_success", "success"):
            self.subscribed()  # the SDK subscribes right after auth_success
            if status == "success":
                log.info("massive: %s", text)
        if status in OK_STATUSES:
            return
        self.stats.error(f"{status}: {text}")
        fatal = FATAL_STATUSES.get(str(status))
        if fatal is None and any(word in text.lower() for word in PLAN_MESSAGES):
            fatal = ProviderLimitError
        if fatal is ProviderAuthError:
            raise ProviderAuthError(f"massive refused the API key: {text} (check MARKETPIPE_MASSIVE_API_KEY)")
        if fatal is not None:
            raise ProviderLimitError(f"massive: {status}: {text} (docs/collectors.md, limits)")
        log.error("massive status %s: %s", status, text)

    async def session(self, emit: Emit) -> None:
        """One connection through the SDK (it authenticates and subscribes); frames go to :meth:`_on_frame`."""

        async def processor(frame: str | bytes) -> None:
            self.stats.frame()
            await self._on_frame(frame, emit)

        # Subscribe again on every connection. The SDK resets its subscriptions only after a drop it saw
        # itself (ConnectionClosedError), not after we cancelled a stalled connection.
        client = self.client
        client.scheduled_subs = set(client.scheduled_subs) | set(client.subs)
        client.subs = set()
        client.schedule_resub = True
        try:
            await client.connect(processor, reconnect_delays=self.connect_delays)
        except AuthError as exc:
            raise ProviderAuthError(f"massive refused the API key: {exc} (check MARKETPIPE_MASSIVE_API_KEY)") from None
        finally:
            ws, self.client.websocket = self.client.websocket, None
            if ws is not None:
                await ws.close()

    async def _on_frame(self, frame: str | bytes, emit: Emit) -> None:
        try:
            msgs = json.loads(frame)
        except ValueError as exc:
            self.stats.malformed += 1
            log.warning("massive: malformed frame skipped (%s): %r", exc, frame[:120])
            return
        if not isinstance(msgs, list):
            self.stats.malformed += 1
            log.warning("massive: malformed frame skipped (not a list): %r", frame[:120])
            return
        for m in msgs:
            if not isinstance(m, dict):
                self.stats.messages += 1
                self.stats.malformed += 1
                log.warning("massive: malformed event skipped: %r", m)
                continue
            ev = m.get("ev")
            if ev == "T":
                self.stats.messages += 1
                await emit(to_tick(m, self.conditions, self.exchanges))
            elif ev == "status":
                self.on_status(m)
            else:
                self.stats.messages += 1
