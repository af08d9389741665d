"""One sandbox: its state, and the Starlette app serving every API on one port.

``create_app(data_dir)`` opens (or creates) ``data_dir/sandbox.db`` and returns a Starlette
app serving:

- ``/oauth/v2/token`` (the accounts server),
- ``/crm/v8/...`` (Zoho CRM v8),
- ``/books/v3/...`` (Zoho Books v3),
- ``/__admin__/...`` (the sandbox's own admin API, loopback only).

Unknown paths answer each API's "invalid URL" error, known paths with the wrong method its
"method not allowed" error, and an unexpected exception its "internal error" envelope.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from . import admin_api, books_api, crm_api, crm_meta_api, oauth
from .books_data import BooksData
from .books_schema import BooksSchema
from .clock import Clock
from .crm_records import CrmRecords
from .crm_schema import CrmSchema
from .errors import BOOKS_CODES, AdminError, ApiError, BooksError, CrmError, OAuthError
from .faults import FaultBook
from .gateway import Gateway, classify
from .limits import BooksLimiter, CrmLimiter
from .notifications import Notifier
from .seed import SEEDS
from .settings import Settings
from .store import Store
from .web import RequestCounters

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class SandboxState:
    """Everything one running sandbox holds."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        fault_seed: int | str = 0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.store = Store(self.data_dir / "sandbox.db")
        self.clock = clock or Clock()
        self.initial_settings = settings or Settings()
        self._settings = self.initial_settings
        self._settings_lock = threading.Lock()
        self.oauth = oauth.OAuth(self.store, self.clock, lambda: self.settings)
        self.oauth.default_client()
        self.faults = FaultBook(fault_seed)
        self.counters = RequestCounters()
        self.crm_limiter = CrmLimiter(self.clock)
        self.books_limiter = BooksLimiter(self.clock)
        self.crm_schema = CrmSchema(self.store)
        self.notifier = Notifier(self.store, self.crm_schema, self.clock, lambda: self.settings)
        self.crm = CrmRecords(
            self.store, self.crm_schema, self.clock, lambda: self.settings, self.notifier.notify
        )
        self.books_schema = BooksSchema(self.store)
        self.books_schema.organizations()
        self.books = BooksData(self.store, self.books_schema, self.clock, lambda: self.settings)

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        with self._settings_lock:
            self._settings = value

    def credentials(self, base_url: str) -> dict[str, str]:
        """The self client's credentials, as ``credentials.json`` holds them."""
        client = self.oauth.default_client()
        return {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "refresh_token": client.refresh_token,
            "accounts_url": base_url,
            "api_domain": base_url,
            "organization_id": self.books_schema.default_org(),
        }

    def seed(self, name: str) -> dict[str, int]:
        if name not in SEEDS:
            raise ValueError(f"no seed {name!r}; known: {', '.join(SEEDS)}")
        return SEEDS[name](self)

    def close(self) -> None:
        self.notifier.close()
        self.store.close()


class SandboxApp(Starlette):
    """A Starlette app whose requests pass the :class:`Gateway` first, with uvicorn's own
    ``send`` (so a fault can drop the connection)."""

    def __init__(self, sandbox: SandboxState, routes: list[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes=routes, **kwargs)
        self.state.sandbox = sandbox
        self.sandbox = sandbox
        self.gateway = Gateway(sandbox, routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self.gateway(scope, receive, send, super().__call__)


def _unknown(routes: list[BaseRoute]) -> Any:
    async def handler(request: Request) -> Response:
        wrong_method = any(
            r.matches(request.scope)[0] == Match.PARTIAL
            for r in routes
            if not getattr(r, "catch_all", False)
        )
        api = classify(request.url.path)
        error: ApiError
        if api == "crm":
            error = (
                CrmError(
                    405,
                    "INVALID_REQUEST_METHOD",
                    "The http request method type is not a valid one",
                    {},
                )
                if wrong_method
                else CrmError(
                    404,
                    "INVALID_URL_PATTERN",
                    "Please check if the URL trying to access is a correct one",
                    {},
                )
            )
        elif api == "books":
            error = (
                BooksError(
                    405,
                    BOOKS_CODES["method_not_allowed"],
                    "The HTTP method is not allowed for the requested resource",
                )
                if wrong_method
                else BooksError(404, BOOKS_CODES["invalid_url"], "Invalid URL Passed")
            )
        elif api == "oauth":
            error = OAuthError("invalid_request", status=405 if wrong_method else 404)
        else:
            error = AdminError(405 if wrong_method else 404, "not_found", request.url.path)
        return error.response()

    return handler


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    """The 500 of an unexpected exception, in the API's envelope.  Starlette re-raises the
    exception after sending this, and uvicorn then closes the connection: ``Connection:
    close`` tells a client keeping the connection alive not to send its next request on
    it (which would fail as a dropped connection, not as this answer)."""
    api = classify(request.url.path)
    response: Response
    if api == "crm":
        response = CrmError(500, "INTERNAL_ERROR", "Internal server error occurred.", {}).response()
    elif api == "books":
        response = BooksError(500, BOOKS_CODES["internal"], "Internal error").response()
    elif api == "admin":
        response = JSONResponse({"error": "internal", "detail": type(exc).__name__}, 500)
    else:
        response = PlainTextResponse("Internal Server Error", 500)
    response.headers["Connection"] = "close"
    return response


def create_app(
    data_dir: str | Path,
    *,
    seed: str | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    fault_seed: int | str = 0,
) -> SandboxApp:
    """A sandbox app over ``data_dir`` (created if needed); ``seed="demo"`` seeds it once."""
    sandbox = SandboxState(data_dir, clock=clock, settings=settings, fault_seed=fault_seed)
    if seed is not None:
        sandbox.seed(seed)
    routes: list[BaseRoute] = [
        *oauth.ROUTES,
        *crm_meta_api.ROUTES,
        *crm_api.ROUTES,
        *books_api.ROUTES,
        *admin_api.ROUTES,
    ]
    catch_all = _unknown(list(routes))
    for prefix in ("/oauth", "/crm", "/books", "/__admin__"):
        route = Route(prefix + "/{rest:path}", catch_all, methods=ALL_METHODS)
        route.catch_all = True  # type: ignore[attr-defined]
        routes.append(route)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.notifier.close()

    return SandboxApp(
        sandbox,
        routes,
        lifespan=lifespan,
        exception_handlers={ApiError: _api_error, Exception: _internal_error},
    )


__all__ = ["SandboxApp", "SandboxState", "create_app"]
