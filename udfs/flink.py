"""Thin PyFlink binding: per-symbol indicators on a bars table.

The math is :class:`udfs.indicator_set.IndicatorSet`; this module only moves rows between
the Table API and a keyed DataStream ``KeyedProcessFunction`` and keeps the set's plain-dict
state in Flink ``ValueState`` (so it is checkpointed and restored with the job).

Ordering: the indicators are recursive, so each symbol's bars must reach the function in
event-time order. In streaming that holds for bars produced by a TUMBLE window: a window
fires when the watermark passes its end, so one symbol's bars leave the window operator in
``window_time`` order, and ``key_by`` preserves per-key order between two operators at any
parallelism. In batch it does not hold by itself (see ``batch`` in :func:`attach_indicators`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

from pyflink.common import Row, Types, WatermarkStrategy
from pyflink.common.time import Instant
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueState, ValueStateDescriptor
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table

from udfs.indicator_set import IndicatorRow, IndicatorSet

INPUT_COLUMNS = ("symbol", "bar_start_ms", "close", "rowtime")

_INDICATOR_FIELDS = (
    "ema_12",
    "ema_26",
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "macd_hist_prev",
)

OUTPUT_COLUMNS = ("symbol", "bar_start_ms", "close", *_INDICATOR_FIELDS, "is_warm")

OUTPUT_TYPE = Types.ROW_NAMED(
    list(OUTPUT_COLUMNS),
    [Types.STRING(), Types.LONG(), Types.DOUBLE()]
    + [Types.DOUBLE()] * len(_INDICATOR_FIELDS)
    + [Types.BOOLEAN()],
)

_COLD = IndicatorRow(None, None, None, None, None, None, None, False)


class IndicatorFunction(KeyedProcessFunction):  # type: ignore[misc]
    """Keyed by symbol; emits one indicator row per bar, at the bar's record timestamp.

    Input rows are ``(symbol, bar_start_ms, close, rowtime)``. PyFlink gives every record
    emitted from ``process_element`` the timestamp of the input record, so the output keeps
    the bar's rowtime without carrying it through Python. A bar whose close is missing or not
    finite is passed through with null indicators and leaves the state untouched, so one bad
    bar cannot poison the symbol's recursive indicators or stop the job.
    """

    def __init__(self) -> None:
        self._state: ValueState | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        """Register the per-symbol state (a plain dict, pickled by Flink)."""
        self._state = runtime_context.get_state(
            ValueStateDescriptor("indicator_set", Types.PICKLED_BYTE_ARRAY())
        )

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        """Update the symbol's IndicatorSet with the bar close and emit the indicator row."""
        assert self._state is not None
        symbol, bar_start_ms, close = value[0], value[1], value[2]
        if close is None or not math.isfinite(close):
            row = _COLD
        else:
            saved = self._state.value()
            indicators = IndicatorSet() if saved is None else IndicatorSet.from_state(saved)
            row = indicators.update(close)
            self._state.update(indicators.state())
        yield Row(
            symbol,
            bar_start_ms,
            close,
            row.ema_12,
            row.ema_26,
            row.rsi_14,
            row.macd,
            row.macd_signal,
            row.macd_hist,
            row.macd_hist_prev,
            row.is_warm,
        )


class _RowtimeAssigner(TimestampAssigner):  # type: ignore[misc]
    """Record timestamp = the row's ``rowtime`` (field 3) in epoch milliseconds."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return epoch_ms(value[3])


def epoch_ms(t: Any) -> int:
    """Epoch milliseconds of a rowtime as it reaches Python (Instant, aware datetime or int)."""
    if isinstance(t, Instant):
        return int(t.to_epoch_milli())
    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            raise ValueError(f"naive datetime rowtime {t!r}; expected TIMESTAMP_LTZ")
        return round(t.timestamp() * 1000)
    if isinstance(t, int):
        return t
    raise TypeError(f"unsupported rowtime value {t!r}")


def attach_indicators(t_env: StreamTableEnvironment, bars: Table, *, batch: bool = False) -> Table:
    """Append EMA12/EMA26/RSI14/MACD(12,26,9) columns to a bars table, per symbol.

    ``bars`` must have exactly ``symbol STRING, bar_start_ms BIGINT, close DOUBLE,
    rowtime TIMESTAMP_LTZ(3)``, where in streaming ``rowtime`` is the rowtime attribute (the
    ``window_time`` of the bar window) that gives the DataStream records their timestamps.
    The result has ``symbol, bar_start_ms, close, ema_12, ema_26, rsi_14, macd, macd_signal,
    macd_hist, macd_hist_prev, is_warm`` and a ``rowtime TIMESTAMP_LTZ(3)`` rowtime attribute
    equal to the input's, with watermarks passed through (``SOURCE_WATERMARK()``). Indicator
    columns are NULL during warm-up.

    Set ``batch=True`` when the environment runs in BATCH mode: there ``rowtime`` is no time
    attribute, records carry no timestamps and BATCH sorts keyed input by key only, so bars of
    a symbol would arrive out of order. Then timestamps are assigned from ``rowtime`` before
    ``key_by`` and BATCH sorts by (key, timestamp). Forgetting it in BATCH fails the job with
    "Could not find timestamp in DataStream API record" rather than giving wrong values.
    """
    names = bars.get_schema().get_field_names()
    if tuple(names) != INPUT_COLUMNS:
        raise ValueError(f"bars must have columns {INPUT_COLUMNS}, got {tuple(names)}")
    ds = t_env.to_data_stream(bars)
    if batch:
        ds = ds.assign_timestamps_and_watermarks(
            WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(_RowtimeAssigner())
        )
    out = ds.key_by(lambda r: r[0], key_type=Types.STRING()).process(
        IndicatorFunction(), output_type=OUTPUT_TYPE
    )
    schema = (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )
    return t_env.from_data_stream(out, schema)
