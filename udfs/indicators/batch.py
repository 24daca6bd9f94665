"""The indicator set over a whole bar series in one pass: the batch backfill's fast path.

:class:`udfs.indicators.set.IndicatorSet` is the oracle: a backfill must write exactly the rows the
streaming step (``udfs.flink.indicators.IndicatorFunction``) writes when the same bars arrive one by one, bit
for bit. This module computes the same numbers column by column, with no per-bar objects (the
per-indicator column kernels are :mod:`udfs.indicators.kernels`):

* exact in numpy, because the operations are the same IEEE operations in the same order: the
  running sums of every SMA (TA-Lib's ``+ new``, ``/ N``, ``- oldest``, as one sequential
  ``np.add.accumulate`` over the interleaved operands), the true range, the stochastic window's
  highest high / lowest low and fast %K, the Bollinger deviations and squares, the session ids;
* a tight loop over plain floats where the recursion is inherently sequential (EMA, MACD, RSI,
  ATR smoothing, session VWAP);
* ``math.fsum`` per Bollinger window, as :func:`udfs.indicators.bollinger.population_stddev` does.

Bars the streaming step does not apply (a non-finite price or volume, a negative volume, a bar
start not after the last one) get null indicators and leave the state alone, as there. Inputs the
fast path does not cover exactly (zero prices, magnitudes beyond 1e100 where intermediate overflow
would make the streaming step drop a bar mid-update, an invalid configuration) go through the
streaming code itself, bar by bar (:func:`reference_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from udfs.indicators import kernels as k
from udfs.market.calendar import EXCHANGE_TZ, session_of

if TYPE_CHECKING:
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Ints: TypeAlias = npt.NDArray[np.int64]
    Bools: TypeAlias = npt.NDArray[np.bool_]

#: Largest magnitude of a price / volume the fast path takes (below it no intermediate overflows).
_SAFE = 1e100
_HOUR_MS = 3_600_000
_session_cache: dict[int, int | None] = {}


def _day(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(EXCHANGE_TZ).date().toordinal()


def session_ids(ts: Ints) -> Ints:
    """An integer per bar that is equal for two bars exactly when :func:`session_of` is.

    The New York date of a whole UTC hour is looked up once (cached across symbols) and used for
    every bar in it when both ends of the hour agree; otherwise each bar is looked up itself.
    """
    hours = ts // _HOUR_MS
    uniq, inverse = np.unique(hours, return_inverse=True)
    cache = _session_cache
    if len(cache) > 1_000_000:
        cache.clear()
    days = np.empty(len(uniq), dtype=np.int64)
    mixed = []
    for j, hr in enumerate(uniq.tolist()):
        d = cache.get(hr, -1)
        if d == -1:
            first, last = _day(hr * _HOUR_MS), _day(hr * _HOUR_MS + _HOUR_MS - 1)
            d = cache[hr] = first if first == last else None
        if d is None:
            mixed.append(j)
            days[j] = 0
        else:
            days[j] = d
    out = days[inverse]
    if mixed:
        rows = np.flatnonzero(np.isin(inverse, mixed))
        for i in rows.tolist():
            out[i] = _day(int(ts[i]))
    return out


def good_bars(
    o: Floats, h: Floats, low: Floats, c: Floats, vol: Floats, vw: Floats
) -> Bools:
    """Which bars the streaming step applies: finite prices and volume, volume >= 0, and a finite
    traded value ``vwap * volume`` (else its session VWAP refuses the bar and the state is kept)."""
    with np.errstate(invalid="ignore", over="ignore"):
        ok: Bools = np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c) & np.isfinite(vw)
        ok &= np.isfinite(vol) & (vol >= 0.0)
        ok &= np.isfinite(vw * vol)
    return ok


def fast_columns(  # one array per bar field, one block per indicator
    o: Floats, h: Floats, low: Floats, c: Floats, vol: Floats, vw: Floats, sessions: Ints, config: Any,
) -> dict[str, list[Any]] | None:
    """Indicator columns (``VALUE_FIELDS`` and ``WARM_FIELDS``) over good bars in time order.

    Returns None when the inputs are outside what this path reproduces exactly (the caller then
    uses the streaming code).
    """
    size = len(c)
    if size == 0:
        return {}
    prices = (o, h, low, c, vw)
    for a in prices:
        if not (np.abs(a) < _SAFE).all() or (a == 0.0).any():
            return None
    if not (vol < _SAFE).all():
        return None
    cfg = config
    closes = c.tolist()
    cols: dict[str, list[Any]] = {}

    # EMA, MACD (TA-Lib's alignment: the fast EMA skips slow - fast inputs), RSI
    ema_fast = k.ema(closes, cfg.ema_fast)
    ema_slow = ema_fast if cfg.ema_slow == cfg.ema_fast else k.ema(closes, cfg.ema_slow)
    mf, ms = cfg.ema_fast, cfg.ema_slow
    if ms < mf:
        mf, ms = ms, mf
    slow_line = ema_slow if ms == cfg.ema_slow else ema_fast
    fast_line: list[float | None]
    if size > ms - mf:
        fast_pad: list[float | None] = [None] * (ms - mf)
        fast_line = fast_pad + k.ema(closes[ms - mf :], mf)
    else:
        fast_line = [None] * size
    macd: list[float | None]
    macd_signal: list[float | None]
    macd_hist: list[float | None]
    macd = macd_signal = macd_hist = [None] * size
    if size >= ms:
        line = [f - s for f, s in zip(fast_line[ms - 1 :], slow_line[ms - 1 :], strict=True)]  # type: ignore[operator]
        if not all(map(math.isfinite, line)):
            return None
        sig = k.ema(line, cfg.macd_signal)
        first = cfg.macd_signal - 1
        if len(line) > first:
            pad: list[float | None] = [None] * (ms - 1 + first)
            macd = pad + line[first:]
            macd_signal = pad + sig[first:]
            macd_hist = pad + [m - s for m, s in zip(line[first:], sig[first:], strict=True)]  # type: ignore[operator]
    rsi = k.rsi(c, cfg.rsi)

    # SMA(close), Bollinger (middle = SMA(bb_period)), SMA(volume)
    sma = k.sma(c, cfg.sma)
    middle = sma if cfg.bb_period == cfg.sma else k.sma(c, cfg.bb_period)
    bp = cfg.bb_period
    upper: list[float | None]
    lower: list[float | None]
    upper = lower = [None] * size
    if size >= bp:
        sds = k.bollinger_sd(c, bp)
        k_up = k_dn = float(cfg.bb_k)
        mids = middle[bp - 1 :]
        mids_a, sds_a = np.array(mids, dtype=np.float64), np.array(sds)
        upper = [None] * (bp - 1) + (mids_a + sds_a * k_up).tolist()
        lower = [None] * (bp - 1) + (mids_a - sds_a * k_dn).tolist()
    volume_sma = k.sma(vol, cfg.volume_sma)

    # ATR: true range from the second bar on
    if size > 1:
        pc = c[:-1]
        hi, lo = h[1:], low[1:]
        tr = np.maximum(np.maximum(hi - lo, np.abs(pc - hi)), np.abs(pc - lo)).tolist()
    else:
        tr = []
    atr = k.atr(tr, size, cfg.atr)

    # Stochastic: fast %K over full windows, slow %K = SMA(fast %K), %D = SMA(slow %K)
    fk, sk, sd_ = cfg.stoch_fastk, cfg.stoch_slowk, cfg.stoch_slowd
    stoch_k: list[float | None]
    stoch_d: list[float | None]
    stoch_k = stoch_d = [None] * size
    if size >= fk:
        lowest = sliding_window_view(low, fk).min(axis=1)
        spread = sliding_window_view(h, fk).max(axis=1) - lowest
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fast_k = np.where(spread != 0.0, 100.0 * ((c[fk - 1 :] - lowest) / spread), 0.0)
        if not np.isfinite(fast_k).all():
            return None
        slow_k = k.sma(fast_k, sk)
        if len(fast_k) >= sk:
            ks = np.array(slow_k[sk - 1 :])
            if not np.isfinite(ks).all():
                return None
            ds = k.sma(ks, sd_)
            if len(ks) >= sd_:
                stoch_pad: list[float | None] = [None] * (fk - 1 + sk - 1 + sd_ - 1)
                stoch_k = stoch_pad + slow_k[sk - 1 + sd_ - 1 :]
                stoch_d = stoch_pad + ds[sd_ - 1 :]

    # Session VWAP (a bar whose price * volume is not finite is not a good bar: see good_bars)
    pv = vw * vol
    new = np.empty(size, dtype=bool)
    new[0] = True
    np.not_equal(sessions[1:], sessions[:-1], out=new[1:])
    vwap = k.vwap(pv, vol, new)

    cols["ema_12"] = ema_fast
    cols["ema_26"] = ema_slow
    cols["rsi_14"] = rsi
    cols["rsi_14_prev"] = k.prev(rsi)
    cols["macd"] = macd
    cols["macd_signal"] = macd_signal
    cols["macd_hist"] = macd_hist
    cols["macd_hist_prev"] = k.prev(macd_hist)
    cols["sma_20"] = sma
    cols["bb_middle"] = middle
    cols["bb_upper"] = upper
    cols["bb_lower"] = lower
    cols["atr_14"] = atr
    cols["stoch_k"] = stoch_k
    cols["stoch_d"] = stoch_d
    cols["vwap_session"] = vwap
    cols["volume_sma_20"] = volume_sma

    def warm(values: list[Any]) -> list[bool]:
        # every indicator but session VWAP stays warm once it has a value
        first = next((i for i, v in enumerate(values) if v is not None), size)
        return [False] * first + [True] * (size - first)

    w_fast, w_slow, w_rsi, w_macd = warm(ema_fast), warm(ema_slow), warm(rsi), warm(macd)
    cols["is_warm"] = warm([None if not (a and b and r and m) else 1 for a, b, r, m in zip(
        w_fast, w_slow, w_rsi, w_macd, strict=True)])
    cols["ema_12_warm"] = w_fast
    cols["ema_26_warm"] = w_slow
    cols["rsi_14_warm"] = w_rsi
    cols["macd_warm"] = w_macd
    cols["sma_20_warm"] = warm(sma)
    cols["bb_warm"] = warm(upper)
    cols["atr_14_warm"] = warm(atr)
    cols["stoch_warm"] = warm(stoch_k)
    cols["vwap_warm"] = [v is not None for v in vwap]
    cols["volume_sma_20_warm"] = warm(volume_sma)
    return cols


def reference_rows(
    bars: Sequence[tuple[int, float, float, float, float, float, float]], config: Any
) -> list[tuple[Any, ...] | None]:
    """The streaming step's indicator values for bars already in time order, bar by bar.

    ``bars`` are ``(bar_start_ms, open, high, low, close, volume, vwap)``; the answer has, per bar,
    the values in ``VALUE_FIELDS + WARM_FIELDS`` order, or None for a bar the streaming step ignores
    (its start is not after the last one). Same rules as ``udfs.flink.indicators.IndicatorFunction``: the state
    goes through :meth:`IndicatorSet.state` after every bar and a failing bar leaves it unchanged.
    """
    from udfs.indicators.set import VALUE_FIELDS, WARM_FIELDS, Bar, IndicatorSet

    names = (*VALUE_FIELDS, *WARM_FIELDS)
    cold = (None,) * len(VALUE_FIELDS) + (False,) * len(WARM_FIELDS)
    out: list[tuple[Any, ...] | None] = []
    last_ms = None
    saved = None
    for ts, o, h, low, c, v, vw in bars:
        if last_ms is not None and ts <= last_ms:
            out.append(None)
            continue
        last_ms = ts
        nums = (o, h, low, c, v, vw)
        if any(x is None or not math.isfinite(x) for x in nums):
            out.append(cold)
            continue
        try:
            ind = IndicatorSet(config) if saved is None else IndicatorSet.from_state(saved)
            row = ind.update(Bar(o, h, low, c, float(v), vw, session_of(ts)))
            saved = ind.state()
            out.append(tuple(getattr(row, n) for n in names))
        except Exception:  # noqa: BLE001 - as the streaming step: the bar is emitted cold
            out.append(cold)
    return out
