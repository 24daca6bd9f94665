"""User-defined functions for the marketpipe Flink job.

The indicator math lives in :mod:`udfs.indicators` and :mod:`udfs.indicator_set` and imports
no Flink, Kafka or database client; :mod:`udfs.flink` is the thin PyFlink binding.
"""
