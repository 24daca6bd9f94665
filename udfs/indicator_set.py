"""The indicator bundle computed per symbol on every closed bar.

``IndicatorSet`` feeds one bar close into EMA(12), EMA(26), RSI(14) and MACD(12, 26, 9) and
returns an :class:`IndicatorRow`. The same object serves the Flink job (its :meth:`state`
is what goes into ``ValueState``), batch backfills and tests via :func:`compute_indicators`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Self

from udfs.indicators import EMA, MACD, RSI
from udfs.indicators.base import State, finite

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """Indicator values after one bar; ``None`` where an indicator is still warming up.

    ``macd_hist_prev`` is the previous bar's ``macd_hist`` (``None`` on the first bar with a
    histogram). ``is_warm`` is true once every field except ``macd_hist_prev`` has a value.
    """

    ema_12: float | None
    ema_26: float | None
    rsi_14: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    macd_hist_prev: float | None
    is_warm: bool


class IndicatorSet:
    """EMA12, EMA26, RSI14 and MACD(12,26,9) for one symbol, with small picklable state."""

    def __init__(self) -> None:
        self._ema_12 = EMA(12)
        self._ema_26 = EMA(26)
        self._rsi_14 = RSI(14)
        self._macd = MACD(12, 26, 9)
        self._hist_prev: float | None = None  # macd_hist of the last bar

    def reset(self) -> None:
        """Forget all bars."""
        for ind in (self._ema_12, self._ema_26, self._rsi_14, self._macd):
            ind.reset()
        self._hist_prev = None

    def update(self, close: float) -> IndicatorRow:
        """Feed the next bar close (bars must arrive in time order)."""
        close = finite(close)  # refuse before any indicator changes state
        ema_12 = self._ema_12.update(close)
        ema_26 = self._ema_26.update(close)
        rsi_14 = self._rsi_14.update(close)
        m = self._macd.update(close)
        hist_prev, self._hist_prev = self._hist_prev, (None if m is None else m.hist)
        return IndicatorRow(
            ema_12=ema_12,
            ema_26=ema_26,
            rsi_14=rsi_14,
            macd=None if m is None else m.macd,
            macd_signal=None if m is None else m.signal,
            macd_hist=None if m is None else m.hist,
            macd_hist_prev=hist_prev,
            is_warm=ema_12 is not None and ema_26 is not None and rsi_14 is not None and m is not None,
        )

    def state(self) -> State:
        """Plain-Python state (a few hundred bytes pickled) for Flink ``ValueState``."""
        return {
            "v": STATE_VERSION,
            "ema_12": self._ema_12.state(),
            "ema_26": self._ema_26.state(),
            "rsi_14": self._rsi_14.state(),
            "macd": self._macd.state(),
            "hist_prev": self._hist_prev,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from :meth:`state` output."""
        obj = cls.__new__(cls)
        obj.__setstate__(state)
        return obj

    def __getstate__(self) -> State:
        return self.state()

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        if state.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported IndicatorSet state version {state.get('v')!r}")
        self._ema_12 = EMA.from_state(state["ema_12"])
        self._ema_26 = EMA.from_state(state["ema_26"])
        self._rsi_14 = RSI.from_state(state["rsi_14"])
        self._macd = MACD.from_state(state["macd"])
        hp = state["hist_prev"]
        self._hist_prev = None if hp is None else float(hp)


def compute_indicators(closes: Iterable[float]) -> list[IndicatorRow]:
    """Indicator rows for a whole close series of one symbol, via the streaming code path."""
    ind = IndicatorSet()
    return [ind.update(c) for c in closes]
