"""The bar engine's configuration (:class:`BarConfig`) and the reference data it names
(:class:`Reference`: one :class:`~udfs.bars.engine.Context` per symbol).

A :class:`BarConfig` is built once from the settings by :func:`marketpipe.rules.bar_config.bar_config`
and travels to the Flink job as JSON (:meth:`BarConfig.to_dict`, job configuration key
``marketpipe.bars``), where the binding (udfs/flink/bars.py) and the JVM port read it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Any

from udfs.bars.engine import Context
from udfs.bars.model import BarRules
from udfs.market.calendar import get_calendar
from udfs.market.conditions import ConditionTable
from udfs.market.reference import SymbolReference


@dataclass(frozen=True)
class BarConfig:
    """The bar rules and the reference files they read.

    ``conditions_file`` None is the shipped CTA/UTP table; ``feed_conditions_files`` maps a feed
    (a tick's ``source``) to its own table; ``symbols_file`` None is the shipped symbol reference;
    ``calendar`` is the exchange calendar of symbols the reference does not list; ``engine`` the
    streaming bar step ("java", the JVM port, or "python", the reference engine); ``reference_dir``
    where the JVM engine's session export is kept.
    """

    rules: BarRules = field(default_factory=BarRules)
    conditions_file: str | None = None
    feed_conditions_files: Mapping[str, str | None] = field(default_factory=dict)
    symbols_file: str | None = None
    calendar: str = "XNYS"
    engine: str = "java"
    reference_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the job configuration carries (times as ``HH:MM``, rollups as a list)."""
        rules: dict[str, Any] = {}
        for f in fields(BarRules):
            value = getattr(self.rules, f.name)
            if isinstance(value, time):
                value = value.strftime("%H:%M") if not value.second else value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            rules[f.name] = value
        return {
            "rules": rules,
            "conditions_file": self.conditions_file,
            "feed_conditions_files": dict(self.feed_conditions_files),
            "symbols_file": self.symbols_file,
            "calendar": self.calendar,
            "engine": self.engine,
            "reference_dir": self.reference_dir,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> BarConfig:
        """A config from its JSON form; missing keys take their defaults. Bad rules raise ValueError."""
        rules = dict(config.get("rules") or {})
        for key in ("pre_open", "post_close"):
            if isinstance(rules.get(key), str):
                rules[key] = time.fromisoformat(rules[key])
        if "rollups" in rules:
            rules["rollups"] = tuple(rules["rollups"])
        return cls(
            rules=BarRules(**rules),
            conditions_file=config.get("conditions_file"),
            feed_conditions_files=dict(config.get("feed_conditions_files") or {}),
            symbols_file=config.get("symbols_file"),
            calendar=config.get("calendar") or "XNYS",
            engine=config.get("engine") or "java",
            reference_dir=config.get("reference_dir"),
        )


class Reference:
    """Rules plus reference data, built from a :class:`BarConfig` (or its JSON form); one Context per symbol."""

    def __init__(self, config: BarConfig | Mapping[str, Any]) -> None:
        self.bar_config = config if isinstance(config, BarConfig) else BarConfig.from_dict(config)
        self.config = self.bar_config.to_dict()
        self.rules = self.bar_config.rules
        path = self.bar_config.conditions_file
        self.conditions = ConditionTable.from_csv(path) if path else ConditionTable.default()
        self.feed_conditions = {
            feed: ConditionTable.from_csv(p) if p else ConditionTable.default()
            for feed, p in self.bar_config.feed_conditions_files.items()
        }
        path = self.bar_config.symbols_file
        self.symbols = (
            SymbolReference.from_csv(path, default_calendar=self.bar_config.calendar) if path
            else SymbolReference.default()
        )
        self._contexts: dict[str, Context] = {}

    def context(self, symbol: str) -> Context:
        """The engine context of ``symbol``: rules, condition tables, its calendar and listing exchange."""
        ctx = self._contexts.get(symbol)
        if ctx is None:
            info = self.symbols.lookup(symbol)
            cal = get_calendar(info.calendar, self.rules.pre_open, self.rules.post_close)
            ctx = self._contexts[symbol] = Context(
                self.rules, self.conditions, cal, info.listing_exchange, self.feed_conditions
            )
        return ctx
