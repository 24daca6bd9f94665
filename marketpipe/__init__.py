"""marketpipe: live trade ticks -> Kafka -> Flink SQL -> bars, indicators, signals -> Postgres + Iceberg."""

__version__ = "0.1.0"
