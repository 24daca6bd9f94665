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


class LoaderError(MarketpipeError):
    """A daily-bar loader (``marketpipe.loaders``) could not deliver bars; subclasses say why."""


class BadSymbolError(LoaderError):
    """The provider (or file) does not know the symbol, or has no data for it in the range."""


class AuthError(LoaderError):
    """The provider refused our credentials, or none are configured (raised before any request)."""


class RateLimitError(LoaderError):
    """The provider throttled us and retries did not help (429, or Stooq's daily hits limit)."""


class ProviderError(LoaderError):
    """The provider failed (5xx, timeouts after retries) or answered with a malformed body."""


class LoaderFileError(LoaderError):
    """A local daily-bar file cannot be read or lacks required columns."""


class CalendarError(LoaderError):
    """An unknown exchange calendar, or a date it cannot answer for (not a session, out of range)."""


class ContractError(MarketpipeError):
    """The schema registry refused a topic contract (an incompatible change) or could not be reached."""
