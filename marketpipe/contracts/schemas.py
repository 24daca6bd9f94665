"""The value schemas of the topics other teams consume, derived from the Flink sink tables that write them.

A topic's Avro schema is not written by hand: its fields are the columns of the Kafka sink table in
``flink_sql/`` (``kafka_ticks_clean``, ``kafka_bars_1m``, ...), in order, with their Flink types mapped
the way Flink's ``avro-confluent`` format maps them (``AvroSchemaConverter``, legacy timestamp mapping,
the only one that format offers):

=================  ==============================================
Flink SQL          Avro
=================  ==============================================
STRING             ``string``
DOUBLE             ``double``
BIGINT / INT       ``long`` / ``int``
BOOLEAN            ``boolean``
DATE               ``int``, logical type ``date``
TIMESTAMP(3)       ``long``, logical type ``timestamp-millis`` (UTC)
=================  ==============================================

Every column of those tables is nullable, so every field is ``["null", T]`` with default null. The
same schema string goes into the sink's ``avro-confluent.schema`` option (so Flink writes exactly the
registered schema and registers nothing else) and into the registry under ``<topic>-value``. Flink
accepts it only if it converts back to the table's row type, which the job checks at submission.

``ticks.raw`` stays JSON (a malformed record must still reach the dead-letter path); its JSON Schema
below documents the wire contract of :mod:`marketpipe.feeds.tick` and is registered for reference.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from marketpipe.exceptions import ConfigError
from marketpipe.settings import REPO_ROOT, Settings

SQL_DIR = REPO_ROOT / "flink_sql"
NAMESPACE = "dev.marketpipe.contracts"
# Every subject's compatibility mode: a new schema must read data written with the previous one, so
# consumers upgrade first (docs/contracts.md).
COMPATIBILITY = "BACKWARD"

_TIMESTAMP_MILLIS = {"type": "long", "logicalType": "timestamp-millis"}
_AVRO_TYPES: dict[str, Any] = {
    "STRING": "string",
    "DOUBLE": "double",
    "BIGINT": "long",
    "INT": "int",
    "BOOLEAN": "boolean",
    "DATE": {"type": "int", "logicalType": "date"},
    "TIMESTAMP(3)": _TIMESTAMP_MILLIS,
}


@dataclass(frozen=True)
class AvroContract:
    """One Avro topic: which settings field names it, and which sink table writes it."""

    topic_setting: str  # the Settings field holding the topic name
    record: str  # Avro record name (in NAMESPACE)
    sql_file: str
    table: str
    doc: str

    def topic(self, settings: Settings) -> str:
        """The topic name under ``settings``."""
        return str(getattr(settings, self.topic_setting))


# In registration order (the registry hands out ids in this order on an empty registry).
AVRO_CONTRACTS = (
    AvroContract("topic_clean", "TickClean", "14_bars_topics_lake.sql", "kafka_ticks_clean",
                 "A clean trade: symbol upper-cased, price and size within bounds (docs/ticks.md)."),
    AvroContract("topic_bars", "Bar", "14_bars_topics_lake.sql", "kafka_bars_1m",
                 "A one-minute bar; a revision is sent again with revision + 1 (docs/bars.md)."),
    AvroContract("topic_rollups", "RollupBar", "14_bars_topics_lake.sql", "kafka_bars_rollups",
                 "A 5m, 15m, 1h or 1d bar (field timeframe); revisions as in bars.1m (docs/bars.md)."),
    AvroContract("topic_signals", "Signal", "24_signals_topic.sql", "kafka_signals",
                 "A trading signal of the indicators job (docs/signals.md)."),
)


def subject(topic: str) -> str:
    """The registry subject of a topic's values (Confluent's TopicNameStrategy)."""
    return f"{topic}-value"


def contract_for(settings: Settings, topic: str) -> AvroContract:
    """The Avro contract of ``topic``; :class:`ConfigError` for a topic that has none."""
    for contract in AVRO_CONTRACTS:
        if contract.topic(settings) == topic:
            return contract
    raise ConfigError(f"topic {topic!r} has no Avro contract; contracts: "
                      f"{', '.join(c.topic(settings) for c in AVRO_CONTRACTS)}")


def sink_columns(sql_file: str, table: str) -> list[tuple[str, str]]:
    """``(name, Flink type)`` of each physical column of ``CREATE TABLE table`` in ``flink_sql/sql_file``."""
    text = (SQL_DIR / sql_file).read_text()
    match = re.search(rf"CREATE TABLE\s+{re.escape(table)}\s*\(", text)
    if match is None:
        raise ConfigError(f"{sql_file}: no CREATE TABLE {table}")
    body, depth, i = [], 1, match.end()
    while depth:
        ch = text[i]
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth:
            body.append(ch)
        i += 1
    columns: list[tuple[str, str]] = []
    for part in _split_top_level("".join(body)):
        words = part.split()
        if not words or words[0].upper() in ("PRIMARY", "WATERMARK", "CONSTRAINT") or " AS " in f" {part.upper()} " \
                or "METADATA" in part.upper():
            continue
        columns.append((words[0].strip("`"), " ".join(words[1:]).upper()))
    return columns


def _split_top_level(body: str) -> list[str]:
    parts, depth, buf = [], 0, []
    for ch in body:
        if ch == "," and depth == 0:
            parts.append("".join(buf).strip())
            buf = []
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        buf.append(ch)
    parts.append("".join(buf).strip())
    return [p for p in parts if p]


def avro_schema(contract: AvroContract) -> dict[str, Any]:
    """The Avro record schema of ``contract``, field for field from its sink table."""
    fields = []
    for name, flink_type in sink_columns(contract.sql_file, contract.table):
        if flink_type not in _AVRO_TYPES:
            raise ConfigError(
                f"{contract.sql_file}: column {name} of {contract.table} has type {flink_type}, which has no "
                f"Avro mapping here ({', '.join(_AVRO_TYPES)}); add one to marketpipe/contracts/schemas.py"
            )
        # Key order as Avro's Java Schema.toString writes it, so the string Flink sends to the registry
        # is the one registered.
        fields.append({"name": name, "type": ["null", _AVRO_TYPES[flink_type]], "default": None})
    return {"type": "record", "name": contract.record, "namespace": NAMESPACE, "doc": contract.doc,
            "fields": fields}


def schema_string(schema: dict[str, Any]) -> str:
    """Compact JSON, the form registered and rendered into the Flink SQL."""
    return json.dumps(schema, separators=(",", ":"))


def flink_value_options(settings: Settings, topic: str, *, sink: bool) -> str:
    """The value-format options of a Kafka table on ``topic`` (``{{value_format_*}}`` in flink_sql/).

    With the registry: ``avro-confluent`` with its URL, and for a sink the subject and the exact schema.
    A source reads with the table's columns as reader schema (Avro resolution drops the rest). Without
    the registry (``schema_registry = false``): JSON.
    """
    if not settings.schema_registry:
        return "'value.format' = 'json'"
    options = {"value.format": "avro-confluent", "value.avro-confluent.url": settings.schema_registry_url}
    if sink:
        options["value.avro-confluent.subject"] = subject(topic)
        options["value.avro-confluent.schema"] = schema_string(avro_schema(contract_for(settings, topic)))
    return ", ".join(f"'{k}' = '{_sql_string(v)}'" for k, v in options.items())


def _sql_string(value: str) -> str:
    return value.replace("'", "''")


# The raw topic's wire contract (marketpipe/feeds/tick.py: Tick.to_dict, heartbeat_json). Descriptive:
# the pipeline reads the topic as text and dead-letters what does not fit (flink_sql/11_ticks_clean.sql).
TICKS_RAW_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$id": "https://marketpipe.dev/contracts/ticks.raw.json",
    "title": "ticks.raw value",
    "description": "One trade or heartbeat as JSON; key = symbol as UTF-8 (null for heartbeats). "
                   "See docs/ticks.md for the validity rules and dead-letter reasons.",
    "type": "object",
    "oneOf": [
        {
            "title": "trade",
            "properties": {
                "kind": {"const": "trade", "description": "default when absent"},
                "symbol": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9./-]{0,15}$",
                           "description": "ticker, trimmed and upper-cased by the pipeline"},
                "ts_ns": {"type": "integer", "description": "event time, epoch nanoseconds UTC"},
                "price": {"type": "number", "exclusiveMinimum": 0},
                "size": {"type": "integer", "exclusiveMinimum": 0},
                "exchange": {"type": ["string", "null"]},
                "conditions": {"type": ["string", "null"],
                               "description": "sale-condition codes separated by single spaces"},
                "trade_id": {"type": ["string", "null"]},
                "source": {"type": ["string", "null"],
                           "description": "feed name; picks the condition table (conditions_tables_by_feed)"},
                "ts_raw": {"type": ["string", "null"],
                           "description": "the source's timestamp text when ts_ns could not be parsed"},
            },
            "required": ["symbol", "ts_ns", "price", "size"],
        },
        {
            "title": "heartbeat",
            "properties": {
                "kind": {"const": "heartbeat"},
                "ts_ns": {"type": "integer", "description": "moves the event-time watermark only"},
            },
            "required": ["kind", "ts_ns"],
        },
    ],
}
