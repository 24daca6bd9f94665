"""SMA, Bollinger, ATR and Stochastic equal TA-Lib after warm-up (None before it); session
VWAP equals a pandas groupby-cumsum. Same shape as ``test_indicators.py``."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.indicators import (
    ATR,
    SMA,
    BollingerBands,
    BollingerValue,
    Indicator,
    SessionVWAP,
    Stochastic,
    StochValue,
)

RTOL = 1e-9


@dataclass(frozen=True)
class Bars:
    """An OHLCV series with a session id per bar (a new session every 390 bars)."""

    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    volume: npt.NDArray[np.float64]
    session: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.close)

    def hlc(self) -> list[tuple[float, float, float]]:
        return list(zip(self.high.tolist(), self.low.tolist(), self.close.tolist(), strict=True))


def ohlc(
    closes: npt.NDArray[np.float64], rng: np.random.Generator, gaps: npt.NDArray[np.float64] | None = None
) -> Bars:
    """Bars around ``closes`` with ``high >= max(open, close)`` and ``low <= min(open, close)``."""
    n = len(closes)
    opens = np.r_[closes[0], closes[:-1]] * (1.0 if gaps is None else gaps)
    wick = np.abs(rng.normal(0.0, 0.003, (2, n)))
    high = np.maximum(opens, closes) * (1.0 + wick[0])
    low = np.minimum(opens, closes) * (1.0 - wick[1])
    volume = rng.integers(0, 5000, n).astype(float)
    volume[rng.random(n) < 0.05] = 0.0  # some bars without trades
    return Bars(opens, high, low, closes, volume, np.arange(n) // 390)


def walk(seed: int, n: int = 3000, level: float = 100.0, vol: float = 0.01) -> Bars:
    rng = np.random.default_rng(seed)
    return ohlc(level * np.exp(np.cumsum(rng.normal(0.0, vol, n))), rng)


def gapped(seed: int, n: int = 3000) -> Bars:
    """Opening gaps of -35 %/+26 % and two halts where high == low == close for many bars."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.005, n)
    jumps = rng.choice(n, 30, replace=False)
    steps[jumps] = rng.choice([-0.35, 0.26], 30)
    closes = 50.0 * np.exp(np.cumsum(steps))
    gaps = np.ones(n)
    gaps[jumps] = np.exp(steps[jumps])  # the open gaps too, so the true range sees the jump
    b = ohlc(closes, rng, gaps)
    for lo, hi in ((500, 560), (1200, 1300)):
        for a in (b.open, b.high, b.low, b.close):
            a[lo:hi] = closes[lo - 1]
    return b


def flat(n: int = 300, price: float = 42.5) -> Bars:
    p = np.full(n, price)
    return Bars(p, p.copy(), p.copy(), p.copy(), np.full(n, 100.0), np.arange(n) // 50)


SERIES: dict[str, Bars] = {
    **{f"walk{s}": walk(s) for s in (1, 2, 3)},
    "gapped": gapped(7),
    "flat": flat(),
    "tiny": walk(11, level=1e-4),  # sub-penny prices
    "huge": walk(12, level=1e6),
    "huge_quiet": walk(13, level=1e6, vol=1e-7),  # variance far below price**2 * eps
    "short": walk(9, 30),
}


def as_array(values: Sequence[float | None]) -> npt.NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def field(values: Sequence[Any], name: str) -> list[float | None]:
    return [None if v is None else getattr(v, name) for v in values]


def assert_matches(ours: Sequence[float | None], ref: npt.NDArray[np.float64]) -> None:
    """None exactly where TA-Lib is NaN; otherwise equal to ``RTOL`` relative.

    ``atol`` is 1e-12 of the series' own scale so that legitimately-zero outputs (ATR of a
    flat series, %K at the low) compare sanely; it is far below ``RTOL`` of any price.
    """
    got = as_array(ours)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg="warm-up (None) mismatch")
    scale = float(np.nanmax(np.abs(ref))) if np.any(~np.isnan(ref)) else 0.0
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=1e-12 * scale, equal_nan=True)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 2, 20, 50])
def test_sma_is_talib_bit_for_bit(name: str, period: int) -> None:
    xs = SERIES[name].close
    ind = SMA(period)
    got = as_array([ind.update(x) for x in xs])
    np.testing.assert_array_equal(got, talib.SMA(xs, period))


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("params", [(20, 2.0, 2.0), (5, 1.0, 1.0), (10, 2.5, 1.5), (2, 1.0, 3.0)])
def test_bollinger_matches_talib(name: str, params: tuple[int, float, float]) -> None:
    xs = SERIES[name].close
    ind = BollingerBands(*params)
    out = [ind.update(x) for x in xs]
    upper, middle, lower = talib.BBANDS(xs, params[0], params[1], params[2], matype=talib.MA_Type.SMA)
    np.testing.assert_array_equal(as_array(field(out, "middle")), middle)  # the SMA, exactly
    assert_matches(field(out, "upper"), upper)
    assert_matches(field(out, "lower"), lower)


def test_bollinger_uses_population_stddev() -> None:
    ind = BollingerBands(4, 1.0, 1.0)
    for x in (1.0, 2.0, 3.0, 4.0):
        v = ind.update(x)
    assert v == BollingerValue(2.5, 2.5 + 1.25**0.5, 2.5 - 1.25**0.5)  # var = 5/4, not 5/3


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_atr_matches_talib(name: str, period: int) -> None:
    b = SERIES[name]
    assert talib.get_unstable_period("ATR") == 0
    ind = ATR(period)
    assert_matches([ind.update(*bar) for bar in b.hlc()], talib.ATR(b.high, b.low, b.close, period))


def test_atr_first_value_at_index_n_is_mean_of_first_n_true_ranges() -> None:
    b = SERIES["walk1"]
    ind = ATR(14)
    out = [ind.update(*bar) for bar in b.hlc()[:15]]
    assert out[:14] == [None] * 14
    tr = talib.TRANGE(b.high[:15], b.low[:15], b.close[:15])
    assert out[14] == pytest.approx(float(np.mean(tr[1:15])), rel=1e-15)


@pytest.mark.parametrize("name", SERIES)
@pytest.mark.parametrize("periods", [(14, 3, 3), (5, 3, 3), (1, 1, 1), (14, 1, 1), (9, 5, 2)])
def test_stochastic_matches_talib(name: str, periods: tuple[int, int, int]) -> None:
    b = SERIES[name]
    ind = Stochastic(*periods)
    out = [ind.update(*bar) for bar in b.hlc()]
    fastk, slowk, slowd = periods
    k, d = talib.STOCH(b.high, b.low, b.close, fastk, slowk, talib.MA_Type.SMA, slowd, talib.MA_Type.SMA)
    assert_matches(field(out, "k"), k)
    assert_matches(field(out, "d"), d)


def test_stochastic_zero_range_is_zero_and_first_value_at_17() -> None:
    b = flat(40)
    ind = Stochastic(14, 3, 3)
    out = [ind.update(*bar) for bar in b.hlc()]
    assert out[:17] == [None] * 17
    assert out[17:] == [StochValue(0.0, 0.0)] * 23
    sma = talib.MA_Type.SMA
    k, d = talib.STOCH(b.high, b.low, b.close, 14, 3, sma, 3, sma)  # talib defaults to fastk=5
    assert np.isnan(k[16]) and k[17] == 0.0 and d[17] == 0.0


def vwap_reference(b: Bars) -> npt.NDArray[np.float64]:
    """The direct batch computation: per-session cumulative sums, divided."""
    df = pd.DataFrame({"pv": b.close * b.volume, "v": b.volume, "s": b.session})
    g = df.groupby("s", sort=False)
    with np.errstate(invalid="ignore"):
        return (g["pv"].cumsum() / g["v"].cumsum()).to_numpy()  # 0 / 0 -> NaN: not traded yet


@pytest.mark.parametrize("name", SERIES)
def test_session_vwap_matches_pandas_groupby_cumsum(name: str) -> None:
    b = SERIES[name]
    ind = SessionVWAP()
    got = [ind.update(p * v, v, s) for p, v, s in zip(b.close, b.volume, b.session.tolist(), strict=True)]
    assert_matches(got, vwap_reference(b))


def test_session_vwap_resets_and_skips_empty_bars() -> None:
    ind = SessionVWAP()
    assert ind.update(0.0, 0.0, "2024-03-14") is None  # nothing traded yet
    assert ind.update(10.0 * 100, 100, "2024-03-14") == 10.0
    assert ind.update(0.0, 0.0, "2024-03-14") == 10.0  # an empty bar keeps the value
    assert ind.update(13.0 * 300, 300, "2024-03-14") == 12.25
    assert ind.update(0.0, 0.0, "2024-03-15") is None  # new session: yesterday is not carried
    assert ind.update(20.0 * 5, 5, "2024-03-15") == 20.0 and ind.session == "2024-03-15"


FACTORIES: dict[str, Callable[[], Indicator[Any]]] = {
    "sma": lambda: SMA(20),
    "bollinger": lambda: BollingerBands(20, 2.0, 2.0),
    "atr": lambda: ATR(14),
    "stochastic": lambda: Stochastic(14, 3, 3),
    "vwap": SessionVWAP,
}


def feed(kind: str, ind: Indicator[Any], b: Bars, lo: int, hi: int) -> list[Any]:
    """Feed bars ``lo:hi`` the way each indicator takes them."""
    out = []
    for i in range(lo, hi):
        if kind in ("sma", "bollinger"):
            out.append(ind.update(b.close[i]))
        elif kind == "vwap":
            out.append(ind.update(b.close[i] * b.volume[i], b.volume[i], int(b.session[i])))  # type: ignore[call-arg]
        else:
            out.append(ind.update(b.high[i], b.low[i], b.close[i]))  # type: ignore[call-arg]
    return out


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("cut", [0, 1, 13, 14, 17, 19, 20, 390, 500])
@pytest.mark.parametrize("via", ["state", "pickle"])
def test_state_round_trip_mid_series(kind: str, cut: int, via: str) -> None:
    b = SERIES["gapped"]
    n = 800
    expected = feed(kind, FACTORIES[kind](), b, 0, n)
    first = FACTORIES[kind]()
    got = feed(kind, first, b, 0, cut)
    if via == "state":
        blob = pickle.dumps(first.state())
        restored = type(first).from_state(pickle.loads(blob))
    else:
        blob = pickle.dumps(first)
        restored = pickle.loads(blob)
    assert len(blob) < 1024
    got += feed(kind, restored, b, cut, n)
    assert got == expected  # bit-identical, not just close


@pytest.mark.parametrize("kind", FACTORIES)
def test_reset_starts_over(kind: str) -> None:
    b = SERIES["walk3"]
    ind = FACTORIES[kind]()
    first = feed(kind, ind, b, 0, 500)
    ind.reset()
    assert not ind.is_warm and ind.value is None
    assert feed(kind, ind, b, 0, 500) == first


@pytest.mark.parametrize("kind", FACTORIES)
def test_warmness_and_value(kind: str) -> None:
    ind = FACTORIES[kind]()
    assert not ind.is_warm and ind.value is None
    for i in range(40):
        (v,) = feed(kind, ind, SERIES["walk1"], i, i + 1)
        assert v == ind.value and ind.is_warm == (v is not None)
    assert ind.is_warm


BAD = [float("nan"), float("inf"), -float("inf")]


def bad_calls(kind: str, bad: float) -> list[Callable[[Indicator[Any]], object]]:
    """Calls with a non-finite value in each argument position (and other invalid bars)."""
    if kind in ("sma", "bollinger"):
        return [lambda ind: ind.update(bad)]
    if kind == "vwap":
        return [
            lambda ind: ind.update(bad, 10.0, 0),
            lambda ind: ind.update(1000.0, bad, 0),
            lambda ind: ind.update(1000.0, -10.0, 0),
            lambda ind: ind.update(1000.0, 0.0, 0),
            lambda ind: ind.update(1000.0, 10.0, []),
        ]
    return [
        lambda ind: ind.update(bad, 1.0, 1.0),
        lambda ind: ind.update(1.0, bad, 1.0),
        lambda ind: ind.update(1.0, 1.0, bad),
    ]


@pytest.mark.parametrize("kind", FACTORIES)
@pytest.mark.parametrize("bad", BAD)
def test_bad_input_rejected_without_state_change(kind: str, bad: float) -> None:
    for call in bad_calls(kind, bad):
        for cut in (0, 5, 60):  # before, during and after warm-up
            ind = FACTORIES[kind]()
            feed(kind, ind, SERIES["walk1"], 0, cut)
            before = ind.state()
            with pytest.raises(ValueError):
                call(ind)
            assert ind.state() == before


def test_bad_parameters_rejected() -> None:
    makers: list[Callable[[], object]] = [
        lambda: SMA(0),
        lambda: SMA(2.5),  # type: ignore[arg-type]
        lambda: BollingerBands(1, 2.0, 2.0),
        lambda: BollingerBands(20, float("nan"), 2.0),
        lambda: ATR(0),
        lambda: Stochastic(0, 3, 3),
        lambda: Stochastic(14, 0, 3),
        lambda: Stochastic(14, 3, True),
    ]
    for make in makers:
        with pytest.raises(ValueError):
            make()


@st.composite
def bar_lists(draw: st.DrawFn) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = draw(st.integers(min_value=1, max_value=80))
    price = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
    o = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    c = np.array(draw(st.lists(price, min_size=n, max_size=n)))
    up = np.array(draw(st.lists(st.floats(0.0, 0.1), min_size=n, max_size=n)))
    dn = np.array(draw(st.lists(st.floats(0.0, 0.1), min_size=n, max_size=n)))
    return np.maximum(o, c) * (1 + up), np.minimum(o, c) * (1 - dn), c


@settings(max_examples=60, deadline=None)
@given(bar_lists(), st.integers(min_value=0, max_value=80))
def test_property_stream_equals_talib_and_restore(
    bars: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]], cut: int
) -> None:
    h, low, c = bars
    hlc = list(zip(h.tolist(), low.tolist(), c.tolist(), strict=True))
    atr, stoch, bb = ATR(5), Stochastic(5, 3, 3), BollingerBands(5, 2.0, 2.0)
    a = [atr.update(*x) for x in hlc]
    s = [stoch.update(*x) for x in hlc]
    b = [bb.update(x[2]) for x in hlc]
    k, d = talib.STOCH(h, low, c, 5, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA)
    u, m, lo = talib.BBANDS(c, 5, 2.0, 2.0, talib.MA_Type.SMA)
    # Arbitrary bars span 8 orders of magnitude within one series: compare on the price scale.
    for got, ref, scale in [
        (a, talib.ATR(h, low, c, 5), float(np.max(h))),
        (field(s, "k"), k, 100.0),
        (field(s, "d"), d, 100.0),
        (field(b, "upper"), u, float(np.max(h))),
        (field(b, "middle"), m, float(np.max(h))),
        (field(b, "lower"), lo, float(np.max(h))),
    ]:
        g = as_array(got)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(ref))
        np.testing.assert_allclose(g, ref, rtol=RTOL, atol=1e-9 * scale, equal_nan=True)
    cut = min(cut, len(hlc))
    st1 = Stochastic(5, 3, 3)
    for x in hlc[:cut]:
        st1.update(*x)
    st2 = pickle.loads(pickle.dumps(st1))
    assert [st2.update(*x) for x in hlc[cut:]] == s[cut:]


def test_bollinger_stddev_is_exact_to_an_ulp() -> None:
    """The band width is the exact population stddev of the window (checked with rationals)."""
    from fractions import Fraction
    from math import sqrt

    from udfs.indicators.bollinger import population_stddev

    xs = SERIES["gapped"].close[1700:1900]  # big jumps: where running sums drift the most
    for i in range(20, len(xs)):
        window = xs[i - 20 : i].tolist()
        exact = [Fraction(v) for v in window]
        mean = sum(exact) / 20
        sd = sqrt(sum((v - mean) ** 2 for v in exact) / 20)
        assert population_stddev(window) == pytest.approx(sd, rel=4e-16)


def test_indicator_periods_are_configurable() -> None:
    """IndicatorConfig changes the periods; the results still equal TA-Lib for those periods."""
    import talib

    from udfs.indicators.set import IndicatorConfig, compute_indicators

    rng = np.random.default_rng(11)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    config = IndicatorConfig.from_mapping({"rsi": 9, "ema_fast": 5, "ema_slow": 35, "sma": 10})
    rows = compute_indicators([float(c) for c in closes], config)
    for name, ref in (
        ("rsi_14", talib.RSI(closes, 9)),
        ("ema_12", talib.EMA(closes, 5)),
        ("ema_26", talib.EMA(closes, 35)),
        ("sma_20", talib.SMA(closes, 10)),
        ("macd_hist", talib.MACD(closes, 5, 35, 9)[2]),
    ):
        got = np.array([np.nan if getattr(r, name) is None else getattr(r, name) for r in rows])
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)
    with pytest.raises(ValueError, match="unknown indicator periods"):
        IndicatorConfig.from_mapping({"rsi_period": 9})
