"""A real headless Chromium for end-to-end tests, driven by Playwright's sync API: the ``browser`` fixture (one per
module) and the ``page`` fixture (a fresh context, so fresh cookies, per test). Import both into a test module.

The browser is Debian's Chromium, never one downloaded by ``playwright install`` (CI has no internet): ``$CHROMIUM``
if set, else /usr/bin/chromium, else ``chromium`` or ``chromium-browser`` on PATH. Without one, or without
playwright, the tests that use these fixtures are skipped with a message saying how to enable them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Playwright adds --headless (headless=True) and a fresh empty --user-data-dir. The network flags matter here: without
# them Chromium's background connections (updates, sync, QUIC probes) are refused by the closed network.
CHROMIUM_FLAGS = (
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DEFAULT_TIMEOUT_MS = 15_000
HOW_TO_ENABLE = "run `.ci/run` as root, or `apt-get install chromium`, or set CHROMIUM=/path/to/chromium"


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None. ``$CHROMIUM`` wins when set (and is the only candidate then)."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return shutil.which(configured)  # a path or a command name; None unless it exists and is executable
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _skip(reason: str) -> NoReturn:
    # CI (.ci/run) installs Chromium and sets COGNITO_GUARD_REQUIRE_BROWSER=1: there a missing browser is a failure.
    if os.environ.get("COGNITO_GUARD_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser tests must run here (COGNITO_GUARD_REQUIRE_BROWSER=1): {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """Launch the Chromium of :func:`find_chromium` headless; skips the calling test when there is none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        _skip(f"playwright is not importable ({error}): pip install -e '.[dev]'")
    executable = find_chromium()
    if executable is None:
        configured = os.environ.get("CHROMIUM")
        tried = f"CHROMIUM={configured}" if configured else "/usr/bin/chromium, chromium, chromium-browser"
        _skip(f"headless Chromium not found (tried {tried}): {HOW_TO_ENABLE}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS))
        try:
            yield browser
        finally:
            browser.close()


# Module scope, not session: while Playwright's sync API is alive it leaves its own event loop marked as running in
# this thread (its dispatcher is suspended inside run_until_complete between calls), so every async test that ran
# after it would fail with "Runner.run() cannot be called from a running event loop". For the same reason a module
# using these fixtures must not hold async tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (starting it is the slow part, ~1 s)."""
    with headless_chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies from other tests); actions and waits time out after 15 s."""
    context = browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
