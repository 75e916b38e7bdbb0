"""Debian's headless Chromium driven by Playwright, and screenshots for the docs.

Playwright's own browser downloads are never used: the browser is the system's
``/usr/bin/chromium`` (``scripts/install-chromium.sh`` installs it).
When it is missing or will not start, ``launch`` raises ``Unavailable`` with
the reason, and the tests skip with that reason.
"""

import os
import tempfile
from pathlib import Path


CHROMIUM = "/usr/bin/chromium"
ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 800}
# The docs' images (docs/screenshots/) are written only when asked (``make screenshots``);
# other runs write them to a scratch folder, and the checkout stays clean.
SCREENSHOTS = Path(os.environ.get("ASYNCREPORTS_SCREENSHOTS")
                   or Path(tempfile.gettempdir()) / "asyncreports-screenshots")


class Unavailable(Exception):
    """No browser for these tests; the message says why."""


def launch():
    """Start Playwright and Chromium; return (playwright, browser) or raise Unavailable."""
    if not os.access(CHROMIUM, os.X_OK):
        raise Unavailable(
            f"{CHROMIUM} is missing: run scripts/install-chromium.sh as root")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise Unavailable(
            f"playwright is not installed ({exc}): pip install -c constraints.txt -e '.[test]'")
    playwright = sync_playwright().start()
    try:
        # Playwright gives every launch a fresh temporary profile directory.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(ARGS), timeout=60_000)
    except Exception as exc:
        playwright.stop()
        raise Unavailable(f"playwright cannot launch {CHROMIUM}: {exc}")
    return playwright, browser


def screenshot(page, name, full_page=False):
    """Save a PNG of ``page`` as NAME.png in SCREENSHOTS."""
    # Written here, not by Playwright: its file writes run in a thread pool
    # that would outlive the test (and zope.testrunner reports such threads).
    data = page.screenshot(full_page=full_page, animations="disabled")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / f"{name}.png").write_bytes(data)
