"""The Dagster UI in headless Chromium: the asset graph shows the daily assets, and their Soda checks.

Starts ``dagster-webserver`` (no daemon: nothing is scheduled) on a free loopback port with a
throwaway ``DAGSTER_HOME``, drives Debian's ``/usr/bin/chromium`` through Playwright (no
``playwright install``: the browser is the system's), and saves a screenshot of the graph to
``.data/artifacts/dagster-asset-graph.png``. No stack is needed: loading the definitions connects to
nothing.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="the browser tier runs under .venv-orch (make test)")

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from marketpipe.settings import REPO_ROOT  # noqa: E402

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACT = REPO_ROOT / ".data" / "artifacts" / "dagster-asset-graph.png"
WEBSERVER = REPO_ROOT / ".venv-orch" / "bin" / "dagster-webserver"
START_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running Dagster webserver over orchestration.definitions."""
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    log = (home / "webserver.log").open("w")
    proc = subprocess.Popen(  # noqa: S603
        [str(WEBSERVER), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited {proc.returncode}:\n{(home / 'webserver.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver not up after {START_TIMEOUT_S}s")
            time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A headless Chromium page (the Debian package, driven by Playwright)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs the Debian chromium package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": 1600, "height": 1000})
        finally:
            browser.close()


def _dismiss_onboarding(page: Page) -> None:
    """A fresh DAGSTER_HOME greets the first visit with a newsletter dialog; skip it if it shows."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=10_000)
    except Exception:  # noqa: BLE001 - no dialog this time
        return
    skip.click()
    expect(skip).to_be_hidden(timeout=10_000)


def test_asset_graph_shows_assets_and_checks(dagster_ui: str, page: Page) -> None:
    page.goto(f"{dagster_ui}/asset-groups", timeout=60_000)
    _dismiss_onboarding(page)
    # the global lineage shows collapsed groups (daily, serving, streaming): open "daily" in the graph
    group = page.get_by_text("daily", exact=True)
    expect(group.last).to_be_visible(timeout=60_000)
    group.last.click()
    for name in ("raw_daily_bars", "daily_bars", "daily_indicators"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Asset checks").first).to_be_visible()
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACT), full_page=True)
    assert ARTIFACT.stat().st_size > 10_000

    page.goto(f"{dagster_ui}/assets/daily_bars?view=checks", timeout=60_000)
    expect(page.get_by_text("soda_daily_bars").first).to_be_visible(timeout=60_000)
    page.goto(f"{dagster_ui}/assets/bars_1m?view=checks", timeout=60_000)
    expect(page.get_by_text("soda_bars").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("soda_freshness").first).to_be_visible(timeout=60_000)
