"""A scripted websocket trade server on 127.0.0.1 (any free port), the base of the provider fakes.

A provider fake (``alpaca_server``, ``massive_server``) says how frames are encoded and what its
handshake looks like; this module runs the server in its own thread and event loop and plays a
:class:`Script`: trades in batched frames, and once each, a dropped connection, a malformed frame, a
silent (stalled) stretch, websocket pings, error frames; on every reconnect it sends again the last
``resend_on_reconnect`` trades before where it stopped (what a gateway with a replay buffer does), so
a collector must drop those duplicates. It records what clients did (connections, auth keys,
subscriptions) and which trades it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MAX_IDLE_S = 600.0  # a connection that got everything waits this long at most for the client to leave
_START_TIMEOUT_S = 10.0


@dataclass
class Script:
    """What the server sends after a successful subscription (positions count trades sent so far)."""

    trades: Sequence[Any] = ()
    batch: int = 3  # trades per frame
    drop_after: frozenset[int] = frozenset()  # abort the connection after this many trades (once each)
    resend_on_reconnect: int = 0  # trades sent again, before the resume point, after a reconnect
    malformed_after: frozenset[int] = frozenset()  # a garbage frame after this many trades (once each)
    stall_after: dict[int, float] = field(default_factory=dict)  # go silent for S seconds (once each)
    ping_every: int = 0  # a websocket ping every N frames (0: none)
    frame_delay_s: float = 0.0  # pause between frames
    errors_after_subscribe: Sequence[Any] = ()  # provider error events, sent right after the ack
    close_after_errors: bool = False


class FakeTradeServer:
    """Context manager; subclasses implement the provider's encoding and handshake."""

    valid_key = "test-key"
    malformed_frame: bytes | str = b"\xc1\xc1 not a frame"

    def __init__(self, script: Script | None = None, *, accept_auth: bool = True) -> None:
        self.script = script or Script()
        self.accept_auth = accept_auth
        self.connections = 0
        self.auth_keys: list[Any] = []
        self.subscriptions: list[Any] = []
        self.frames_sent = 0
        self.pos = 0  # trades sent at least once
        self.sent: list[Any] = []  # every trade sent, resends included, in order
        self.done = threading.Event()  # set once every trade was sent at least once
        self._fired: set[tuple[str, int]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    # -- provider specifics (overridden) ---------------------------------------------------------
    def encode(self, events: list[Any]) -> bytes | str:
        """One frame holding ``events``."""
        raise NotImplementedError

    async def handshake(self, ws: ServerConnection) -> bool:
        """Connected message, auth, subscription; False if the client must be turned away."""
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Serve on a free loopback port in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="fake-trade-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("fake server did not start")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start())
            self._ready.set()
            loop.run_forever()
        finally:
            loop.close()

    async def _start(self) -> None:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None, max_size=2**20)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Close every connection and the listening socket, end the thread."""
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await asyncio.wait_for(self._server.wait_closed(), 5)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)

    def drop_all(self) -> None:
        """Abort every open connection now (a network cut)."""
        if self._server is None or self._loop is None:
            return
        for conn in list(self._server.connections):
            self._loop.call_soon_threadsafe(conn.transport.abort)

    # -- the session -------------------------------------------------------------------------------
    def _once(self, kind: str, position: int) -> bool:
        key = (kind, position)
        if key in self._fired:
            return False
        self._fired.add(key)
        return True

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        try:
            if not await self.handshake(ws):
                return
            s = self.script
            for event in s.errors_after_subscribe:
                await ws.send(self.encode([event]))
            if s.errors_after_subscribe and s.close_after_errors:
                await ws.close()
                return
            start = max(0, self.pos - s.resend_on_reconnect) if self.connections > 1 else self.pos
            await self._stream(ws, start)
            await asyncio.wait_for(ws.wait_closed(), MAX_IDLE_S)
        except (ConnectionClosed, TimeoutError):
            pass

    async def _stream(self, ws: ServerConnection, start: int) -> None:
        s = self.script
        trades = list(s.trades)
        i = start
        marks = set(s.drop_after) | set(s.malformed_after) | set(s.stall_after)
        for _ in range(len(trades) + 1):
            if i >= len(trades):
                break
            end = min(len(trades), i + s.batch)
            cut = [m for m in marks if i < m < end]
            end = min(cut) if cut else end
            chunk = trades[i:end]
            await ws.send(self.encode(chunk))
            self.sent.extend(chunk)
            self.frames_sent += 1
            i = end
            self.pos = max(self.pos, i)
            if self.pos >= len(trades):
                self.done.set()
            if s.ping_every and self.frames_sent % s.ping_every == 0:
                await ws.ping()
            if i in s.malformed_after and self._once("malformed", i):
                await ws.send(self.malformed_frame)
            if i in s.stall_after and self._once("stall", i):
                with contextlib.suppress(TimeoutError):  # silent, socket open: the client has to notice and reconnect
                    await asyncio.wait_for(ws.wait_closed(), s.stall_after[i])
                return
            if i in s.drop_after and self._once("drop", i):
                await asyncio.sleep(0.2)  # let the frames already written reach the client
                ws.transport.abort()
                return
            if s.frame_delay_s:
                await asyncio.sleep(s.frame_delay_s)
