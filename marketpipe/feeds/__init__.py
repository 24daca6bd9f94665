"""Feeds: where ticks enter the pipeline (a synthetic generator or a file replay) and the producer
that writes them to the raw topic. The wire contract is documented in :mod:`marketpipe.feeds.tick`."""

from marketpipe.feeds.fixtures import Fixture, write_fixture
from marketpipe.feeds.producer import TickProducer
from marketpipe.feeds.replay import ReplaySummary, read_ticks, replay
from marketpipe.feeds.synthetic import SyntheticFeed
from marketpipe.feeds.tick import Tick, TickSink, heartbeat_json

__all__ = [
    "Fixture",
    "ReplaySummary",
    "SyntheticFeed",
    "Tick",
    "TickProducer",
    "TickSink",
    "heartbeat_json",
    "read_ticks",
    "replay",
    "write_fixture",
]
