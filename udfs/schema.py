"""The rows the pipeline writes, declared once: bar, indicator, signal, dead letter and tick counts.

A row is its columns in order (name, Flink SQL type, and what PostgreSQL adds: NOT NULL, a default,
a check, a note) and its key. Everything that spells a row out is rendered from here:

* the Flink SQL sink and topic tables and their INSERT column lists — ``{{bar_columns_ddl}}``,
  ``{{bar_columns}}``, ``{{bar_key}}``, ... in ``flink_sql/`` (:func:`flink_variables`, filled by
  marketpipe/jobs/sql.py);
* the PostgreSQL serving tables (:func:`pg_create_table`, applied by marketpipe/stack/pg_schema.py);
* the Avro value schemas of the topics (marketpipe/contracts/schemas.py maps :attr:`Column.type`);
* the row types of the Flink binding (:func:`binding_fields`, udfs/flink/), where times cross the
  Python boundary as epoch milliseconds.

Adding a column is a change here (plus the step that computes it, and its tests). The indicator
columns are the indicator set's own output names (:mod:`udfs.indicators.set`). Pure: no Flink, Kafka
or database import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from udfs.bars.model import TIMEFRAMES
from udfs.indicators.set import VALUE_FIELDS, WARM_FIELDS

# Flink SQL types of the rows, and the PostgreSQL type each is stored as. Times are UTC TIMESTAMP(3) in
# Flink (the avro-confluent format has no mapping for TIMESTAMP_LTZ) and timestamptz in PostgreSQL.
STRING, DOUBLE, BIGINT, INT, BOOLEAN, DATE, TIMESTAMP = (
    "STRING", "DOUBLE", "BIGINT", "INT", "BOOLEAN", "DATE", "TIMESTAMP(3)",
)
PG_TYPES = {
    STRING: "text",
    DOUBLE: "double precision",
    BIGINT: "bigint",
    INT: "integer",
    BOOLEAN: "boolean",
    DATE: "date",
    TIMESTAMP: "timestamptz",
}
# Times as instants: the dead-letter topic (JSON) and the lake, whose Iceberg tables store timestamptz
# with microseconds (the INSERTs cast to TIMESTAMP_LTZ(3)).
LTZ_TIMESTAMP, LAKE_TIMESTAMP = "TIMESTAMP_LTZ(3)", "TIMESTAMP_LTZ(6)"


@dataclass(frozen=True)
class Column:
    """One column of a row. Every Flink sink column is nullable; ``nullable``, ``default`` and
    ``check`` are the PostgreSQL table's constraints."""

    name: str
    type: str  # Flink SQL type, one of PG_TYPES
    nullable: bool = True
    default: str | None = None  # a PostgreSQL expression
    check: str | None = None  # a PostgreSQL CHECK expression
    note: str = ""  # a comment in the PostgreSQL DDL

    @property
    def binding_name(self) -> str:
        """The name in the Python binding: a time crosses as epoch ms (``first_trade_at`` -> ``first_trade_ms``)."""
        return self.name.removesuffix("_at") + "_ms" if self.type == TIMESTAMP else self.name

    @property
    def binding_type(self) -> str:
        """The Flink type in the Python binding: epoch ms BIGINT for a time, ISO text for a date."""
        return {TIMESTAMP: BIGINT, DATE: STRING}.get(self.type, self.type)


@dataclass(frozen=True)
class Row:
    """A row: its columns in order and its key (the upsert key of the PostgreSQL and JDBC tables)."""

    name: str  # prefix of its template variables: {{<name>_columns}}, ...
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    def __post_init__(self) -> None:
        missing = set(self.key) - set(self.names)
        if missing:
            raise ValueError(f"row {self.name}: key columns {sorted(missing)} are not columns")

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in order."""
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)

    def without(self, *names: str, name: str, key: tuple[str, ...]) -> Row:
        """This row less the columns ``names``, as row ``name`` keyed by ``key``."""
        return replace(self, name=name, columns=tuple(c for c in self.columns if c.name not in names), key=key)

    def only(self, *names: str, name: str, key: tuple[str, ...]) -> Row:
        """The columns ``names`` of this row (in this row's order), as row ``name`` keyed by ``key``."""
        unknown = set(names) - set(self.names)
        if unknown:
            raise ValueError(f"row {self.name} has no columns {sorted(unknown)}")
        return self.without(*(n for n in self.names if n not in names), name=name, key=key)


def _required(name: str, type_: str, note: str = "") -> Column:
    return Column(name, type_, nullable=False, note=note)


#: A bar of any timeframe (docs/bars.md): bars_1m from ticks, 5m/15m/1h/1d rolled up from 1m bars,
#: session-aligned. A bar revised by a late tick within the grace period is updated in place and its
#: ``revision`` goes up by one. first/last_trade_at and pv_sum (the VWAP numerator, sum of price*size
#: over volume-eligible trades) keep bars mergeable; ``filled`` marks a flat bar made for an empty minute.
BAR = Row(
    "bar",
    (
        _required("timeframe", STRING, "1m, 5m, 15m, 1h, 1d"),
        _required("symbol", STRING),
        _required("bar_start", TIMESTAMP, "interval [bar_start, bar_end), labelled by its start"),
        _required("bar_end", TIMESTAMP),
        _required("open", DOUBLE),
        _required("high", DOUBLE),
        _required("low", DOUBLE),
        _required("close", DOUBLE),
        _required("volume", BIGINT),
        _required("vwap", DOUBLE, "pv_sum / volume; the close when volume is 0"),
        _required("trade_count", BIGINT),
        Column("session", STRING, nullable=False, default="'regular'", note="pre, regular, post"),
        Column("session_date", DATE, note="trading day in the exchange's calendar"),
        Column("first_trade_at", TIMESTAMP),
        Column("last_trade_at", TIMESTAMP),
        Column("pv_sum", DOUBLE, nullable=False, default="0"),
        Column("filled", BOOLEAN, nullable=False, default="false"),
        Column("revision", INT, nullable=False, default="0"),
    ),
    key=("symbol", "timeframe", "bar_start"),
)
#: A bar of one known timeframe: the topic bars.1m and the PostgreSQL views bars_1m ... bars_1d.
TIMEFRAME_BAR = BAR.without("timeframe", name="timeframe_bar", key=("symbol", "bar_start"))
#: Every bar timeframe, finest first (the PostgreSQL views bars_<tf>), as the bar engine makes them.
BAR_TIMEFRAMES = TIMEFRAMES
#: What the indicator step reads of a bar (flink_sql/21, udfs/flink/indicators.py): the bar view of the
#: indicators job's source (20_bars_source.sql) and the columns of a backfill's canonical bar file
#: (marketpipe/backfill.py, flink_sql/backfill/20_bars_file.sql).
INDICATOR_INPUT = BAR.only(
    "symbol", "bar_start", "open", "high", "low", "close", "volume", "vwap",
    name="indicator_input", key=("symbol", "bar_start"),
)

#: Indicators on one bar (docs/indicators.md): the indicator set's outputs, NULL while an indicator
#: warms up, and a ``<name>_warm`` flag per indicator (``is_warm``: ema_12, ema_26, rsi_14 and macd).
INDICATOR = Row(
    "indicator",
    (
        _required("symbol", STRING),
        _required("bar_start", TIMESTAMP),
        _required("close", DOUBLE),
        _required("volume", BIGINT),
        *(Column(name, DOUBLE) for name in VALUE_FIELDS),
        *(_required(name, BOOLEAN) for name in WARM_FIELDS),
    ),
    key=("symbol", "bar_start"),
)

#: A strategy's action on one bar (docs/signals.md).
SIGNAL = Row(
    "signal",
    (
        _required("symbol", STRING),
        _required("timeframe", STRING, "of the bars the strategy ran on: 1m, 1d, ..."),
        _required("bar_start", TIMESTAMP),
        _required("strategy", STRING),
        Column("action", STRING, nullable=False, check="action IN ('buy', 'sell', 'hold')"),
        _required("reason", STRING),
        Column("close", DOUBLE),
        Column("macd_hist", DOUBLE),
        Column("rsi_14", DOUBLE),
    ),
    key=("symbol", "timeframe", "bar_start", "strategy"),
)

#: Where a record was read: its raw-topic partition and offset (a backfill's file rows have partition -1).
KAFKA_POSITION = (_required("kafka_partition", INT), _required("kafka_offset", BIGINT))

#: A rejected tick with the reason, keyed by its Kafka position so replays stay idempotent. stage:
#: 'clean' (the record is not a valid trade, flink_sql/11) or 'bars' (a valid trade in no bar: late,
#: market closed, duplicate, outlier, ... flink_sql/12). A backfill's file rows have partition -1.
DEAD_LETTER = Row(
    "dead_letter",
    (
        *KAFKA_POSITION,
        Column("stage", STRING, nullable=False, default="'clean'"),
        _required("reason", STRING),
        Column("symbol", STRING),
        _required("payload", STRING),
        _required("received_at", TIMESTAMP),
    ),
    key=("kafka_partition", "kafka_offset"),
)

#: What the bars job read from one raw-topic partition and how it classified it (flink_sql/11):
#: raw_records = clean + rejected + heartbeats, upserted as the counts grow.
TICK_COUNTS = Row(
    "tick_counts",
    (
        _required("kafka_partition", INT),
        _required("raw_records", BIGINT),
        _required("clean", BIGINT),
        _required("rejected", BIGINT),
        _required("heartbeats", BIGINT),
        Column("max_offset", BIGINT),
    ),
    key=("kafka_partition",),
)

#: A clean trade (topic ticks.clean): symbol upper-cased, price and size within bounds.
CLEAN_TICK = Row(
    "clean_tick",
    (
        _required("symbol", STRING),
        _required("event_time", TIMESTAMP),
        _required("ts_ns", BIGINT),
        _required("price", DOUBLE),
        _required("size", BIGINT),
        Column("exchange", STRING),
        Column("conditions", STRING),
        Column("trade_id", STRING),
    ),
    key=(),
)

#: A clean trade in the lake (silver.ticks_clean): the clean tick and where it was read.
LAKE_CLEAN_TICK = Row("lake_clean_tick", (*CLEAN_TICK.columns, *KAFKA_POSITION), key=())

#: A clean trade the bar step put in no bar, with the reason (late, market closed, duplicate, ...): the
#: second output of the bar step (flink_sql/12 ``ticks_unbarred``), dead-lettered there with stage 'bars'.
UNBARRED = Row(
    "unbarred",
    # its position, the reason, and the trade as it came clean (its time as ts_ns only)
    (*KAFKA_POSITION, _required("reason", STRING), *(c for c in CLEAN_TICK.columns if c.name != "event_time")),
    key=("kafka_partition", "kafka_offset"),
)

ROWS = (BAR, TIMEFRAME_BAR, INDICATOR_INPUT, INDICATOR, SIGNAL, DEAD_LETTER, UNBARRED, TICK_COUNTS, CLEAN_TICK,
    LAKE_CLEAN_TICK,
)


# ---- Flink SQL


def _ident(name: str) -> str:
    return f"`{name}`"


def flink_columns_ddl(row: Row, *, timestamp: str = TIMESTAMP) -> str:
    """``name TYPE, ...``: the columns of a Flink table of ``row``; times as ``timestamp``."""
    return ", ".join(f"{_ident(c.name)} {timestamp if c.type == TIMESTAMP else c.type}" for c in row.columns)


def flink_select(row: Row, *, timestamp: str | None = None) -> str:
    """The column list of an ``INSERT ... SELECT`` of ``row``; times cast to ``timestamp`` when given."""
    return ", ".join(
        f"CAST({_ident(c.name)} AS {timestamp})" if timestamp and c.type == TIMESTAMP else _ident(c.name)
        for c in row.columns
    )


def _from_binding(column: Column) -> str:
    """``column`` from its binding value (:attr:`Column.binding_name`): epoch ms or ISO text."""
    binding = _ident(column.binding_name)
    if column.type == TIMESTAMP:
        return f"CAST(TO_TIMESTAMP_LTZ({binding}, 3) AS {TIMESTAMP}) AS {_ident(column.name)}"
    if column.type == DATE:
        return f"CAST({binding} AS {DATE}) AS {_ident(column.name)}"
    return binding


def _to_binding(column: Column) -> str:
    """``column`` as the binding takes it; a time becomes epoch ms of its whole seconds (bar starts are)."""
    name = _ident(column.name)
    if column.type == TIMESTAMP:
        seconds = f"TIMESTAMPDIFF(SECOND, TIMESTAMP '1970-01-01 00:00:00', {name})"
        return f"{seconds} * CAST(1000 AS BIGINT) AS {_ident(column.binding_name)}"
    if column.type == DATE:
        return f"CAST({name} AS STRING) AS {_ident(column.binding_name)}"
    return name


def flink_variables() -> dict[str, str]:
    """The ``{{variables}}`` of every row in ``flink_sql/``.

    For ``bar`` (the same for each row):

    ``bar_columns``            the names, for ``INSERT INTO t SELECT {{bar_columns}} FROM ...``
    ``bar_columns_utc``        the names, times cast to TIMESTAMP(3) (from a TIMESTAMP_LTZ view)
    ``bar_columns_ltz``        the names, times cast to TIMESTAMP_LTZ(3) (into the lake, a JSON topic)
    ``bar_columns_ddl``        ``name TYPE, ...`` of a sink or topic table, times TIMESTAMP(3)
    ``bar_columns_ltz_ddl``    the same with times TIMESTAMP_LTZ(3)
    ``bar_columns_lake_ddl``   the same with times TIMESTAMP_LTZ(6), for an Iceberg table
    ``bar_key``                the key, for ``PRIMARY KEY ({{bar_key}}) NOT ENFORCED``
    ``bar_binding_ddl``        ``name TYPE, ...`` as the Python binding has the row (times as epoch ms)
    ``bar_from_binding``       the select list that turns the binding's row into the row
    ``bar_to_binding``         the select list that turns the row into the binding's
    """
    out: dict[str, str] = {}
    for row in ROWS:
        out[f"{row.name}_columns"] = flink_select(row)
        out[f"{row.name}_columns_utc"] = flink_select(row, timestamp=TIMESTAMP)
        out[f"{row.name}_columns_ltz"] = flink_select(row, timestamp=LTZ_TIMESTAMP)
        out[f"{row.name}_columns_ddl"] = flink_columns_ddl(row)
        out[f"{row.name}_columns_ltz_ddl"] = flink_columns_ddl(row, timestamp=LTZ_TIMESTAMP)
        out[f"{row.name}_columns_lake_ddl"] = flink_columns_ddl(row, timestamp=LAKE_TIMESTAMP)
        out[f"{row.name}_key"] = ", ".join(_ident(k) for k in row.key)
        out[f"{row.name}_binding_ddl"] = ", ".join(f"{_ident(n)} {t}" for n, t in binding_fields(row))
        out[f"{row.name}_from_binding"] = ", ".join(_from_binding(c) for c in row.columns)
        out[f"{row.name}_to_binding"] = ", ".join(_to_binding(c) for c in row.columns)
    return out


def binding_fields(row: Row) -> tuple[tuple[str, str], ...]:
    """``(name, Flink type)`` of ``row`` as the Python binding produces it (times as epoch ms)."""
    return tuple((c.binding_name, c.binding_type) for c in row.columns)


# ---- PostgreSQL


def pg_column(column: Column) -> str:
    """A column definition of a PostgreSQL table."""
    parts = [column.name, PG_TYPES[column.type]]
    if not column.nullable:
        parts.append("NOT NULL")
    if column.default is not None:
        parts.append(f"DEFAULT {column.default}")
    if column.check is not None:
        parts.append(f"CHECK ({column.check})")
    return " ".join(parts) + (f"  -- {column.note}" if column.note else "")


def pg_create_table(row: Row, table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS table`` of ``row`` with its key as primary key."""
    lines = [f"    {pg_column(c)}" for c in row.columns]
    if row.key:
        lines.append(f"    PRIMARY KEY ({', '.join(row.key)})")
    # the comma goes before a line's comment, which would swallow it
    body = "".join(_comma_before_comment(line) + "\n" for line in lines[:-1]) + lines[-1]
    return f"CREATE TABLE IF NOT EXISTS {table} (\n{body}\n);"


def _comma_before_comment(line: str) -> str:
    code, sep, comment = line.partition("  -- ")
    return f"{code},{sep}{comment}" if sep else f"{code},"


def pg_add_columns(row: Row, table: str) -> str | None:
    """``ALTER TABLE table ADD COLUMN IF NOT EXISTS`` for every column an older table may lack.

    Only columns that are nullable or have a default can be added to a table with rows; a new
    column of a row must be one of them (tests/unit/test_schema.py).
    """
    added = [c for c in row.columns if c.name not in row.key and (c.nullable or c.default is not None)]
    if not added:
        return None
    clauses = ",\n".join(f"    ADD COLUMN IF NOT EXISTS {pg_column(c).partition('  -- ')[0]}" for c in added)
    return f"ALTER TABLE {table}\n{clauses};"
