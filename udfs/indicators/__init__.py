"""Streaming technical indicators with TA-Lib's conventions and O(1) state."""

from udfs.indicators.base import Indicator, State
from udfs.indicators.ema import EMA
from udfs.indicators.macd import MACD, MACDValue
from udfs.indicators.rsi import RSI

__all__ = ["EMA", "MACD", "RSI", "Indicator", "MACDValue", "State"]

from udfs.indicators.atr import ATR
from udfs.indicators.bollinger import BollingerBands, BollingerValue
from udfs.indicators.sma import SMA
from udfs.indicators.stochastic import Stochastic, StochValue
from udfs.indicators.vwap import SessionVWAP

__all__ += ["ATR", "SMA", "BollingerBands", "BollingerValue", "SessionVWAP", "StochValue", "Stochastic"]
