"""Register the topic contracts in the schema registry, and read their records back (docs/contracts.md).

``marketpipe stack up`` (and ``marketpipe contracts register``) calls :func:`register_contracts` after
the registry is healthy and before Flink starts: each subject gets its schema, in a fixed order, then
BACKWARD compatibility. Registering a schema the subject already has is a no-op that returns its id;
a change the registry refuses under BACKWARD raises :class:`ContractError` naming the subject and
quoting the registry. The Confluent client is imported here only, so the schemas module stays free of it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from marketpipe.contracts.schemas import (
    AVRO_CONTRACTS,
    COMPATIBILITY,
    TICKS_RAW_JSON_SCHEMA,
    avro_schema,
    schema_string,
    subject,
)
from marketpipe.exceptions import ContractError
from marketpipe.settings import Settings

# The registry client logs every HTTP request at INFO (its vendored httpx): `stack up` would print ten.
for _noisy in ("httpx", "httpx2"):
    logging.getLogger(_noisy).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Registered:
    """A subject and the id of its registered schema."""

    subject: str
    schema_type: str
    schema_id: int


def client(settings: Settings) -> SchemaRegistryClient:
    """A Confluent schema registry client for the stack's registry."""
    return SchemaRegistryClient({"url": settings.schema_registry_url})


def contract_schemas(settings: Settings) -> list[tuple[str, Schema]]:
    """``(subject, schema)`` of every contract, in registration order: the Avro topics, then ticks.raw."""
    out = [(subject(c.topic(settings)), Schema(schema_string(avro_schema(c)), "AVRO")) for c in AVRO_CONTRACTS]
    out.append((subject(settings.topic_raw), Schema(json.dumps(TICKS_RAW_JSON_SCHEMA), "JSON")))
    return out


def register_contracts(settings: Settings) -> list[Registered]:
    """Register every contract and set its subject to BACKWARD; idempotent."""
    registry = client(settings)
    return [register(registry, name, schema, url=settings.schema_registry_url)
            for name, schema in contract_schemas(settings)]


def register(registry: SchemaRegistryClient, name: str, schema: Schema, *, url: str = "") -> Registered:
    """Register ``schema`` under subject ``name`` and set the subject's compatibility to BACKWARD.

    A refusal (HTTP 409: the change breaks the subject's compatibility rule) becomes a
    :class:`ContractError` that says which subject and what the registry said.
    """
    try:
        schema_id = registry.register_schema(name, schema)
        registry.set_compatibility(subject_name=name, level=COMPATIBILITY)
    except SchemaRegistryError as exc:
        where = f"schema registry {url}".strip()
        if exc.http_status_code == 409:
            fields = _fields_named(schema, exc.error_message)
            raise ContractError(
                f"{where} refused the new {schema.schema_type or 'AVRO'} schema of subject {name!r}: it is not "
                f"{COMPATIBILITY}-compatible with the registered versions"
                + (f" (field {', '.join(fields)})" if fields else "")
                + f"; docs/contracts.md says how to evolve a contract. The registry said: {exc.error_message}"
            ) from exc
        raise ContractError(
            f"{where}: registering subject {name!r} failed (HTTP {exc.http_status_code}): {exc.error_message}"
        ) from exc
    except Exception as exc:  # connection refused, timeouts: the client raises plain transport errors
        raise ContractError(f"schema registry {url}: registering subject {name!r} failed: {exc}") from exc
    return Registered(name, schema.schema_type or "AVRO", schema_id)


def _fields_named(schema: Schema, message: str) -> list[str]:
    """The field names behind the registry's ``/fields/N`` paths (Apicurio names fields by position)."""
    if schema.schema_str is None:  # no schema text to read field names from
        return []
    try:
        fields = json.loads(schema.schema_str).get("fields", [])
    except (ValueError, AttributeError):
        return []
    indexes = dict.fromkeys(int(i) for i in re.findall(r"/fields/(\d+)", message))
    return [str(fields[i].get("name")) for i in indexes if i < len(fields)]


def value_decoder(settings: Settings, topic: str) -> Callable[[bytes | None], dict[str, Any] | None]:
    """A function turning a record value of ``topic`` into a dict, as any consumer would read it.

    Avro topics with the registry on: confluent-kafka's AvroDeserializer (writer schema by the id in the
    record; times come back as aware UTC datetimes, dates as dates). Otherwise: JSON.
    """
    avro_topics = {c.topic(settings) for c in AVRO_CONTRACTS}
    if not settings.schema_registry or topic not in avro_topics:
        return lambda value: None if value is None else json.loads(value)
    deserializer = AvroDeserializer(client(settings))
    context = SerializationContext(topic, MessageField.VALUE)

    def decode(value: bytes | None) -> dict[str, Any] | None:
        return None if value is None else deserializer(value, context)

    return decode
