"""Helpers shared by the collector tests: fast settings, and a way to run a CollectorService until a
condition holds (bounded in time). The Kafka client double is tests/fakes/kafka.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from marketpipe.collectors.base import CollectorConfig
from marketpipe.collectors.service import CollectorService

FAST = CollectorConfig(stall_s=1.0, buffer_messages=100, backoff_min_s=0.05, backoff_max_s=0.2)
T0_NS = 1_718_719_200_000_000_000  # 2024-06-18 14:00:00 UTC (10:00 New York), a Tuesday


def run_until(service: CollectorService, done: Callable[[], bool], timeout: float = 30.0) -> dict[str, Any]:
    """Run ``service`` in this thread until ``done()`` holds (checked by a helper thread), then stop it."""

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not service.stop_event.is_set():
            if done():
                break
            time.sleep(0.02)
        service.stop()

    threading.Thread(target=watch, daemon=True).start()
    return service.run()
