"""udfs/schema.py is the one owner of the rows: the Flink sink DDL and INSERTs, the PostgreSQL DDL and
the Avro contracts are all rendered from it, agree with it, and follow it when a column is added."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from marketpipe.backfill import CANONICAL
from marketpipe.contracts import schemas as contracts
from marketpipe.jobs.sql import Statement, load_statements
from marketpipe.settings import Settings
from marketpipe.stack import pg_schema
from tests.unit.flink_tables import split_top_level, table_columns
from udfs import schema
from udfs.flink.indicators import INPUT_COLUMNS
from udfs.indicators.set import ROW_FIELDS, VALUE_FIELDS, WARM_FIELDS
from udfs.schema import (
    BAR,
    CLEAN_TICK,
    DEAD_LETTER,
    DOUBLE,
    INDICATOR,
    INDICATOR_INPUT,
    SIGNAL,
    TICK_COUNTS,
    TIMEFRAME_BAR,
    Column,
    Row,
)

JOBS = ("bars", "indicators", "backfill", "backfill-ticks")


def _statements(settings: Settings | None = None) -> list[Statement]:
    settings = settings or Settings(backfill_path="/tmp/x.csv")
    return [s for job in JOBS for s in load_statements(settings, job)]


def _flink(row: Row, timestamp: str = "TIMESTAMP(3)") -> list[tuple[str, str]]:
    return [(c.name, timestamp if c.type == schema.TIMESTAMP else c.type) for c in row.columns]


@pytest.mark.parametrize(("table", "row", "timestamp"), [
    ("pg_bars", BAR, "TIMESTAMP(3)"),
    ("pg_ticks_dlq", DEAD_LETTER, "TIMESTAMP(3)"),
    ("pg_tick_counts", TICK_COUNTS, "TIMESTAMP(3)"),
    ("pg_indicators", INDICATOR, "TIMESTAMP(3)"),
    ("pg_signals", SIGNAL, "TIMESTAMP(3)"),
    ("kafka_ticks_clean", CLEAN_TICK, "TIMESTAMP(3)"),
    ("kafka_ticks_dlq", DEAD_LETTER, "TIMESTAMP_LTZ(3)"),
    ("kafka_bars_1m", TIMEFRAME_BAR, "TIMESTAMP(3)"),
    ("kafka_bars_rollups", BAR, "TIMESTAMP(3)"),
    ("kafka_signals", SIGNAL, "TIMESTAMP(3)"),
    ("{{iceberg_catalog}}.silver.bars", BAR, "TIMESTAMP_LTZ(6)"),
    ("{{iceberg_catalog}}.silver.ticks_clean", schema.LAKE_CLEAN_TICK, "TIMESTAMP_LTZ(6)"),
    ("{{iceberg_catalog}}.{{lake_gold}}.indicators_1m", INDICATOR, "TIMESTAMP_LTZ(6)"),
    ("{{iceberg_catalog}}.{{lake_gold}}.signals", SIGNAL, "TIMESTAMP_LTZ(6)"),
])
def test_every_sink_table_has_its_rows_columns(table: str, row: Row, timestamp: str) -> None:
    settings = Settings(backfill_path="/tmp/x.csv")
    name = table.replace("{{iceberg_catalog}}", settings.iceberg_catalog).replace("{{lake_gold}}", settings.lake_gold)
    assert table_columns(_statements(settings), name) == _flink(row, timestamp)


def test_the_jdbc_sinks_share_one_options_block_and_upsert_on_the_rows_key() -> None:
    sinks = [s.sql for s in _statements() if s.sql.startswith("CREATE TABLE pg_")]
    assert len(sinks) >= 5
    for sql in sinks:
        assert sql.count("'connector' = 'jdbc'") == 1 and "'sink.buffer-flush.max-rows' = '500'" in sql
    pg_bars = next(s for s in sinks if s.startswith("CREATE TABLE pg_bars "))
    assert "PRIMARY KEY (`symbol`, `timeframe`, `bar_start`) NOT ENFORCED" in pg_bars
    assert "'table-name' = 'public.bars'" in pg_bars


def test_one_insert_writes_every_bar_timeframe_to_postgres() -> None:
    inserts = [s.sql for s in load_statements(Settings(), "bars") if s.sql.startswith("INSERT INTO pg_bars")]
    assert inserts == [f"INSERT INTO pg_bars SELECT {schema.flink_select(BAR)} FROM bars"]


def test_the_indicator_columns_are_the_indicator_sets_outputs() -> None:
    assert INDICATOR.names[4:] == ROW_FIELDS == (*VALUE_FIELDS, *WARM_FIELDS)
    view = next(s.sql for s in load_statements(Settings(), "indicators")
                if s.sql.startswith("CREATE VIEW indicators_1m"))
    from_binding = schema.flink_variables()["indicator_from_binding"]
    assert view == f"CREATE VIEW indicators_1m AS SELECT {from_binding}, rowtime FROM indicator_output"
    assert "CAST(TO_TIMESTAMP_LTZ(`bar_start_ms`, 3) AS TIMESTAMP(3)) AS `bar_start`" in from_binding
    assert from_binding.endswith("`volume_sma_20_warm`")


def test_the_bar_view_turns_the_binding_row_into_the_bar_row() -> None:
    view = next(s.sql for s in load_statements(Settings(), "bars") if s.sql.startswith("CREATE VIEW bars "))
    select_list = view.removeprefix("CREATE VIEW bars AS SELECT ").removesuffix(" FROM bars_all")
    assert ", ".join(select := split_top_level(select_list)) == schema.flink_variables()["bar_from_binding"]
    assert [item.rsplit(" AS ", 1)[-1].strip("`") for item in select] == list(BAR.names)
    assert "CAST(`session_date` AS DATE) AS `session_date`" in select
    assert "CAST(TO_TIMESTAMP_LTZ(`last_trade_ms`, 3) AS TIMESTAMP(3)) AS `last_trade_at`" in select


def test_the_indicator_input_is_one_row_in_stream_backfill_and_binding() -> None:
    binding = list(schema.binding_fields(INDICATOR_INPUT))
    assert [n for n, _ in binding] == CANONICAL == list(INPUT_COLUMNS[:-1])
    assert binding[:2] == [("symbol", "STRING"), ("bar_start_ms", "BIGINT")]
    settings = Settings(backfill_path="/tmp/x.csv")
    # a backfill's canonical file is the binding's columns; the stream's bar view the row's
    assert table_columns(load_statements(settings, "backfill"), "bars_1m") == binding
    view = next(s.sql for s in load_statements(settings, "indicators") if s.sql.startswith("CREATE VIEW bars_1m"))
    assert f"SELECT {schema.flink_select(INDICATOR_INPUT)}, rowtime FROM bars_topic" in view
    # the topic table reads the whole bar row the bars job writes there
    assert table_columns(load_statements(settings, "indicators"), "bars_topic") == _flink(TIMEFRAME_BAR)
    step_input = next(s.sql for s in load_statements(settings, "indicators")
                      if s.sql.startswith("CREATE VIEW indicator_input"))
    assert "* CAST(1000 AS BIGINT) AS `bar_start_ms`, `open`," in step_input


def test_a_row_of_unknown_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="no columns"):
        BAR.only("symbol", "spread", name="x", key=("symbol",))


def test_postgres_tables_are_rendered_from_the_rows() -> None:
    ddl = pg_schema.schema_sql()
    for row, table in pg_schema.ROW_TABLES:
        create = re.search(rf"CREATE TABLE IF NOT EXISTS {table} \((.*?)\n\);", ddl, re.S)
        assert create is not None, table
        lines = [line.strip() for line in create.group(1).strip().splitlines()]
        assert [line.split()[0] for line in lines[:-1]] == list(row.names), table
        assert lines[-1] == f"PRIMARY KEY ({', '.join(row.key)})", table
    assert "bars_1m" not in [t for _, t in pg_schema.ROW_TABLES]
    for tf in schema.BAR_TIMEFRAMES:
        assert (f"CREATE OR REPLACE VIEW bars_{tf} AS\nSELECT {', '.join(TIMEFRAME_BAR.names)}\n"
                f"FROM bars WHERE timeframe = '{tf}';") in ddl
    # the views come after the migration that drops the old tables of the same names
    assert ddl.index("DROP TABLE %I CASCADE") < ddl.index("CREATE OR REPLACE VIEW bars_1m")


def test_postgres_types_and_constraints() -> None:
    ddl = schema.pg_create_table(SIGNAL, "signals")
    assert "action text NOT NULL CHECK (action IN ('buy', 'sell', 'hold'))," in ddl
    assert "close double precision," in ddl and "bar_start timestamptz NOT NULL," in ddl
    added = schema.pg_add_columns(BAR, "bars")
    assert added is not None and "ADD COLUMN IF NOT EXISTS revision integer NOT NULL DEFAULT 0" in added
    assert "symbol" not in added  # a key column is never added later


def test_every_row_column_can_be_added_to_an_existing_table_or_is_original() -> None:
    """A column added to a row later must be nullable or have a default (pg_add_columns adds it)."""
    for row in schema.ROWS:
        for column in row.columns:
            assert column.type in schema.PG_TYPES, (row.name, column.name)


def test_binding_fields_cross_times_as_epoch_ms() -> None:
    fields = dict(schema.binding_fields(BAR))
    assert fields["bar_start_ms"] == fields["first_trade_ms"] == "BIGINT"
    assert fields["session_date"] == "STRING" and "bar_start" not in fields
    assert [n for n, _ in schema.binding_fields(INDICATOR)][:2] == ["symbol", "bar_start_ms"]


def test_avro_contracts_are_the_rows() -> None:
    by_record = {c.record: c for c in contracts.AVRO_CONTRACTS}
    assert by_record["Bar"].row is TIMEFRAME_BAR and by_record["RollupBar"].row is BAR
    for contract in contracts.AVRO_CONTRACTS:
        assert [f["name"] for f in contracts.avro_schema(contract)["fields"]] == list(contract.row.names)


def test_a_column_added_to_a_row_reaches_flink_postgres_and_avro(monkeypatch: pytest.MonkeyPatch) -> None:
    spread = Column("spread", DOUBLE, note="high - low")
    bar = replace(BAR, columns=(*BAR.columns, spread))
    timeframe_bar = bar.without("timeframe", name=TIMEFRAME_BAR.name, key=TIMEFRAME_BAR.key)
    swap = {BAR.name: bar, TIMEFRAME_BAR.name: timeframe_bar}
    monkeypatch.setattr(schema, "ROWS", tuple(swap.get(r.name, r) for r in schema.ROWS))
    monkeypatch.setattr(pg_schema, "ROW_TABLES", tuple((swap.get(r.name, r), t) for r, t in pg_schema.ROW_TABLES))
    monkeypatch.setattr(pg_schema, "TIMEFRAME_BAR", timeframe_bar)
    monkeypatch.setattr(contracts, "AVRO_CONTRACTS", tuple(
        replace(c, row=swap.get(c.row.name, c.row)) for c in contracts.AVRO_CONTRACTS))

    statements = _statements()
    for table in ("pg_bars", "kafka_bars_1m", "kafka_bars_rollups"):
        assert table_columns(statements, table)[-1] == ("spread", "DOUBLE"), table
    assert "`spread`" in next(s.sql for s in statements if s.sql.startswith("INSERT INTO pg_bars"))
    ddl = pg_schema.schema_sql()
    assert "    spread double precision,  -- high - low\n" in ddl.split("CREATE TABLE IF NOT EXISTS bars (")[1]
    assert "ADD COLUMN IF NOT EXISTS spread double precision" in ddl
    assert "SELECT symbol, bar_start" in ddl and ", revision, spread\nFROM bars WHERE timeframe = '1m'" in ddl
    for record in ("Bar", "RollupBar"):
        contract = next(c for c in contracts.AVRO_CONTRACTS if c.record == record)
        assert contracts.avro_schema(contract)["fields"][-1] == {
            "name": "spread", "type": ["null", "double"], "default": None}
