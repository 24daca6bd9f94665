"""The value schemas of the topics other teams consume, derived from the rows of :mod:`udfs.schema`.

A topic's Avro schema is not written by hand: its fields are the columns of the row its Kafka sink
table in ``flink_sql/`` is rendered from (``kafka_ticks_clean`` from ``CLEAN_TICK``, ``kafka_bars_1m``
from ``TIMEFRAME_BAR``, ...), in order, with their Flink types mapped the way Flink's
``avro-confluent`` format maps them (``AvroSchemaConverter``, legacy timestamp mapping, the only one
that format offers):

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
from dataclasses import dataclass
from typing import Any

from marketpipe.exceptions import ConfigError
from marketpipe.settings import Settings
from udfs import schema as rows
from udfs.schema import Row

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
    """One Avro topic: which settings field names it, and the row its sink table writes."""

    topic_setting: str  # the Settings field holding the topic name
    record: str  # Avro record name (in NAMESPACE)
    row: Row
    doc: str

    def topic(self, settings: Settings) -> str:
        """The topic name under ``settings``."""
        return str(getattr(settings, self.topic_setting))


# In registration order (the registry hands out ids in this order on an empty registry).
AVRO_CONTRACTS = (
    AvroContract("topic_clean", "TickClean", rows.CLEAN_TICK,
                 "A clean trade: symbol upper-cased, price and size within bounds (docs/ticks.md)."),
    AvroContract("topic_bars", "Bar", rows.TIMEFRAME_BAR,
                 "A one-minute bar; a revision is sent again with revision + 1 (docs/bars.md)."),
    AvroContract("topic_rollups", "RollupBar", rows.BAR,
                 "A 5m, 15m, 1h or 1d bar (field timeframe); revisions as in bars.1m (docs/bars.md)."),
    AvroContract("topic_signals", "Signal", rows.SIGNAL,
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


def avro_schema(contract: AvroContract) -> dict[str, Any]:
    """The Avro record schema of ``contract``, field for field from its row."""
    fields = []
    for column in contract.row.columns:
        name, flink_type = column.name, column.type
        if flink_type not in _AVRO_TYPES:
            raise ConfigError(
                f"udfs/schema.py: column {name} of row {contract.row.name} has type {flink_type}, which has no "
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
