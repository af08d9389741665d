"""Small helpers every endpoint module shares: the state, bodies, parameters, counters.

:class:`RequestCounters` counts answered requests by API, method, route template and
status (``dropped`` for connections closed by a fault), for the admin API.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from .errors import BOOKS_CODES, BooksError, CrmError

if TYPE_CHECKING:
    from .app import SandboxState


MAX_DEPTH = 64  # no request of either API nests near this deep


def parse_json(raw: str | bytes) -> Any:
    """A request body's JSON; ``ValueError`` for a malformed one, including one nested
    deeper than :data:`MAX_DEPTH` (the decoder itself raises ``RecursionError`` near
    1,000 levels, and code that walks a value recursively fails well before)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON nests too deeply") from None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValueError("the JSON nests too deeply")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def state(request: Request) -> SandboxState:
    return request.app.state.sandbox  # type: ignore[no-any-return]


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)


async def crm_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return parse_json(raw) if raw.strip() else None
    except ValueError:
        raise CrmError(400, "INVALID_DATA", "body", {}) from None


async def form_fields(request: Request) -> dict[str, str]:
    """URL-encoded form fields (the only form encoding the emulated calls take)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


async def books_body(request: Request) -> dict[str, Any]:
    """The JSON object of a Books write: a raw JSON body, or the legacy ``JSONString``
    form field."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        raw: str | bytes = (await form_fields(request)).get("JSONString", "")
    else:
        raw = await request.body()
    try:
        body = parse_json(raw) if raw.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BooksError(400, BOOKS_CODES["invalid_body"], "Invalid value passed for JSONString")
    return body


def int_param(value: str | None, default: int) -> int | None:
    """A positive integer query parameter, ``default`` when absent, ``None`` when bad."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        return None
    return number if number >= 1 else None


class RequestCounters:
    """How many requests each endpoint answered, by status."""

    def __init__(self) -> None:
        self._counts: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def add(self, api: str, method: str, template: str, status: int | str) -> None:
        with self._lock:
            self._counts[(api, method, template, str(status))] += 1

    def rows(self, api: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = sorted(self._counts.items())
        return [
            {"api": a, "method": m, "path": t, "status": s, "count": n}
            for (a, m, t, s), n in items
            if api is None or a == api
        ]

    def total(self, api: str | None = None) -> int:
        return sum(r["count"] for r in self.rows(api))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


__all__ = [
    "MAX_DEPTH",
    "RequestCounters",
    "books_body",
    "crm_body",
    "form_fields",
    "int_param",
    "no_content",
    "parse_json",
    "state",
]
