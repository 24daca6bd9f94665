"""Relative strength index with Wilder smoothing, TA-Lib's convention.

TA-Lib seeds the average gain and average loss with the plain means of the first ``N``
price changes (so the first value is at input index ``N``), then smooths them with
``avg = (avg * (N - 1) + current) / N``. A change of exactly zero counts as a (zero) gain.
When both averages are zero (a flat series) TA-Lib returns ``0.0``, not 50; we do the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite


class RSI(Indicator[float]):
    """RSI(N), Wilder smoothing, seeded like TA-Lib; values in [0, 100]."""

    def __init__(self, period: int) -> None:
        self.period = check_period("period", period, minimum=2)
        self.reset()

    def reset(self) -> None:
        """Forget all input: no previous value, no warm-up sums, no value."""
        self._prev: float | None = None  # previous input
        self._seen = 0  # changes seen during warm-up; stops counting once warm
        self._gain = 0.0  # sum of gains during warm-up, then Wilder's average gain
        self._loss = 0.0  # sum of losses (positive) during warm-up, then average loss
        self._value: float | None = None

    def update(self, x: float) -> float | None:
        """Feed the next input; return the RSI after it, or ``None`` until N changes were seen."""
        x = finite(x)
        prev, self._prev = self._prev, x
        if prev is None:
            return None
        change = x - prev
        n = self.period
        if self._value is None:
            self._add(change)
            self._seen += 1
            if self._seen == n:
                self._gain /= n
                self._loss /= n
                self._value = self._rsi()
            return self._value
        self._gain *= n - 1
        self._loss *= n - 1
        self._add(change)
        self._gain /= n
        self._loss /= n
        self._value = self._rsi()
        return self._value

    def _add(self, change: float) -> None:
        if change < 0:
            self._loss -= change
        else:
            self._gain += change

    def _rsi(self) -> float:
        total = self._gain + self._loss
        # TA-Lib answers 0.0 (not 50) when there was neither gain nor loss.
        return 100.0 * (self._gain / total) if total != 0.0 else 0.0

    def state(self) -> State:
        """Period, previous input, warm-up count, average gain and loss, and the current RSI."""
        return {
            "period": self.period,
            "prev": self._prev,
            "seen": self._seen,
            "gain": self._gain,
            "loss": self._loss,
            "value": self._value,
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self.period = check_period("period", state["period"], minimum=2)
        self._prev = None if state["prev"] is None else float(state["prev"])
        self._seen = int(state["seen"])
        self._gain = float(state["gain"])
        self._loss = float(state["loss"])
        self._value = None if state["value"] is None else float(state["value"])
