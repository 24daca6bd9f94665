"""Errors of the live collectors, under :class:`~marketpipe.exceptions.MarketpipeError`.

Transient trouble (a dropped socket, a stalled stream, a malformed frame) never raises: the collector
counts it, logs it and reconnects. These are the problems a reconnect cannot fix; the CLI turns them
into exit code 2 with the provider's own message.
"""

from __future__ import annotations

from marketpipe.exceptions import MarketpipeError


class CollectorError(MarketpipeError):
    """A live collector cannot go on."""


class ProviderAuthError(CollectorError):
    """Credentials are missing, or the provider refused them (never retried: a retry loop would only
    hammer the provider with the same bad key)."""


class ProviderLimitError(CollectorError):
    """The account's plan does not allow this (symbol or connection limit, feed not in the subscription)."""
