"""Bars by market rules: pure Python, no I/O (docs/bars.md)."""

from udfs.bars.engine import FOREVER, BarEngine, Context, run_batch
from udfs.bars.model import BarRow, BarRules, Output, Rejected, Trade

__all__ = ["FOREVER", "BarEngine", "BarRow", "BarRules", "Context", "Output", "Rejected", "Trade", "run_batch"]
