"""The topic contracts (marketpipe.contracts.schemas): valid schemas, derived field for field from the
rows of udfs/schema.py as the Flink sink tables are, rendered into the job SQL, and the ticks.raw JSON
Schema matching the wire form."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime

import avro.schema
import fastavro
import jsonschema
import pytest

from marketpipe.contracts.schemas import (
    AVRO_CONTRACTS,
    TICKS_RAW_JSON_SCHEMA,
    AvroContract,
    avro_schema,
    flink_value_options,
    schema_string,
    subject,
)
from marketpipe.exceptions import ConfigError
from marketpipe.feeds.tick import Tick, heartbeat_json
from marketpipe.jobs.sql import load_statements
from marketpipe.settings import Settings
from tests.unit.flink_tables import table_columns
from udfs.schema import Column, Row

# The Kafka sink table that writes each contract's topic (flink_sql/14, 24).
SINK_TABLES = {"TickClean": "kafka_ticks_clean", "Bar": "kafka_bars_1m", "RollupBar": "kafka_bars_rollups",
               "Signal": "kafka_signals"}


def sink_columns(table: str) -> list[tuple[str, str]]:
    """The columns of a sink table of the streaming jobs, as rendered."""
    settings = Settings()
    return table_columns(load_statements(settings, "bars") + load_statements(settings, "indicators"), table)


@pytest.mark.parametrize("contract", AVRO_CONTRACTS, ids=lambda c: c.record)
def test_schemas_are_valid_avro(contract: AvroContract) -> None:
    text = schema_string(avro_schema(contract))
    fastavro.parse_schema(json.loads(text))
    parsed = avro.schema.parse(text)
    assert isinstance(parsed, avro.schema.NamedSchema)
    assert parsed.fullname == f"dev.marketpipe.contracts.{contract.record}"


@pytest.mark.parametrize("contract", AVRO_CONTRACTS, ids=lambda c: c.record)
def test_fields_are_the_sink_columns_in_order_all_optional(contract: AvroContract) -> None:
    schema = avro_schema(contract)
    assert [f["name"] for f in schema["fields"]] == [n for n, _ in sink_columns(SINK_TABLES[contract.record])]
    for field in schema["fields"]:
        assert field["type"][0] == "null" and field["default"] is None, field


def test_the_bar_topics_carry_the_postgres_bar_columns() -> None:
    """bars.1m has the columns of the bars table less the timeframe; bars.rollups all of them, timeframe first."""
    pg = sink_columns("pg_bars")
    bars, rollups = (sink_columns(SINK_TABLES[c.record]) for c in AVRO_CONTRACTS[1:3])
    assert bars == [c for c in pg if c[0] != "timeframe"]
    assert rollups == pg and pg[0] == ("timeframe", "STRING")
    signals = sink_columns(SINK_TABLES[AVRO_CONTRACTS[3].record])
    assert signals == sink_columns("pg_signals")


def test_types_map_as_flinks_avro_confluent_format_does() -> None:
    fields = {f["name"]: f["type"][1] for f in avro_schema(AVRO_CONTRACTS[1])["fields"]}
    assert fields["symbol"] == "string" and fields["volume"] == "long" and fields["revision"] == "int"
    assert fields["bar_start"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert fields["session_date"] == {"type": "int", "logicalType": "date"}
    assert fields["filled"] == "boolean" and fields["vwap"] == "double"


def test_a_bar_round_trips_through_the_schema() -> None:
    schema = fastavro.parse_schema(avro_schema(AVRO_CONTRACTS[1]))
    bar = {"symbol": "AAPL", "bar_start": datetime(2024, 1, 2, 14, 30, tzinfo=UTC),
           "bar_end": datetime(2024, 1, 2, 14, 31, tzinfo=UTC), "open": 1.0, "high": 2.0, "low": 0.5,
           "close": 1.5, "volume": 300, "vwap": 1.25, "trade_count": 3, "session": "regular",
           "session_date": date(2024, 1, 2), "first_trade_at": None, "last_trade_at": None, "pv_sum": 375.0,
           "filled": False, "revision": 0}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, bar)
    buf.seek(0)
    assert fastavro.schemaless_reader(buf, schema, schema) == bar


def test_a_column_type_without_mapping_is_a_config_error() -> None:
    dlq = AvroContract("topic_dlq", "DeadLetter", Row("dlq", (Column("received_at", "TIMESTAMP_LTZ(3)"),), ()), "")
    with pytest.raises(ConfigError, match=r"received_at .* TIMESTAMP_LTZ"):
        avro_schema(dlq)


def test_sinks_render_avro_confluent_with_the_exact_schema() -> None:
    settings = Settings(schema_registry_port=28085)
    sql = "\n".join(s.sql for s in load_statements(settings, "bars") + load_statements(settings, "indicators"))
    for contract in AVRO_CONTRACTS:
        topic = contract.topic(settings)
        rendered = flink_value_options(settings, topic, sink=True)
        assert rendered in sql
        assert f"'value.avro-confluent.subject' = '{subject(topic)}'" in rendered
        assert f"'value.avro-confluent.schema' = '{schema_string(avro_schema(contract))}'" in rendered
    assert "'value.avro-confluent.url' = 'http://127.0.0.1:28085/apis/ccompat/v7'" in sql
    source = flink_value_options(settings, settings.topic_bars, sink=False)
    assert "'value.format' = 'avro-confluent'" in source and "schema'" not in source
    assert "'value.format' = 'json'" not in sql.split("kafka_ticks_dlq")[0]


def test_without_a_registry_the_topics_stay_json() -> None:
    settings = Settings(schema_registry=False)
    assert flink_value_options(settings, settings.topic_bars, sink=True) == "'value.format' = 'json'"
    assert "avro-confluent" not in "\n".join(s.sql for s in load_statements(settings, "bars"))


def test_ticks_raw_json_schema_describes_the_wire_form() -> None:
    jsonschema.Draft7Validator.check_schema(TICKS_RAW_JSON_SCHEMA)
    validator = jsonschema.Draft7Validator(TICKS_RAW_JSON_SCHEMA)
    tick = Tick("AAPL", 1_718_285_400_123_456_789, 187.23, 100, "Q", "@ F", "A1-42", "synthetic")
    validator.validate(tick.to_dict())
    validator.validate(json.loads(heartbeat_json(1_718_285_400_000_000_000)))
    trade_props = TICKS_RAW_JSON_SCHEMA["oneOf"][0]["properties"]
    assert set(tick.to_dict()) <= set(trade_props)
    assert set(Tick("AAPL", None, 1.0, 1, ts_raw="bad").to_dict()) <= set(trade_props)
    for bad in ({**tick.to_dict(), "price": -1}, {**tick.to_dict(), "size": "100"}, {"kind": "heartbeat"}):
        assert not validator.is_valid(bad), bad
