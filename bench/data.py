"""Synthetic OHLCV bars for the benchmarks: a random walk per symbol, valid by construction.

Every bar satisfies what ``marketpipe backfill`` checks (positive finite prices, low <= open, close
<= high, whole non-negative volume) and starts on a whole minute, so the same series serve the
pure-Python math, the Flink mini-cluster jobs and the real backfill.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

T0_MS = 1_718_285_400_000  # 2024-06-13 13:30 UTC, a whole minute
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Series:
    """One symbol's bars as float64 arrays (what TA-Lib takes) plus bar starts in epoch ms."""

    symbol: str
    start_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]  # whole numbers, float64 for TA-Lib

    @property
    def vwap(self) -> npt.NDArray[np.float64]:
        """The typical price, which backfill also uses when a file has no vwap column."""
        return (self.high + self.low + self.close) / 3

    def __len__(self) -> int:
        return len(self.close)


def symbol_name(i: int) -> str:
    """``S000``, ``S001``, ... (upper case, as backfill normalizes symbols)."""
    return f"S{i:03d}"


def random_walk(symbol_index: int, bars: int, seed: int = 7) -> Series:
    """A reproducible OHLCV random walk of ``bars`` one-minute bars for symbol ``symbol_index``."""
    rng = np.random.default_rng([seed, symbol_index])
    close = np.round(50 + 100 * rng.random() * np.exp(np.cumsum(rng.normal(0, 0.001, bars))), 4)
    prev = np.concatenate(([close[0]], close[:-1]))
    open_ = np.round(prev * (1 + rng.normal(0, 0.0003, bars)), 4)
    spread = np.abs(rng.normal(0, 0.0007, bars)) * close
    high = np.round(np.maximum(open_, close) + spread, 4)
    low = np.round(np.minimum(open_, close) - spread, 4)
    volume = rng.integers(100, 10_000, bars).astype(np.float64)
    start_ms = T0_MS + MINUTE_MS * np.arange(bars, dtype=np.int64)
    return Series(symbol_name(symbol_index), start_ms, open_, high, low, close, volume)


def universe(symbols: int, bars: int) -> list[Series]:
    """``symbols`` independent random walks of ``bars`` bars each."""
    return [random_walk(i, bars) for i in range(symbols)]


def _rows(series: list[Series]) -> list[tuple[str, int, float, float, float, float, int, float]]:
    # Minute by minute across symbols, as a live feed delivers them (keeps watermarks meaningful).
    # Plain Python numbers, so repr() writes the shortest exact decimal.
    cols = [
        (s.symbol, s.start_ms.tolist(), s.open.tolist(), s.high.tolist(), s.low.tolist(),
         s.close.tolist(), s.volume.astype(np.int64).tolist(), s.vwap.tolist())
        for s in series
    ]
    return [
        (sym, ts[i], o[i], h[i], lo[i], c[i], v[i], vw[i])
        for i in range(len(series[0]))
        for sym, ts, o, h, lo, c, v, vw in cols
    ]


def write_flink_csv(series: list[Series], path: Path) -> Path:
    """Headerless CSV in the column order of ``udfs.flink.indicators.INPUT_COLUMNS`` (without rowtime)."""
    with path.open("w") as f:
        for sym, ts, o, h, lo, c, v, vw in _rows(series):
            f.write(f"{sym},{ts},{o!r},{h!r},{lo!r},{c!r},{v},{vw!r}\n")
    return path


def write_backfill_csv(series: list[Series], path: Path) -> Path:
    """A ``marketpipe backfill --timeframe 1m`` input: ts in epoch nanoseconds, no vwap column."""
    with path.open("w") as f:
        f.write("symbol,ts,open,high,low,close,volume\n")
        for sym, ts, o, h, lo, c, v, _ in _rows(series):
            f.write(f"{sym},{ts * 1_000_000},{o!r},{h!r},{lo!r},{c!r},{v}\n")
    return path
