"""The HTTP edge of the provider loaders: one GET with a timeout, retries and a rate limit.

Retried (exponential backoff with full jitter, capped): connection errors, timeouts, 429 and 5xx.
A ``Retry-After`` header (seconds or an HTTP date) replaces the backoff for that attempt, capped at
``max_delay_s`` so a provider cannot park a batch for an hour. Any other status is returned to the
loader, which knows what a 401 or 404 means for its provider. Sleeping and randomness are injected
so tests run the whole retry ladder in milliseconds.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from marketpipe.exceptions import ProviderError, RateLimitError
from marketpipe.loaders.ratelimit import TokenBucket

log = logging.getLogger(__name__)

USER_AGENT = "marketpipe-loaders/0.1 (+https://github.com/marketpipe)"
_TRANSIENT = (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """Status, headers (lower-cased names) and body of a response the client did not retry away."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


def snippet(body: bytes | str, limit: int = 200) -> str:
    """The start of a body for an error message, on one line."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date), ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpClient:
    """GETs for one provider, sharing one rate limiter across every request of the loader."""

    def __init__(
        self,
        provider: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        rate_limiter: TokenBucket | None = None,
        base_delay_s: float = 0.5,
        max_delay_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.rate_limiter = rate_limiter or TokenBucket(0)
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.requests = 0  # attempts made, retries included

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, what: str = "") -> HttpResponse:
        """GET ``url``; retries transient failures, returns any non-retryable answer.

        Raises :class:`RateLimitError` when still throttled (429) after the last retry, and
        :class:`ProviderError` after the last 5xx, timeout or connection failure.
        ``what`` names the request in messages (e.g. ``"AAPL 2024-03-01..2024-03-15"``).
        """
        label = f"{self.provider} {what}".strip()
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
        last_problem = ""
        delay = 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(delay)
            self.rate_limiter.acquire()
            self.requests += 1
            t0 = time.monotonic()
            try:
                response = self._once(request)
            except _TRANSIENT as exc:
                last_problem = _describe(exc, self.timeout_s)
                log.debug("%s: attempt %d failed: %s", label, attempt + 1, last_problem)
                delay = self.backoff_s(attempt + 1)
                continue
            log.debug(
                "%s: GET %s -> %d (%d bytes, %.0f ms, attempt %d)", label, _redact(url),
                response.status, len(response.body), (time.monotonic() - t0) * 1000, attempt + 1,
            )
            if response.status == 429 or response.status >= 500:
                last_problem = f"HTTP {response.status}: {snippet(response.body)}"
                asked = retry_after_s(response.headers.get("retry-after"))
                delay = min(asked, self.max_delay_s) if asked is not None else self.backoff_s(attempt + 1)
                if response.status == 429 and attempt == self.retries:
                    raise RateLimitError(
                        f"{label}: still rate limited (HTTP 429) after {attempt + 1} attempts; "
                        f"slow down (MARKETPIPE_LOADER_RATE_LIMIT_PER_S) or retry later"
                    )
                continue
            return response
        raise ProviderError(f"{label}: gave up after {self.retries + 1} attempts; last: {last_problem}")

    def _once(self, request: urllib.request.Request) -> HttpResponse:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:  # URLs from settings
                body = resp.read()
                status = resp.status
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as err:
            try:
                body = err.read()
            finally:
                err.close()
            status = err.code
            headers = {k.lower(): v for k, v in (err.headers or {}).items()}
        return HttpResponse(status, headers, body, request.full_url)


def _describe(exc: BaseException, timeout_s: float) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(exc, TimeoutError | socket.timeout) or isinstance(reason, TimeoutError | socket.timeout):
        return f"timed out after {timeout_s:g} s"
    return f"{type(exc).__name__}: {reason or exc}"


def _redact(url: str) -> str:
    # Keys travel in headers today; keep query-string tokens out of logs should a provider need one.
    return url.split("token=")[0] + ("token=***" if "token=" in url else "")
