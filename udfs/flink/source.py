"""One read of a table, shared by every statement of a job (``flink_sql/10_ticks_source.sql``, and
``11_ticks_clean.sql`` for the parsed and classified ticks).

The bars job feeds its parsed ticks both to SQL sinks (bronze, clean ticks, dead letters; one statement
set) and to the bar step (a Table -> DataStream bridge). The planner plans the bridge apart from the
statement set, so each would scan the Kafka table itself, and even inside the statement set it copies
the parse into every sink's branch: every record read and parsed several times. Turning the table into
a DataStream once and back into a table (JVM only: no Python crossing) gives every consumer the same
upstream: one source vertex, one parse. The rowtime column keeps its timestamps and the source's
watermarks.
"""

from __future__ import annotations

from typing import Any

from pyflink.table import Schema, Table

from udfs.flink.keyed import is_batch


def read_once(t_env: Any, table: Table, *, rowtime: str = "event_time") -> Table:
    """``table`` as a table over one shared stream (streaming); unchanged in batch mode."""
    if is_batch(t_env):
        return table
    stream = t_env.to_data_stream(table)
    schema = Schema.new_builder().watermark(rowtime, "SOURCE_WATERMARK()").build()
    return t_env.from_data_stream(stream, schema)
