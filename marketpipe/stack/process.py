"""Start, find and stop the background processes of the local stack, by PID file.

Every service writes ``<run_dir>/<name>.pid`` when ``up`` starts it; ``down`` ends only the
processes named by those files, so nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from marketpipe.exceptions import ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    """What ``marketpipe stack status`` prints for one service."""

    name: str
    address: str
    pid: int | None
    healthy: bool
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists (and is not a zombie of ours)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def read_pid(pid_file: Path) -> int | None:
    """PID recorded in ``pid_file`` if that process is still running."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def spawn(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start ``argv`` detached (own session, output to ``log_file``) and record its PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    alive: Callable[[], bool] | None = None,
    log_file: Path | None = None,
) -> None:
    """Poll ``check`` until it is true; raise :class:`ServiceError` after ``timeout`` seconds.

    ``alive`` lets the wait fail fast when the process being waited on has already died;
    the tail of ``log_file`` goes into the error so the cause is on screen.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise ServiceError(f"{what}: process exited during start-up{_tail(log_file)}")
        time.sleep(interval)
    raise ServiceError(f"{what}: not ready after {timeout:.0f}s{_tail(log_file)}")


def stop_pid(pid_file: Path, *, name: str, timeout: float = 30.0) -> bool:
    """SIGTERM the process group recorded in ``pid_file``, SIGKILL after ``timeout``; True if one ran."""
    pid = read_pid(pid_file)
    if pid is None:
        reap_orphans(pid_file, name=name)
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        time.sleep(0.5)
        if pid_alive(pid):
            raise ServiceError(f"{name}: pid {pid} survived SIGKILL")
    pid_file.unlink(missing_ok=True)
    return True


def reap_orphans(pid_file: Path, *, name: str) -> int:
    """SIGKILL what is left of the process group of a service whose leader died (say, the Python
    workers of a killed Flink taskmanager); returns how many processes were signalled.

    The group id is the dead leader's pid, and Linux does not hand out a pid that is still some
    group's id, so only processes of that group, which we started, are signalled.
    """
    try:
        pgid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    members = [
        int(d) for d in os.listdir("/proc") if d.isdigit() and _pgid(int(d)) == pgid and int(d) != os.getpid()
    ]
    if members:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return 0
        log.warning(
            "%s: its leader (pid %d) is gone; killed %d leftover process(es) of its group", name, pgid, len(members)
        )
    return len(members)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # spawn() started each service as a session leader, so its group id is its pid.
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _tail(log_file: Path | None, lines: int = 25) -> str:
    if log_file is None or not log_file.exists():
        return ""
    text = log_file.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log_file} ---\n" + "\n".join(text)
