"""Simple moving average with TA-Lib's running sum.

TA-Lib keeps one running total: it adds the new input, divides, then subtracts the input
that leaves the window. We do the same additions in the same order, so the output equals
``talib.SMA`` bit for bit, including the (tiny) rounding drift of a running sum: recomputing
the sum from the window would be "more exact" than TA-Lib and so differ from it. The first
value is at input index ``N - 1``. State is the last ``N`` inputs plus the total (bounded).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite


class SMA(Indicator[float]):
    """SMA(N): mean of the last N inputs, TA-Lib's arithmetic; first value at index N-1."""

    def __init__(self, period: int) -> None:
        self.period = check_period("period", period)
        self.reset()

    def reset(self) -> None:
        """Forget all input: empty the window and clear the value."""
        self._window: deque[float] = deque(maxlen=self.period)  # last N inputs
        self._total = 0.0  # running sum of the inputs still to be subtracted (the last N-1)
        self._value: float | None = None

    @property
    def window(self) -> tuple[float, ...]:
        """The last ``N`` inputs (fewer during warm-up), oldest first."""
        return tuple(self._window)

    def update(self, x: float) -> float | None:
        """Feed the next input; return the mean of the last N inputs, or ``None`` until N were seen."""
        x = finite(x)
        self._window.append(x)  # drops the oldest input, already subtracted from the total
        self._total += x
        if len(self._window) == self.period:
            total = self._total
            self._total -= self._window[0]
            self._value = total / self.period
        return self._value

    def state(self) -> State:
        """Period, the window, the running total and the current SMA."""
        return {
            "period": self.period,
            "window": list(self._window),
            "total": self._total,
            "value": self._value,
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self.period = check_period("period", state["period"])
        self._window = deque((float(v) for v in state["window"]), maxlen=self.period)
        self._total = float(state["total"])
        self._value = None if state["value"] is None else float(state["value"])
