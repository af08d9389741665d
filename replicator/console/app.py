"""The console's Starlette app: sign-in, the overview and the controls, and the routes of
the pages other modules render (``views``, ``customer``).

``create_console_app(config, *, actions)`` answers at its own root; the daemon mounts it
at ``/console`` (and ``replicator console serve`` does the same), so every link and
redirect is made from the request's ``root_path``.

**Who may do what.**  A request without a live session is sent to the sign-in page (303);
every POST carries the session's CSRF token in its ``csrf`` field or gets 403 before
anything else is read or done; admin pages and controls answer 403 to an integration
user, whose pages are ``/customers`` only.  A user removed from the store is signed out
at their next request.  Every response carries :data:`~.auth.SECURE_HEADERS`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from conflicts import ConflictError
from journal import Journal
from replicator.config.load import Config
from replicator.console import customer, views
from replicator.console.auth import (
    ADMIN,
    COOKIE,
    INTEGRATION,
    SIGN_IN_REFUSED,
    Clock,
    SecureHeaders,
    SignInLimit,
    check_sign_in,
    csrf_ok,
    csrf_token,
    read_store,
    secure_cookie,
    session_secret,
    signed_in,
    start_session,
    store_path,
    use_link,
    utc_now,
)
from replicator.console.controls import Actions, ControlError
from replicator.console.customer import NoSuchCustomer
from replicator.daemon.metrics import Metrics
from replicator.daemon.web import read_body
from replicator.sync.app import open_journal
from replicator.sync.status import status_data

log = logging.getLogger("replicator.console")
TEMPLATES = Path(__file__).parent / "templates"
CSS = Path(__file__).parent / "static" / "console.css"
DETAIL = 50  # the overview lists at most this many refused writes per module (all counted)
MAX_FORM = 64 * 1024  # a console form is a few fields: a larger body is refused (413)
ADMINS_ONLY = "this page is for admins: an integration user sees customers only"
Handler = Callable[[Request], Awaitable[Response]]


def create_console_app(
    config: Config,
    *,
    actions: Actions,
    served_on: str,
    metrics: Metrics | None = None,
    now: Clock = utc_now,
) -> Starlette:
    """The console over ``config``'s journal; ``actions`` does its controls, ``served_on``
    is the host it listens on (off loopback its session cookie is Secure, unless the
    config says otherwise), ``metrics`` (the daemon's) adds API usage to the overview,
    ``now`` is the clock of sessions and the sign-in limit."""
    store = store_path(config.journal_path)
    minutes = config.console.session_minutes
    limit = SignInLimit(now)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    templates = Jinja2Templates(env=env)

    def render(
        request: Request, name: str, context: Mapping[str, Any] | None = None, status: int = 200
    ) -> Response:
        session = request.session
        who = signed_in(session, now(), minutes)
        root = request.scope.get("root_path", "")
        # the layout's keys come last: a view model never replaces who is signed in; its
        # own "base" (a conflict's base value) wins over the pages' older name of the root
        page = {
            "base": root,
            **(context or {}),
            "root": root,
            "csrf": csrf_token(session),
            "user": {"name": who[0], "role": who[1]} if who else None,
            "flash": session.pop("flash", None),
        }
        return templates.TemplateResponse(request, name, page, status_code=status)

    def go(request: Request, path: str) -> Response:
        return RedirectResponse(request.scope.get("root_path", "") + path, status_code=303)

    def refuse(request: Request, status: int, message: str) -> Response:
        return render(request, "error.html", {"status": status, "message": message}, status)

    def who(request: Request) -> tuple[str, str] | None:
        """The signed-in (user, role), if the session is live and the user still known."""
        user = signed_in(request.session, now(), minutes)
        if user is None:
            return None
        data = read_store(store)
        known = data["admins"] if user[1] == ADMIN else data["users"]
        if user[0] not in known:
            request.session.clear()
            return None
        return user

    def guarded(*roles: str, form: bool = False) -> Callable[[Handler], Handler]:
        """Only for a live session of one of ``roles``; a POST's CSRF token is checked
        before the role, so a forged form learns nothing."""

        def wrap(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                user = who(request)
                if user is None:
                    return go(request, "/signin")
                if form:
                    fields = await _form(request)
                    if not csrf_ok(request.session, fields.get("csrf")):
                        return refuse(request, 403, "the form's CSRF token is missing or wrong")
                    request.state.form = fields
                if user[1] not in roles:
                    return refuse(request, 403, ADMINS_ONLY)
                request.state.user = user[0]
                return await handler(request)

            return endpoint

        return wrap

    @contextmanager
    def reading() -> Iterator[Journal | None]:
        if not config.journal_path.exists():
            yield None
            return
        journal = open_journal(config)
        try:
            yield journal
        finally:
            journal.close()

    # -- signing in and out ----------------------------------------------------------------

    async def signin_page(request: Request) -> Response:
        user = who(request)
        if user is not None:
            return go(request, "/" if user[1] == ADMIN else "/customers")
        return render(request, "signin.html", {"error": None, "name": ""})

    async def signin(request: Request) -> Response:
        fields = await _form(request)
        if not csrf_ok(request.session, fields.get("csrf")):
            return refuse(request, 403, "the form's CSRF token is missing or wrong")
        name, password = fields.get("name", ""), fields.get("password", "")
        client = request.client.host if request.client else "-"
        if limit.blocked(name, client):
            message = "too many failed sign-ins: try again in 15 minutes"
            return render(request, "signin.html", {"error": message, "name": name}, 429)
        account = await run_in_threadpool(check_sign_in, read_store(store), name, password)
        if account is None:
            limit.failed(name, client)
            log.info("console: a failed sign-in from %s", client)  # never the name typed
            return render(request, "signin.html", {"error": SIGN_IN_REFUSED, "name": name}, 401)
        limit.succeeded(name, client)
        start_session(request.session, *account, now())
        return go(request, "/" if account[1] == ADMIN else "/customers")

    async def signout(request: Request) -> Response:
        fields = await _form(request)
        if not csrf_ok(request.session, fields.get("csrf")):
            return refuse(request, 403, "the form's CSRF token is missing or wrong")
        request.session.clear()
        return go(request, "/signin")

    async def link(request: Request) -> Response:
        token = request.path_params["token"]
        email = await run_in_threadpool(use_link, store, token, now())
        if email is None:
            return refuse(request, 403, "this sign-in link is unknown, used or expired")
        start_session(request.session, email, INTEGRATION, now())
        return go(request, "/customers")

    # -- the overview ------------------------------------------------------------------------

    @guarded(ADMIN)
    async def overview(request: Request) -> Response:
        def read() -> dict[str, Any] | None:
            with reading() as journal:
                return (
                    None
                    if journal is None
                    else status_data(config, journal, detail=DETAIL, entries=False)
                )

        status = await run_in_threadpool(read)
        api = api_usage(metrics) if metrics is not None else None
        return render(request, "overview.html", {"status": status, "api": api})

    # -- the controls ------------------------------------------------------------------------

    async def control(request: Request, do: Callable[[], str], back: str = "/") -> Response:
        try:
            text = await run_in_threadpool(do)
            request.session["flash"] = {"ok": True, "text": text}
        except ControlError as exc:
            request.session["flash"] = {"ok": False, "text": str(exc)}
        return go(request, back)

    def by(request: Request) -> str:
        return f"console:{request.state.user}"

    def modules_of(request: Request) -> list[str]:
        module = request.state.form.get("module", "")
        return [module] if module else []

    @guarded(ADMIN, form=True)
    async def pause(request: Request) -> Response:
        mods, who_ = modules_of(request), by(request)
        return await control(request, lambda: actions.pause(mods, by=who_))

    @guarded(ADMIN, form=True)
    async def resume(request: Request) -> Response:
        mods, who_ = modules_of(request), by(request)
        return await control(request, lambda: actions.resume(mods, by=who_))

    @guarded(ADMIN, form=True)
    async def sync(request: Request) -> Response:
        mods, who_ = modules_of(request), by(request)
        return await control(request, lambda: actions.sync(mods, by=who_))

    @guarded(ADMIN, form=True)
    async def retry(request: Request) -> Response:
        form, who_ = request.state.form, by(request)
        module, rid = form.get("module", ""), form.get("rid", "")
        if not module:
            return refuse(request, 400, "retry: say which module")
        rids = [rid] if rid else []
        return await control(request, lambda: actions.retry(module, rids, by=who_))

    @guarded(ADMIN, form=True)
    async def resolve(request: Request) -> Response:
        who_, conflict_id = by(request), request.path_params["id"]
        try:  # the form's fields as `conflicts resolve` passes them to the library
            asked = views.resolve_request(request.state.form)
        except ConflictError as exc:
            return refuse(request, 400, str(exc))
        take, value = asked["take"], asked["raw_value"]
        return await control(
            request,
            lambda: actions.resolve(conflict_id, take=take, value=value, by=who_),
            f"/conflicts/{conflict_id}",
        )

    @guarded(ADMIN, form=True)
    async def verify(request: Request) -> Response:
        who_ = by(request)
        return await control(request, lambda: actions.verify(by=who_), "/journal")

    # -- the pages of views and customer -------------------------------------------------

    async def show(
        request: Request, template: str, model: Callable[[Journal], Mapping[str, Any]]
    ) -> Response:
        """``template`` over ``model`` of the journal (read off the event loop); 404 for
        what the journal does not hold."""

        def read() -> Mapping[str, Any] | None:
            with reading() as journal:
                return None if journal is None else model(journal)

        try:
            data = await run_in_threadpool(read)
        except (views.NotFound, NoSuchCustomer) as exc:
            return refuse(request, 404, str(exc))
        if data is None:
            return refuse(request, 404, "no journal yet: nothing has synced")
        return render(request, template, data)

    @guarded(ADMIN)
    async def conflicts_page(request: Request) -> Response:
        q = request.query_params
        module, status, page = q.get("module") or None, q.get("status") or "open", _page(q)
        return await show(
            request,
            "conflicts.html",
            lambda j: views.conflicts(config, j, module=module, status=status, page=page),
        )

    @guarded(ADMIN)
    async def conflict_page(request: Request) -> Response:
        cid = request.path_params["id"]
        return await show(request, "conflict.html", lambda j: views.conflict(config, j, cid))

    @guarded(ADMIN)
    async def history_page(request: Request) -> Response:
        module, page = request.query_params.get("module") or None, _page(request.query_params)
        return await show(
            request, "history.html", lambda j: views.history(config, j, module=module, page=page)
        )

    @guarded(ADMIN)
    async def record_page(request: Request) -> Response:
        module, rid = request.path_params["module"], request.path_params["rid"]
        page = _page(request.query_params)
        return await show(
            request, "record.html", lambda j: views.record(config, j, module, rid, page=page)
        )

    @guarded(ADMIN)
    async def journal_page(request: Request) -> Response:
        return await show(request, "journal.html", lambda j: views.journal_head(config, j))

    @guarded(ADMIN, INTEGRATION)  # an admin may see what an integration user sees
    async def customers_page(request: Request) -> Response:
        q = request.query_params
        query, page = q.get("q", ""), _page(q)
        return await show(
            request,
            "customers.html",
            lambda j: {"customers": customer.customers(config, j, query, page)},
        )

    @guarded(ADMIN, INTEGRATION)
    async def customer_page(request: Request) -> Response:
        rid = request.path_params["rid"]
        # each document type pages on its own: ?invoices=2
        pages = {k: _page({"page": v}) for k, v in request.query_params.items()}
        return await show(
            request,
            "customer.html",
            lambda j: {"customer": customer.customer(config, j, rid, pages=pages)},
        )

    async def stylesheet(request: Request) -> Response:
        # a file, not an inline <style>: the Content-Security-Policy allows 'self' only
        return Response(CSS.read_bytes(), media_type="text/css")

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return refuse(request, exc.status_code, str(exc.detail))

    async def failed(request: Request, exc: Exception) -> Response:
        # the log names the page and the kind of error; the page, neither
        log.error("console: %s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        return refuse(request, 500, "the console failed to answer this page; see the log")

    secret = session_secret(store)
    return Starlette(
        routes=[
            Route("/", overview, methods=["GET"]),
            Route("/static/console.css", stylesheet, methods=["GET"]),
            Route("/signin", signin_page, methods=["GET"]),
            Route("/signin", signin, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/link/{token}", link, methods=["GET"]),
            Route("/pause", pause, methods=["POST"]),
            Route("/resume", resume, methods=["POST"]),
            Route("/sync", sync, methods=["POST"]),
            Route("/retry", retry, methods=["POST"]),
            Route("/conflicts/{id:int}/resolve", resolve, methods=["POST"]),
            Route("/conflicts", conflicts_page, methods=["GET"]),
            Route("/conflicts/{id:int}", conflict_page, methods=["GET"]),
            Route("/history", history_page, methods=["GET"]),
            Route("/records/{module}/{rid:path}", record_page, methods=["GET"]),
            Route("/journal", journal_page, methods=["GET"]),
            Route("/journal/verify", verify, methods=["POST"]),
            Route("/customers", customers_page, methods=["GET"]),
            Route("/customers/{rid:path}", customer_page, methods=["GET"]),
        ],
        middleware=[
            Middleware(SecureHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=COOKIE,
                max_age=minutes * 60,
                same_site="strict",
                https_only=secure_cookie(config.console.secure_cookie, served_on),
            ),
        ],
        exception_handlers={HTTPException: refused, Exception: failed},
    )


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form's fields (the first of each), its body read with a cap."""
    raw = await read_body(request, MAX_FORM)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise HTTPException(400, "the form is not UTF-8 text") from None
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _page(query: Mapping[str, str]) -> int:
    """A ``page`` query parameter as a page number (1 for anything else)."""
    text = query.get("page", "1")
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 1


def api_usage(metrics: Metrics) -> dict[str, dict[str, int]]:
    """Each side's API answers since the daemon started: all of them, and its 429s."""
    usage: dict[str, dict[str, int]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            side = sample.labels.get("side")
            if side is None or not sample.name.endswith("_total"):
                continue
            counts = usage.setdefault(side, {"requests": 0, "rate_limited": 0})
            if sample.name == "replicator_api_requests_total":
                counts["requests"] += int(sample.value)
            elif sample.name == "replicator_api_rate_limited_total":
                counts["rate_limited"] += int(sample.value)
    return usage


__all__ = ["api_usage", "create_console_app"]
