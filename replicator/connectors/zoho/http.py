"""The retrying HTTP client both Zoho connectors call their API through.

:class:`ApiClient` wraps :class:`httpx.Client`: ``Authorization: Zoho-oauthtoken`` from an
:class:`Auth` (:mod:`.auth`), one refresh and one retry on a 401, retries with exponential
backoff and jitter on 429 / 5xx / timeouts / transport errors (honouring ``Retry-After`` and
``X-Rate-Limit-Reset``), the client-side limits of :mod:`.limits` (Books' 100 requests a
minute per organisation; CRM's credit budget and a concurrency cap), and a count of
requests by kind.  Every message it raises passes through the auth's
:class:`~.secrets.Redactor`.

:func:`translate` is the one place an httpx exception becomes a
:class:`~replicator.errors.ZohoError` (the tree is drawn in :mod:`replicator.errors`); a
test checks every exception class httpx exports has an entry of its own.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from replicator.connectors.zoho.limits import (
    Clock,
    CreditBudget,
    RateLimiter,
    Sleep,
    reset_seconds,
    retry_after,
)
from replicator.connectors.zoho.secrets import Redactor
from replicator.connectors.zoho.values import dumps, loads
from replicator.errors import ZohoAuthError, ZohoError, ZohoLimitError, ZohoTransportError

log = logging.getLogger("replicator.zoho")


class Auth(Protocol):
    """Gives access tokens and the API domain to call."""

    def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...

    @property
    def api_domain(self) -> str: ...


# -- httpx errors, translated ------------------------------------------------------------

# httpx exception -> (what happened, retryable, surely not sent).  Most specific first; the
# test suite checks every exception class httpx exports finds an entry other than the last.
_HTTPX_ERRORS: tuple[tuple[type[Exception], str, bool, bool], ...] = (
    (httpx.ConnectTimeout, "timed out connecting", True, True),
    (httpx.PoolTimeout, "timed out waiting for a free connection", True, True),
    (httpx.ReadTimeout, "timed out waiting for the answer", True, False),
    (httpx.WriteTimeout, "timed out sending the request", True, False),
    (httpx.TimeoutException, "timed out", True, False),
    (httpx.ConnectError, "could not connect", True, True),
    (httpx.ReadError, "connection failed while reading the answer", True, False),
    (httpx.WriteError, "connection failed while sending the request", True, False),
    (httpx.CloseError, "connection failed while closing", True, False),
    (httpx.ProxyError, "the proxy failed", True, True),
    (httpx.RemoteProtocolError, "the server broke the HTTP protocol (dropped?)", True, False),
    (httpx.LocalProtocolError, "the request broke the HTTP protocol", False, True),
    (httpx.UnsupportedProtocol, "unsupported URL scheme", False, True),
    (httpx.NetworkError, "the network failed", True, False),
    (httpx.ProtocolError, "HTTP protocol error", True, False),
    (httpx.TransportError, "transport failure", True, False),
    (httpx.DecodingError, "the answer could not be decoded", True, False),
    (httpx.TooManyRedirects, "too many redirects", False, False),
    (httpx.HTTPStatusError, "error status", False, False),
    (httpx.InvalidURL, "invalid URL", False, True),
    (httpx.CookieConflict, "conflicting cookies", False, True),
    (httpx.RequestError, "the request failed", True, False),
    (httpx.StreamError, "the answer's stream was misused", False, False),
    (httpx.HTTPError, "HTTP failure", True, False),
)


HTTPX_EXCEPTIONS: tuple[type[Exception], ...] = tuple(entry[0] for entry in _HTTPX_ERRORS)


def _httpx_entry(exc_type: type[BaseException]) -> tuple[type[Exception], str, bool, bool]:
    for entry in _HTTPX_ERRORS:
        if issubclass(exc_type, entry[0]):
            return entry
    raise TypeError(f"{exc_type.__name__} is not an httpx error")


def translate(exc: Exception, where: str, redactor: Redactor | None = None) -> ZohoError:
    """The one place an httpx exception becomes a :class:`ZohoError`."""
    _, what, retryable, _ = _httpx_entry(type(exc))
    detail = str(exc) or type(exc).__name__
    if redactor is not None:
        detail = redactor.scrub(detail)
    message = f"{where}: {what} ({type(exc).__name__}: {detail})"
    if isinstance(exc, httpx.TimeoutException | httpx.TransportError | httpx.DecodingError):
        return ZohoTransportError(message, retryable=retryable)
    status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
    return ZohoError(message, status=status, retryable=retryable)


def surely_unsent(exc: Exception) -> bool:
    """Whether the request can not have reached the server (safe to resend even a POST)."""
    return _httpx_entry(type(exc))[3]


# -- the client --------------------------------------------------------------------------

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiClient:
    """Calls one Zoho API (``base_path`` under the API domain) with auth, limits and retries."""

    def __init__(
        self,
        auth: Auth,
        base_path: str,
        *,
        name: str = "zoho",
        http: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_wait: float = 300.0,
        rate: RateLimiter | None = None,
        credits: CreditBudget | None = None,
        concurrency: int | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.auth = auth
        self.base_path = "/" + base_path.strip("/")
        self.name = name
        self._owns_http = http is None
        self.http = http or httpx.Client(
            transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0))
        )
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.max_wait = max_wait
        self.rate, self.credits = rate, credits
        # requests in flight at once; a fleet worker puts a semaphore shared through Redis
        self.slots: contextlib.AbstractContextManager[Any] | None = (
            threading.BoundedSemaphore(concurrency) if concurrency else None
        )
        self.sleep, self.clock, self.jitter = sleep, clock, jitter
        self.calls: collections.Counter[str] = collections.Counter()
        redactor = getattr(auth, "redactor", None)
        self.redactor: Redactor = redactor if isinstance(redactor, Redactor) else Redactor()

    def __repr__(self) -> str:
        return f"ApiClient(name={self.name!r}, base_path={self.base_path!r})"

    @property
    def total_calls(self) -> int:
        """API requests sent plus token requests (the ``api_calls`` figure)."""
        return sum(self.calls.values()) + int(getattr(self.auth, "calls", 0))

    def close(self) -> None:
        if self._owns_http:
            self.http.close()
        closer = getattr(self.auth, "close", None)
        if callable(closer):
            closer()

    def request(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        cost: int = 1,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one call; returns any answer below 500 except 401 and 429, which it handles.

        Retries 429, 5xx and transport failures with backoff (a non-idempotent call only
        when it surely did not reach the server, or was refused with 429); a 401 gets one
        fresh token and one more try.  Raises :class:`ZohoError` when it gives up.
        """
        if idempotent is None:
            idempotent = method.upper() != "POST"
        where = f"{self.name}: {method.upper()} {self.base_path}{path}"
        content = dumps(json_body).encode() if json_body is not None else None
        refreshed = False
        attempt = 0
        while True:
            if self.credits is not None:
                self.credits.charge(cost)
            if self.rate is not None:
                self.rate.acquire()
            token = self.auth.token()
            url = self.auth.api_domain + self.base_path + path
            sent_headers = {"Authorization": f"Zoho-oauthtoken {token}", **(headers or {})}
            if content is not None:
                sent_headers["Content-Type"] = "application/json"
            self.calls[kind] += 1
            try:
                if self.slots is not None:
                    with self.slots:
                        response = self._send(method, url, params, content, sent_headers)
                else:
                    response = self._send(method, url, params, content, sent_headers)
            except HTTPX_EXCEPTIONS as exc:
                error = translate(exc, where, self.redactor)
                resend = idempotent or surely_unsent(exc)
                if error.retryable and attempt < self.retries and resend:
                    self._pause(self._backoff(attempt), where, error)
                    attempt += 1
                    continue
                raise error from None
            log.debug("%s -> %s", where, response.status_code)
            self._observe(response)
            status = response.status_code
            if status == 401 and not refreshed:
                self.auth.invalidate(token)
                refreshed = True
                continue
            if status == 401:
                raise self.error(response, where, cls=ZohoAuthError)
            if status in _RETRY_STATUS or status >= 500:
                may_resend = idempotent or status == 429
                if attempt < self.retries and may_resend:
                    delay = self._server_delay(response)
                    if delay is not None and delay > self.max_wait:
                        raise self.error(
                            response, where, note=f"the server asks to wait {delay:.0f} s"
                        )
                    self._pause(
                        delay if delay is not None else self._backoff(attempt),
                        where,
                        f"HTTP {status}",
                    )
                    attempt += 1
                    continue
                raise self.error(response, where, note=f"gave up after {attempt + 1} tries")
            return response

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        return self.http.request(method, url, params=params, content=content, headers=headers)

    def error(
        self,
        response: httpx.Response,
        where: str,
        *,
        cls: type[ZohoError] | None = None,
        note: str | None = None,
    ) -> ZohoError:
        """A :class:`ZohoError` for an answer, with Zoho's code and message (scrubbed)."""
        status = response.status_code
        code, message, details = _error_body(response)
        retryable = status == 429 or status >= 500
        if cls is None:
            cls = ZohoLimitError if status == 429 else ZohoError
        text = f"{where}: HTTP {status}"
        if code:
            text += f" {code}"
        if message:
            text += f": {message}"
        if details.get("api_name"):
            text += f" (field {details['api_name']})"
        if note:
            text += f"; {note}"
        return cls(
            self.redactor.scrub(text),
            status=status,
            code=code,
            retryable=retryable,
            details=details,
        )

    def _observe(self, response: httpx.Response) -> None:
        """Honour the rate-limit headers of any answer: pause when the allowance is spent."""
        remaining = response.headers.get("x-rate-limit-remaining")
        if remaining is not None and remaining.strip() in ("0", "-1"):
            reset = reset_seconds(response.headers.get("x-rate-limit-reset"))
            if reset is not None and self.rate is not None:
                self.rate.pause(min(reset, self.max_wait))

    def _server_delay(self, response: httpx.Response) -> float | None:
        delay = retry_after(response)
        if delay is not None:
            return delay
        if response.status_code == 429:
            return reset_seconds(response.headers.get("x-rate-limit-reset"))
        return None

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, capped."""
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return ceiling / 2 + self.jitter() * ceiling / 2

    def _pause(self, delay: float, where: str, why: object) -> None:
        log.info("%s: %s; retrying in %.2f s", where, self.redactor.scrub(str(why)), delay)
        self.sleep(delay)


def _error_body(response: httpx.Response) -> tuple[str | None, str | None, dict[str, Any]]:
    """Zoho's ``code``, ``message`` and ``details`` from an error answer, if any."""
    try:
        body = loads(response.content) if response.content else {}
    except ValueError:
        return None, None, {}
    if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
        first = body["data"][0]
        body = first if isinstance(first, dict) else {}
    if not isinstance(body, dict):
        return None, None, {}
    code = body.get("code")
    message = body.get("message")
    details: dict[str, Any] = body["details"] if isinstance(body.get("details"), dict) else {}
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
        details,
    )


__all__ = ["HTTPX_EXCEPTIONS", "ApiClient", "Auth", "surely_unsent", "translate"]
