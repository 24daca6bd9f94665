"""Live collectors: a provider's real-time trade stream -> ``ticks.raw`` (docs/collectors.md).

``base`` holds the provider-independent core (counters, back-off, the bounded buffer, the connection loop
with stall detection), ``service`` runs a stream into Kafka, ``alpaca`` and ``massive`` speak to one
provider each through its official SDK, ``mapping`` translates provider codes, ``command`` is
``marketpipe collect``.
"""

from marketpipe.collectors.base import Backoff, CollectorConfig, CollectorStats, ProviderStream, TickBuffer
from marketpipe.collectors.exceptions import CollectorError, ProviderAuthError, ProviderLimitError
from marketpipe.collectors.service import CollectorService

__all__ = [
    "Backoff",
    "CollectorConfig",
    "CollectorError",
    "CollectorService",
    "CollectorStats",
    "ProviderAuthError",
    "ProviderLimitError",
    "ProviderStream",
    "TickBuffer",
]
