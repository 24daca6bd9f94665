"""A token bucket that spaces a loader's requests to the provider's published rate.

Clock and sleep are injectable so tests assert on the waits the bucket asks for instead of wall time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate_per_s`` tokens per second, at most ``burst`` saved up; ``rate_per_s <= 0`` disables it."""

    def __init__(
        self,
        rate_per_s: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.waits: list[float] = []  # every wait asked of `sleep`, for logs and tests

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        if self.rate_per_s <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate_per_s)
            self._last = now
            wait = 0.0
            if self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self.rate_per_s
                self.waits.append(wait)
                self._sleep(wait)
                # The sleep earned exactly the missing fraction of a token; it is spent right away.
                self._last = self._clock()
                self._tokens = 1.0
            self._tokens -= 1.0
            return wait
