"""What happens to a request before an endpoint sees it.

In order: the request is classified by API (``/crm/``, ``/books/``, ``/oauth/``,
``/__admin__/``) and its route template found; the admin API only answers loopback
clients; a CRM request takes a concurrency slot; faults apply (delay, error status, or a
dropped connection); CRM and Books requests must carry a valid ``Zoho-oauthtoken``; a Books
request must name a known ``organization_id`` and passes the per-organisation rate limits
(whose headers then go on its response); a CRM request spends one credit.  Every answered
request is counted by API, method, template and status, and every API answer carries a
``Date`` header read from the sandbox's clock (as a real server's ``Date`` and its records'
modification times come from one clock, also when a test moves the clock forward).

A dropped connection closes the client's socket with nothing written, so the client sees
a transport error (httpx: ``RemoteProtocolError``), not an HTTP status.  Under uvicorn the
ASGI ``send`` callable belongs to the connection's request cycle, which holds the asyncio
transport; without that (an in-process ASGI client) :class:`DropConnection` is raised for
the caller to see instead.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BOOKS_CODES, AdminError, ApiError, BooksError, CrmError, DropConnection
from .faults import Fault

if TYPE_CHECKING:
    from .app import SandboxState

GATEWAY_PAGES = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def classify(path: str) -> str | None:
    for prefix, api in (
        ("/crm/", "crm"),
        ("/books/", "books"),
        ("/oauth/", "oauth"),
        ("/__admin__", "admin"),
    ):
        if path.startswith(prefix):
            return api
    return None


def template_of(routes: list[BaseRoute], scope: Scope) -> str | None:
    """The path template of the route serving ``scope`` (a method mismatch counts)."""
    for route in routes:
        if getattr(route, "catch_all", False):
            continue
        match, _ = route.matches(scope)
        if match in (Match.FULL, Match.PARTIAL):
            return getattr(route, "path", None)
    return None


def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return True  # in-process clients have no socket
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return client[0] in ("localhost", "testclient")


def fault_error(api: str, fault: Fault) -> Response:
    """The answer a ``status`` fault gives, in the API's own envelope."""
    status = fault.status
    headers = {"Retry-After": str(fault.retry_after)} if status in (429, 503) else {}
    if status in GATEWAY_PAGES:
        title = f"{status} {GATEWAY_PAGES[status]}"
        page = (
            f"<html><head><title>{title}</title></head><body><center><h1>{title}"
            "</h1></center><hr><center>ZGS</center></body></html>"
        )
        return HTMLResponse(page, status_code=status, headers=headers)
    error: ApiError
    if api == "books":
        number = {
            401: BOOKS_CODES["not_authorized"],
            404: BOOKS_CODES["invalid_url"],
            429: BOOKS_CODES["rate_minute"],
        }.get(status, BOOKS_CODES["internal"])
        text = {
            429: "You have made too many requests continuously. Please try again after some time.",
            401: "You are not authorized to perform this operation",
        }.get(status, "Internal error")
        error = BooksError(status, number, text, headers)
    elif api == "oauth":
        if status == 429:
            error = ApiError(
                status,
                {
                    "error_description": "You have made too many requests "
                    "continuously. Please try again after some time.",
                    "error": "Access Denied",
                    "status": "failure",
                },
                headers,
            )
        else:
            error = ApiError(status, {"error": "internal_error"}, headers)
    else:
        code, message = {
            400: ("INVALID_DATA", "invalid data"),
            401: ("INVALID_TOKEN", "invalid oauth token"),
            403: ("NO_PERMISSION", "permission denied"),
            404: (
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
            ),
            429: (
                "TOO_MANY_REQUESTS",
                "You have made too many requests. Please try again after some time.",
            ),
        }.get(status, ("INTERNAL_ERROR", "Internal server error occurred."))
        error = CrmError(status, code, message, {}, headers)
    return error.response()


def auth_error(api: str, reason: str) -> ApiError:
    if api == "books":
        if reason == "missing":
            return BooksError(
                401,
                BOOKS_CODES["unauthenticated"],
                "The request could not be authenticated as the authentication "
                "value you entered is invalid.",
            )
        return BooksError(
            401, BOOKS_CODES["not_authorized"], "You are not authorized to perform this operation"
        )
    if reason == "missing":
        return CrmError(401, "AUTHENTICATION_FAILURE", "Authentication failed", {})
    return CrmError(401, "INVALID_TOKEN", "invalid oauth token", {})


async def drop(send: Send) -> None:
    """Close the client's connection without a response."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise DropConnection("connection dropped by a sandbox fault")
    transport.close()
    for _ in range(3):  # let connection_lost() run, so uvicorn sends no 500 of its own
        await asyncio.sleep(0)


class Gateway:
    """The pre-endpoint pipeline of a sandbox app."""

    def __init__(self, state: SandboxState, routes: list[BaseRoute]) -> None:
        self.state = state
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        api = classify(scope["path"])
        if api == "admin":
            if not _loopback(scope):
                await AdminError(
                    403, "forbidden", "the admin API answers loopback only"
                ).response()(scope, receive, send)
                return
            await app(scope, receive, send)
            return
        if api is None:
            await app(scope, receive, send)
            return
        template = template_of(self.routes, scope) or "(unmatched)"
        method = scope["method"]
        seen: dict[str, Any] = {"status": None, "headers": {}}

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                extra = [(k.lower().encode(), v.encode()) for k, v in seen["headers"].items()]
                date = email.utils.formatdate(self.state.clock.now(), usegmt=True)
                extra.append((b"date", date.encode()))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        try:
            await self._serve(api, template, scope, receive, counted, send, app, seen)
        except DropConnection:
            seen["status"] = "dropped"
            raise
        finally:
            if seen["status"] is not None:
                self.state.counters.add(api, method, template, seen["status"])

    async def _serve(
        self,
        api: str,
        template: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
        app: ASGIApp,
        seen: dict[str, Any],
    ) -> None:
        st = self.state
        try:
            if api == "crm":
                with st.crm_limiter.slot(st.settings):
                    await self._guarded(api, template, scope, receive, send, raw_send, app, seen)
            else:
                await self._guarded(api, template, scope, receive, send, raw_send, app, seen)
        except ApiError as exc:
            await exc.response()(scope, receive, send)

    async def _guarded(
        self,
        api: str,
        template: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
        app: ASGIApp,
        seen: dict[str, Any],
    ) -> None:
        st = self.state
        decision = st.faults.decide(api, scope["method"], scope["path"], template)
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.fault is not None:
            if decision.fault.kind == "drop":
                seen["status"] = "dropped"
                await drop(raw_send)
                return
            await fault_error(api, decision.fault)(scope, receive, send)
            return
        if api == "oauth":
            await app(scope, receive, send)
            return
        headers = dict(_headers(scope))
        principal = st.oauth.authenticate(headers.get("authorization"))
        if isinstance(principal, str):
            raise auth_error(api, principal)
        scope["sandbox.principal"] = principal
        if api == "books":
            if not scope["path"].startswith("/books/v3/organizations"):
                org = _query(scope).get("organization_id")
                if not org:
                    raise BooksError(
                        400,
                        BOOKS_CODES["invalid_param"],
                        "Invalid value passed for organization_id",
                    )
                if st.books_schema.organization(org) is None:
                    raise BooksError(
                        400,
                        BOOKS_CODES["no_org"],
                        f"This user is not associated with the CompanyID/CompanyName:{org}.",
                    )
                scope["sandbox.org"] = org
                try:
                    seen["headers"] = st.books_limiter.hit(org, st.settings)
                except BooksError as exc:
                    seen["headers"] = {
                        k: v for k, v in exc.headers.items() if k.startswith("X-Rate")
                    }
                    exc.headers = {
                        k: v for k, v in exc.headers.items() if not k.startswith("X-Rate")
                    }
                    raise
        else:
            st.crm_limiter.charge(1, st.settings)
        await app(scope, receive, send)


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


__all__ = ["Gateway", "auth_error", "classify", "drop", "fault_error", "template_of"]
