"""User-defined functions for the marketpipe Flink job.

The pure core imports no Flink, Kafka or database client: :mod:`udfs.bars` (bars by market rules),
:mod:`udfs.indicators` (the indicators and their per-symbol bundle, :class:`udfs.indicators.IndicatorSet`),
:mod:`udfs.market` (calendars, trade conditions, reference data), and :mod:`udfs.schema` (the rows the
pipeline writes, declared once). :mod:`udfs.flink` is the thin PyFlink
binding of the bar and indicator steps.
"""
