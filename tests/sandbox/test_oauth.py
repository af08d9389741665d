"""The accounts server and token checks, as Zoho's OAuth behaves."""

from __future__ import annotations

import httpx

from tests.sandbox.zoho import Zoho


def test_refresh_gives_a_bearer_token_for_an_hour(sandbox, zoho):
    """A refresh answers access_token, expires_in 3600, token_type Bearer and api_domain."""
    answer = zoho.refresh().json()
    assert answer["access_token"].startswith("1000.")
    assert answer["expires_in"] == 3600
    assert answer["token_type"] == "Bearer"
    assert answer["api_domain"] == sandbox.url


def test_bad_client_secret_is_invalid_client(zoho):
    """A wrong client secret answers {"error": "invalid_client"} with HTTP 200, as Zoho."""
    response = zoho.refresh(client_secret="nope")
    assert response.status_code == 200
    assert response.json() == {"error": "invalid_client"}


def test_unknown_refresh_token_is_invalid_code(zoho):
    """An unknown refresh token answers {"error": "invalid_code"}."""
    assert zoho.refresh(refresh_token="1000.x.y").json() == {"error": "invalid_code"}


def test_missing_grant_type_is_refused(zoho):
    """No grant_type is an invalid request."""
    response = zoho.refresh(grant_type="")
    assert response.json() == {"error": "invalid_request"}


def test_grant_code_exchange_returns_a_refresh_token_once(sandbox):
    """A self-client grant code yields a working refresh token, and only once."""
    code = sandbox.admin.grant_code()
    creds = sandbox.credentials
    form = {
        "grant_type": "authorization_code",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "code": code,
    }
    answer = httpx.post(f"{sandbox.url}/oauth/v2/token", data=form).json()
    assert answer["refresh_token"].startswith("1000.") and answer["access_token"]
    again = httpx.post(f"{sandbox.url}/oauth/v2/token", data=form).json()
    assert again == {"error": "invalid_code"}
    client = Zoho(creds | {"refresh_token": answer["refresh_token"]})
    assert client.crm("GET", "/org").status_code == 200


def test_more_than_ten_tokens_in_ten_minutes_is_access_denied(fresh):
    """The 11th token within 10 minutes is refused with 400 Access Denied; later it works."""
    box = fresh()
    client = Zoho(box.credentials)
    for _ in range(10):
        assert "access_token" in client.refresh().json()
    denied = client.refresh()
    assert denied.status_code == 400
    assert denied.json()["error"] == "Access Denied"
    assert "too many requests" in denied.json()["error_description"]
    box.admin.advance_clock(601)
    assert "access_token" in client.refresh().json()


def test_expired_token_gets_each_apis_401(fresh):
    """After an hour the token is refused: CRM INVALID_TOKEN, Books code 57."""
    box = fresh()
    client = Zoho(box.credentials)
    assert client.crm("GET", "/Accounts", params={"fields": "Account_Name"}).status_code == 204
    box.admin.advance_clock(3601)
    crm = client.crm("GET", "/Accounts", params={"fields": "Account_Name"})
    assert crm.status_code == 401
    assert crm.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }
    books = client.books("GET", "/contacts")
    assert books.status_code == 401 and books.json()["code"] == 57


def test_missing_or_foreign_auth_header_is_authentication_failure(sandbox):
    """No header, or a Bearer header, is CRM AUTHENTICATION_FAILURE / Books code 14."""
    url = sandbox.url
    crm = httpx.get(f"{url}/crm/v8/Accounts", params={"fields": "Account_Name"})
    assert crm.status_code == 401 and crm.json()["code"] == "AUTHENTICATION_FAILURE"
    bearer = httpx.get(
        f"{url}/crm/v8/Accounts",
        params={"fields": "Account_Name"},
        headers={"Authorization": "Bearer abc"},
    )
    assert bearer.json()["code"] == "AUTHENTICATION_FAILURE"
    books = httpx.get(
        f"{url}/books/v3/contacts",
        params={"organization_id": sandbox.credentials["organization_id"]},
    )
    assert books.status_code == 401 and books.json()["code"] == 14


def test_wrong_token_is_invalid_token(sandbox):
    """A made-up token is CRM 401 INVALID_TOKEN."""
    response = httpx.get(
        f"{sandbox.url}/crm/v8/Accounts",
        params={"fields": "Account_Name"},
        headers={"Authorization": "Zoho-oauthtoken 1000.abc.def"},
    )
    assert response.status_code == 401 and response.json()["code"] == "INVALID_TOKEN"


def test_revoked_client_loses_tokens_until_restored(fresh):
    """Revoking the client stops its tokens and refreshes; restoring brings both back."""
    box = fresh()
    client = Zoho(box.credentials)
    client.token()
    box.admin.revoke()
    assert client.crm("GET", "/org").status_code == 401
    assert client.refresh().json() == {"error": "invalid_client"}
    box.admin.restore()
    assert client.crm("GET", "/org").status_code == 200


def test_revoke_endpoint_kills_a_refresh_token(fresh):
    """POST /oauth/v2/token/revoke makes the refresh token unusable."""
    box = fresh()
    creds = box.credentials
    answer = httpx.post(
        f"{box.url}/oauth/v2/token/revoke", params={"token": creds["refresh_token"]}
    )
    assert answer.json() == {"status": "success"}
    assert Zoho(creds).refresh().json() == {"error": "invalid_code"}


def test_static_token_for_tests_is_outside_the_limits(fresh):
    """An admin-minted token works for its ttl and leaves the 10-per-10-minutes budget."""
    box = fresh()
    token = box.admin.static_token(ttl=7200)
    client = Zoho(box.credentials)
    client._token = token
    for _ in range(10):
        assert "access_token" in client.refresh().json()
    assert client.crm("GET", "/org").status_code == 200
    box.admin.advance_clock(7201)
    assert client.crm("GET", "/org").status_code == 401
