"""Credentials: environment and 0600 files, storing them, and the self-client exchange."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from replicator.connectors.zoho.auth import OAuth, StaticToken
from replicator.connectors.zoho.credentials import (
    Credentials,
    SharedAuth,
    exchange_grant_code,
    load_credentials,
    open_auth,
    store_credentials,
)
from replicator.connectors.zoho.secrets import Secret
from replicator.errors import ConfigError, ZohoAuthError
from tests.connectors.zoho.fakes import REFRESH, SECRET, reply

ENV = {
    "REPLICATOR_ZOHO_CLIENT_ID": "1000.CLIENTID",
    "REPLICATOR_ZOHO_CLIENT_SECRET": SECRET,
    "REPLICATOR_ZOHO_REFRESH_TOKEN": REFRESH,
}


def test_credentials_come_from_the_environment() -> None:
    """The three secrets and the data centre are read from REPLICATOR_ZOHO_* variables."""
    env = {**ENV, "REPLICATOR_ZOHO_DATA_CENTRE": "eu"}
    credentials = load_credentials("crm", env=env)
    assert credentials.client_id == "1000.CLIENTID"
    assert credentials.client_secret.reveal() == SECRET
    assert credentials.refresh_token.reveal() == REFRESH
    assert credentials.accounts_url == "https://accounts.zoho.eu"


def test_a_side_variable_overrides_the_shared_one() -> None:
    """REPLICATOR_<SIDE>_* wins over REPLICATOR_ZOHO_* for that side only."""
    env = {**ENV, "REPLICATOR_BOOKS_ACME_REFRESH_TOKEN": "1000.other-refresh-token"}
    assert (
        load_credentials("books:acme", env=env).refresh_token.reveal() == "1000.other-refresh-token"
    )
    assert load_credentials("crm", env=env).refresh_token.reveal() == REFRESH


def test_missing_credentials_name_the_variables_to_set() -> None:
    """With nothing set, the error names what is missing and where to put it."""
    with pytest.raises(ConfigError, match="REPLICATOR_ZOHO_CLIENT_ID"):
        load_credentials("crm", env={})


def test_a_private_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    """A 0600 JSON file supplies the keys; an environment variable overrides one."""
    path = tmp_path / "crm.json"
    path.write_text(
        json.dumps(
            {
                "client_id": "file-id",
                "client_secret": SECRET,
                "refresh_token": REFRESH,
                "organization_id": "42",
            }
        )
    )
    path.chmod(0o600)
    credentials = load_credentials("crm", path=path, env={"REPLICATOR_CRM_CLIENT_ID": "env-id"})
    assert credentials.client_id == "env-id"
    assert credentials.organization_id == "42"
    assert credentials.refresh_token.reveal() == REFRESH


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    """A credentials file readable by group or others is refused, naming it and chmod 600."""
    path = tmp_path / "crm.json"
    path.write_text(
        json.dumps({"client_id": "a", "client_secret": SECRET, "refresh_token": REFRESH})
    )
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        load_credentials("crm", path=path, env={})
    message = str(caught.value)
    assert str(path) in message and f"chmod 600 {path}" in message
    assert SECRET not in message and REFRESH not in message


def test_a_broken_file_never_shows_its_text(tmp_path: Path) -> None:
    """A file that is not JSON is named with the line, not the (secret) content."""
    path = tmp_path / "crm.json"
    path.write_text('{"client_secret": "' + SECRET + '",, }')
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="not JSON") as caught:
        load_credentials("crm", path=path, env={})
    assert SECRET not in str(caught.value)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_stored_credentials_are_0600_and_load_back(tmp_path: Path) -> None:
    """store_credentials writes owner-only JSON that load_credentials accepts."""
    path = tmp_path / "dir" / "books.json"
    (tmp_path / "dir").mkdir()
    loose = path.with_name("books.json.tmp")
    loose.write_text("{}")
    loose.chmod(0o666)  # a leftover temporary file must not lend its mode
    store_credentials(
        path,
        client_id="1000.ID",
        client_secret=Secret(SECRET),
        refresh_token=REFRESH,
        data_centre="in",
        organization_id="777",
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = load_credentials("books", path=path, env={})
    assert credentials.accounts_url == "https://accounts.zoho.in"
    assert credentials.organization_id == "777"
    assert credentials.client_secret.reveal() == SECRET


def test_credentials_repr_hides_the_secrets() -> None:
    """Credentials print their secrets as ***."""
    credentials = load_credentials("crm", env=ENV)
    text = repr(credentials) + str(credentials)
    assert SECRET not in text and REFRESH not in text and "***" in text


def test_exchange_grant_code_returns_the_refresh_token() -> None:
    """The self-client code is posted as authorization_code and the refresh token returned."""
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(dict(p.split("=", 1) for p in request.content.decode().split("&")))
        return reply(
            200,
            {
                "access_token": "1000.a",
                "refresh_token": REFRESH,
                "api_domain": "https://www.zohoapis.com",
                "expires_in": 3600,
            },
        )

    http = httpx.Client(transport=httpx.MockTransport(handler))
    token = exchange_grant_code(
        "https://accounts.zoho.com", "1000.ID", SECRET, "1000.code", http=http
    )
    assert isinstance(token, Secret) and token.reveal() == REFRESH
    assert sent == [
        {
            "grant_type": "authorization_code",
            "client_id": "1000.ID",
            "client_secret": SECRET,
            "code": "1000.code",
        }
    ]


def test_a_used_grant_code_is_a_clear_auth_error() -> None:
    """Zoho's invalid_code answer says the code is invalid or used, without the secrets."""
    http = httpx.Client(
        transport=httpx.MockTransport(lambda r: reply(200, {"error": "invalid_code"}))
    )
    with pytest.raises(ZohoAuthError, match="invalid_code") as caught:
        exchange_grant_code("https://accounts.zoho.com", "1000.ID", SECRET, "1000.code", http=http)
    assert SECRET not in str(caught.value) and "1000.code" not in str(caught.value)


def test_side_options_choose_the_data_centre_and_organisation() -> None:
    """open_auth applies the side's data_centre and organization_id over the credentials."""
    auth, credentials = open_auth("books", {"data_centre": "jp", "organization_id": "9"}, env=ENV)
    assert isinstance(auth, SharedAuth)
    assert auth.accounts_url == "https://accounts.zoho.jp"
    assert credentials.organization_id == "9"
    auth.close()


def test_sides_with_one_refresh_token_share_one_oauth_session() -> None:
    """CRM and Books signing in with the same credentials share one access token (one
    refresh a sync, not one a side); the session closes when its last side does."""
    crm, _ = open_auth("crm", {}, env=ENV)
    books, _ = open_auth("books", {"organization_id": "9"}, env=ENV)
    other, _ = open_auth("crm", {}, env={**ENV, "REPLICATOR_ZOHO_REFRESH_TOKEN": "1000.other"})
    assert isinstance(crm, SharedAuth) and isinstance(books, SharedAuth)
    assert isinstance(other, SharedAuth)
    assert crm._oauth is books._oauth and other._oauth is not crm._oauth
    session = crm._oauth
    crm.close()
    crm.close()  # closing a handle twice counts once
    assert not session._http.is_closed
    books.close()
    assert session._http.is_closed
    again, _ = open_auth("crm", {}, env=ENV)
    assert isinstance(again, SharedAuth) and again._oauth is not session
    again.close()
    other.close()


def test_a_test_transport_gets_its_own_session() -> None:
    """With a transport (a fake), every side gets its own OAuth, as the tests expect."""
    transport = httpx.MockTransport(lambda request: reply(500, {}))
    first, _ = open_auth("crm", {}, env=ENV, transport=transport)
    second, _ = open_auth("books", {}, env=ENV, transport=transport)
    assert isinstance(first, OAuth) and first is not second


def test_an_access_token_skips_oauth() -> None:
    """ACCESS_TOKEN with API_DOMAIN (the sandbox) gives a static token and no refresh."""
    env = {
        "REPLICATOR_ZOHO_ACCESS_TOKEN": "sandbox",
        "REPLICATOR_ZOHO_API_DOMAIN": "http://127.0.0.1:9",
    }
    auth, credentials = open_auth("crm", {}, env=env)
    assert isinstance(auth, StaticToken) and auth.api_domain == "http://127.0.0.1:9"
    assert isinstance(credentials, Credentials) and auth.token() == "sandbox"


def test_an_access_token_takes_the_api_domain_from_the_side() -> None:
    """The sandbox's fixed token with api_domain set in the side's options."""
    auth, _ = open_auth(
        "crm", {"api_domain": "http://127.0.0.1:8"}, env={"REPLICATOR_ZOHO_ACCESS_TOKEN": "sandbox"}
    )
    assert isinstance(auth, StaticToken) and auth.api_domain == "http://127.0.0.1:8"
    with pytest.raises(ConfigError, match="api_domain"):
        open_auth("crm", {}, env={"REPLICATOR_ZOHO_ACCESS_TOKEN": "sandbox"})
