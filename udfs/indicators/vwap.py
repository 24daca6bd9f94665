"""Session VWAP: volume-weighted average price since the start of the trading session.

``update(price_volume, volume, session)`` takes a bar's traded value ``sum(price * size)``
over its trades (equivalently the bar's own VWAP times its volume) and its volume, so the
result is the exact trade-weighted VWAP, not the ``(H + L + C) / 3`` approximation; a caller
that only has OHLC can pass ``typical_price * volume``. ``session`` identifies the trading
session the bar belongs to (for US equities, the exchange-local trading date, e.g.
``"2024-03-15"``); the sums restart whenever it differs from the previous bar's. Keep it a
plain value (str, int, date) so the state stays picklable.

A bar with zero volume keeps the previous value. At the start of a session the value is
``None`` until the session has traded: yesterday's VWAP is never carried into today.
There is no TA-Lib equivalent; tests compare with a pandas ``groupby().cumsum()``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from udfs.indicators.base import Indicator, State, finite


class SessionVWAP(Indicator[float]):
    """Cumulative ``sum(price * volume) / sum(volume)``, reset at each new session."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all bars: no session, zero sums, no value."""
        self._session: Hashable | None = None
        self._started = False  # whether any bar was seen (a session id may itself be None)
        self._pv = 0.0  # sum of price * volume in the current session
        self._volume = 0.0  # sum of volume in the current session
        self._value: float | None = None

    @property
    def session(self) -> Hashable | None:
        """The session of the last bar (``None`` before the first bar)."""
        return self._session

    def update(  # type: ignore[override]
        self, price_volume: float, volume: float, session: Hashable
    ) -> float | None:
        """Feed the next bar of a symbol (in time order); return the session VWAP after it."""
        price_volume, volume = finite(price_volume), finite(volume)
        if volume < 0.0:
            raise ValueError(f"volume must be >= 0, got {volume!r}")
        if volume == 0.0 and price_volume != 0.0:
            raise ValueError(f"a bar without volume has no traded value, got {price_volume!r}")
        try:
            hash(session)  # refuse an unhashable session id before any state changes
        except TypeError as e:
            raise ValueError(f"session must be hashable, got {session!r}") from e
        if not self._started or session != self._session:
            self._session, self._started = session, True
            self._pv = self._volume = 0.0
            self._value = None
        if volume > 0.0:
            self._pv += price_volume
            self._volume += volume
            self._value = self._pv / self._volume
        return self._value

    def state(self) -> State:
        """The current session id, whether a bar was seen, the session's sums and the current VWAP."""
        return {
            "session": self._session,
            "started": self._started,
            "pv": self._pv,
            "volume": self._volume,
            "value": self._value,
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self._session = state["session"]
        self._started = bool(state["started"])
        self._pv = float(state["pv"])
        self._volume = float(state["volume"])
        self._value = None if state["value"] is None else float(state["value"])
