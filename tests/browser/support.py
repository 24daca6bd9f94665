"""Helpers the browser tests share: free loopback ports, waiting for and stopping a server process,
screenshots under ``.data/artifacts``. The Chromium page is the ``page`` fixture (conftest.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from marketpipe.settings import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / ".data" / "artifacts"
VIEWPORT = {"width": 1600, "height": 1000}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save what ``page`` shows as ``.data/artifacts/<name>``; the file's path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_until_up(  # what to wait for, and how
    proc: subprocess.Popen[bytes], url: str, *, what: str, log: Path, timeout_s: float, interval_s: float = 0.5
) -> None:
    """Poll ``url`` until it answers 200; fail the test (with the end of ``log``) if ``proc`` exits first
    or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not up after {timeout_s}s:\n{log.read_text()[-3000:]}")
        time.sleep(interval_s)


def stop_group(proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session=True``), SIGKILL if it
    is still there after ``timeout_s``."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
