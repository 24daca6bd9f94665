"""The keyed-function skeleton the bar and indicator bindings share.

Both steps have one shape. A table whose first column is the symbol goes through pure-core state kept
per symbol (:class:`udfs.bars.engine.BarEngine`, :class:`udfs.indicators.set.IndicatorSet`):

* streaming (:func:`process_keyed`): ``key_by(symbol)`` into a :class:`KeyedStateFunction`, a
  ``KeyedProcessFunction`` holding the core's plain state in one ``ValueState`` (pickled by Flink, so
  checkpointed and restored with the job). PyFlink gives every record emitted from
  ``process_element`` the timestamp of the input record;
* batch (:func:`per_symbol`): each symbol's whole series goes to Python in one call, a table function
  over one ``ARRAY_AGG`` per input column, because a per-row keyed function manages only about 12k
  rows/s per worker in BATCH.

A binding adds only its core: the rows in and out, and what to do with one row. The name and type of
the state (:attr:`KeyedStateFunction.STATE_NAME`, a pickled byte array) are part of every savepoint:
never change them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pyflink.common import Row, Types
from pyflink.common.typeinfo import TypeInformation
from pyflink.datastream import DataStream, KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueState, ValueStateDescriptor
from pyflink.table import StreamTableEnvironment, Table
from pyflink.table.types import DataType
from pyflink.table.udf import TableFunction, udtf


def is_batch(t_env: Any, batch: bool | None = None) -> bool:
    """``batch`` if given, else whether the environment's ``execution.runtime-mode`` is batch."""
    if batch is not None:
        return batch
    mode = str(t_env.get_config().get("execution.runtime-mode", "streaming"))
    return mode.lower() == "batch"


def json_config(t_env: Any, key: str) -> dict[str, Any]:
    """The JSON object the job configuration holds under ``key`` (set by marketpipe/jobs/pipeline.py);
    empty when unset."""
    raw = t_env.get_config().get(key, "")
    return json.loads(raw) if raw else {}


def check_columns(table: Table, expected: tuple[str, ...], what: str) -> None:
    """Raise unless ``table`` has exactly the columns ``expected``, in that order."""
    names = tuple(table.get_schema().get_field_names())
    if names != expected:
        raise ValueError(f"{what} must have columns {expected}, got {names}")


class KeyedStateFunction(KeyedProcessFunction):  # type: ignore[misc]
    """A keyed process function with one pickled ``ValueState`` per key (the core's state).

    Subclasses set :attr:`STATE_NAME` and use :meth:`load` / :meth:`save`; one that overrides
    :meth:`open` calls this one.
    """

    #: Name of the ValueState descriptor: part of the savepoint, never rename.
    STATE_NAME = ""

    def __init__(self) -> None:
        self._state: ValueState | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        """Register the per-key state (any picklable object; Flink pickles it)."""
        self._state = runtime_context.get_state(
            ValueStateDescriptor(self.STATE_NAME, Types.PICKLED_BYTE_ARRAY())
        )

    def load(self) -> Any:
        """The current key's state (None before its first :meth:`save`)."""
        assert self._state is not None
        return self._state.value()

    def save(self, value: Any) -> None:
        """Replace the current key's state.

        The live object, not bytes: PyFlink's state cache (``python.state.cache-size``) keeps it in the
        worker and serializes it when the bundle is flushed, not on every record.
        """
        assert self._state is not None
        self._state.update(value)


def _symbol(row: Row) -> Any:
    return row[0]


def process_keyed(
    t_env: StreamTableEnvironment, table: Table, function: KeyedStateFunction, output_type: TypeInformation
) -> DataStream:
    """The rows of ``table`` keyed by their first column (the symbol) through ``function``."""
    return t_env.to_data_stream(table).key_by(_symbol, key_type=Types.STRING()).process(
        function, output_type=output_type
    )


def per_symbol(  # the parts of one query
    t_env: StreamTableEnvironment,
    table: Table,
    *,
    function: TableFunction,
    function_name: str,
    view_name: str,
    arrays: Sequence[tuple[str, str]],
    columns: Sequence[str],
    result_types: Sequence[DataType],
    symbol_arg: bool = False,
    symbol_as: str = "symbol",
    extra: str = "",
) -> Table:
    """``function`` called once per symbol over the symbol's whole series (batch).

    ``table`` (first column ``symbol``) is grouped by symbol; ``arrays`` are ``(name, expression)``
    pairs, each aggregated with ``ARRAY_AGG`` and passed in that order (after the symbol when
    ``symbol_arg``). The function's rows have ``columns`` (types ``result_types``); the result is
    ``symbol`` (named ``symbol_as``), the function's columns, then the select expressions ``extra``
    (over ``t.<column>``), if any.
    """
    t_env.create_temporary_system_function(function_name, udtf(function, result_types=list(result_types)))
    t_env.create_temporary_view(view_name, table)
    aggs = ", ".join(f"ARRAY_AGG({expr}) AS {name}" for name, expr in arrays)
    args = ", ".join([*(["s.symbol"] if symbol_arg else []), *(f"s.{name}" for name, _ in arrays)])
    cols = ", ".join(f"`{c}`" for c in columns)
    more = f", {extra}" if extra else ""
    return t_env.sql_query(
        f"""
        SELECT s.symbol AS {symbol_as}, t.*{more}
        FROM (SELECT symbol, {aggs} FROM {view_name} GROUP BY symbol) AS s,
        LATERAL TABLE({function_name}({args})) AS t({cols})
        """
    )


# The Flink types of udfs/schema.py's binding fields (udfs.schema.binding_fields) as PyFlink types.
# The Table API names them as Flink SQL does (DataTypes.STRING(), ...).
_TYPE_INFO = {"STRING": Types.STRING, "BIGINT": Types.LONG, "INT": Types.INT, "DOUBLE": Types.DOUBLE,
              "BOOLEAN": Types.BOOLEAN}


def type_infos(fields: Sequence[tuple[str, str]]) -> list[TypeInformation]:
    """The DataStream types of ``(name, Flink type)`` fields."""
    return [_TYPE_INFO[t]() for _, t in fields]


def data_types(fields: Sequence[tuple[str, str]]) -> list[DataType]:
    """The Table API types of ``(name, Flink type)`` fields."""
    from pyflink.table import DataTypes

    return [getattr(DataTypes, t)() for _, t in fields]
