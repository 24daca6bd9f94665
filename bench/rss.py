"""Peak resident memory of a whole local stack: every process in its ``run/*.pid`` files and their
descendants (the taskmanager's Python workers, PostgreSQL's backends), sampled from ``/proc``."""

from __future__ import annotations

import threading
from pathlib import Path


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return kids


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def stack_rss_mib(run_dir: Path) -> float:
    """Resident MiB of the stack's processes and all their descendants, now."""
    roots = []
    for pid_file in run_dir.glob("*.pid"):
        try:
            roots.append(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    kids = _children()
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(kids.get(pid, []))
    return sum(_rss_kib(p) for p in seen) / 1024


class PeakRss:
    """Samples :func:`stack_rss_mib` every ``interval`` seconds in a thread until stopped."""

    def __init__(self, run_dir: Path, interval: float = 1.0) -> None:
        self.run_dir = run_dir
        self.interval = interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, stack_rss_mib(self.run_dir))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
