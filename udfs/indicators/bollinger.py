"""Bollinger Bands with TA-Lib's conventions (``talib.BBANDS`` with ``matype=0``).

The middle band is :class:`~udfs.indicators.sma.SMA` (bit-identical to TA-Lib). The band width
uses the *population* standard deviation of the same ``N`` inputs (divide by ``N``, not
``N - 1``), as TA-Lib and John Bollinger do. First value at input index ``N - 1``.

The standard deviation is computed two-pass over the stored window with compensated sums
(``math.fsum``): mean first, then the squared deviations, corrected by the residual of the
mean. That is exact to about one ulp and does not cancel catastrophically for low-volatility
or high-priced series (a one-pass ``E[x^2] - mean^2`` loses every digit at 1e6 prices with
1e-7 moves). TA-Lib 0.8 is also cancellation-free (it no longer clamps a small variance to 0),
so the bands agree with it to ~1e-15 relative; a window of identical inputs gives exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite
from udfs.indicators.sma import SMA


@dataclass(frozen=True, slots=True)
class BollingerValue:
    """One Bollinger output: ``middle`` (SMA) and ``middle +- k * stddev``."""

    middle: float
    upper: float
    lower: float


def population_stddev(window: Sequence[float]) -> float:
    """Population standard deviation of ``window``, accurate to about one ulp."""
    n = len(window)
    if max(window) == min(window):
        return 0.0
    mean = math.fsum(window) / n
    dev = [v - mean for v in window]
    # fsum(dev) is the rounding residual of `mean`; subtracting its square / n is the
    # classic correction term of the two-pass algorithm.
    var = (math.fsum(d * d for d in dev) - math.fsum(dev) ** 2 / n) / n
    return math.sqrt(var) if var > 0.0 else 0.0


class BollingerBands(Indicator[BollingerValue]):
    """Bollinger(N, k_up, k_dn) (IndicatorConfig: 20/2/2), matching ``talib.BBANDS(..., matype=0)``."""

    def __init__(self, period: int, k_up: float, k_dn: float) -> None:
        # TA-Lib refuses BBANDS periods below 2 (a one-value window has no spread).
        self._sma = SMA(check_period("period", period, minimum=2))
        self.k_up = finite(k_up)
        self.k_dn = finite(k_dn)
        self._value: BollingerValue | None = None

    @property
    def period(self) -> int:
        """The window length ``N``."""
        return self._sma.period

    def reset(self) -> None:
        """Forget all input: empty the SMA window and clear the bands."""
        self._sma.reset()
        self._value = None

    def update(self, x: float) -> BollingerValue | None:
        """Feed the next input; return the bands after it, or ``None`` until N inputs were seen."""
        middle = self._sma.update(finite(x))
        if middle is None:
            return None
        sd = population_stddev(self._sma.window)
        self._value = BollingerValue(middle, middle + sd * self.k_up, middle - sd * self.k_dn)
        return self._value

    def state(self) -> State:
        """The SMA's state, ``k_up``, ``k_dn`` and the last bands as ``(middle, upper, lower)``."""
        v = self._value
        return {
            "sma": self._sma.state(),
            "k_up": self.k_up,
            "k_dn": self.k_dn,
            "value": None if v is None else (v.middle, v.upper, v.lower),
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self._sma = SMA.from_state(state["sma"])
        check_period("period", self._sma.period, minimum=2)
        self.k_up = finite(state["k_up"])
        self.k_dn = finite(state["k_dn"])
        v = state["value"]
        self._value = None if v is None else BollingerValue(*(float(f) for f in v))
