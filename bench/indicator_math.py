"""Measurement 1: ``IndicatorSet.update`` per bar against TA-Lib over the same arrays."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.data import random_walk
from bench.reference import INDICATORS, talib_seconds
from udfs.indicators.set import Bar, IndicatorSet
from udfs.market.calendar import session_of


def run(bars: int, repeats: int) -> dict[str, Any]:
    """µs per ``update`` (median of ``repeats`` passes over ``bars`` bars) and TA-Lib's µs per bar."""
    s = random_walk(0, bars)
    # Bars and their sessions are built outside the timed loop: only the math is measured.
    series = [
        Bar(float(s.open[i]), float(s.high[i]), float(s.low[i]), float(s.close[i]),
            float(s.volume[i]), float(s.vwap[i]), session_of(int(s.start_ms[i])))
        for i in range(bars)
    ]
    passes = []
    for _ in range(repeats):
        ind = IndicatorSet()
        update = ind.update
        t0 = time.perf_counter()
        for bar in series:
            update(bar)
        passes.append(time.perf_counter() - t0)
    python_us = statistics.median(passes) / bars * 1e6
    talib_us = talib_seconds([s], repeats=max(repeats, 7)) / bars * 1e6
    return {
        "bars": bars,
        "repeats": repeats,
        "indicator_set_us_per_update": python_us,
        "indicator_set_us_per_update_all": [p / bars * 1e6 for p in passes],
        "talib_us_per_bar": talib_us,
        "ratio_vs_talib": python_us / talib_us,
        "talib_indicators": INDICATORS,
        "note": "IndicatorSet also updates session VWAP and builds an IndicatorRow per bar",
    }
