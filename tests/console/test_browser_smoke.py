"""The browser set-up works end to end: Debian chromium, driven by Playwright, fills and
submits forms on a small Starlette app served on loopback, and the page objects of
``pages.py`` hold against a fake console built to the contract (sign-in, a per-module
control with its hidden CSRF field, 403 without it, 303 after a POST)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from replicator.daemon.web import serve
from tests.console import browser as browser_setup
from tests.console import pages
from tests.console.browser import screenshot

MODULES = ("customers", "invoices")


def fake_console() -> Starlette:
    """Just enough of the console's contract to exercise the page objects: one admin
    (``admin`` / ``right``), sessions by cookie, a pause form per module."""
    sessions: dict[str, str] = {}  # session id -> its csrf token
    paused: set[str] = set()
    taken: dict[str, str] = {}  # conflict id -> the side taken

    async def fields(request: Request) -> dict[str, str]:
        # parsed by hand: Starlette's request.form() needs python-multipart
        body = (await request.body()).decode()
        return {key: values[0] for key, values in parse_qs(body).items()}

    def page(title: str, body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><title>{title}</title><h1>{title}</h1>{body}", status_code=status
        )

    def signin_form(message: str = "") -> str:
        return (
            f"<p class=error>{message}</p>"
            '<form method="post" action="/console/signin">'
            '<input type="hidden" name="csrf" value="signin">'
            '<label>Name <input name="name"></label>'
            '<label>Password <input type="password" name="password"></label>'
            "<button>Sign in</button></form>"
        )

    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return page("Sign in", signin_form())
        sent = await fields(request)
        if sent.get("name") != "admin" or sent.get("password") != "right":
            return page("Sign in", signin_form("Wrong name or password."), 401)
        sid = secrets.token_hex(16)
        sessions[sid] = secrets.token_hex(16)
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie("sid", sid, httponly=True, samesite="strict")
        return response

    async def overview(request: Request) -> Response:
        csrf = sessions.get(request.cookies.get("sid", ""))
        if csrf is None:
            return RedirectResponse("/console/signin", status_code=303)
        rows = "".join(
            f"<li>{module}: {'paused' if module in paused else 'on'}"
            '<form method="post" action="/console/pause">'
            f'<input type="hidden" name="csrf" value="{csrf}">'
            f'<input type="hidden" name="module" value="{module}">'
            "<button>Pause</button></form></li>"
            for module in MODULES
        )
        return page("Overview", f"<p>Signed in as admin</p><ul>{rows}</ul>")

    async def pause(request: Request) -> Response:
        csrf = sessions.get(request.cookies.get("sid", ""))
        sent = await fields(request)
        if csrf is None or not secrets.compare_digest(sent.get("csrf", ""), csrf):
            return page("Refused", "<p>This form is not from this console.</p>", 403)
        paused.add(sent.get("module", ""))
        return RedirectResponse("/console/", status_code=303)

    async def conflict(request: Request) -> Response:
        csrf = sessions.get(request.cookies.get("sid", ""))
        if csrf is None:
            return RedirectResponse("/console/signin", status_code=303)
        cid = request.path_params["cid"]
        if cid in taken:
            return page(f"Conflict {cid}", f"<p class=outcome>resolved: took {taken[cid]}</p>")
        buttons = "".join(
            f'<button name="take" value="{side}">Take {side}</button>' for side in ("books", "crm")
        )
        return page(
            f"Conflict {cid}",
            f'<form method="post" action="/console/conflicts/{cid}/resolve">'
            f'<input type="hidden" name="csrf" value="{csrf}">{buttons}</form>',
        )

    async def resolve(request: Request) -> Response:
        csrf = sessions.get(request.cookies.get("sid", ""))
        sent = await fields(request)
        if csrf is None or not secrets.compare_digest(sent.get("csrf", ""), csrf):
            return page("Refused", "<p>This form is not from this console.</p>", 403)
        cid = request.path_params["cid"]
        taken[cid] = sent.get("take", "")
        return RedirectResponse(f"/console/conflicts/{cid}", status_code=303)

    return Starlette(
        routes=[
            Route("/console/conflicts/{cid}", conflict),
            Route("/console/conflicts/{cid}/resolve", resolve, methods=["POST"]),
            Route("/console/", overview),
            Route("/console/signin", signin, methods=["GET", "POST"]),
            Route("/console/pause", pause, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The fake console served by uvicorn on 127.0.0.1, a free port, in a thread."""
    server, thread, port = serve(fake_console(), "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_form_filled_and_submitted_in_chromium_reaches_the_server(page, base_url):
    """Signing in through the form lands on the overview, and its screenshot is saved."""
    response = pages.sign_in(page, base_url, "admin", "right")
    assert response.status == 200
    assert page.url == pages.url(base_url, "/")
    assert page.locator("h1").inner_text() == "Overview"
    assert "Signed in as admin" in page.content()
    shot = screenshot(page, "smoke-overview")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_wrong_password_stays_on_the_sign_in_page_with_its_status(page, base_url):
    """A refused sign-in leaves the browser on the sign-in page, the status readable."""
    response = pages.sign_in(page, base_url, "admin", "wrong")
    assert response.status == 401
    assert "Wrong name or password." in page.locator(".error").inner_text()
    screenshot(page, "smoke-signin-refused")


def test_a_control_pressed_for_one_module_changes_only_that_module(page, base_url):
    """Pressing a module's pause button posts its form with the token; only it pauses."""
    pages.sign_in(page, base_url, "admin", "right")
    assert pages.forms_without_csrf(page) == []
    response = pages.control(page, base_url, "pause", module="customers")
    assert response.status == 200
    items = page.locator("li").all_inner_texts()
    assert any(text.startswith("customers: paused") for text in items)
    assert any(text.startswith("invoices: on") for text in items)
    screenshot(page, "smoke-paused")


def test_resolving_by_a_sides_button_posts_that_side(page, base_url):
    """Pressing 'Take crm' on a conflict's page sends take=crm with the form's token."""
    pages.sign_in(page, base_url, "admin", "right")
    response = pages.resolve(page, base_url, 7, take="crm")
    assert response.status == 200
    assert page.url == pages.url(base_url, "/conflicts/7")
    assert page.locator(".outcome").inner_text() == "resolved: took crm"
    screenshot(page, "smoke-resolved")


def test_a_post_without_its_csrf_token_is_refused_though_signed_in(page, base_url):
    """A forged form (the session cookie, no token) gets 403 and changes nothing."""
    pages.sign_in(page, base_url, "admin", "right")
    forged = pages.forged_post(page, base_url, "/pause", {"module": "invoices"})
    assert forged.status == 403
    pages.goto(page, base_url, "/")
    assert "invoices: on" in page.content()


def test_forms_without_csrf_names_a_form_lacking_its_token(page, base_url):
    """The CSRF check on a page finds a POST form with no hidden csrf field."""
    pages.goto(page, base_url, "/signin")
    assert pages.forms_without_csrf(page) == []
    page.set_content('<form method="post" action="/console/sync"><button>Sync</button></form>')
    assert pages.forms_without_csrf(page) == ["/console/sync"]


def test_a_screenshot_name_that_could_leave_its_folder_is_refused():
    """Screenshot names are plain file names: a path or '..' is refused (no page needed)."""
    for name in ("../escape", "a/b", "", ".hidden", "a..b"):
        with pytest.raises(ValueError, match="screenshot name"):
            screenshot(None, name)


def test_missing_chromium_fails_in_ci_and_skips_elsewhere(monkeypatch, tmp_path):
    """Without chromium the fixture's reason names it; CI fails on it, a desk run skips."""
    monkeypatch.setattr(browser_setup, "CHROMIUM", tmp_path / "chromium")
    reason = browser_setup.missing_reason()
    assert reason is not None and str(tmp_path / "chromium") in reason
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI"):
        browser_setup._unavailable(reason)
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        browser_setup._unavailable(reason)
