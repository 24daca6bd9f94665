"""Average true range with Wilder smoothing, TA-Lib's convention (``talib.ATR``).

Input is a bar: ``update(high, low, close)`` -- unlike the one-value indicators, so the
signature overrides :meth:`Indicator.update`. The true range needs the previous close, so the
first bar yields none: ``TR = max(high - low, |prev_close - high|, |prev_close - low|)`` from
the second bar on. TA-Lib seeds the ATR with the plain mean of the first ``N`` true ranges
(bars ``1 .. N``), so the first value is at input index ``N``, then smooths with
``atr = (atr * (N - 1) + TR) / N`` in that order of operations. This assumes TA-Lib's default
unstable period for ATR, 0 (``talib.set_unstable_period("ATR", k)`` would move the seed).
``ATR(1)`` is the true range itself, like ``talib.ATR(timeperiod=1)`` (= ``talib.TRANGE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite


def true_range(high: float, low: float, prev_close: float) -> float:
    """Wilder's true range of a bar given the previous bar's close."""
    return max(high - low, abs(prev_close - high), abs(prev_close - low))


class ATR(Indicator[float]):
    """ATR(N) (IndicatorConfig: 14), Wilder smoothing seeded like TA-Lib; first value at bar index N."""

    def __init__(self, period: int) -> None:
        self.period = check_period("period", period)
        self.reset()

    def reset(self) -> None:
        """Forget all bars: no previous close, no warm-up sum, no value."""
        self._prev_close: float | None = None
        self._seen = 0  # true ranges seen during warm-up; stops counting once warm
        self._sum = 0.0  # sum of the warm-up true ranges, added in order as TA-Lib does
        self._value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:  # type: ignore[override]
        """Feed the next bar (bars in time order); return the ATR after it or ``None``."""
        high, low, close = finite(high), finite(low), finite(close)
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        tr = true_range(high, low, prev)
        n = self.period
        if self._value is None:
            self._sum += tr
            self._seen += 1
            if self._seen == n:
                self._value = self._sum / n
        else:
            self._value = (self._value * (n - 1) + tr) / n
        return self._value

    def state(self) -> State:
        """Period, previous close, warm-up count and sum, and the current ATR."""
        return {
            "period": self.period,
            "prev_close": self._prev_close,
            "seen": self._seen,
            "sum": self._sum,
            "value": self._value,
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self.period = check_period("period", state["period"])
        pc = state["prev_close"]
        self._prev_close = None if pc is None else float(pc)
        self._seen = int(state["seen"])
        self._sum = float(state["sum"])
        self._value = None if state["value"] is None else float(state["value"])
