"""A fake of Massive's (formerly Polygon.io) stocks websocket (``/stocks``) on 127.0.0.1.

Protocol (massive.com docs, "WebSocket": connecting, authenticating, subscribing; JSON arrays): on
connect ``[{"ev":"status","status":"connected","message":"Connected Successfully"}]``;
``{"action":"auth","params":KEY}`` -> ``auth_success`` or ``auth_failed`` (then a close);
``{"action":"subscribe","params":"T.AAPL,T.MSFT"}`` -> one ``{"ev":"status","status":"success",
"message":"subscribed to: T.AAPL"}`` per channel; then trade frames ``[{"ev":"T","sym","x","i","z","p",
"s","c":[...],"t":ms,"q":seq}, ...]``. ``max_connections`` is a status sent before the server closes.

    with FakeMassiveServer(Script(trades=[massive_trade(...)])) as fake:
        stream = MassiveStream(fake.valid_key, ["AAPL"], feed=fake.feed, secure=False)
"""

from __future__ import annotations

import json
from typing import Any

from websockets.asyncio.server import ServerConnection

from tests.fakes.ws_fake import FakeTradeServer, Script

__all__ = ["FakeMassiveServer", "Script", "massive_trade", "status_event"]


def massive_trade(symbol: str, ts_ms: int, price: float, size: int, trade_id: str, seq: int, exchange: int = 12,
                  conditions: list[int] | None = None, tape: int = 3) -> dict[str, Any]:
    """One trade event as Massive sends it (``t`` SIP time in ms, ``q`` the sequence number)."""
    event: dict[str, Any] = {"ev": "T", "sym": symbol, "x": exchange, "i": trade_id, "z": tape, "p": price,
                             "s": size, "t": ts_ms, "q": seq}
    if conditions:
        event["c"] = conditions
    return event


def status_event(status: str, message: str) -> dict[str, Any]:
    """A status event, e.g. ``status_event("max_connections", "Maximum number of connections exceeded.")``."""
    return {"ev": "status", "status": status, "message": message}


class FakeMassiveServer(FakeTradeServer):
    """The fake Massive stream; ``feed`` is what ``WebSocketClient(feed=..., secure=False)`` takes."""

    valid_key = "massive-test-key"
    malformed_frame = '[{"ev":"T","sym":"BROKEN",'  # truncated JSON

    @property
    def feed(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    def encode(self, events: list[Any]) -> str:
        return json.dumps(events, separators=(",", ":"))

    async def handshake(self, ws: ServerConnection) -> bool:
        await ws.send(self.encode([status_event("connected", "Connected Successfully")]))
        auth = json.loads(await ws.recv())
        self.auth_keys.append(auth.get("params"))
        if not (self.accept_auth and auth.get("action") == "auth" and auth.get("params") == self.valid_key):
            await ws.send(self.encode([status_event("auth_failed", "authentication failed")]))
            await ws.close()
            return False
        await ws.send(self.encode([status_event("auth_success", "authenticated")]))
        sub = json.loads(await ws.recv())
        self.subscriptions.append(sub)
        channels = [c for c in str(sub.get("params", "")).split(",") if c]
        await ws.send(self.encode([status_event("success", f"subscribed to: {c}") for c in channels]))
        return True
