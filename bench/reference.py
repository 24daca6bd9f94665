"""TA-Lib over whole arrays: the reference cost the pipeline's per-update math is compared with."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import talib

from bench.data import Series

#: What is compared: the indicators of ``IndicatorSet`` that TA-Lib has (session VWAP it has not).
INDICATORS = (
    "EMA 12, EMA 26, RSI 14, MACD 12/26/9, SMA 20, BBANDS 20/2/2, ATR 14, STOCH 14/3/3, SMA 20 of volume"
)


def talib_indicators(s: Series) -> None:
    """Every TA-Lib function of :data:`INDICATORS` over one symbol's whole series."""
    talib.EMA(s.close, 12)
    talib.EMA(s.close, 26)
    talib.RSI(s.close, 14)
    talib.MACD(s.close, 12, 26, 9)
    talib.SMA(s.close, 20)
    talib.BBANDS(s.close, 20, 2.0, 2.0, talib.MA_Type.SMA)
    talib.ATR(s.high, s.low, s.close, 14)
    talib.STOCH(s.high, s.low, s.close, 14, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA)
    talib.SMA(s.volume, 20)


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (perf_counter)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def talib_seconds(series: Sequence[Series], repeats: int = 21) -> float:
    """Median time for TA-Lib to compute :data:`INDICATORS` for every symbol of ``series``."""

    def all_symbols() -> None:
        for s in series:
            talib_indicators(s)

    all_symbols()  # warm caches and lazy imports
    return median_seconds(all_symbols, repeats)
