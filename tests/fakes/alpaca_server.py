"""A fake of Alpaca's real-time stock data stream (``/v2/iex``, ``/v2/sip``) on 127.0.0.1.

Protocol (docs.alpaca.markets, "Real-time stock pricing data"; frames are msgpack, as alpaca-py asks
for with ``Content-Type: application/msgpack``): on connect ``[{"T":"success","msg":"connected"}]``;
``{"action":"auth","key","secret"}`` -> ``[{"T":"success","msg":"authenticated"}]`` or
``[{"T":"error","code":402,"msg":"auth failed"}]`` and a close; ``{"action":"subscribe","trades":[...]}``
-> ``[{"T":"subscription","trades":[...],"quotes":[],"bars":[],...}]``; then trade frames
``[{"T":"t","S","i","x","p","s","c":[...],"z","t":<msgpack Timestamp>}, ...]``. Plan errors are
``{"T":"error","code":405|406|409,"msg":...}``.

    with FakeAlpacaServer(Script(trades=[alpaca_trade(...)], drop_after={6}, resend_on_reconnect=4)) as fake:
        stream = AlpacaStream(fake.valid_key, fake.valid_secret, ["AAPL"], url=fake.url)
"""

from __future__ import annotations

from typing import Any

import msgpack
from websockets.asyncio.server import ServerConnection

from tests.fakes.ws_fake import FakeTradeServer, Script

__all__ = ["FakeAlpacaServer", "Script", "alpaca_trade", "error_event"]

CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds", "corrections",
            "cancelErrors")


def alpaca_trade(symbol: str, ts_ns: int, price: float, size: int, trade_id: int, exchange: str = "V",
                 conditions: list[str] | None = None, tape: str = "C") -> dict[str, Any]:
    """One trade event as Alpaca sends it (``t`` a msgpack Timestamp, exact to the nanosecond)."""
    return {"T": "t", "S": symbol, "i": trade_id, "x": exchange, "p": price, "s": size,
            "c": ["@"] if conditions is None else conditions, "z": tape,
            "t": msgpack.Timestamp.from_unix_nano(ts_ns)}


def error_event(code: int, msg: str) -> dict[str, Any]:
    """An Alpaca error event, e.g. ``error_event(405, "symbol limit exceeded")``."""
    return {"T": "error", "code": code, "msg": msg}


class FakeAlpacaServer(FakeTradeServer):
    """The fake Alpaca stream; ``url`` is what ``StockDataStream(url_override=...)`` takes."""

    valid_key = "alpaca-test-key"
    valid_secret = "alpaca-test-secret"

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/v2/iex``."""
        return f"ws://127.0.0.1:{self.port}/v2/iex"

    def encode(self, events: list[Any]) -> bytes:
        packed: bytes = msgpack.packb(events)
        return packed

    async def handshake(self, ws: ServerConnection) -> bool:
        await ws.send(self.encode([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await ws.recv())
        self.auth_keys.append(auth.get("key"))
        ok = (self.accept_auth and auth.get("action") == "auth" and auth.get("key") == self.valid_key
              and auth.get("secret") == self.valid_secret)
        if not ok:
            await ws.send(self.encode([error_event(402, "auth failed")]))
            await ws.close()
            return False
        await ws.send(self.encode([{"T": "success", "msg": "authenticated"}]))
        sub = msgpack.unpackb(await ws.recv())
        self.subscriptions.append(sub)
        ack: dict[str, Any] = {"T": "subscription", **{c: list(sub.get(c, [])) for c in CHANNELS}}
        await ws.send(self.encode([ack]))
        return True
