"""The price-outlier rule of the bar engine (docs/bars.md): a trade far from the median of the day's
recent prices is rejected as ``price_outlier``. The recent prices live in the symbol's
:class:`~udfs.bars.state.State` (checkpointed)."""

from __future__ import annotations

from udfs.bars.state import State

OUTLIER_WINDOW = 5  # recent prices the outlier rule takes the median of
OUTLIER_MIN = 3  # ... once it has at least this many (the first trades of a day are never outliers)


def is_outlier(st: State, price: float, day: object, fraction: float) -> bool:
    """Whether ``price`` is more than ``fraction`` away from the median of the day's recent prices."""
    if fraction <= 0 or st.recent_day != day or len(st.recent_prices) < OUTLIER_MIN:
        return False
    ref = sorted(st.recent_prices)[len(st.recent_prices) // 2]
    return abs(price - ref) > fraction * ref


def remember_price(st: State, price: float, day: object) -> None:
    """Keep a high/low-eligible price among the day's recent ones (the last :data:`OUTLIER_WINDOW`)."""
    if st.recent_day != day:
        st.recent_day, st.recent_prices = day, []
    st.recent_prices.append(price)
    if len(st.recent_prices) > OUTLIER_WINDOW:
        del st.recent_prices[0]
