"""The indicator bundle computed per symbol on every closed bar.

``IndicatorSet`` feeds one :class:`Bar` into every indicator of the pipeline and returns an
:class:`IndicatorRow`. The same object serves the streaming Flink job (its :meth:`state` is what goes
into ``ValueState``), the batch backfill and tests via :func:`compute_indicators` — one code path.

Periods are TA-Lib's defaults and are part of the column names (``ema_12``, ``rsi_14``, ...), which
the serving tables and the signal SQL use; see docs/indicators.md for each convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from udfs.indicators.atr import ATR
from udfs.indicators.base import State, finite
from udfs.indicators.bollinger import BollingerBands
from udfs.indicators.ema import EMA
from udfs.indicators.macd import MACD
from udfs.indicators.rsi import RSI
from udfs.indicators.sma import SMA
from udfs.indicators.stochastic import Stochastic
from udfs.indicators.vwap import SessionVWAP

STATE_VERSION = 2


@dataclass(frozen=True, slots=True)
class IndicatorConfig:
    """Periods of the indicator set: TA-Lib's defaults, declared here only (the indicator classes take
    every period explicitly).

    The output columns keep their default-period names (``ema_12``, ``rsi_14``, ...) as stable
    identifiers for the tables and the signal SQL; a deployment that changes a period changes what
    that column holds, and says so in its configuration (``MARKETPIPE_INDICATOR_PERIODS``).
    """

    ema_fast: int = 12
    ema_slow: int = 26
    rsi: int = 14
    macd_signal: int = 9
    sma: int = 20
    bb_period: int = 20
    bb_k: float = 2.0
    atr: int = 14
    stoch_fastk: int = 14
    stoch_slowk: int = 3
    stoch_slowd: int = 3
    volume_sma: int = 20

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> IndicatorConfig:
        """A config from ``{"rsi": 9, ...}``; unknown names are an error, not ignored."""
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown indicator periods {sorted(unknown)}; known: {sorted(known)}")
        kwargs: dict[str, Any] = {k: (float(v) if k == "bb_k" else int(v)) for k, v in values.items()}
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Bar:
    """What the indicators need of one closed bar.

    ``session`` identifies the trading session the bar belongs to (the exchange date); session VWAP
    restarts when it changes.
    """

    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float
    session: str


@dataclass(frozen=True, slots=True)
class IndicatorRow:
    """Indicator values after one bar; ``None`` where an indicator is still warming up.

    ``*_prev`` fields are the previous bar's value (crossover rules need them). ``is_warm`` keeps its
    original meaning — EMA(12), EMA(26), RSI(14) and MACD all have values — and every indicator also
    says on its own whether it is warm (``<name>_warm``).
    """

    ema_12: float | None
    ema_26: float | None
    rsi_14: float | None
    rsi_14_prev: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    macd_hist_prev: float | None
    sma_20: float | None
    bb_middle: float | None
    bb_upper: float | None
    bb_lower: float | None
    atr_14: float | None
    stoch_k: float | None
    stoch_d: float | None
    vwap_session: float | None
    volume_sma_20: float | None
    is_warm: bool
    ema_12_warm: bool
    ema_26_warm: bool
    rsi_14_warm: bool
    macd_warm: bool
    sma_20_warm: bool
    bb_warm: bool
    atr_14_warm: bool
    stoch_warm: bool
    vwap_warm: bool
    volume_sma_20_warm: bool


#: Output field names in order (value fields, then the warm flags).
ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(IndicatorRow))
VALUE_FIELDS: tuple[str, ...] = tuple(n for n in ROW_FIELDS if n != "is_warm" and not n.endswith("_warm"))
WARM_FIELDS: tuple[str, ...] = tuple(n for n in ROW_FIELDS if n not in VALUE_FIELDS)


class IndicatorSet:
    """Every indicator of the pipeline for one symbol, with small picklable state."""

    def __init__(self, config: IndicatorConfig | None = None) -> None:
        c = config or IndicatorConfig()
        self._ema_12 = EMA(c.ema_fast)
        self._ema_26 = EMA(c.ema_slow)
        self._rsi_14 = RSI(c.rsi)
        self._macd = MACD(c.ema_fast, c.ema_slow, c.macd_signal)
        self._sma_20 = SMA(c.sma)
        self._bb = BollingerBands(c.bb_period, c.bb_k, c.bb_k)
        self._atr_14 = ATR(c.atr)
        self._stoch = Stochastic(c.stoch_fastk, c.stoch_slowk, c.stoch_slowd)
        self._vwap = SessionVWAP()
        self._volume_sma_20 = SMA(c.volume_sma)
        self._hist_prev: float | None = None  # macd_hist of the last bar
        self._rsi_prev: float | None = None  # rsi_14 of the last bar

    def _indicators(self) -> dict[str, Any]:
        return {
            "ema_12": self._ema_12,
            "ema_26": self._ema_26,
            "rsi_14": self._rsi_14,
            "macd": self._macd,
            "sma_20": self._sma_20,
            "bb": self._bb,
            "atr_14": self._atr_14,
            "stoch": self._stoch,
            "vwap": self._vwap,
            "volume_sma_20": self._volume_sma_20,
        }

    def reset(self) -> None:
        """Forget all bars."""
        for ind in self._indicators().values():
            ind.reset()
        self._hist_prev = None
        self._rsi_prev = None

    def update(self, bar: Bar | float) -> IndicatorRow:
        """Feed the next closed bar (bars must arrive in time order); a float is a close-only bar."""
        if not isinstance(bar, Bar):
            bar = close_only(bar)
        # Refuse a bad bar before any indicator changes state.
        high, low, close = finite(bar.high), finite(bar.low), finite(bar.close)
        volume, vwap = finite(bar.volume), finite(bar.vwap)
        ema_12 = self._ema_12.update(close)
        ema_26 = self._ema_26.update(close)
        rsi_14 = self._rsi_14.update(close)
        m = self._macd.update(close)
        sma_20 = self._sma_20.update(close)
        bb = self._bb.update(close)
        atr_14 = self._atr_14.update(high, low, close)
        st = self._stoch.update(high, low, close)
        vwap_session = self._vwap.update(vwap * volume, volume, bar.session)
        volume_sma_20 = self._volume_sma_20.update(volume)
        hist_prev, self._hist_prev = self._hist_prev, (None if m is None else m.hist)
        rsi_prev, self._rsi_prev = self._rsi_prev, rsi_14
        return IndicatorRow(
            ema_12=ema_12,
            ema_26=ema_26,
            rsi_14=rsi_14,
            rsi_14_prev=rsi_prev,
            macd=None if m is None else m.macd,
            macd_signal=None if m is None else m.signal,
            macd_hist=None if m is None else m.hist,
            macd_hist_prev=hist_prev,
            sma_20=sma_20,
            bb_middle=None if bb is None else bb.middle,
            bb_upper=None if bb is None else bb.upper,
            bb_lower=None if bb is None else bb.lower,
            atr_14=atr_14,
            stoch_k=None if st is None else st.k,
            stoch_d=None if st is None else st.d,
            vwap_session=vwap_session,
            volume_sma_20=volume_sma_20,
            is_warm=ema_12 is not None and ema_26 is not None and rsi_14 is not None and m is not None,
            ema_12_warm=ema_12 is not None,
            ema_26_warm=ema_26 is not None,
            rsi_14_warm=rsi_14 is not None,
            macd_warm=m is not None,
            sma_20_warm=sma_20 is not None,
            bb_warm=bb is not None,
            atr_14_warm=atr_14 is not None,
            stoch_warm=st is not None,
            vwap_warm=vwap_session is not None,
            volume_sma_20_warm=volume_sma_20 is not None,
        )

    def state(self) -> State:
        """Plain-Python state (about a kilobyte pickled) for Flink ``ValueState``."""
        out: State = {"v": STATE_VERSION, "hist_prev": self._hist_prev, "rsi_prev": self._rsi_prev}
        out.update({name: ind.state() for name, ind in self._indicators().items()})
        return out

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
        self._sma_20 = SMA.from_state(state["sma_20"])
        self._bb = BollingerBands.from_state(state["bb"])
        self._atr_14 = ATR.from_state(state["atr_14"])
        self._stoch = Stochastic.from_state(state["stoch"])
        self._vwap = SessionVWAP.from_state(state["vwap"])
        self._volume_sma_20 = SMA.from_state(state["volume_sma_20"])
        hp, rp = state["hist_prev"], state["rsi_prev"]
        self._hist_prev = None if hp is None else float(hp)
        self._rsi_prev = None if rp is None else float(rp)


def close_only(close: float, session: str = "") -> Bar:
    """A bar made of one price (tests and close-only series): O=H=L=C, no volume."""
    return Bar(close, close, close, close, 0.0, close, session)


def compute_indicators(
    bars: Iterable[Bar | float], config: IndicatorConfig | None = None
) -> list[IndicatorRow]:
    """Indicator rows for a whole bar series of one symbol, via the streaming code path.

    Plain floats are taken as closes (:func:`close_only`).
    """
    ind = IndicatorSet(config)
    return [ind.update(b) for b in bars]
