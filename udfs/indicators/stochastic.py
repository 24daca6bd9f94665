"""Slow stochastic oscillator with TA-Lib's convention (``talib.STOCH``, SMA smoothing).

Input is a bar: ``update(high, low, close)``. Fast %K over the last ``fastk`` bars is
``100 * ((close - lowest_low) / (highest_high - lowest_low))``, in that order of operations
(it reproduces TA-Lib 0.8's fast %K bit for bit; older TA-Lib divided the range by 100 first,
which differs in the last bits). When the range is zero (a flat window) TA-Lib
outputs 0.0, not 50 or NaN; so do we. Slow %K is the SMA(``slowk``) of fast %K and %D the
SMA(``slowd``) of slow %K, both with TA-Lib's running sum (:class:`SMA`). TA-Lib returns NaN
for both lines until %D exists, so the first value is at index ``fastk + slowk + slowd - 3``
(17 for 14/3/3). State is the last ``fastk`` highs and lows plus two small SMA windows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite
from udfs.indicators.sma import SMA


@dataclass(frozen=True, slots=True)
class StochValue:
    """One stochastic output: slow %K and %D, in [0, 100] for well-formed bars."""

    k: float
    d: float


class Stochastic(Indicator[StochValue]):
    """Stochastic(fastk, slowk, slowd) (IndicatorConfig: 14/3/3), matching ``talib.STOCH`` (matype 0)."""

    def __init__(self, fastk: int, slowk: int, slowd: int) -> None:
        self.fastk = check_period("fastk", fastk)
        self._slowk = SMA(check_period("slowk", slowk))
        self._slowd = SMA(check_period("slowd", slowd))
        self.reset()

    @property
    def periods(self) -> tuple[int, int, int]:
        """``(fastk, slowk, slowd)``."""
        return (self.fastk, self._slowk.period, self._slowd.period)

    def reset(self) -> None:
        """Forget all bars: empty the high and low windows and the %K and %D SMAs, clear the value."""
        self._highs: deque[float] = deque(maxlen=self.fastk)
        self._lows: deque[float] = deque(maxlen=self.fastk)
        self._slowk.reset()
        self._slowd.reset()
        self._value: StochValue | None = None

    def update(self, high: float, low: float, close: float) -> StochValue | None:  # type: ignore[override]
        """Feed the next bar (bars in time order); return slow %K/%D after it or ``None``."""
        high, low, close = finite(high), finite(low), finite(close)
        self._highs.append(high)
        self._lows.append(low)
        if len(self._highs) < self.fastk:
            return None
        lowest = min(self._lows)
        spread = max(self._highs) - lowest
        fast_k = 100.0 * ((close - lowest) / spread) if spread != 0.0 else 0.0
        k = self._slowk.update(fast_k)
        if k is None:
            return None
        d = self._slowd.update(k)
        if d is not None:
            self._value = StochValue(k, d)
        return self._value

    def state(self) -> State:
        """``fastk``, the high and low windows, the %K and %D SMAs' states and the last ``(k, d)``."""
        v = self._value
        return {
            "fastk": self.fastk,
            "highs": list(self._highs),
            "lows": list(self._lows),
            "slowk": self._slowk.state(),
            "slowd": self._slowd.state(),
            "value": None if v is None else (v.k, v.d),
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self.fastk = check_period("fastk", state["fastk"])
        self._highs = deque((float(v) for v in state["highs"]), maxlen=self.fastk)
        self._lows = deque((float(v) for v in state["lows"]), maxlen=self.fastk)
        self._slowk = SMA.from_state(state["slowk"])
        self._slowd = SMA.from_state(state["slowd"])
        v = state["value"]
        self._value = None if v is None else StochValue(*(float(f) for f in v))
