"""The Dagster UI in headless Chromium: the asset graph shows the daily assets, and their Soda checks.

Starts ``dagster-webserver`` (no daemon: nothing is scheduled) on a free loopback port with a
throwaway ``DAGSTER_HOME``, drives Debian's ``/usr/bin/chromium`` through Playwright (no
``playwright install``: the browser is the system's), and saves a screenshot of the graph to
``.data/artifacts/dagster-asset-graph.png``. No stack is needed: loading the definitions connects to
nothing.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

pytest.importorskip("playwright", reason="the browser tier runs under .venv-orch (make test)")

from playwright.sync_api import Page, expect

from marketpipe.settings import REPO_ROOT
from tests.browser.support import free_port, screenshot, stop_group, wait_until_up

pytestmark = pytest.mark.browser

WEBSERVER = REPO_ROOT / ".venv-orch" / "bin" / "dagster-webserver"
START_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running Dagster webserver over orchestration.definitions."""
    home = tmp_path_factory.mktemp("dagster-home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    log = (home / "webserver.log").open("w")
    proc = subprocess.Popen(
        [str(WEBSERVER), "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env={**os.environ, "DAGSTER_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{url}/server_info", what="dagster-webserver", log=home / "webserver.log",
                      timeout_s=START_TIMEOUT_S, interval_s=1)
        yield url
    finally:
        stop_group(proc)
        log.close()


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
    assert screenshot(page, "dagster-asset-graph.png", full_page=True).stat().st_size > 10_000

    page.goto(f"{dagster_ui}/assets/daily_bars?view=checks", timeout=60_000)
    expect(page.get_by_text("soda_daily_bars").first).to_be_visible(timeout=60_000)
    page.goto(f"{dagster_ui}/assets/bars_1m?view=checks", timeout=60_000)
    expect(page.get_by_text("soda_bars").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("soda_freshness").first).to_be_visible(timeout=60_000)
