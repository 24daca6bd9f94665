"""Streaming indicators equal TA-Lib (talib.EMA, RSI, MACD) after warm-up, None before it."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.indicators import EMA, MACD, RSI, Indicator, MACDValue
from udfs.indicators.set import IndicatorRow, IndicatorSet, compute_indicators

RTOL = 1e-9


def random_walk(seed: int, n: int = 5000) -> npt.NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


def with_jumps(seed: int, n: int = 2000) -> npt.NDArray[np.float64]:
    """A walk with gaps of +-30 % and long flat stretches (halts)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.005, n)
    steps[rng.choice(n, 20, replace=False)] = rng.choice([-0.35, 0.26], 20)
    x = 50.0 * np.exp(np.cumsum(steps))
    x[500:560] = x[499]
    x[1200:1300] = x[1199]
    return x


SERIES: dict[str, npt.NDArray[np.float64]] = {
    **{f"walk{s}": random_walk(s) for s in (1, 2, 3)},
    "jumps": with_jumps(7),
    "flat": np.full(300, 42.5),
    "rising": np.arange(1.0, 201.0),
    "falling": np.arange(200.0, 0.0, -1.0),
    "tiny": np.full(200, 1e-6) + np.tile([0.0, 1e-12], 100),
    "short": random_walk(9, 30),
}


def as_array(values: Sequence[float | None]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def assert_matches(ours: Sequence[float | None], ref: npt.NDArray[np.float64]) -> None:
    got = as_array(ours)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg="warm-up (None) mismatch")
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-12, equal_nan=True)


def run(ind: Indicator[float], xs: npt.NDArray[np.float64]) -> list[float | None]:
    return [ind.update(x) for x in xs]


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 2, 12, 26, 50])
def test_ema_matches_talib(name: str, period: int) -> None:
    xs = SERIES[name]
    assert_matches(run(EMA(period), xs), talib.EMA(xs, period))


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [2, 14, 30])
def test_rsi_matches_talib(name: str, period: int) -> None:
    xs = SERIES[name]
    assert_matches(run(RSI(period), xs), talib.RSI(xs, period))


def test_rsi_flat_series_is_zero_like_talib() -> None:
    xs = np.full(40, 10.0)
    assert talib.RSI(xs, 14)[14] == 0.0
    assert run(RSI(14), xs)[14:] == [0.0] * 26


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("periods", [(12, 26, 9), (5, 35, 5), (26, 12, 9), (3, 3, 1)])
def test_macd_matches_talib(name: str, periods: tuple[int, int, int]) -> None:
    xs = SERIES[name]
    out = run_macd(MACD(*periods), xs)
    ref = talib.MACD(xs, *periods)
    for field, r in zip(("macd", "signal", "hist"), ref, strict=True):
        assert_matches([None if v is None else getattr(v, field) for v in out], r)


def run_macd(ind: MACD, xs: npt.NDArray[np.float64]) -> list[MACDValue | None]:
    return [ind.update(x) for x in xs]


def test_macd_first_output_at_33_and_line_exposed_earlier() -> None:
    xs = SERIES["walk1"]
    m = MACD(12, 26, 9)
    out = run_macd(m, xs[:34])
    assert all(v is None for v in out[:33]) and out[33] is not None
    m2 = MACD(12, 26, 9)
    run_macd(m2, xs[:26])
    assert m2.line is not None and m2.value is None and not m2.is_warm


def indicator_columns(rows: Sequence[IndicatorRow]) -> dict[str, list[float | None]]:
    return {f: [getattr(r, f) for r in rows] for f in IndicatorRow.__slots__ if f != "is_warm"}


@pytest.mark.parametrize("name", SERIES)
def test_indicator_set_matches_talib(name: str) -> None:
    xs = SERIES[name]
    rows = compute_indicators(xs)
    cols = indicator_columns(rows)
    m, s, h = talib.MACD(xs, 12, 26, 9)
    assert_matches(cols["ema_12"], talib.EMA(xs, 12))
    assert_matches(cols["ema_26"], talib.EMA(xs, 26))
    assert_matches(cols["rsi_14"], talib.RSI(xs, 14))
    assert_matches(cols["macd"], m)
    assert_matches(cols["macd_signal"], s)
    assert_matches(cols["macd_hist"], h)
    assert_matches(cols["macd_hist_prev"], np.r_[np.nan, h[:-1]])
    expect_warm = ~(np.isnan(m) | np.isnan(talib.RSI(xs, 14)) | np.isnan(talib.EMA(xs, 26)))
    assert [r.is_warm for r in rows] == expect_warm.tolist()


def test_indicator_set_warm_from_index_33() -> None:
    rows = compute_indicators(SERIES["walk2"][:40])
    assert [r.is_warm for r in rows] == [False] * 33 + [True] * 7
    assert rows[33].macd_hist_prev is None and rows[34].macd_hist_prev == rows[33].macd_hist


FACTORIES: dict[str, Callable[[], object]] = {
    "ema": lambda: EMA(12),
    "rsi": lambda: RSI(14),
    "macd": lambda: MACD(12, 26, 9),
    "set": IndicatorSet,
}


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("cut", [0, 1, 13, 25, 33, 34, 500])
@pytest.mark.parametrize("via", ["state", "pickle"])
def test_state_round_trip_mid_series(kind: str, cut: int, via: str) -> None:
    xs = SERIES["jumps"][:800]
    straight = FACTORIES[kind]()
    expected = [straight.update(x) for x in xs]  # type: ignore[attr-defined]

    first = FACTORIES[kind]()
    got = [first.update(x) for x in xs[:cut]]  # type: ignore[attr-defined]
    if via == "state":
        blob = pickle.dumps(first.state())  # type: ignore[attr-defined]
        restored = type(first).from_state(pickle.loads(blob))  # type: ignore[attr-defined]
    else:
        blob = pickle.dumps(first)
        restored = pickle.loads(blob)
    assert len(blob) < 4096  # bounded: the largest windows hold 20 values
    got += [restored.update(x) for x in xs[cut:]]
    assert got == expected  # bit-identical, not just close


@pytest.mark.parametrize("kind", FACTORIES)
def test_reset_starts_over(kind: str) -> None:
    xs = SERIES["walk3"][:200]
    ind = FACTORIES[kind]()
    first = [ind.update(x) for x in xs]  # type: ignore[attr-defined]
    ind.reset()  # type: ignore[attr-defined]
    assert [ind.update(x) for x in xs] == first  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["ema", "rsi", "macd"])
def test_warmness_and_value(kind: str) -> None:
    ind = FACTORIES[kind]()
    assert isinstance(ind, Indicator)
    assert not ind.is_warm and ind.value is None
    for x in SERIES["walk1"][:40]:
        v = ind.update(x)
        assert v == ind.value and ind.is_warm == (v is not None)
    assert ind.is_warm


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_rejected_without_state_change(bad: float) -> None:
    s = IndicatorSet()
    for x in SERIES["walk1"][:50]:
        s.update(x)
    before = s.state()
    with pytest.raises(ValueError):
        s.update(bad)
    assert s.state() == before


def test_bad_parameters_rejected() -> None:
    for make in (lambda: EMA(0), lambda: RSI(1), lambda: MACD(1, 26, 9), lambda: EMA(2.5)):  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            make()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=120,
    ),
    st.integers(min_value=0, max_value=120),
)
def test_property_stream_equals_talib_and_restore(closes: list[float], cut: int) -> None:
    xs = np.array(closes)
    rows = compute_indicators(xs)
    cols = indicator_columns(rows)
    m, s, h = talib.MACD(xs, 12, 26, 9)
    for got, ref in [
        (cols["ema_12"], talib.EMA(xs, 12)),
        (cols["rsi_14"], talib.RSI(xs, 14)),
        (cols["macd"], m),
        (cols["macd_signal"], s),
        (cols["macd_hist"], h),
    ]:
        g = as_array(got)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(ref))
        # Arbitrary inputs span 8 orders of magnitude; MACD is a difference of close EMAs, so
        # compare against the price scale rather than the (possibly ~0) value itself.
        np.testing.assert_allclose(g, ref, rtol=RTOL, atol=1e-9 * float(np.max(xs)), equal_nan=True)
    cut = min(cut, len(closes))
    s1 = IndicatorSet()
    for x in closes[:cut]:
        s1.update(x)
    s2 = pickle.loads(pickle.dumps(s1))
    assert [s2.update(x) for x in closes[cut:]] == rows[cut:]
