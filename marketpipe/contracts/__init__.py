"""Typed contracts of the topics other teams consume (docs/contracts.md).

:mod:`.schemas` owns the schemas: the Avro value schemas of ``ticks.clean``, ``bars.1m``,
``bars.rollups`` and ``signals``, derived from the Flink sink tables that write those topics, and the
JSON Schema of ``ticks.raw``. :mod:`.registry` registers them in the schema registry and reads
records back with confluent-kafka's deserializer.
"""
