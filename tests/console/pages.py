"""Page objects for the console's browser tests, written to the console contract.

What the contract (``CONSOLE_CONTRACT.md``) lets a test rely on, and nothing more:

- every page is under ``/console``; every form posts (``method="post"``) to an ``action``
  ending in its route's path (``/console/pause``, ``/console/conflicts/7/resolve``), and
  carries a hidden field ``csrf``;
- a choice is a submit button named by its field and value: resolve's
  ``<button name="take" value="books">``, ``decision`` = link|clone|skip;
- the sign-in form posts ``name`` and ``password`` to ``/console/signin``.

Each helper that submits returns the response the browser ended on (after the 303 to the
next page), so a test asserts its status (403, 429) and then looks at the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import APIResponse, Locator, Page, Response

PREFIX = "/console"
SUBMIT = "button[type=submit], button:not([type]), input[type=submit]"
CSRF_FIELD = "input[type=hidden][name=csrf]"


def url(base_url: str, path: str = "/") -> str:
    """The console's address of ``path`` (``/conflicts``, ``/`` for the overview)."""
    return base_url.rstrip("/") + PREFIX + (path if path.startswith("/") else "/" + path)


def goto(page: Page, base_url: str, path: str = "/") -> Response:
    """Open a console page; the response (its status is the page's)."""
    response = page.goto(url(base_url, path))
    if response is None:  # only for same-document navigations, which a console page isn't
        raise AssertionError(f"no response opening {path}")
    return response


def form(page: Page, path: str) -> Locator:
    """The one form posting to the console route ``path`` (``/pause``, ``/signin``)."""
    return page.locator(f'form[method="post" i][action$="{PREFIX}{path}"]')


def button(scope: Page | Locator, name: str, value: str) -> Locator:
    """The submit button that sends ``name=value`` (``take`` = ``books``)."""
    return scope.locator(f'button[name="{name}"][value="{value}"]')


def csrf_token(page: Page, path: str) -> str:
    """The CSRF token in the form posting to ``path``."""
    token = form(page, path).locator(CSRF_FIELD).get_attribute("value")
    if not token:
        raise AssertionError(f"the form posting to {path} has no csrf token")
    return token


def forms_without_csrf(page: Page) -> list[str]:
    """The actions of the page's POST forms that lack a non-empty hidden ``csrf`` field
    (the contract wants none)."""
    return page.eval_on_selector_all(
        'form[method="post" i]',
        """forms => forms
            .filter(f => !(f.querySelector('input[type=hidden][name=csrf]') || {}).value)
            .map(f => f.getAttribute('action') || '')""",
    )


def submit(
    page: Page,
    path: str,
    *,
    fields: Mapping[str, str] | None = None,
    press: tuple[str, str] | None = None,
) -> Response:
    """Fill ``fields`` of the form posting to ``path`` and submit it, with the button
    ``press`` = (name, value) or else the form's first submit button; the response the
    browser ends on."""
    target = form(page, path)
    for name, value in (fields or {}).items():
        field = target.locator(f'[name="{name}"]')
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    clicked = button(target, *press) if press else target.locator(SUBMIT).first
    with page.expect_navigation() as navigation:
        clicked.click()
    return navigation.value


def sign_in(page: Page, base_url: str, name: str, password: str) -> Response:
    """Sign in on ``/console/signin``; the response of the page the browser lands on
    (the overview or the customers when it worked, the sign-in page again when not)."""
    goto(page, base_url, "/signin")
    return submit(page, "/signin", fields={"name": name, "password": password})


def sign_out(page: Page) -> Response:
    """Press the sign-out button the base template shows a signed-in user."""
    return submit(page, "/signout")


def resolve(page: Page, base_url: str, conflict_id: int | str, **choice: str) -> Response:
    """Resolve a conflict from its page as ``conflicts resolve`` would: ``take=SIDE``
    presses that side's button; ``value=...`` or ``decision=...`` (with ``with_=...``)
    fill the form and press the button named by the decision, or the first one."""
    path = f"/conflicts/{conflict_id}/resolve"
    goto(page, base_url, f"/conflicts/{conflict_id}")
    if "take" in choice:
        return submit(page, path, press=("take", choice["take"]))
    if "decision" in choice:
        fields = {"with": choice["with_"]} if "with_" in choice else {}
        return submit(page, path, fields=fields, press=("decision", choice["decision"]))
    return submit(page, path, fields=choice)


def control(page: Page, base_url: str, action: str, **fields: str) -> Response:
    """Press a control (``pause``, ``resume``, ``sync``, ``retry``) on the overview,
    in the form whose hidden or visible ``module`` field is ``fields['module']`` when
    given: the overview may show one such form per module."""
    goto(page, base_url, "/")
    forms = form(page, f"/{action}")
    module = fields.get("module")
    if module is not None:
        forms = forms.filter(has=page.locator(f'[name="module"][value="{module}"]'))
    forms.first.wait_for()
    with page.expect_navigation() as navigation:
        forms.first.locator(SUBMIT).first.click()
    return navigation.value


def forged_post(page: Page, base_url: str, path: str, data: Mapping[str, str]) -> APIResponse:
    """POST ``data`` to a console route with this page's cookies (a signed-in session)
    but no CSRF token unless ``data`` has one: what a forged cross-site form sends."""
    return page.request.post(url(base_url, path), form=dict(data), max_redirects=0)


__all__ = [
    "CSRF_FIELD",
    "PREFIX",
    "SUBMIT",
    "button",
    "control",
    "csrf_token",
    "forged_post",
    "form",
    "forms_without_csrf",
    "goto",
    "resolve",
    "sign_in",
    "sign_out",
    "submit",
    "url",
]
