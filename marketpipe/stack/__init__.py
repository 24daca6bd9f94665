"""The local stack: Kafka (KRaft), PostgreSQL, a standalone Flink cluster and the Iceberg catalog."""
