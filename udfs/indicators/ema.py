"""Exponential moving average with TA-Lib's convention.

TA-Lib (default compatibility) seeds the EMA with the simple average of the first ``N``
inputs and then applies ``ema = (x - ema) * k + ema`` with ``k = 2 / (N + 1)``. The first
value is therefore available after input index ``N - 1`` (0-based). The arithmetic is written
in the same order as TA-Lib's C code so results agree to the last bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite


class EMA(Indicator[float]):
    """EMA(N) seeded with SMA(N) of the first N inputs; ``k = 2 / (N + 1)``."""

    def __init__(self, period: int) -> None:
        self.period = check_period("period", period)
        self.reset()

    @property
    def k(self) -> float:
        """The smoothing factor ``2 / (N + 1)``."""
        return 2.0 / (self.period + 1)

    def reset(self) -> None:
        """Forget all input: restart the SMA seed and clear the value."""
        self._seen = 0  # inputs seen during warm-up; stops counting once warm
        self._sum = 0.0  # running sum of the warm-up inputs, added in order as TA-Lib does
        self._value: float | None = None

    def update(self, x: float) -> float | None:
        """Feed the next input; return the EMA after it, or ``None`` until N inputs seeded it."""
        x = finite(x)
        if self._value is None:
            self._sum += x
            self._seen += 1
            if self._seen == self.period:
                self._value = self._sum / self.period
        else:
            self._value = (x - self._value) * self.k + self._value
        return self._value

    def state(self) -> State:
        """Period, warm-up count and sum, and the current EMA."""
        return {"period": self.period, "seen": self._seen, "sum": self._sum, "value": self._value}

    def _load(self, state: Mapping[str, Any]) -> None:
        self.period = check_period("period", state["period"])
        self._seen = int(state["seen"])
        self._sum = float(state["sum"])
        self._value = None if state["value"] is None else float(state["value"])
