"""Test doubles, in one place for every tier.

Fakes of remote providers: local servers on 127.0.0.1 speaking their protocols (``providers.py``: Stooq
and Tiingo over HTTP; ``alpaca_server.py``, ``massive_server.py`` over ``ws_fake.py``: the trade
websockets). Client doubles: ``kafka.py`` (a Kafka producer client behind ``TickProducer``), ``sinks.py``
(a TickSink that records what it was given).
"""
