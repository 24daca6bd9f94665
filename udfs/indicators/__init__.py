"""Streaming technical indicators with TA-Lib's conventions and O(1) state.

One module per indicator; :mod:`udfs.indicators.set` bundles them per symbol (:class:`IndicatorSet`,
what the streaming step keeps in keyed state) and :mod:`udfs.indicators.batch` computes the same
rows over a whole series at once (the backfill's fast path).
"""

from udfs.indicators.atr import ATR
from udfs.indicators.base import Indicator, State
from udfs.indicators.bollinger import BollingerBands, BollingerValue
from udfs.indicators.ema import EMA
from udfs.indicators.macd import MACD, MACDValue
from udfs.indicators.rsi import RSI
from udfs.indicators.set import IndicatorConfig, IndicatorRow, IndicatorSet
from udfs.indicators.sma import SMA
from udfs.indicators.stochastic import Stochastic, StochValue
from udfs.indicators.vwap import SessionVWAP

__all__ = [
    "ATR", "EMA", "MACD", "RSI", "SMA", "BollingerBands", "BollingerValue", "Indicator", "IndicatorConfig",
    "IndicatorRow", "IndicatorSet", "MACDValue", "SessionVWAP", "State", "StochValue", "Stochastic",
]
