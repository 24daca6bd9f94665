"""Streaming technical indicators with TA-Lib's conventions and O(1) state."""

from udfs.indicators.base import Indicator, State
from udfs.indicators.ema import EMA
from udfs.indicators.macd import MACD, MACDValue
from udfs.indicators.rsi import RSI

__all__ = ["EMA", "MACD", "RSI", "Indicator", "MACDValue", "State"]
