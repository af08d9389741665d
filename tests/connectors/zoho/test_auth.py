"""Zoho OAuth: the refresh form, the cached token, the refresh allowance, refusals, fixed tokens."""

from __future__ import annotations

import httpx
import pytest

from replicator.connectors.zoho.auth import StaticToken
from replicator.connectors.zoho.http import ApiClient
from replicator.errors import (
    ZohoAuthError,
    ZohoRefreshLimitError,
)
from tests.connectors.zoho.conftest import api, oauth, ok
from tests.connectors.zoho.fakes import REFRESH, SECRET, TOKEN, FakeClock, reply, token_handler


def test_oauth_posts_the_refresh_form_and_uses_the_returned_api_domain() -> None:
    """A refresh posts the four form fields; calls go to the api_domain Zoho returned."""
    clock = FakeClock()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth/v2/token":
            return token_handler(request, "https://www.zohoapis.eu")
        return reply(200, {"data": []})

    transport = httpx.MockTransport(handler)
    client = ApiClient(oauth(transport, clock), "/crm/v8", transport=transport)
    client.request("GET", "/Accounts", kind="list")
    token_call, call = seen
    assert token_call.method == "POST" and str(token_call.url).startswith("https://accounts.test")
    form = dict(pair.split("=", 1) for pair in token_call.content.decode().split("&"))
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "1000.CLIENTID",
        "client_secret": SECRET,
        "refresh_token": REFRESH,
    }
    assert str(call.url) == "https://www.zohoapis.eu/crm/v8/Accounts"
    assert call.headers["authorization"] == f"Zoho-oauthtoken {TOKEN}"


def test_the_token_is_cached_until_shortly_before_it_expires() -> None:
    """Calls within the hour reuse one token; near expiry a new one is asked for."""
    clock = FakeClock()
    client = api(ok, clock)
    for _ in range(20):
        client.request("GET", "/Accounts", kind="list")
    assert client.auth.calls == 1
    clock.advance(3600 - 301)
    client.request("GET", "/Accounts", kind="list")
    assert client.auth.calls == 1
    clock.advance(2)
    client.request("GET", "/Accounts", kind="list")
    assert client.auth.calls == 2


def test_refreshes_never_exceed_ten_in_ten_minutes() -> None:
    """The eleventh refresh inside ten minutes is refused with a clear error, not sent."""
    clock = FakeClock()
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return token_handler(request, "https://api.test")

    auth = oauth(httpx.MockTransport(handler), clock)
    for _ in range(10):
        auth.token()
        auth.invalidate(TOKEN)
        clock.advance(30)
    with pytest.raises(ZohoRefreshLimitError, match="10 access tokens") as caught:
        auth.token()
    assert "refresh token" in str(caught.value)
    assert len(sent) == 10
    clock.advance(600)
    auth.token()
    assert len(sent) == 11


def test_a_refused_refresh_names_the_reason_and_a_fix() -> None:
    """Zoho's 200-with-error answer becomes ZohoAuthError naming the error code."""
    clock = FakeClock()
    transport = httpx.MockTransport(lambda r: reply(200, {"error": "invalid_client"}))
    auth = oauth(transport, clock)
    with pytest.raises(ZohoAuthError, match="invalid_client.*client id and secret"):
        auth.token()


def test_a_static_token_needs_no_oauth() -> None:
    """StaticToken (the sandbox) sends its token and calls its domain; repr hides it."""
    seen = []
    transport = httpx.MockTransport(lambda r: seen.append(r) or reply(200, {}))
    client = ApiClient(
        StaticToken("sandbox-token", "http://127.0.0.1:8777"), "/books/v3", transport=transport
    )
    client.request("GET", "/contacts", kind="list", params={"organization_id": "1"})
    assert str(seen[0].url) == "http://127.0.0.1:8777/books/v3/contacts?organization_id=1"
    assert seen[0].headers["authorization"] == "Zoho-oauthtoken sandbox-token"
    assert "sandbox-token" not in repr(client.auth)
