"""Browser tests' set-up: Playwright (Python) driving Debian's ``chromium`` (issue 14).

The PyPI ``playwright`` package brings only its driver; its own browser download cannot
work here (a closed network), so the fixtures point it at ``/usr/bin/chromium``, which
``.ci/run`` installs with apt-get.  Fixtures (made visible to ``tests/console`` by its
``conftest.py``):

- ``browser`` (one per test module): a headless chromium with :data:`CHROMIUM_FLAGS`.
  Playwright's ``launch`` gives every browser a new empty ``--user-data-dir`` in a
  temporary folder and removes it on close, so no profile survives a module.
- ``context`` and ``page`` (one per test): a new cookie jar and a tab in it, closed after
  the test.  Two users in one test take two ``browser.new_context()``.

Chromium or the playwright package missing: the test fails with the reason under CI
(``CI`` set, as ``.ci/run`` does), so a CI run never passes by skipping, and is skipped
with that reason anywhere else.

:func:`screenshot` saves a page for review under ``test-artifacts/screenshots/``
(gitignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")

# The flags this machine's closed network needs: without the background-networking ones
# chromium keeps opening connections the network refuses, and looks up Google's hosts at
# every start.  Root (as in CI) needs --no-sandbox; there is no GPU.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def in_ci() -> bool:
    """True when the run is CI's (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def missing_reason() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "the playwright package is not installed "
            "(pip install -e '.[test]' installs it; .ci/run does)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"{CHROMIUM} is missing: install Debian's chromium "
            "(apt-get install -y chromium; .ci/run does)"
        )
    return None


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Debian chromium driven by Playwright, closed after the module."""
    reason = missing_reason()
    if reason is not None:
        _unavailable(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_FLAGS)
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context (its own cookies and storage), closed after the test."""
    fresh = browser.new_context()
    try:
        yield fresh
    finally:
        fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab in this test's fresh context."""
    return context.new_page()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``test-artifacts/screenshots/<name>.png``; its path.

    ``name`` is a plain file name (letters, digits, ``.``, ``_``, ``-``): a name that
    could reach outside the folder is refused.
    """
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"screenshot name {name!r}: letters, digits, '.', '_' and '-' only")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "SCREENSHOTS",
    "browser",
    "context",
    "in_ci",
    "missing_reason",
    "page",
    "screenshot",
]
