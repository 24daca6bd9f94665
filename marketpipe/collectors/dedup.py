"""Duplicate suppression across reconnects, in bounded memory.

After a reconnect a provider (or a gateway in front of it) may send again trades it had already sent.
A trade is identified by ``(exchange, trade_id)`` within its symbol — trade ids are unique per exchange,
the same identity the bars job uses for ``duplicate_trade_id`` (docs/bars.md). Per symbol we remember
the ids of the last ``window`` trades produced; older ids are forgotten, so memory is at most
``window`` ids per subscribed symbol. Trades without an id are never duplicates.
"""

from __future__ import annotations

from collections import deque

from marketpipe.feeds.tick import Tick


class RecentTrades:
    """Per symbol, the identities of the last ``window`` trades produced."""

    def __init__(self, window: int = 512) -> None:
        if window < 1:
            raise ValueError(f"dedup window must be >= 1, got {window!r}")
        self.window = window
        self._ids: dict[str, tuple[set[tuple[str | None, str]], deque[tuple[str | None, str]]]] = {}

    def seen(self, tick: Tick) -> bool:
        """True if this trade was already produced (drop it); otherwise remember it and return False."""
        if tick.trade_id is None or not tick.symbol:
            return False
        key = (tick.exchange, tick.trade_id)
        entry = self._ids.get(tick.symbol)
        if entry is None:
            entry = (set(), deque())
            self._ids[tick.symbol] = entry
        ids, order = entry
        if key in ids:
            return True
        ids.add(key)
        order.append(key)
        if len(order) > self.window:
            ids.discard(order.popleft())
        return False

    def __len__(self) -> int:
        """Identities remembered over all symbols."""
        return sum(len(order) for _, order in self._ids.values())
