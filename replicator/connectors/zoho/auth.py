"""Zoho OAuth: the refresh-token flow and fixed tokens, the :class:`~.http.Auth`s a
client signs its calls with.

:class:`OAuth` runs the refresh-token flow (``POST {accounts}/oauth/v2/token``), caches the
access token until shortly before it expires, and never asks for more than Zoho allows (10
access tokens per 10 minutes per refresh token): it raises
:class:`~replicator.errors.ZohoRefreshLimitError` instead.  The ``api_domain`` of the
token answer is where calls go.  :mod:`.tokens` shares its token between processes through
a file.  :class:`StaticToken` is a fixed token (the sandbox, tests).  :func:`token_request`
is the one call to the token endpoint, also used to exchange a grant code.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from replicator.connectors.zoho.http import HTTPX_EXCEPTIONS, translate
from replicator.connectors.zoho.limits import Clock, retry_after
from replicator.connectors.zoho.secrets import Redactor, Secret
from replicator.errors import ZohoAuthError, ZohoRefreshLimitError

log = logging.getLogger("replicator.zoho")

TOKEN_LIMIT = 10  # access tokens per refresh token ...
TOKEN_WINDOW = 600.0  # ... per this many seconds


class StaticToken:
    """A fixed token and API domain (the sandbox, tests)."""

    def __init__(self, token: Secret | str, api_domain: str) -> None:
        self._token = Secret(token) if not isinstance(token, Secret) else token
        self.api_domain = api_domain.rstrip("/")
        self.redactor = Redactor()
        self.redactor.add(self._token)

    def token(self) -> str:
        return self._token.reveal()

    def invalidate(self, token: str) -> None:
        return None

    def __repr__(self) -> str:
        return f"StaticToken(api_domain={self.api_domain!r})"


def token_request(
    http: httpx.Client, accounts_url: str, form: Mapping[str, str], redactor: Redactor
) -> dict[str, Any]:
    """POST a form to ``{accounts}/oauth/v2/token``; the answer, or a :class:`ZohoAuthError`.

    Zoho answers some refusals with HTTP 200 and an ``error`` key, so both are checked.
    """
    url = accounts_url.rstrip("/") + "/oauth/v2/token"
    where = f"Zoho OAuth at {accounts_url}"
    try:
        response = http.post(url, data=dict(form))
    except HTTPX_EXCEPTIONS as exc:
        raise translate(exc, where, redactor) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    # a refusal for too many requests says when to come back, if the server said so
    delay = retry_after(response)
    wait = {"retry_after": delay} if delay is not None else {}
    if response.status_code >= 500 or response.status_code == 429:
        raise ZohoAuthError(
            f"{where}: HTTP {response.status_code}",
            status=response.status_code,
            retryable=True,
            details=wait,
        )
    if response.status_code >= 400 or "error" in body or "access_token" not in body:
        error = redactor.scrub(str(body.get("error") or f"HTTP {response.status_code}"))
        hint = {
            "invalid_code": " (the refresh token or grant code is invalid, used or revoked)",
            "invalid_client": " (check the client id and secret, and the data centre)",
            "invalid_client_secret": " (check the client secret)",
            "Access Denied": " (too many token requests: wait a few minutes)",
        }.get(error, "")
        description = body.get("error_description")
        more = f": {redactor.scrub(str(description))}" if description else ""
        raise ZohoAuthError(
            f"{where}: token request refused: {error}{hint}{more}",
            status=response.status_code,
            code=error,
            details=wait,
        )
    return body


class OAuth:
    """The refresh-token flow, with the token cached and refreshes kept within Zoho's limit."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: Secret | str,
        refresh_token: Secret | str,
        accounts_url: str,
        api_domain: str | None = None,
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = time.monotonic,
        margin: float = 300.0,
        limit: int = TOKEN_LIMIT,
        window: float = TOKEN_WINDOW,
    ) -> None:
        self.client_id = client_id
        self._client_secret = Secret(client_secret)
        self._refresh_token = Secret(refresh_token)
        self.accounts_url = accounts_url.rstrip("/")
        self._domain_override = api_domain.rstrip("/") if api_domain else None
        self._api_domain: str | None = None
        self._http = http or httpx.Client(
            transport=transport, timeout=httpx.Timeout(30.0, connect=10.0)
        )
        self._owns_http = http is None
        self.clock, self.margin, self.limit, self.window = clock, margin, limit, window
        self._token: Secret | None = None
        self._expires = 0.0
        self._refreshes: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.redactor = Redactor()
        self.redactor.add(self._client_secret)
        self.redactor.add(self._refresh_token)
        self.calls = 0  # token requests made

    @property
    def api_domain(self) -> str:
        if self._domain_override:
            return self._domain_override
        if self._api_domain is None:
            self.token()
        assert self._api_domain is not None
        return self._api_domain

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires:
                self._refresh()
            assert self._token is not None
            return self._token.reveal()

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (the API refused it); the next :meth:`token` refreshes."""
        with self._lock:
            if self._token is not None and self._token.reveal() == token:
                self._token = None

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _refresh(self) -> None:
        now = self.clock()
        self._use(self._request(now), now)

    def _request(self, now: float) -> dict[str, Any]:
        """Ask the token endpoint for a new access token (within this process's count)."""
        while self._refreshes and now - self._refreshes[0] >= self.window:
            self._refreshes.popleft()
        if len(self._refreshes) >= self.limit:
            wait = self.window - (now - self._refreshes[0])
            raise ZohoRefreshLimitError(
                f"Zoho OAuth at {self.accounts_url}: {self.limit} access tokens were already "
                f"made in the last {self.window / 60:g} minutes for this refresh token, Zoho's "
                f"limit; not refreshing again for {wait:.0f} s (is another process using the "
                "same refresh token, or are tokens being refused?)",
                retryable=True,
                details={"retry_in": wait},
            )
        self._refreshes.append(now)
        self.calls += 1
        return token_request(
            self._http,
            self.accounts_url,
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self._client_secret.reveal(),
                "refresh_token": self._refresh_token.reveal(),
            },
            self.redactor,
        )

    def _use(self, body: Mapping[str, Any], now: float) -> float:
        """Hold the token of a token answer got at ``now``; returns its lifetime (s)."""
        self._token = Secret(str(body["access_token"]))
        self.redactor.add(self._token)
        expires_in = float(body.get("expires_in") or body.get("expires_in_sec") or 3600)
        self._expires = now + max(expires_in - self.margin, expires_in / 2)
        domain = body.get("api_domain")
        if domain:
            self._api_domain = str(domain).rstrip("/")
        elif self._api_domain is None:
            raise ZohoAuthError(f"Zoho OAuth at {self.accounts_url}: no api_domain in answer")
        log.debug("zoho oauth: new access token, valid %.0f s", expires_in)
        return expires_in

    def __repr__(self) -> str:
        return f"OAuth(client_id={self.client_id!r}, accounts_url={self.accounts_url!r})"


__all__ = ["TOKEN_LIMIT", "TOKEN_WINDOW", "OAuth", "StaticToken", "token_request"]
