"""The PyFlink binding of the pure core (:mod:`udfs.bars`, :mod:`udfs.indicators`).

Everything that imports PyFlink lives here; the core beside it imports no Flink, Kafka or database
client. One module per step a ``-- @python`` line of ``flink_sql/`` calls:

- :mod:`udfs.flink.source`: ``read_once`` (``11_ticks_clean.sql``), one shared read of the ticks;
- :mod:`udfs.flink.bars`: ``build_bars`` (``12_bars.sql``), the bar step;
- :mod:`udfs.flink.indicators`: ``attach_indicators`` (``21_indicators.sql``), the indicator step;
- :mod:`udfs.flink.keyed`: the keyed-function skeleton both steps share.
"""
