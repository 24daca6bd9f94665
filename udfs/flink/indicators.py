"""Thin PyFlink binding: per-symbol indicators on a bars table, used by ``flink_sql/21_indicators.sql``.

The math is :class:`udfs.indicators.set.IndicatorSet`; this module only moves rows between
the Table API and the keyed-function skeleton (:mod:`udfs.flink.keyed`), which keeps the set's
plain-dict state in Flink ``ValueState`` (so it is checkpointed and restored with the job).

Ordering: the indicators are recursive, so each symbol's bars must reach the function in
event-time order. In streaming that holds for bars produced by a TUMBLE window: a window
fires when the watermark passes its end, so one symbol's bars leave the window operator in
``window_time`` order, and ``key_by`` preserves per-key order between two operators at any
parallelism. In batch it does not hold by itself, and a per-row function is slow there, so batch
uses a different wrapper over the same math (see :func:`attach_indicators`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction
from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.udf import TableFunction

from udfs.flink import keyed
from udfs.indicators import batch
from udfs.indicators.set import (
    VALUE_FIELDS,
    WARM_FIELDS,
    Bar,
    IndicatorConfig,
    IndicatorRow,
    IndicatorSet,
)
from udfs.market.calendar import session_of
from udfs.schema import INDICATOR, INDICATOR_INPUT, binding_fields

if TYPE_CHECKING:
    import numpy.typing as npt

log = logging.getLogger(__name__)

#: The bar columns of udfs/schema.py the step reads (bar start as epoch ms), and the event time.
INPUT_COLUMNS = (*(name for name, _ in binding_fields(INDICATOR_INPUT)), "rowtime")

# The indicator row of udfs/schema.py as it leaves Python (bar start as epoch ms): symbol, bar_start_ms,
# close, volume, then the indicator set's outputs (VALUE_FIELDS, WARM_FIELDS).
_OUTPUT_FIELDS = binding_fields(INDICATOR)
OUTPUT_COLUMNS = tuple(name for name, _ in _OUTPUT_FIELDS)
OUTPUT_TYPE = Types.ROW_NAMED(list(OUTPUT_COLUMNS), keyed.type_infos(_OUTPUT_FIELDS))

_COLD = (None,) * len(VALUE_FIELDS) + (False,) * len(WARM_FIELDS)


def bar_of(value: Any) -> Bar | None:
    """The :class:`Bar` of an input row, or None when a price or the volume is missing/not finite."""
    o, h, low, c, vol, vw = value[2], value[3], value[4], value[5], value[6], value[7]
    nums = (o, h, low, c, vol, vw)
    if any(x is None or not math.isfinite(x) for x in nums):
        return None
    return Bar(o, h, low, c, float(vol), vw, session_of(value[1]))


def row_values(row: IndicatorRow) -> tuple[Any, ...]:
    """The indicator fields of ``row`` in :data:`OUTPUT_COLUMNS` order."""
    return tuple(getattr(row, name) for name in (*VALUE_FIELDS, *WARM_FIELDS))


class IndicatorFunction(keyed.KeyedStateFunction):
    """Keyed by symbol; emits one indicator row per bar, at the bar's record timestamp.

    Input rows have :data:`INPUT_COLUMNS`. PyFlink gives every record
    emitted from ``process_element`` the timestamp of the input record, so the output keeps
    the bar's rowtime without carrying it through Python. A bar with a missing or non-finite
    price or volume is passed through with null indicators and leaves the state untouched, so one
    bad bar cannot poison the symbol's recursive indicators or stop the job.
    """

    #: The state: ``(last bar_start_ms applied, IndicatorSet.state())``, a plain tuple and dict.
    STATE_NAME = "indicator_set"

    def __init__(self, config: IndicatorConfig | None = None) -> None:
        super().__init__()
        self._config = config

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        """Update the symbol's IndicatorSet with the bar close and emit the indicator row.

        A bar whose start is not after the last one applied is ignored: a re-delivered bar (the
        at-least-once failure mode the exactly-once topics rule out) must not be applied twice,
        which would shift every recursive indicator after it.
        """
        saved = self.load()
        last_ms, saved_set = saved if isinstance(saved, tuple) else (None, saved)
        if last_ms is not None and value[1] <= last_ms:
            log.warning("indicators: %s bar %s already applied (last %s); ignored", value[0], value[1], last_ms)
            return
        bar = bar_of(value)
        if bar is None:
            values = _COLD
        else:
            try:
                indicators = IndicatorSet(self._config) if saved_set is None else IndicatorSet.from_state(saved_set)
                values = row_values(indicators.update(bar))
                saved_set = indicators.state()
            except Exception:  # one bar must not stop the job; its state is kept
                log.exception("indicators failed on %s; emitted without values", value)
                values = _COLD
        self.save((value[1], saved_set))
        yield Row(value[0], value[1], value[5], value[6], *values)


def attach_indicators(t_env: StreamTableEnvironment, bars: Table, *, batch: bool | None = None) -> Table:
    """Append the indicator columns of :class:`IndicatorRow` to a bars table, per symbol.

    ``bars`` must have exactly :data:`INPUT_COLUMNS` (``symbol STRING, bar_start_ms BIGINT, open,
    high, low, close DOUBLE, volume BIGINT, vwap DOUBLE, rowtime TIMESTAMP_LTZ(3)``), where in
    streaming ``rowtime`` is the rowtime attribute that gives the DataStream records their timestamps.
    The result has :data:`OUTPUT_COLUMNS` and a ``rowtime TIMESTAMP_LTZ(3)`` equal to the input's
    (in streaming a rowtime attribute with watermarks passed through, ``SOURCE_WATERMARK()``).
    Indicator columns are NULL during warm-up.

    ``batch`` (default: read from the environment's ``execution.runtime-mode``) selects the batch
    wrapper: one Python call per symbol over its whole series (:class:`IndicatorSeries`), because a
    per-row KeyedProcessFunction manages only about 12k rows/s per worker in BATCH. Both wrappers
    feed the same :class:`IndicatorSet`, so streaming and backfill compute identical rows.
    """
    keyed.check_columns(bars, INPUT_COLUMNS, "bars")
    config = config_of(t_env)
    if keyed.is_batch(t_env, batch):
        return _attach_batch(t_env, bars, config)
    out = keyed.process_keyed(t_env, bars, IndicatorFunction(config), OUTPUT_TYPE)
    schema = (
        Schema.new_builder()
        .column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
        .watermark("rowtime", "SOURCE_WATERMARK()")
        .build()
    )
    return t_env.from_data_stream(out, schema)


_SERIES_TYPES = keyed.data_types(_OUTPUT_FIELDS[1:])


class IndicatorSeries(TableFunction):  # type: ignore[misc]
    """All indicator rows of one symbol's whole bar series (arrays in any order; sorted here).

    The rows are those :class:`IndicatorFunction` emits when the same bars arrive one by one in
    time order, bit for bit, computed column-wise over the whole series by
    :func:`series_rows` (``udfs.indicators.batch``).
    """

    def __init__(self, config: IndicatorConfig | None = None) -> None:
        self._config = config

    def eval(  # one array per bar field
        self, ts: list[int], o: list[float], h: list[float], low: list[float], c: list[float],
        v: list[int], vw: list[float],
    ) -> list[tuple[Any, ...]]:
        """All indicator rows of one symbol's bars, as :func:`series_rows` computes them."""
        # a list, not an iterator: PyFlink takes any other non-generator as one row
        return series_rows(ts, o, h, low, c, v, vw, self._config)


def _floats(values: list[Any], order: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
    arr = np.array(values, dtype=np.float64)  # None -> NaN
    picked: npt.NDArray[np.float64] = arr[order]
    return picked


def series_rows(  # one array per bar field
    ts: list[int], o: list[float], h: list[float], low: list[float], c: list[float],
    v: list[int], vw: list[float], config: IndicatorConfig | None = None,
) -> list[tuple[Any, ...]]:
    """``(bar_start_ms, close, volume, *indicator values)`` per bar of one symbol, in time order.

    The same rows as :class:`IndicatorFunction` fed the bars one by one in time order: a bar whose
    start is not after the previous one is dropped, a bar with a missing or non-finite price or volume
    has null indicators and leaves the state alone. Fast path: :mod:`udfs.indicators.batch`; inputs
    it does not reproduce exactly go through :class:`IndicatorSet` bar by bar.
    """
    n = len(ts)
    if n == 0:
        return []
    cfg = config or IndicatorConfig()
    order = np.argsort(np.asarray(ts, dtype=np.int64), kind="stable")
    tsa = np.asarray(ts, dtype=np.int64)[order]
    keep = np.ones(n, dtype=bool)
    keep[1:] = tsa[1:] != tsa[:-1]
    if not keep.all():
        order, tsa = order[keep], tsa[keep]
    idx = order.tolist()
    ts_s = tsa.tolist()
    c_s = [c[i] for i in idx]
    v_s = [v[i] for i in idx]
    oa, ha, la, ca = _floats(o, order), _floats(h, order), _floats(low, order), _floats(c, order)
    va, vwa = _floats(v, order), _floats(vw, order)
    good = batch.good_bars(oa, ha, la, ca, va, vwa)
    all_good = bool(good.all())
    cols = None
    try:
        IndicatorSet(cfg)  # an invalid configuration fails every bar in the streaming step
        valid = True
    except Exception:  # noqa: BLE001
        valid = False
    if valid and not good.any():
        return [(t, cc, vv, *_COLD) for t, cc, vv in zip(ts_s, c_s, v_s, strict=True)]
    if valid:
        def sel(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            return a if all_good else a[good]

        cols = batch.fast_columns(
            sel(oa), sel(ha), sel(la), sel(ca), sel(va), sel(vwa), batch.session_ids(sel(tsa)), cfg
        )
    if cols is None:
        vals = batch.reference_rows(
            list(zip(ts_s, [o[i] for i in idx], [h[i] for i in idx], [low[i] for i in idx], c_s, v_s,
                     [vw[i] for i in idx], strict=True)),
            cfg,
        )
        return [(t, cc, vv, *(_COLD if r is None else r)) for t, cc, vv, r in zip(ts_s, c_s, v_s, vals, strict=True)]
    columns = [cols[name] for name in (*VALUE_FIELDS, *WARM_FIELDS)]
    if all_good:
        return list(zip(ts_s, c_s, v_s, *columns, strict=True))
    values = iter(zip(*columns, strict=True))
    return [
        (t, cc, vv, *(next(values) if g else _COLD))
        for t, cc, vv, g in zip(ts_s, c_s, v_s, good.tolist(), strict=True)
    ]


#: Job configuration key holding the indicator periods as JSON (set by marketpipe/jobs/pipeline.py).
PERIODS_KEY = "marketpipe.indicator-periods"


def config_of(t_env: Any) -> IndicatorConfig:
    """The indicator periods configured for this job (TA-Lib defaults when none)."""
    periods = keyed.json_config(t_env, PERIODS_KEY)
    config = IndicatorConfig.from_mapping(periods) if periods else IndicatorConfig()
    try:  # a period an indicator refuses fails the job build, not every bar of the stream
        IndicatorSet(config)
    except ValueError as exc:
        raise ValueError(f"indicator periods {periods} (MARKETPIPE_INDICATOR_PERIODS): {exc}") from exc
    return config


#: Symbols per Python bundle in a batch backfill. The UDTF returns a whole series per call, far faster
#: than the sinks take it; with the job's default bundle (10,000 inputs) a bundle held every symbol's
#: rows in the gRPC channel's direct memory and the taskmanager died (OutOfMemoryError: Direct buffer
#: memory, 500 symbols x 2,520 daily bars). A small bundle bounds what is in flight.
BATCH_BUNDLE_SIZE = "4"


def _attach_batch(t_env: StreamTableEnvironment, bars: Table, config: IndicatorConfig) -> Table:
    t_env.get_config().set("python.fn-execution.bundle.size", BATCH_BUNDLE_SIZE)
    return keyed.per_symbol(
        t_env, bars, function=IndicatorSeries(config), function_name="mp_indicator_series",
        view_name="mp_indicator_bars",
        arrays=[("ts", "bar_start_ms"), ("o", "`open`"), ("h", "high"), ("l", "low"), ("c", "`close`"),
                ("v", "volume"), ("vw", "vwap")],
        columns=OUTPUT_COLUMNS[1:], result_types=_SERIES_TYPES,
        extra="TO_TIMESTAMP_LTZ(t.bar_start_ms, 3) AS rowtime",
    )
