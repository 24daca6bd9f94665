"""The pipeline's rules as the code outside the Flink jobs needs them, each with one owner.

* :mod:`marketpipe.rules.bar_config` — the bar engine's configuration (:class:`~udfs.bars.config.BarConfig`),
  built once from the settings;
* :mod:`marketpipe.rules.ticks` — tick validity (the Python mirror of flink_sql/11_ticks_clean.sql),
  expected bars and the end-of-stream heartbeat timing, derived from ``watermark_delay_ms``.

Trading sessions and days have theirs in :mod:`udfs.market.calendar`.
"""
