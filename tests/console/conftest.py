"""The browser fixtures (``browser``, ``context``, ``page``) for every console test."""

from tests.console.browser import browser, context, page  # noqa: F401
