"""The chart's reads of the serving tables: request validation and parameterized SQL only.

Table names come from the validated timeframe (``bars_<tf>``, ``indicators_<tf>``) and are quoted with
``psycopg.sql.Identifier`` under ``settings.postgres_schema``; every value is a bound parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from marketpipe.exceptions import MarketpipeError
from udfs.bars.model import TIMEFRAMES

SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/^=]{0,31}")
STRATEGY_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
# Indicator columns the chart draws (indicators_<tf>, marketpipe/stack/postgres_schema.sql).
INDICATOR_COLUMNS = (
    "ema_12", "ema_26", "bb_upper", "bb_middle", "bb_lower", "rsi_14", "macd", "macd_signal", "macd_hist",
)
BAR_COLUMNS = ("open", "high", "low", "close", "volume", "vwap", "trade_count", "revision")


class ApiError(MarketpipeError):
    """A request the API refuses: the HTTP status and a message for the JSON body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def timeframe_param(params: Mapping[str, str]) -> str:
    """The ``timeframe`` parameter, one of 1m, 5m, 15m, 1h, 1d (default 1m)."""
    tf = params.get("timeframe", "1m")
    if tf not in TIMEFRAMES:
        raise ApiError(400, f"timeframe must be one of {', '.join(TIMEFRAMES)}, not {tf!r}")
    return tf


def symbol_param(params: Mapping[str, str]) -> str:
    """The required ``symbol`` parameter (a ticker: letters, digits and ``._-/^=``)."""
    symbol = params.get("symbol", "")
    if not symbol:
        raise ApiError(400, "symbol is required")
    if not SYMBOL_RE.fullmatch(symbol):
        raise ApiError(400, f"not a symbol: {symbol[:40]!r}")
    return symbol


def strategy_param(params: Mapping[str, str]) -> str | None:
    """The optional ``strategy`` parameter (None: every strategy)."""
    strategy = params.get("strategy") or None
    if strategy is not None and not STRATEGY_RE.fullmatch(strategy):
        raise ApiError(400, f"not a strategy name: {strategy[:70]!r}")
    return strategy


def int_param(params: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    """An optional integer parameter within ``[low, high]``."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, not {raw[:20]!r}") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


def epoch(ts: datetime) -> int:
    """UTC epoch seconds, the time axis lightweight-charts expects."""
    return int(ts.timestamp())


def from_epoch(seconds: int) -> datetime:
    """The aware UTC datetime of epoch seconds."""
    return datetime.fromtimestamp(seconds, UTC)


def _number(value: Any) -> Any:
    """JSON-safe numbers: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def has_indicators(conn: psycopg.Connection[Any], schema: str, timeframe: str) -> bool:
    """Whether ``indicators_<tf>`` exists (today 1m and 1d; the others are bars only)."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL",
        (schema, f"indicators_{timeframe}"),
    ).fetchone()
    return bool(row and row[0])


def symbols(conn: psycopg.Connection[Any], schema: str) -> list[dict[str, Any]]:
    """Every symbol with bars and the timeframes it has, by an index skip-scan per bars table."""
    found: dict[str, list[str]] = {}
    for tf in TIMEFRAMES:
        # A recursive skip-scan over the (symbol, bar_start) key: one index probe per symbol.
        query = sql.SQL(
            "WITH RECURSIVE s(symbol) AS ("
            " (SELECT symbol FROM {t} ORDER BY symbol LIMIT 1)"
            " UNION ALL"
            " SELECT (SELECT symbol FROM {t} WHERE symbol > s.symbol ORDER BY symbol LIMIT 1)"
            " FROM s WHERE s.symbol IS NOT NULL)"
            " SELECT symbol FROM s WHERE symbol IS NOT NULL"
        ).format(t=_table(schema, f"bars_{tf}"))
        for (symbol,) in conn.execute(query):
            found.setdefault(symbol, []).append(tf)
    return [{"symbol": s, "timeframes": tfs} for s, tfs in sorted(found.items())]


def _bar_select(
    schema: str, timeframe: str, with_indicators: bool, source: sql.Composable | None = None
) -> sql.Composed:
    """``SELECT bar_start, <bar columns>, <indicator columns> FROM bars_<tf> b [LEFT JOIN indicators_<tf>]``.

    ``source`` replaces ``bars_<tf>`` (a subquery of its rows).
    """
    bar_cols = sql.SQL(", ").join(sql.Identifier("b", c) for c in BAR_COLUMNS)
    join: sql.Composable
    if with_indicators:
        ind_cols = sql.SQL(", ").join(sql.Identifier("i", c) for c in INDICATOR_COLUMNS)
        join = sql.SQL(" LEFT JOIN {i} i ON i.symbol = b.symbol AND i.bar_start = b.bar_start").format(
            i=_table(schema, f"indicators_{timeframe}")
        )
    else:
        ind_cols = sql.SQL(", ").join(sql.SQL("NULL::double precision") for _ in INDICATOR_COLUMNS)
        join = sql.SQL("")
    table = source if source is not None else _table(schema, f"bars_{timeframe}")
    return sql.SQL("SELECT b.bar_start, {bar_cols}, {ind_cols} FROM {b} b{join}").format(
        bar_cols=bar_cols, ind_cols=ind_cols, b=table, join=join
    )


def bar_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """One row of :func:`_bar_select` as the JSON bar the page draws."""
    out: dict[str, Any] = {"time": epoch(row[0])}
    for name, value in zip(BAR_COLUMNS + INDICATOR_COLUMNS, row[1:], strict=True):
        out[name] = _number(value)
    return out


def bars(
    conn: psycopg.Connection[Any], schema: str, symbol: str, timeframe: str, limit: int
) -> list[dict[str, Any]]:
    """The last ``limit`` bars of a symbol, oldest first, with their indicators."""
    # the newest `limit` rows by the key's index, joined, then oldest first for the chart
    newest = sql.SQL("(SELECT * FROM {b} WHERE symbol = %s ORDER BY bar_start DESC LIMIT %s)").format(
        b=_table(schema, f"bars_{timeframe}")
    )
    select = _bar_select(schema, timeframe, has_indicators(conn, schema, timeframe), newest)
    query = sql.SQL("{select} ORDER BY b.bar_start").format(select=select)
    return [bar_row(r) for r in conn.execute(query, (symbol, limit))]


def bars_since(
    conn: psycopg.Connection[Any], schema: str, symbol: str, timeframe: str, since: datetime,
    with_indicators: bool, limit: int = 1000,
) -> list[tuple[Any, ...]]:
    """Raw rows of a symbol's bars with ``bar_start >= since`` (the stream's poll), oldest first."""
    query = sql.SQL("{select} WHERE b.symbol = %s AND b.bar_start >= %s ORDER BY b.bar_start LIMIT %s").format(
        select=_bar_select(schema, timeframe, with_indicators)
    )
    return list(conn.execute(query, (symbol, since, limit)))


def strategies(
    conn: psycopg.Connection[Any], schema: str, symbol: str, timeframe: str, since: datetime | None = None
) -> list[str]:
    """The strategies with signals for a symbol and timeframe (from ``since`` on, when given)."""
    query = sql.SQL(
        "SELECT DISTINCT strategy FROM {s} WHERE symbol = %s AND timeframe = %s AND bar_start >= %s"
        " ORDER BY strategy"
    ).format(s=_table(schema, "signals"))
    start = since if since is not None else datetime.min.replace(tzinfo=UTC)
    return [r[0] for r in conn.execute(query, (symbol, timeframe, start))]


def signals(
    conn: psycopg.Connection[Any], schema: str, symbol: str, timeframe: str,
    strategy: str | None = None, since: datetime | None = None, limit: int = 20_000, with_holds: bool = False,
) -> list[dict[str, Any]]:
    """Buy and sell signals (holds are not drawn; ``with_holds`` for the stream's retractions), oldest first.

    Only the conditions asked for are in the WHERE clause, so the (symbol, timeframe, bar_start) key
    bounds the scan in every plan, prepared or not.
    """
    where = [sql.SQL("symbol = %s"), sql.SQL("timeframe = %s")]
    params: list[Any] = [symbol, timeframe]
    if since is not None:
        where.append(sql.SQL("bar_start >= %s"))
        params.append(since)
    if strategy is not None:
        where.append(sql.SQL("strategy = %s"))
        params.append(strategy)
    if not with_holds:
        where.append(sql.SQL("action IN ('buy', 'sell')"))
    query = sql.SQL(
        "SELECT bar_start, strategy, action, reason, close FROM {s} WHERE {where} ORDER BY bar_start, strategy LIMIT %s"
    ).format(s=_table(schema, "signals"), where=sql.SQL(" AND ").join(where))
    rows = conn.execute(query, [*params, limit])
    return [
        {"time": epoch(ts), "strategy": st, "action": action, "reason": reason, "close": _number(close)}
        for ts, st, action, reason, close in rows
    ]
