"""Moving average convergence/divergence with TA-Lib's seeding.

TA-Lib does not run EMA(fast) from the first bar. It aligns the fast EMA to the slow one:
both are seeded at input index ``slow - 1``, the slow EMA with the SMA of inputs
``0 .. slow-1`` and the fast EMA with the SMA of inputs ``slow-fast .. slow-1``. So for the
first ~150 bars TA-Lib's MACD line differs from ``talib.EMA(12) - talib.EMA(26)``. The
signal line is EMA(signal) over the MACD line, seeded with the SMA of the first ``signal``
MACD values; the first full output is at input index ``slow + signal - 2`` (33 for 12/26/9).

Exposure during warm-up: TA-Lib returns NaN for MACD, signal and histogram alike until the
signal is warm, so :meth:`MACD.update` and :attr:`MACD.value` return ``None`` until all three
exist. The bare MACD line (available from index ``slow - 1``) is reachable through
:attr:`MACD.line` for callers that want it, but it is not part of the TA-Lib-compatible output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from udfs.indicators.base import Indicator, State, check_period, finite
from udfs.indicators.ema import EMA


@dataclass(frozen=True, slots=True)
class MACDValue:
    """One MACD output: the MACD line, its signal EMA and the histogram ``macd - signal``."""

    macd: float
    signal: float
    hist: float


class MACD(Indicator[MACDValue]):
    """MACD(fast, slow, signal) (IndicatorConfig: 12/26/9), matching ``talib.MACD`` exactly.

    As in TA-Lib, ``fast`` and ``slow`` are swapped if given the wrong way round.
    """

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        fast = check_period("fast", fast, minimum=2)
        slow = check_period("slow", slow, minimum=2)
        if slow < fast:
            fast, slow = slow, fast
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self._signal = EMA(check_period("signal", signal))
        self.reset()

    @property
    def periods(self) -> tuple[int, int, int]:
        """``(fast, slow, signal)``."""
        return (self._fast.period, self._slow.period, self._signal.period)

    def reset(self) -> None:
        """Forget all input: reset the three EMAs, the fast EMA's skip count, the line and the value."""
        self._fast.reset()
        self._slow.reset()
        self._signal.reset()
        self._skipped = 0  # leading inputs withheld from the fast EMA (up to slow - fast)
        self._line: float | None = None
        self._value: MACDValue | None = None

    @property
    def line(self) -> float | None:
        """The latest MACD line (fast - slow), available before the signal is warm."""
        return self._line

    def update(self, x: float) -> MACDValue | None:
        """Feed the next input; return MACD, signal and histogram after it, or ``None`` until the signal is warm."""
        x = finite(x)
        slow = self._slow.update(x)
        if self._skipped < self._slow.period - self._fast.period:
            # The fast EMA starts late so that its SMA seed covers the last `fast` inputs
            # before the slow EMA's seed point (TA-Lib's alignment).
            self._skipped += 1
            return None
        fast = self._fast.update(x)
        if fast is None or slow is None:
            return None
        self._line = fast - slow
        signal = self._signal.update(self._line)
        if signal is not None:
            self._value = MACDValue(self._line, signal, self._line - signal)
        return self._value

    def state(self) -> State:
        """The three EMAs' states, the skip count, the line and the last value as ``(macd, signal, hist)``."""
        v = self._value
        return {
            "fast": self._fast.state(),
            "slow": self._slow.state(),
            "signal": self._signal.state(),
            "skipped": self._skipped,
            "line": self._line,
            "value": None if v is None else (v.macd, v.signal, v.hist),
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        self._fast = EMA.from_state(state["fast"])
        self._slow = EMA.from_state(state["slow"])
        self._signal = EMA.from_state(state["signal"])
        self._skipped = int(state["skipped"])
        self._line = None if state["line"] is None else float(state["line"])
        v = state["value"]
        self._value = None if v is None else MACDValue(*(float(f) for f in v))
