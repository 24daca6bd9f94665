"""Dagster orchestration of the batch half: daily OHLCV -> Iceberg + PostgreSQL -> indicators -> dbt.

Everything is wired in :mod:`orchestration.definitions`; run it with ``make ui`` or ``make backfill``.
"""
