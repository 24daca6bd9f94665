"""The fixture the browser tests share: a headless Chromium page (helpers: tests/browser/support.py).

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright (no ``playwright install``). The
browser tier runs under ``.venv-orch`` (``make test``); Playwright is imported inside the fixture, so
this file loads without it and the test modules skip themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.support import CHROMIUM, VIEWPORT

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    """A headless Chromium page (the Debian package, driven by Playwright), one per test module."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make system-deps` installs the Debian chromium package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()
