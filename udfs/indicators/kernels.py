"""The column kernels of the batch indicator path (:mod:`udfs.indicators.batch`): each streaming
indicator over a whole column at once, bit for bit what the streaming class computes bar by bar.

Exact in numpy where the operations are the same IEEE operations in the same order (the running sums
of every SMA, the Bollinger deviations); a tight loop over plain floats where the recursion is
inherently sequential (EMA, Wilder's smoothing, session VWAP); ``math.fsum`` per Bollinger window,
certified in numpy where it can be (:func:`fsum_rows`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    import numpy.typing as npt

    Floats: TypeAlias = npt.NDArray[np.float64]
    Bools: TypeAlias = npt.NDArray[np.bool_]


def sma(x: Floats, n: int) -> list[float | None]:
    """:class:`~udfs.indicators.sma.SMA` over ``x``: ``None`` before index ``n - 1``."""
    size = len(x)
    if size < n:
        return [None] * size
    ops = np.empty(1 + n + 2 * (size - n))
    ops[0] = 0.0
    ops[1 : n + 1] = x[:n]
    ops[n + 1 :: 2] = -x[: size - n]
    ops[n + 2 :: 2] = x[n:]
    acc = np.add.accumulate(ops)
    means: list[float] = (acc[n::2] / n).tolist()
    return [None] * (n - 1) + means


def ema(xs: list[float], n: int) -> list[float | None]:
    """:class:`~udfs.indicators.ema.EMA` over ``xs``."""
    size = len(xs)
    if size < n:
        return [None] * size
    total = 0.0
    for x in xs[:n]:
        total += x
    val = total / n
    k = 2.0 / (n + 1)
    out: list[float | None] = [None] * (n - 1)
    out.append(val)
    out += [val := (x - val) * k + val for x in xs[n:]]
    return out


def wilder(xs: list[float], n: int) -> list[float]:
    """Wilder's smoothing as RSI and ATR do it: the plain mean of the first ``n`` inputs (summed in
    order), then ``(avg * (n - 1) + x) / n`` per input."""
    total = 0.0
    for x in xs[:n]:
        total += x
    val = total / n
    m = n - 1
    return [val, *[val := (val * m + x) / n for x in xs[n:]]]


def rsi(c: Floats, n: int) -> list[float | None]:
    """:class:`~udfs.indicators.rsi.RSI` over ``c``.

    The streaming RSI adds a change to the gains (``>= 0``) or subtracts it from the losses; adding
    ``0.0`` to the other sum changes nothing (both are ``>= +0``, and a change is never ``-0.0`` for
    nonzero prices), so both sums are the same Wilder recursion over ``max(change, 0)`` and
    ``max(-change, 0)``.
    """
    size = len(c)
    if size <= n:
        return [None] * size
    change = c[1:] - c[:-1]
    gains = np.array(wilder(np.where(change < 0, 0.0, change).tolist(), n))
    losses = np.array(wilder(np.where(change < 0, -change, 0.0).tolist(), n))
    total = gains + losses
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = np.where(total != 0.0, 100.0 * (gains / total), 0.0)
    values: list[float] = rsi.tolist()
    return [None] * n + values


def atr(tr: list[float], size: int, n: int) -> list[float | None]:
    """:class:`~udfs.indicators.atr.ATR` given the true ranges of bars ``1 .. size - 1``."""
    if size <= n:
        return [None] * size
    return [None] * n + wilder(tr, n)


def fsum_columns(cols: list[Floats]) -> tuple[Floats, Bools]:
    """Row sums of the matrix whose columns are ``cols``, each equal to ``math.fsum`` of the row
    where certified (second result True), else an approximation to be replaced.

    Compensated summation with error-free transformations (TwoSum): the exact sum is
    ``s + c + E`` where ``c`` collects the rounding errors of ``s`` and ``|E| <= bound`` collects
    those of ``c``. ``r = fl(s + c)`` is the correctly rounded exact sum -- what ``math.fsum``
    returns -- when ``E`` is zero, or when the exact sum is provably inside ``r``'s rounding interval.
    """
    s = cols[0].astype(np.float64, copy=True)
    c = np.zeros_like(s)
    e = np.zeros_like(s)
    for x in cols[1:]:
        t = s + x
        bp = t - s
        err = (s - (t - bp)) + (x - bp)
        s = t
        t = c + err
        bp = t - c
        e += np.abs((c - (t - bp)) + (err - bp))
        c = t
    r = s + c
    bp = r - s
    rho = np.abs((s - (r - bp)) + (c - bp))
    bound = e * (1.0 + 1e-9)
    mant, _ = np.frexp(r)
    half_gap = np.spacing(np.abs(r)) * np.where(np.abs(mant) == 0.5, 0.25, 0.5)
    ok = (e == 0.0) | (rho + bound < half_gap)
    return r, ok


def fsum_rows(cols: list[Floats]) -> Floats:
    """``math.fsum`` of every row of the matrix whose columns are ``cols`` (bit for bit)."""
    r, ok = fsum_columns(cols)
    if not ok.all():
        for i in np.flatnonzero(~ok).tolist():
            r[i] = math.fsum(col[i] for col in cols)
    return r


def bollinger_sd(c: Floats, n: int) -> list[float]:
    """``population_stddev`` of every full window of ``c`` (window ``i`` ends at bar ``i + n - 1``)."""
    m = len(c) - n + 1
    win = [c[j : j + m] for j in range(n)]
    mean = fsum_rows(win) / n
    dev = [w - mean for w in win]
    sq = fsum_rows([d * d for d in dev]).tolist()
    sd = fsum_rows(dev).tolist()
    wv = sliding_window_view(c, n)
    flat = (wv.max(axis=1) == wv.min(axis=1)).tolist()
    sqrt = math.sqrt
    out: list[float] = []
    append = out.append
    for f, s2, s1 in zip(flat, sq, sd, strict=True):
        if f:
            append(0.0)
            continue
        var = (s2 - s1**2 / n) / n
        append(sqrt(var) if var > 0.0 else 0.0)
    return out


def vwap(pv: Floats, vol: Floats, new: Bools) -> list[float | None]:
    """:class:`~udfs.indicators.vwap.SessionVWAP`: cumulative sums restarting where ``new``.

    A bar without volume adds ``+-0.0`` to the sums, which changes neither, and keeps the value; so the
    value is ``cum_pv / cum_vol`` wherever the session has traded, else None.
    """
    size = len(pv)
    starts = np.flatnonzero(new).tolist()
    if len(starts) == size:  # one bar per session (daily bars)
        cpv, cvol = pv, vol
    elif len(starts) * 16 <= size:
        cpv, cvol = np.empty(size), np.empty(size)
        for a, b in zip(starts, [*starts[1:], size], strict=True):
            np.add.accumulate(pv[a:b], out=cpv[a:b])
            np.add.accumulate(vol[a:b], out=cvol[a:b])
    else:
        out: list[float | None] = []
        append = out.append
        spv = svol = 0.0
        val = None
        for p, v, fresh in zip(pv.tolist(), vol.tolist(), new.tolist(), strict=True):
            if fresh:
                spv = svol = 0.0
                val = None
            if v > 0.0:
                spv += p
                svol += v
                val = spv / svol
            append(val)
        return out
    traded = cvol > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        values: list[float | None] = (cpv / cvol).tolist()
    if traded.all():
        return values
    return [v if t else None for v, t in zip(values, traded.tolist(), strict=True)]


def prev(values: list[Any]) -> list[Any]:
    """The previous bar's value of every bar (the ``*_prev`` columns)."""
    return [None, *values[:-1]]
