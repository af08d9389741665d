"""Zoho's accounts server, as far as a server-side client uses it.

``POST /oauth/v2/token`` with form fields (or query parameters, which Zoho also accepts):

- ``grant_type=authorization_code`` + ``client_id``, ``client_secret``, ``code``: exchanges a
  self-client grant code (single use, valid 10 minutes) for a refresh token and a first
  access token;
- ``grant_type=refresh_token`` + ``client_id``, ``client_secret``, ``refresh_token``: a new
  access token valid ``token_ttl`` seconds (3600).

Answers are Zoho's: success ``{access_token, [refresh_token], scope, api_domain,
token_type: "Bearer", expires_in}``; a bad code or refresh token ``{"error": "invalid_code"}``
and a bad or revoked client ``{"error": "invalid_client"}``, both with HTTP 200 as Zoho
sends them; more than ``tokens_per_window`` (10) tokens per refresh token within
``token_window`` (600 s) gives HTTP 400 ``{"error": "Access Denied", "error_description":
"You have made too many requests continuously..."}``.  A refresh token keeps at most 15
live access tokens: minting a 16th retires the oldest, as Zoho does.

``POST /oauth/v2/token/revoke?token=<refresh token>`` revokes a refresh token.

The admin API can revoke and restore a client (every token of a revoked client stops
working), mint grant codes, mint a long-lived "static" access token for tests and
benchmarks (outside the limits above), and expire every access token at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .clock import Clock
from .errors import OAuthError
from .settings import Settings
from .store import Store
from .web import form_fields

SCOPE = (
    "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.notifications.ALL "
    "ZohoCRM.users.READ ZohoCRM.org.READ ZohoBooks.fullaccess.all"
)
CODE_TTL = 600
LIVE_TOKENS = 15


@attrs.frozen
class Client:
    client_id: str
    client_secret: str
    refresh_token: str


@attrs.frozen
class Principal:
    """Who a valid access token speaks for."""

    client_id: str
    token: str


def _token() -> str:
    return f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


class OAuth:
    """Clients, grant codes, refresh and access tokens, in the sandbox's store."""

    def __init__(self, store: Store, clock: Clock, settings: Callable[[], Settings]) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings

    # -- set-up and admin ---------------------------------------------------------------

    def default_client(self) -> Client:
        """The sandbox's self client, made on first use and kept in the store."""
        rows = self._store.query(
            "SELECT c.client_id, c.client_secret, r.token FROM oauth_clients c "
            "JOIN oauth_refresh r ON r.client_id = c.client_id ORDER BY c.rowid, r.rowid LIMIT 1"
        )
        if rows:
            return Client(*rows[0])
        client_id = "1000." + secrets.token_hex(15).upper()
        client = Client(client_id, secrets.token_hex(21), _token())
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO oauth_clients (client_id, client_secret, revoked) VALUES (?,?,0)",
                (client.client_id, client.client_secret),
            )
            db.execute(
                "INSERT INTO oauth_refresh (token, client_id, revoked) VALUES (?,?,0)",
                (client.refresh_token, client.client_id),
            )
        return client

    def grant_code(self, client_id: str | None = None) -> str:
        """A fresh self-client grant code, as the API console would show it."""
        client_id = client_id or self.default_client().client_id
        code = _token()
        self._store.execute(
            "INSERT INTO oauth_codes (code, client_id, expires) VALUES (?,?,?)",
            (code, client_id, self._clock.now() + CODE_TTL),
        )
        return code

    def set_revoked(self, revoked: bool, client_id: str | None = None) -> None:
        client_id = client_id or self.default_client().client_id
        changed = self._store.execute(
            "UPDATE oauth_clients SET revoked = ? WHERE client_id = ?", (int(revoked), client_id)
        )
        if not changed:
            raise KeyError(client_id)

    def static_token(self, ttl: float) -> str:
        """An access token for tests and benchmarks: valid ``ttl`` seconds, outside the
        per-refresh-token limits (it counts neither toward the 10 per 10 minutes nor the
        15 live tokens)."""
        client = self.default_client()
        token = _token()
        self._store.execute(
            "INSERT INTO oauth_access (token, client_id, refresh, issued, expires) "
            "VALUES (?,?,?,0,?)",
            (token, client.client_id, client.refresh_token, self._clock.now() + ttl),
        )
        return token

    def expire_all(self) -> int:
        return self._store.execute("UPDATE oauth_access SET expires = ?", (self._clock.now() - 1,))

    # -- the token endpoint -------------------------------------------------------------

    def token(self, form: Mapping[str, str], api_domain: str) -> dict[str, object]:
        grant = form.get("grant_type", "")
        if grant not in ("refresh_token", "authorization_code"):
            raise OAuthError("unsupported_grant_type" if grant else "invalid_request")
        client_id = form.get("client_id", "")
        secret_rows = self._store.query(
            "SELECT client_secret, revoked FROM oauth_clients WHERE client_id = ?", (client_id,)
        )
        if (
            not secret_rows
            or secret_rows[0][1]
            or not secrets.compare_digest(secret_rows[0][0], form.get("client_secret", ""))
        ):
            raise OAuthError("invalid_client")
        if grant == "authorization_code":
            refresh = self._exchange_code(client_id, form.get("code", ""))
        else:
            refresh = form.get("refresh_token", "")
            known = self._store.query(
                "SELECT 1 FROM oauth_refresh WHERE token = ? AND client_id = ? AND revoked = 0",
                (refresh, client_id),
            )
            if not known:
                raise OAuthError("invalid_code")
        access = self._mint(client_id, refresh)
        body: dict[str, object] = {"access_token": access}
        if grant == "authorization_code":
            body["refresh_token"] = refresh
        body |= {
            "scope": SCOPE,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": self._settings().token_ttl,
        }
        return body

    def _exchange_code(self, client_id: str, code: str) -> str:
        now = self._clock.now()
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT expires FROM oauth_codes WHERE code = ? AND client_id = ?",
                (code, client_id),
            ).fetchone()
            db.execute("DELETE FROM oauth_codes WHERE code = ?", (code,))
            if row is None or row[0] < now:
                raise OAuthError("invalid_code")
            refresh = _token()
            db.execute(
                "INSERT INTO oauth_refresh (token, client_id, revoked) VALUES (?,?,0)",
                (refresh, client_id),
            )
        return refresh

    def _mint(self, client_id: str, refresh: str) -> str:
        settings = self._settings()
        now = self._clock.now()
        with self._store.transaction() as db:
            recent = db.execute(
                "SELECT count(*) FROM oauth_access WHERE refresh = ? AND issued > ?",
                (refresh, now - settings.token_window),
            ).fetchone()[0]
            if recent >= settings.tokens_per_window:
                raise OAuthError(
                    "Access Denied",
                    status=400,
                    description="You have made too many requests continuously. "
                    "Please try again after some time.",
                )
            token = _token()
            db.execute(
                "INSERT INTO oauth_access (token, client_id, refresh, issued, expires) "
                "VALUES (?,?,?,?,?)",
                (token, client_id, refresh, now, now + settings.token_ttl),
            )
            live = db.execute(
                "SELECT token FROM oauth_access WHERE refresh = ? AND expires > ? "
                "AND issued > 0 ORDER BY issued DESC, rowid DESC",
                (refresh, now),
            ).fetchall()
            for (old,) in live[LIVE_TOKENS:]:
                db.execute("UPDATE oauth_access SET expires = ? WHERE token = ?", (now, old))
        return token

    def revoke_refresh(self, refresh: str) -> bool:
        return bool(
            self._store.execute("UPDATE oauth_refresh SET revoked = 1 WHERE token = ?", (refresh,))
        )

    # -- checking a request ---------------------------------------------------------------

    def authenticate(self, header: str | None) -> Principal | str:
        """The principal behind an ``Authorization`` header, or why there is none:
        ``"missing"`` (no usable header) or ``"invalid"`` (unknown, expired or revoked)."""
        if not header:
            return "missing"
        scheme, _, token = header.partition(" ")
        if scheme != "Zoho-oauthtoken" or not token.strip():
            return "missing"
        token = token.strip()
        rows = self._store.query(
            "SELECT a.client_id, a.expires, c.revoked, r.revoked FROM oauth_access a "
            "JOIN oauth_clients c ON c.client_id = a.client_id "
            "JOIN oauth_refresh r ON r.token = a.refresh WHERE a.token = ?",
            (token,),
        )
        if not rows:
            return "invalid"
        client_id, expires, client_revoked, refresh_revoked = rows[0]
        if expires <= self._clock.now() or client_revoked or refresh_revoked:
            return "invalid"
        return Principal(client_id, token)


async def _params(request: Request) -> dict[str, str]:
    """Form fields, then query parameters (Zoho takes either)."""
    return dict(request.query_params) | await form_fields(request)


async def token_endpoint(request: Request) -> Response:
    oauth: OAuth = request.app.state.sandbox.oauth
    body = oauth.token(await _params(request), str(request.base_url).rstrip("/"))
    return JSONResponse(body)


async def revoke_endpoint(request: Request) -> Response:
    oauth: OAuth = request.app.state.sandbox.oauth
    token = (await _params(request)).get("token", "")
    if not oauth.revoke_refresh(token):
        raise OAuthError("invalid_request")
    return JSONResponse({"status": "success"})


ROUTES = [
    Route("/oauth/v2/token", token_endpoint, methods=["POST"]),
    Route("/oauth/v2/token/revoke", revoke_endpoint, methods=["POST"]),
]

__all__ = [
    "Client",
    "OAuth",
    "Principal",
    "ROUTES",
    "SCOPE",
]
