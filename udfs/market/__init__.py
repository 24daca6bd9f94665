"""Market reference data the bar engine needs: sale conditions, sessions and symbol listings.

Pure Python (no Flink, Kafka or database client). Each table ships a default under ``data/`` and can
be replaced by a user file without code changes (docs/conditions.md).

* :mod:`udfs.market.conditions` — which trades may move a bar's open/close, high/low and volume.
* :mod:`udfs.market.calendar` — pre / regular / post session segments per exchange day.
* :mod:`udfs.market.reference` — a symbol's listing exchange and calendar.
"""

from udfs.market.calendar import MarketCalendar, SessionSlot, get_calendar
from udfs.market.conditions import REGULAR, SESSIONS, ConditionTable, Eligibility
from udfs.market.reference import SymbolInfo, SymbolReference

__all__ = [
    "REGULAR",
    "SESSIONS",
    "ConditionTable",
    "Eligibility",
    "MarketCalendar",
    "SessionSlot",
    "SymbolInfo",
    "SymbolReference",
    "get_calendar",
]
