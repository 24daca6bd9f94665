"""Bar rules and reference data from the job configuration (JSON made from the settings by
marketpipe/jobs/pipeline.py:bar_config): one :class:`~udfs.bars.engine.Context` per symbol."""

from __future__ import annotations

from datetime import time
from typing import Any

from udfs.bars.engine import Context
from udfs.bars.model import BarRules
from udfs.market.calendar import get_calendar
from udfs.market.conditions import ConditionTable
from udfs.market.reference import SymbolReference


class Reference:
    """Rules plus reference data, built from the job configuration; one Context per symbol."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        rules = dict(config.get("rules", {}))
        for key in ("pre_open", "post_close"):
            if isinstance(rules.get(key), str):
                rules[key] = time.fromisoformat(rules[key])
        if "rollups" in rules:
            rules["rollups"] = tuple(rules["rollups"])
        self.rules = BarRules(**rules)
        path = config.get("conditions_file")
        self.conditions = ConditionTable.from_csv(path) if path else ConditionTable.default()
        self.feed_conditions = {
            feed: ConditionTable.from_csv(p) if p else ConditionTable.default()
            for feed, p in (config.get("feed_conditions_files") or {}).items()
        }
        path = config.get("symbols_file")
        calendar = config.get("calendar", "XNYS")
        self.symbols = (
            SymbolReference.from_csv(path, default_calendar=calendar) if path
            else SymbolReference.default()
        )
        self._contexts: dict[str, Context] = {}

    def context(self, symbol: str) -> Context:
        ctx = self._contexts.get(symbol)
        if ctx is None:
            info = self.symbols.lookup(symbol)
            cal = get_calendar(info.calendar, self.rules.pre_open, self.rules.post_close)
            ctx = self._contexts[symbol] = Context(
                self.rules, self.conditions, cal, info.listing_exchange, self.feed_conditions
            )
        return ctx
