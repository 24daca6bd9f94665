"""The one exception hierarchy for configuration, start-up and edge failures.

Bad ticks never raise: they become dead-letter rows with a reason inside the stream.
These exceptions are for the edges — a service that will not start, a job that cannot
be submitted, a file that cannot be read.
"""


class MarketpipeError(Exception):
    """Base class of every error marketpipe raises on purpose."""


class ConfigError(MarketpipeError):
    """A setting is missing or invalid."""


class InstallError(MarketpipeError):
    """Something the stack needs is not installed and could not be installed."""


class ServiceError(MarketpipeError):
    """A local service (Kafka, PostgreSQL, Flink) failed to start, stop or answer."""


class JobError(MarketpipeError):
    """A Flink job could not be submitted, stopped or found."""


class FeedError(MarketpipeError):
    """A feed or replay file could not be read or produced."""


class WaitTimeout(MarketpipeError):
    """A bounded wait ended before the expected data arrived."""
