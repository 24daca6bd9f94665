"""Peak resident memory of a whole local stack while a benchmark runs: :func:`bench.soak.memory` (every
process group of the stack: Kafka, Flink and its Python workers, PostgreSQL) summed, sampled in a thread."""

from __future__ import annotations

import threading

from bench.soak import memory
from marketpipe.settings import Settings


class PeakRss:
    """Samples the stack's total RSS every ``interval`` seconds until the ``with`` block ends."""

    def __init__(self, settings: Settings, interval: float = 1.0) -> None:
        self.settings = settings
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, sum(memory(self.settings).values()) / 1024)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
