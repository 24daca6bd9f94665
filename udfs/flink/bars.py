"""Binding of the bar engine, used by ``flink_sql/12_bars.sql``.

Streaming: clean ticks -> ``key_by(symbol)`` -> the JVM port of the engine
(``jvm/udfs``: ``dev.marketpipe.flink.BarStep``), which keeps one engine state per symbol in Flink
keyed state (checkpointed) and wakes up on event-time timers, so bars close when the watermark passes
their end even if the symbol trades no more. Trades the engine rejects (late, market closed, ...)
leave on a side output. No tick crosses into a Python worker: that crossing cost ~97 % of the time
(docs/performance.md). The Python engine (:mod:`udfs.bars`) stays the reference: the Java port is
held row-for-row identical to it by tests/unit/test_bars_java.py.

Batch (``marketpipe backfill --ticks``): each symbol's whole tick list goes to Python in one call
(:class:`BarSeries`) and runs through the reference engine. :class:`BarFunction` is the Python
streaming step (``MARKETPIPE_BARS_ENGINE=python``), kept for comparison. Every path returns the
same two tables (the bars, the trades in no bar; 12_bars.sql's ``-- @python`` line names both views),
so the SQL after this step is identical in all modes.

Rules and reference data come from the job configuration (:data:`CONFIG_KEY`, JSON written by
marketpipe/jobs/pipeline.py from the settings).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.table import DataTypes, StreamTableEnvironment, Table
from pyflink.table.udf import TableFunction

from udfs.bars.config import Reference
from udfs.bars.engine import BarEngine
from udfs.bars.model import NS_PER_MS, BarRow, Output, Trade
from udfs.flink.keyed import (
    KeyedStateFunction,
    check_columns,
    data_types,
    is_batch,
    json_config,
    per_symbol,
    process_keyed,
    type_infos,
)
from udfs.schema import BAR, UNBARRED, binding_fields

log = logging.getLogger(__name__)

#: Job configuration key holding the bar rules and reference files as JSON.
CONFIG_KEY = "marketpipe.bars"

INPUT_COLUMNS = (
    "symbol", "ts_ns", "price", "size", "exchange", "conditions", "trade_id",
    "kafka_partition", "kafka_offset", "source", "event_time",
)
# The bar row of udfs/schema.py as it leaves Python: times as epoch ms, the session date as ISO text.
_BAR_FIELDS = binding_fields(BAR)
BAR_COLUMNS = tuple(name for name, _ in _BAR_FIELDS)
BAR_TYPES = type_infos(_BAR_FIELDS)
# The trades in no bar (udfs/schema.py UNBARRED), the step's second output.
_REJECT_FIELDS = binding_fields(UNBARRED)
REJECT_COLUMNS = tuple(name for name, _ in _REJECT_FIELDS)
REJECTED = OutputTag("rejected", Types.ROW_NAMED(list(REJECT_COLUMNS), type_infos(_REJECT_FIELDS)))
#: Reason of a trade the bar step raised on (a bug or bad reference data): dead-lettered, not fatal.
STEP_ERROR = "bar_step_error"


def _bar_getter(column: str) -> Callable[[BarRow], Any]:
    """How the binding's bar column ``column`` comes from an engine bar: a time ``<x>_ms`` from its
    ``<x>_ns`` field, the session date as ISO text, any other field as it is. A column the engine's bar
    does not have fails here, at import (the job build), naming it."""
    fields = {f.name for f in dataclasses.fields(BarRow)}
    if column.endswith("_ms") and column.removesuffix("_ms") + "_ns" in fields:
        nanos = attrgetter(column.removesuffix("_ms") + "_ns")
        return lambda row: None if (ns := nanos(row)) is None else ns // NS_PER_MS
    if column not in fields:
        raise ValueError(f"bar column {column!r} of udfs/schema.py: the engine's BarRow has no value for it")
    if column == "session_date":
        return lambda row: row.session_date.isoformat()
    return attrgetter(column)


_BAR_GETTERS = tuple(_bar_getter(column) for column in BAR_COLUMNS)


def bar_values(row: BarRow) -> tuple[Any, ...]:
    """A bar as a tuple in :data:`BAR_COLUMNS` order."""
    return tuple(get(row) for get in _BAR_GETTERS)


def trade_of(value: Any) -> Trade:
    """A :class:`Trade` from an input row (:data:`INPUT_COLUMNS`)."""
    return Trade(value[1], value[2], value[3], value[4], value[5], value[8] or 0, value[9], value[6])


class BarFunction(KeyedStateFunction):
    """Keyed by symbol: trades in, bars out (rejected trades on the :data:`REJECTED` side output)."""

    #: The state: :meth:`BarEngine.snapshot` (a version and the engine's state object).
    STATE_NAME = "bar_engine"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self._config = config
        self._ref: Reference | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        """Load the reference data and register the per-symbol state."""
        self._ref = Reference(self._config)
        super().open(runtime_context)

    def _engine(self, symbol: str) -> BarEngine:
        assert self._ref is not None
        saved = self.load()
        ctx = self._ref.context(symbol)
        return BarEngine(symbol, ctx) if saved is None else BarEngine.restore(saved, ctx)

    def _finish(self, engine: BarEngine, out: Output, ctx: Any, rows: dict[int, Any]) -> Iterator[Any]:
        wake = engine.next_wakeup_ns()
        st = engine.state
        # A timer is a round trip to the JVM: register it only when the wake-up time changes
        # (Flink keeps one timer per key and time; an earlier one that fires is harmless).
        if (
            wake is not None and wake // NS_PER_MS != st.timer_ms
            and wake // NS_PER_MS > ctx.timer_service().current_watermark()
        ):
            ctx.timer_service().register_event_time_timer(wake // NS_PER_MS)
            st.timer_ms = wake // NS_PER_MS
        self.save(engine.snapshot())  # the live object: pickled when the bundle is flushed
        for bar in out.bars:
            yield Row(*bar_values(bar))
        for rej in out.rejected:
            src = rows.get(id(rej.trade))
            yield REJECTED, Row(
                src[7] if src else None, src[8] if src else None, rej.reason, engine.state.symbol,
                rej.trade.ts_ns, rej.trade.price, rej.trade.size, rej.trade.exchange,
                rej.trade.conditions, src[6] if src else None,
            )

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        """Feed one trade to its symbol's engine; yield the bars it closes and its rejections
        (a step that raises dead-letters the trade)."""
        try:
            engine = self._engine(value[0])
            trade = trade_of(value)
            wm = ctx.timer_service().current_watermark()
            out = engine.add(trade, wm * NS_PER_MS if wm > 0 else None)
            rows = list(self._finish(engine, out, ctx, {id(trade): value}))
        except Exception as exc:  # errors are data: one bad trade must not stop the job
            log.exception("bar step failed on %s; dead-lettered", value)
            rows = [(REJECTED, Row(value[7], value[8], f"{STEP_ERROR}: {type(exc).__name__}", value[0],
                                   value[1], value[2], value[3], value[4], value[5], value[6]))]
        yield from rows

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        """Advance the symbol's engine to the timer's time (or the watermark, if later); yield what
        that closes (a step that raises is logged and yields nothing)."""
        try:
            engine = self._engine(ctx.get_current_key())
            if engine.state.timer_ms == timestamp:
                engine.state.timer_ms = None
            wm = max(ctx.timer_service().current_watermark(), timestamp)
            rows = list(self._finish(engine, engine.advance(wm * NS_PER_MS), ctx, {}))
        except Exception:  # nothing to dead-letter; the next trade or timer retries
            log.exception("bar step timer failed for %s at %s", ctx.get_current_key(), timestamp)
            rows = []
        yield from rows


def config_of(t_env: Any) -> dict[str, Any]:
    """The bar configuration of this job (defaults when none was set)."""
    return json_config(t_env, CONFIG_KEY)


def build_bars(
    t_env: StreamTableEnvironment, ticks: Table, *, batch: bool | None = None
) -> tuple[Table, Table]:
    """Bars of every timeframe from clean ticks, and the trades in no bar with the reason
    (12_bars.sql registers them as ``bars_all`` and ``ticks_unbarred``).

    ``ticks`` must have :data:`INPUT_COLUMNS` (``event_time`` the rowtime attribute in
    streaming). The bars have :data:`BAR_COLUMNS`, the trades in no bar :data:`REJECT_COLUMNS`.
    """
    check_columns(ticks, INPUT_COLUMNS, "ticks")
    config = config_of(t_env)
    Reference(config)  # fail at job build time, with a clear error, on a bad table or rule
    if is_batch(t_env, batch):
        return _build_batch(t_env, ticks, config)
    if config.get("engine", "java") == "java":
        return _build_java(t_env, ticks, config)
    bars = process_keyed(t_env, ticks, BarFunction(config), Types.ROW_NAMED(list(BAR_COLUMNS), BAR_TYPES))
    rejected = bars.get_side_output(REJECTED)
    return t_env.from_data_stream(bars), t_env.from_data_stream(rejected)


def _build_java(t_env: StreamTableEnvironment, ticks: Table, config: dict[str, Any]) -> tuple[Table, Table]:
    """The streaming bar step in the JVM (``dev.marketpipe.flink.BarStep``, jar from jvm/udfs)."""
    from pyflink.java_gateway import get_gateway

    from udfs.market.calendar_export import java_config

    path = calendar_file(config)
    if not path.exists():  # named by its inputs: an existing file is the same export (saves ~2 s a build)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        java_config(config, tmp)
        tmp.replace(path)  # atomic: a job reading the file never sees half of it
    # The sessions exported for the JVM, the shipped tables' paths, and the bar row of udfs/schema.py as
    # (name, Flink type) pairs: the JVM step emits these columns, in this order (BarColumn.fromConfig).
    config = {**java_config(config, path, write=False), "bar_fields": _BAR_FIELDS, "unbarred_fields": _REJECT_FIELDS}
    j_bars, j_unbarred = get_gateway().jvm.dev.marketpipe.flink.BarStep.build(
        t_env._j_tenv, ticks._j_table, json.dumps(config)  # PyFlink has no public handle
    )
    return Table(j_bars, t_env), Table(j_unbarred, t_env)


def calendar_file(config: dict[str, Any]) -> Path:
    """Where the sessions the JVM engine reads are exported (``exchange_calendars`` is Python only).

    Named by what decides its content (calendars, extended-hours times, symbols file and its
    modification time), under ``reference_dir`` of the config, so a running job never sees it change.
    """
    rules = config.get("rules", {})
    symbols = config.get("symbols_file")
    key = json.dumps([
        config.get("calendar", "XNYS"), rules.get("pre_open"), rules.get("post_close"), symbols,
        Path(symbols).stat().st_mtime if symbols and Path(symbols).exists() else None,
        datetime.now(UTC).astimezone().year,  # local year; exchange_calendars ends its schedule about a year ahead
    ])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    base = Path(config.get("reference_dir") or Path(tempfile.gettempdir()) / "marketpipe-reference")
    return base / f"calendars-{digest}.csv"


# The rows of BarSeries: a kind, the bar's columns (but the symbol, which is the function's argument),
# the rejected trade's columns; a row fills one of the two and leaves the other NULL.
_BAR_NO_SYMBOL = tuple(i for i, name in enumerate(BAR_COLUMNS) if name != "symbol")
_SERIES_COLUMNS = ("kind", *(BAR_COLUMNS[i] for i in _BAR_NO_SYMBOL), *REJECT_COLUMNS)
_SERIES_TYPES = [
    DataTypes.STRING(), *data_types(tuple(_BAR_FIELDS[i] for i in _BAR_NO_SYMBOL)),
    *data_types(_REJECT_FIELDS),
]


class BarSeries(TableFunction):  # type: ignore[misc]
    """Every bar and rejected trade of one symbol's whole tick list (batch)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._ref: Reference | None = None

    def eval(  # one array per tick field
        self, symbol: str, ts: list[int], px: list[float], sz: list[int], ex: list[str],
        cond: list[str], tid: list[str], part: list[int], off: list[int], src: list[str],
    ) -> Iterator[tuple[Any, ...]]:
        """Run one symbol's whole tick list through a fresh engine; yield every bar, then every rejected trade."""
        if self._ref is None:
            self._ref = Reference(self._config)
        engine = BarEngine(symbol, self._ref.context(symbol))
        trades = [
            Trade(ts[i], px[i], sz[i], ex[i] or None, cond[i] or None, off[i], src[i] or None, tid[i] or None)
            for i in range(len(ts))
        ]
        index = {id(t): i for i, t in enumerate(trades)}
        out = Output()
        for t in sorted(trades, key=lambda t: (t.ts_ns, t.seq)):
            out.extend(engine.add(t))
        out.extend(engine.finish())
        empty_reject = (None,) * len(REJECT_COLUMNS)
        for bar in out.bars:
            v = bar_values(bar)
            yield ("bar", *(v[i] for i in _BAR_NO_SYMBOL), *empty_reject)
        empty_bar = (None,) * len(_BAR_NO_SYMBOL)
        for rej in out.rejected:
            i = index[id(rej.trade)]
            t = rej.trade
            yield ("rejected", *empty_bar, part[i], off[i], rej.reason, symbol, t.ts_ns, t.price,
                   t.size, t.exchange, t.conditions, tid[i] or None)


def _build_batch(t_env: StreamTableEnvironment, ticks: Table, config: dict[str, Any]) -> tuple[Table, Table]:
    t_env.create_temporary_view("mp_bar_series_rows", per_symbol(
        t_env, ticks, function=BarSeries(config), function_name="mp_bar_series", view_name="mp_bar_ticks",
        arrays=[("ts", "ts_ns"), ("px", "price"), ("sz", "size"), ("ex", "COALESCE(exchange, '')"),
                ("cond", "COALESCE(conditions, '')"), ("tid", "COALESCE(trade_id, '')"),
                ("part", "kafka_partition"), ("off", "kafka_offset"), ("src", "COALESCE(source, '')")],
        columns=_SERIES_COLUMNS, result_types=_SERIES_TYPES, symbol_arg=True, symbol_as="sym",
    ))
    bar_cols = ", ".join("sym AS symbol" if c == "symbol" else f"`{c}`" for c in BAR_COLUMNS)
    rej_cols = ", ".join(f"`{c}`" for c in REJECT_COLUMNS)
    return (t_env.sql_query(f"SELECT {bar_cols} FROM mp_bar_series_rows WHERE kind = 'bar'"),
            t_env.sql_query(f"SELECT {rej_cols} FROM mp_bar_series_rows WHERE kind = 'rejected'"))
