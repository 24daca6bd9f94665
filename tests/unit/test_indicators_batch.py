"""The batch backfill's fast indicator path equals the streaming step bit for bit.

The oracle is the streaming wrapper itself: :class:`udfs.flink.indicators.IndicatorFunction.process_element`
fed the same bars one by one (with an in-memory ValueState), i.e. ``IndicatorSet`` with its state
round-tripped after every bar. The fast path is :func:`udfs.flink.indicators.series_rows` (what the batch UDTF
``IndicatorSeries`` returns), over series in any order. TA-Lib agreement is checked for the fast path
too, as test_indicators*.py do for the streaming code.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from pyflink.common import Row

from udfs.flink.indicators import OUTPUT_COLUMNS, IndicatorFunction, IndicatorSeries, series_rows
from udfs.indicators import batch, kernels
from udfs.indicators.bollinger import population_stddev
from udfs.indicators.set import VALUE_FIELDS, IndicatorConfig

DAY_MS = 86_400_000
MINUTE_MS = 60_000
T0_DAILY = 1_262_615_400_000  # 2010-01-04 14:30 UTC, 09:30 New York
T0_MINUTE = 1_710_077_400_000  # 2024-03-10 13:30 UTC: a DST change falls inside the 1m series below

Bars = list[tuple[int, Any, Any, Any, Any, Any, Any]]  # (ts, open, high, low, close, volume, vwap)


class _State:
    def __init__(self) -> None:
        self.v: Any = None

    def value(self) -> Any:
        return self.v

    def update(self, v: Any) -> None:
        self.v = v


def streaming_rows(bars: Bars, config: IndicatorConfig | None) -> list[tuple[Any, ...]]:
    """What the streaming KeyedProcessFunction emits for ``bars`` in the given order."""
    fn = IndicatorFunction(config)
    fn._state = _State()
    out = []
    for ts, o, h, low, c, v, vw in bars:
        for row in fn.process_element(Row("X", ts, o, h, low, c, v, vw, None), None):
            out.append(tuple(row)[1:])
    return out


def fast_rows(bars: Bars, config: IndicatorConfig | None) -> list[tuple[Any, ...]]:
    cols: list[Sequence[Any]] = list(zip(*bars, strict=True)) if bars else [[]] * 7
    ts, o, h, low, c, v, vw = (list(col) for col in cols)
    return series_rows(ts, o, h, low, c, v, vw, config)


def _bits(x: Any) -> Any:
    if isinstance(x, float):
        return ("f", struct.pack("<d", x))
    return (type(x).__name__, x)


def assert_identical(fast: list[tuple[Any, ...]], ref: list[tuple[Any, ...]]) -> None:
    assert len(fast) == len(ref)
    for i, (a, b) in enumerate(zip(fast, ref, strict=True)):
        assert len(a) == len(b) == len(OUTPUT_COLUMNS) - 1
        for name, x, y in zip(OUTPUT_COLUMNS[1:], a, b, strict=True):
            assert _bits(x) == _bits(y), f"row {i} {name}: fast {x!r} != streaming {y!r}"


def series(
    seed: int, n: int, *, step_ms: int = DAY_MS, t0: int = T0_DAILY, level: float = 100.0,
    vol: float = 0.01, gaps: bool = False, decimals: int | None = 4, zero_volume: float = 0.0,
) -> Bars:
    """An OHLCV random walk (valid bars), optionally with price gaps and missing bar starts."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0, vol, n)
    if gaps:
        jumps = rng.random(n) < 0.03
        r[jumps] += rng.normal(0, 0.1, int(jumps.sum()))
    close = level * np.exp(np.cumsum(r))
    prev = np.concatenate(([close[0]], close[:-1])) if n else close
    open_ = prev * (1 + rng.normal(0, 0.002, n))
    spread = np.abs(rng.normal(0, 0.004, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    if decimals is not None:
        open_, high, low, close = (np.round(a, decimals) for a in (open_, high, low, close))
        high = np.maximum.reduce([high, open_, close])
        low = np.minimum.reduce([low, open_, close])
    volume = rng.integers(100, 100_000, n)
    volume[rng.random(n) < zero_volume] = 0
    steps = np.full(n, step_ms, dtype=np.int64)
    if gaps:
        steps[rng.random(n) < 0.05] *= rng.integers(2, 5)
    ts = t0 + np.cumsum(steps) - step_ms
    vwap = (high + low + close) / 3
    return list(zip(ts.tolist(), open_.tolist(), high.tolist(), low.tolist(), close.tolist(),
                    volume.tolist(), vwap.tolist(), strict=True))


CONFIGS = {
    "default": None,
    "short": IndicatorConfig(ema_fast=3, ema_slow=5, rsi=2, macd_signal=2, sma=2, bb_period=2, bb_k=1.5,
                             atr=1, stoch_fastk=1, stoch_slowk=1, stoch_slowd=1, volume_sma=1),
    "swapped_macd": IndicatorConfig(ema_fast=26, ema_slow=12, rsi=9, bb_period=30, sma=10, bb_k=2.5,
                                    atr=20, stoch_fastk=5, stoch_slowk=4, stoch_slowd=2, volume_sma=7),
    "equal_emas": IndicatorConfig(ema_fast=10, ema_slow=10, macd_signal=1),
    "long": IndicatorConfig(ema_fast=50, ema_slow=200, rsi=30, macd_signal=20, sma=100, bb_period=50,
                            atr=60, stoch_fastk=40, stoch_slowk=10, stoch_slowd=10, volume_sma=60),
}

SERIES: dict[str, Callable[[], Bars]] = {
    "daily": lambda: series(1, 2600),
    "daily_gaps": lambda: series(2, 1500, gaps=True),
    "minute_sessions": lambda: series(3, 3000, step_ms=MINUTE_MS, t0=T0_MINUTE, zero_volume=0.05),
    "minute_unrounded": lambda: series(4, 2000, step_ms=MINUTE_MS, t0=T0_MINUTE, decimals=None, vol=0.0005),
    "high_price_low_vol": lambda: series(5, 1200, level=1e6, vol=1e-7),
    "penny": lambda: series(6, 800, level=0.01, vol=0.05, decimals=None),
    "flat": lambda: [(T0_DAILY + i * DAY_MS, 42.5, 42.5, 42.5, 42.5, 1000, 42.5) for i in range(300)],
    "negative_prices": lambda: [(t, -o, -low, -h, -c, v, -vw) for t, o, h, low, c, v, vw in series(7, 400)],
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("name", SERIES.keys())
def test_fast_path_equals_streaming(name: str, config: IndicatorConfig | None) -> None:
    bars = SERIES[name]()
    assert_identical(fast_rows(bars, config), streaming_rows(bars, config))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 13, 14, 15, 19, 20, 25, 26, 33, 34, 40])
@pytest.mark.parametrize("config", [None, CONFIGS["short"], CONFIGS["long"]], ids=["default", "short", "long"])
def test_short_series_below_warm_up(n: int, config: IndicatorConfig | None) -> None:
    bars = series(10 + n, n)
    assert_identical(fast_rows(bars, config), streaming_rows(bars, config))


def test_any_input_order_is_sorted_like_the_stream() -> None:
    bars = series(11, 700, gaps=True)
    shuffled = list(bars)
    np.random.default_rng(0).shuffle(shuffled)
    assert_identical(fast_rows(shuffled, None), streaming_rows(bars, None))


def test_bad_bars_are_cold_and_leave_the_state_alone() -> None:
    bars = series(12, 500, step_ms=MINUTE_MS, t0=T0_MINUTE)
    rng = np.random.default_rng(1)
    for i in rng.choice(500, 25, replace=False).tolist():
        t, o, h, low, c, v, vw = bars[i]
        kind = i % 5
        bars[i] = (
            (t, o, h, low, None, v, vw) if kind == 0
            else (t, o, math.nan, low, c, v, vw) if kind == 1
            else (t, o, h, low, c, None, vw) if kind == 2
            else (t, o, h, low, c, -5, vw) if kind == 3  # refused by session VWAP mid-update
            else (t, o, h, low, c, v, math.inf)
        )
    assert_identical(fast_rows(bars, None), streaming_rows(bars, None))


def test_duplicate_bar_starts_are_applied_once() -> None:
    bars = series(13, 200)
    dup = [*bars[:100], (bars[99][0], 1.0, 2.0, 0.5, 1.5, 10, 1.2), *bars[100:]]
    assert_identical(fast_rows(dup, None), streaming_rows(dup, None))


@pytest.mark.parametrize("scale", [1e-120, 1e120])
def test_outside_the_fast_range_falls_back_to_the_streaming_code(scale: float) -> None:
    bars = [(t, o * scale, h * scale, low * scale, c * scale, v, vw * scale)
            for t, o, h, low, c, v, vw in series(14, 300)]
    assert_identical(fast_rows(bars, None), streaming_rows(bars, None))


def test_overflowing_intermediates_fall_back() -> None:
    # a zero-range stochastic window next to a huge close: fast %K overflows, the stream drops the bar
    bars = [(T0_DAILY + i * DAY_MS, 1.0, 1.0, 1.0, 1.0, 10, 1.0) for i in range(30)]
    bars[20] = (bars[20][0], 1.0, 1.0 + 2**-52, 1.0, 9e99, 10, 1.0)
    assert_identical(fast_rows(bars, None), streaming_rows(bars, None))


def test_invalid_config_is_cold_everywhere_like_the_stream() -> None:
    bars = series(15, 60)
    config = IndicatorConfig(rsi=1)  # RSI refuses a period below 2: every streaming update fails
    assert_identical(fast_rows(bars, config), streaming_rows(bars, config))


def test_udtf_eval_yields_the_same_rows() -> None:
    bars = series(16, 300)
    cols = [list(col) for col in zip(*bars, strict=True)]
    out = IndicatorSeries(None).eval(*cols)
    assert isinstance(out, list)  # PyFlink's normalize_table_function_result takes an iterator as ONE row
    assert_identical(out, streaming_rows(bars, None))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.5, 2000, allow_nan=False), st.floats(0, 0.05), st.floats(0, 0.05),
            st.integers(0, 10_000), st.integers(1, 3), st.booleans(),
        ),
        min_size=0, max_size=120,
    ),
    st.sampled_from(list(CONFIGS)),
)
def test_property_fast_equals_streaming(rows: list[tuple[float, float, float, int, int, bool]], cfg: str) -> None:
    bars: Bars = []
    t = T0_MINUTE
    for close, up, down, v, step, minute in rows:
        t += step * (MINUTE_MS if minute else DAY_MS)
        high, low = close * (1 + up), close * (1 - down)
        bars.append((t, close, high, low, close, v, (high + low + close) / 3))
    config = CONFIGS[cfg]
    assert_identical(fast_rows(bars, config), streaming_rows(bars, config))


def test_exact_window_sums_equal_fsum_on_hard_cases() -> None:
    rng = np.random.default_rng(3)
    for values in (
        rng.normal(0, 1, 5000) * 10.0 ** rng.integers(-20, 20, 5000),
        np.round(rng.normal(100, 1, 5000), 2),
        np.tile([1e16, 1.0, -1e16, 1e-16], 1250),
        np.tile([0.1, 0.2, 0.3, -0.6], 1250),
    ):
        cols = [values[j : j + len(values) - 19] for j in range(20)]
        got = kernels.fsum_rows(cols)
        want = [math.fsum(values[i : i + 20]) for i in range(len(values) - 19)]
        assert [_bits(x) for x in got.tolist()] == [_bits(x) for x in want]
    closes = np.round(rng.normal(100, 2, 400), 4)
    assert kernels.bollinger_sd(closes, 20) == [population_stddev(closes[i : i + 20].tolist()) for i in range(381)]


def test_session_ids_follow_session_of() -> None:
    from udfs.market.calendar import session_of

    rng = np.random.default_rng(4)
    ts = np.sort(rng.integers(1_699_000_000_000, 1_720_000_000_000, 20_000)) // MINUTE_MS * MINUTE_MS
    ids = batch.session_ids(ts)
    names = [session_of(t) for t in ts.tolist()]
    same_ids = (ids[1:] == ids[:-1]).tolist()
    assert same_ids == [a == b for a, b in zip(names[1:], names[:-1], strict=True)]


@pytest.mark.parametrize("name", ["daily", "daily_gaps", "minute_sessions"])
def test_fast_path_matches_talib(name: str) -> None:
    bars = SERIES[name]()
    rows = fast_rows(bars, None)
    cols = {c: np.array([np.nan if r[i] is None else r[i] for r in rows], dtype=float)
            for i, c in enumerate(OUTPUT_COLUMNS[1:]) if c in VALUE_FIELDS}
    _, _, h, low, c, v, _ = (np.array(col, dtype=float) for col in zip(*bars, strict=True))

    def same(ours: npt.NDArray[np.float64], ref: npt.NDArray[np.float64], rtol: float = 1e-12) -> None:
        # the tolerance of test_indicators*.py: None exactly where TA-Lib is NaN, then ~1e-12 relative
        assert np.array_equal(np.isnan(ours), np.isnan(ref))
        scale = float(np.nanmax(np.abs(ref)))
        np.testing.assert_allclose(ours, ref, rtol=rtol, atol=1e-12 * scale, equal_nan=True)

    same(cols["ema_12"], talib.EMA(c, 12))
    same(cols["ema_26"], talib.EMA(c, 26))
    same(cols["rsi_14"], talib.RSI(c, 14))
    m, s, hist = talib.MACD(c, 12, 26, 9)
    same(cols["macd"], m)
    same(cols["macd_signal"], s)
    same(cols["macd_hist"], hist)
    same(cols["sma_20"], talib.SMA(c, 20))
    up, mid, lo = talib.BBANDS(c, 20, 2.0, 2.0, talib.MA_Type.SMA)
    same(cols["bb_middle"], mid)
    same(cols["bb_upper"], up, rtol=1e-12)
    same(cols["bb_lower"], lo, rtol=1e-12)
    same(cols["atr_14"], talib.ATR(h, low, c, 14))
    k, d = talib.STOCH(h, low, c, 14, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA)
    same(cols["stoch_k"], k)
    same(cols["stoch_d"], d)
    same(cols["volume_sma_20"], talib.SMA(v, 20))
