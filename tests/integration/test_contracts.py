"""Topic contracts on the real stack (docs/contracts.md, issue 11 item 4).

The four consumer topics are read the way another team would read them, with confluent-kafka's
AvroDeserializer against the stack's registry, and must equal what PostgreSQL / the lake hold; the
subjects carry exactly the schemas marketpipe.contracts derives, under BACKWARD; an incompatible change
is refused with our error, a compatible one accepted (on a throwaway subject); ids survive a registry
restart and the jobs keep running across it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from marketpipe import db, lake
from marketpipe.contracts.registry import contract_schemas, register, register_contracts
from marketpipe.contracts.schemas import AVRO_CONTRACTS, COMPATIBILITY, avro_schema, schema_string
from marketpipe.exceptions import ContractError
from marketpipe.stack.launcher import Stack
from tests.conftest import RunningStack
from tests.integration.crash_checks import read_topic

pytestmark = pytest.mark.integration

BAR_COLUMNS = ("symbol", "bar_start", "bar_end", "open", "high", "low", "close", "volume", "vwap", "trade_count",
               "session", "session_date", "first_trade_at", "last_trade_at", "pv_sum", "filled", "revision")
ROLLUP_TABLES = {"5m": "bars_5m", "15m": "bars_15m", "1h": "bars_1h", "1d": "bars_1d"}


def _registry(stack: RunningStack) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": stack.settings.schema_registry_url})


def _avro_values(stack: RunningStack, topic: str) -> list[dict[str, Any]]:
    """Every committed value of ``topic``, decoded by confluent-kafka's AvroDeserializer."""
    deserializer = AvroDeserializer(_registry(stack))
    context = SerializationContext(topic, MessageField.VALUE)
    return [deserializer(v, context) for _, v in read_topic(stack.settings, topic) if v is not None]


def _latest_revision(records: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        k = tuple(r[c] for c in key)
        if k not in out or r["revision"] > out[k]["revision"]:
            out[k] = r
    return out


def _pg_rows(stack: RunningStack, table: str, columns: tuple[str, ...], symbols: list[str]) -> list[dict[str, Any]]:
    with db.connect(stack.settings) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE symbol = ANY(%s)", (symbols,)
        ).fetchall()
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _settled(stack: RunningStack) -> None:
    # The topics become visible at each checkpoint; the replay already waited for the tables.
    time.sleep(2 * stack.settings.checkpoint_interval_ms / 1000 + 2)


def test_subjects_hold_exactly_the_contracts_under_backward(stack: RunningStack, replayed: dict[str, Any]) -> None:
    """After Flink wrote every topic, each subject still has one version: the schema we registered."""
    _settled(stack)
    registry = _registry(stack)
    for name, schema in contract_schemas(stack.settings):
        versions = registry.get_versions(name)
        assert versions == [1], f"{name}: versions {versions}: Flink registered a schema of its own"
        latest = registry.get_latest_version(name)
        assert latest.schema.schema_str is not None and schema.schema_str is not None, name
        assert json.loads(latest.schema.schema_str) == json.loads(schema.schema_str), name
        assert (latest.schema.schema_type or "AVRO") == (schema.schema_type or "AVRO")
        assert registry.get_compatibility(name) == COMPATIBILITY, name
    raw = registry.get_latest_version(f"{stack.settings.topic_raw}-value")
    assert raw.schema.schema_type == "JSON" and raw.schema.schema_str is not None
    assert json.loads(raw.schema.schema_str)["title"] == "ticks.raw value"


def test_bars_topic_equals_postgres(stack: RunningStack, replayed: dict[str, Any]) -> None:
    symbols = list(replayed["fixture"].symbols)
    records = [r for r in _avro_values(stack, stack.settings.topic_bars) if r["symbol"] in symbols]
    assert records, "no bars on the topic for the replayed symbols"
    assert set(records[0]) == set(BAR_COLUMNS)
    topic = _latest_revision(records, ("symbol", "bar_start"))
    table = {(r["symbol"], r["bar_start"]): r for r in _pg_rows(stack, "bars_1m", BAR_COLUMNS, symbols)}
    assert topic.keys() == table.keys()
    differ = [k for k in table if topic[k] != table[k]]
    assert not differ, f"{len(differ)} bars differ, e.g. topic {topic[differ[0]]} vs table {table[differ[0]]}"


def test_rollups_topic_equals_postgres(stack: RunningStack, replayed: dict[str, Any]) -> None:
    symbols = list(replayed["fixture"].symbols)
    records = [r for r in _avro_values(stack, stack.settings.topic_rollups) if r["symbol"] in symbols]
    topic = _latest_revision(records, ("timeframe", "symbol", "bar_start"))
    for timeframe, table_name in ROLLUP_TABLES.items():
        table = {(timeframe, r["symbol"], r["bar_start"]): {"timeframe": timeframe, **r}
                 for r in _pg_rows(stack, table_name, BAR_COLUMNS, symbols)}
        mine = {k: v for k, v in topic.items() if k[0] == timeframe}
        assert mine.keys() == table.keys(), timeframe
        assert all(mine[k] == table[k] for k in table), timeframe


def test_signals_topic_equals_postgres(stack: RunningStack, replayed: dict[str, Any]) -> None:
    symbols = list(replayed["fixture"].symbols)
    columns = ("symbol", "timeframe", "bar_start", "strategy", "action", "reason", "close", "macd_hist", "rsi_14")
    records = [r for r in _avro_values(stack, stack.settings.topic_signals) if r["symbol"] in symbols]
    key = ("symbol", "timeframe", "bar_start", "strategy")
    topic = {tuple(r[c] for c in key): r for r in records}
    assert len(topic) == len(records), "a signal appears twice on the topic"
    table = {tuple(r[c] for c in key): r for r in _pg_rows(stack, "signals", columns, symbols)}
    assert table, "the replay produced no signals"
    assert topic == table


def test_ticks_clean_topic_equals_the_lake(stack: RunningStack, replayed: dict[str, Any]) -> None:
    fixture = replayed["fixture"]
    symbols = set(fixture.symbols)
    records = [r for r in _avro_values(stack, stack.settings.topic_clean) if r["symbol"] in symbols]
    assert len(records) >= fixture.valid_rows
    for r in records:  # the event time is the tick's own, in UTC milliseconds
        assert int(r["event_time"].timestamp() * 1000) == r["ts_ns"] // 1_000_000
    columns = ["symbol", "ts_ns", "price", "size", "exchange", "conditions", "trade_id"]
    lake_rows = lake.read_table(stack.settings, "silver.ticks_clean").select(columns).to_pylist()
    want = Counter(tuple(r[c] for c in columns) for r in lake_rows if r["symbol"] in symbols)
    assert Counter(tuple(r[c] for c in columns) for r in records) == want


def test_incompatible_change_is_refused_with_a_clear_error(stack: RunningStack) -> None:
    """On a throwaway subject: the registry refuses what BACKWARD forbids, accepts an optional field."""
    registry = _registry(stack)
    subject = f"contracts-test-{time.time_ns()}-value"
    base = avro_schema(AVRO_CONTRACTS[1])  # the bars.1m record
    first = register(registry, subject, Schema(schema_string(base), "AVRO"), url=stack.settings.schema_registry_url)
    assert registry.get_compatibility(subject) == COMPATIBILITY

    required = {**base, "fields": [*base["fields"], {"name": "exchange_mic", "type": "string"}]}
    with pytest.raises(ContractError) as refused:
        register(registry, subject, Schema(schema_string(required), "AVRO"))
    message = str(refused.value)
    assert subject in message and "not BACKWARD-compatible" in message and "exchange_mic" in message

    retyped = {**base, "fields": [{**f, "type": ["null", "string"]} if f["name"] == "volume" else f
                                  for f in base["fields"]]}
    with pytest.raises(ContractError, match="volume"):
        register(registry, subject, Schema(schema_string(retyped), "AVRO"))

    optional = {**base, "fields": [*base["fields"], {"name": "exchange_mic", "type": ["null", "string"],
                                                      "default": None}]}
    second = register(registry, subject, Schema(schema_string(optional), "AVRO"))
    assert second.schema_id != first.schema_id
    assert registry.get_versions(subject) == [1, 2]
    # the real subjects were not touched
    assert all(registry.get_versions(name) == [1] for name, _ in contract_schemas(stack.settings))


def test_zz_registry_restart_keeps_ids_and_the_jobs_run(stack: RunningStack, replayed: dict[str, Any]) -> None:
    """Schemas live in the registry's H2 file database: a restart keeps every id; the running jobs
    (whose serializers cached the ids) do not notice."""
    before = {r.subject: r.schema_id for r in register_contracts(stack.settings)}
    local = Stack(stack.settings)
    assert local.schema_registry.stop()
    local.schema_registry.start()
    after = {r.subject: r.schema_id for r in register_contracts(stack.settings)}
    assert after == before
    assert _registry(stack).get_versions(f"{stack.settings.topic_bars}-value") == [1]
    jobs = local.job_status()
    assert all(j.state == "RUNNING" for j in jobs), [(j.name, j.state) for j in jobs]
    status = json.loads(stack.cli("stack", "status", "--json").stdout)
    assert status["schema_registry_url"] == stack.settings.schema_registry_url
    assert any(s["name"] == "schema-registry" and s["healthy"] for s in status["services"])
