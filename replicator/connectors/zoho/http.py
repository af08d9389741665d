"""What both Zoho connectors share: OAuth, one HTTP client with retries and limits, errors.

- :class:`OAuth` runs the refresh-token flow (``POST {accounts}/oauth/v2/token``), caches the
  access token until shortly before it expires, and never asks for more than Zoho allows
  (10 access tokens per 10 minutes per refresh token): it raises
  :class:`ZohoRefreshLimitError` instead.  The ``api_domain`` it is given is where calls go.
  :mod:`.tokens` shares its token between processes through a file.
- :class:`ApiClient` wraps :class:`httpx.Client`: ``Authorization: Zoho-oauthtoken``, one
  refresh and one retry on a 401, retries with exponential backoff and jitter on 429 / 5xx /
  timeouts / transport errors (honouring ``Retry-After`` and ``X-Rate-Limit-Reset``), the
  client-side limits (:class:`RateLimiter`: Books' 100 requests a minute per organisation;
  :class:`CreditBudget` and a concurrency cap: CRM), and a count of requests by kind.
- :func:`translate` is the one place an httpx exception becomes a :class:`ZohoError`.
- :class:`Secret` holds tokens and client secrets; its ``str`` and ``repr`` are ``***`` and
  every error message passes through :meth:`Redactor.scrub`, so no secret reaches an error,
  a log line or a repr.

Errors (all :class:`~replicator.errors.ConnectorError`)::

    ZohoError                 a call failed (status, code, retryable)
     +-- ZohoAuthError        OAuth refused, or a 401 that a fresh token did not cure
     |    +-- ZohoRefreshLimitError   a refresh would exceed Zoho's token allowance
     +-- ZohoLimitError       429 after the retries, or a client-side budget spent
     +-- ZohoTransportError   no usable answer: timeout, connection, protocol
"""

from __future__ import annotations

import collections
import datetime as dt
import email.utils
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

import httpx

from replicator.errors import ConnectorError, UnavailableError

log = logging.getLogger("replicator.zoho")

Sleep = Callable[[float], None]
Clock = Callable[[], float]

# Data centre -> (accounts server, default API domain).  The token answer's api_domain wins.
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "com": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "com.au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "com.cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "zohocloud.ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
}
_DC_ALIASES = {"us": "com", "au": "com.au", "cn": "com.cn", "ca": "zohocloud.ca"}

TOKEN_LIMIT = 10  # access tokens per refresh token ...
TOKEN_WINDOW = 600.0  # ... per this many seconds
EPOCH = "1970-01-01T00:00:00+00:00"


def data_centre(name: str) -> tuple[str, str]:
    """``(accounts_url, api_domain)`` of a data centre named like ``eu`` or ``com.au``."""
    key = name.strip().lower().removeprefix("accounts.").removeprefix("zoho.")
    key = _DC_ALIASES.get(key, key)
    if key not in DATA_CENTRES:
        choices = ", ".join(DATA_CENTRES)
        raise ValueError(f"unknown Zoho data centre {name!r} (choices: {choices})")
    return DATA_CENTRES[key]


# -- secrets -----------------------------------------------------------------------------


class Secret:
    """A credential that prints as ``***``; :meth:`reveal` is the only way to its text."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


class Redactor:
    """Replaces every known secret in a text by ``***`` (error messages, log lines)."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: Secret | str | None) -> None:
        text = secret.reveal() if isinstance(secret, Secret) else secret
        if text and len(text) >= 4:
            with self._lock:
                self._secrets.add(text)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text


# -- errors ------------------------------------------------------------------------------


class ZohoError(ConnectorError):
    """A Zoho call failed; ``retryable`` says whether a later try may succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.retryable = status, code, retryable
        self.details = dict(details or {})


class ZohoAuthError(ZohoError):
    """OAuth refused, or the API refused a fresh token."""


class ZohoRefreshLimitError(ZohoAuthError, UnavailableError):
    """Refreshing now would exceed Zoho's access-token allowance for the refresh token."""


class ZohoLimitError(ZohoError, UnavailableError):
    """Zoho kept answering 429, or a client-side budget is spent."""


class ZohoTransportError(ZohoError, UnavailableError):
    """No usable answer: a timeout, a refused or dropped connection, a protocol error."""


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


# -- JSON and times ----------------------------------------------------------------------


def loads(content: bytes | str) -> Any:
    """JSON with numbers as Decimal (amounts never pass through float)."""
    return json.loads(content, parse_float=Decimal)


def dumps(value: Any) -> str:
    """JSON text where a Decimal is written as the exact number it is."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    if isinstance(value, dt.datetime | dt.date):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def digest(values: Mapping[str, Any]) -> str:
    """A hash of a record's values, to tell two reads with one modification time apart.

    Numbers count by value (``10``, ``10.0`` and ``Decimal("10.00")`` hash alike), as the
    API may write back a number in another form than it was sent.
    """
    text = dumps(_canonical({k: values[k] for k in sorted(values)}))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return {"#": format(number.normalize(), "f") if number.is_finite() else str(number)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def parse_time(value: Any) -> dt.datetime | None:
    """A Zoho timestamp (``2026-11-27T10:00:00+05:30`` or ``...+0530``) as aware UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def zoho_time(moment: dt.datetime) -> str:
    """A cursor text as Zoho's times are: UTC, whole seconds, fixed width, so text order
    is time order (the journal's ``utc_text`` keeps microseconds)."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def overlap_start(
    watermark: dt.datetime, read_at: dt.datetime | None, overlap: dt.timedelta
) -> dt.datetime:
    """Where the next incremental read starts: the watermark less the overlap, or later
    when the server's time of the last read says so.

    The overlap catches changes that were not yet visible when the last pull read (a
    commit landing late, in the same second as the watermark).  Such a change is no older
    than ``read_at - overlap``; one visible then was read, bar the watermark's own second.
    So after a read long after the watermark (an idle period), the next read starts at the
    watermark's second instead of re-reading the whole overlap window.
    """
    start = watermark - overlap
    if read_at is not None:
        start = max(start, min(watermark - dt.timedelta(seconds=1), read_at - overlap))
    return start


def read_mark(records: str, read_at: str, overlap: dt.timedelta) -> str:
    """``read_at`` as a cursor keeps it: no later than the time past which it no longer
    narrows the next read (the watermark plus the overlap, less a second), so a cursor
    stops moving once a side is idle for longer than the overlap: idle syncs add nothing."""
    watermark, seen = parse_time(records), parse_time(read_at)
    if watermark is None or seen is None:
        return read_at
    return zoho_time(min(seen, watermark + overlap - dt.timedelta(seconds=1)))


def idle_mark(records: str, previous: str, read_at: str, overlap: dt.timedelta) -> str:
    """The read mark after a pull that found nothing newer than the watermark ``records``:
    the ``previous`` one (an earlier mark only re-reads more, never less), until the read
    came long enough after the watermark to narrow the next read fully, then that one.

    So an idle pull moves the cursor at most once, whichever second of the server's clock
    it runs in: idle syncs journal no new cursor."""
    full = read_mark(records, read_at, overlap)
    watermark = parse_time(records)
    if watermark is None or full != zoho_time(watermark + overlap - dt.timedelta(seconds=1)):
        return previous
    return full


def marks(
    records: str, read: str | None, *, floor: str, previous: str | None, overlap: dt.timedelta
) -> list[str]:
    """A ``[records, read mark]`` cursor of a pull that began at ``[floor, previous]``."""
    if read and records == floor and previous is not None:
        return [records, idle_mark(records, previous, read, overlap)]
    return [records, read_mark(records, read, overlap) if read else EPOCH]


def server_time(response: httpx.Response) -> dt.datetime | None:
    """The server's clock from the ``Date`` header, if it sent one."""
    header = response.headers.get("date")
    if not header:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- OAuth -------------------------------------------------------------------------------


class Auth(Protocol):
    """Gives access tokens and the API domain to call."""

    def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...

    @property
    def api_domain(self) -> str: ...


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


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (a number or an HTTP date)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


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


# -- client-side limits ------------------------------------------------------------------


class RateLimiter:
    """At most ``rate`` requests in any ``per`` seconds (a sliding window), plus pauses.

    A sliding window is stricter than the server's fixed minutes, so a client that keeps it
    is never refused; ``margin`` absorbs the difference in network delays.
    """

    def __init__(
        self,
        rate: int = 100,
        per: float = 60.0,
        *,
        margin: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate < 1 or per <= 0:
            raise ValueError("a rate limit needs rate >= 1 and per > 0")
        self.rate, self.per, self.margin = rate, per, margin
        self.clock, self.sleep = clock, sleep
        self._sent: collections.deque[float] = collections.deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and now - self._sent[0] >= self.per + self.margin:
                    self._sent.popleft()
                wait = self._paused_until - now
                if len(self._sent) >= self.rate:
                    wait = max(wait, self._sent[0] + self.per + self.margin - now)
                if wait <= 0:
                    self._sent.append(now)
                    return
                log.debug("zoho rate limit: waiting %.2f s", wait)
                self.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the server said its allowance is spent)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)


class CreditBudget:
    """CRM API credits spent in a rolling window; refuses a call that would overspend."""

    def __init__(
        self, credits: int, *, window: float = 86_400.0, clock: Clock = time.monotonic
    ) -> None:
        self.credits, self.window, self.clock = credits, window, clock
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0
        self._lock = threading.Lock()

    @property
    def spent(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return self._total

    def charge(self, cost: int) -> None:
        with self._lock:
            now = self.clock()
            self._expire(now)
            if self._total + cost > self.credits:
                raise ZohoLimitError(
                    f"Zoho CRM credit budget spent: {self._total} of {self.credits} credits "
                    f"used in the last {self.window / 3600:g} h and this call needs {cost} "
                    "(raise credit_budget if your edition allows more)",
                    retryable=True,
                )
            self._spent.append((now, cost))
            self._total += cost

    def _expire(self, now: float) -> None:
        while self._spent and now - self._spent[0][0] >= self.window:
            self._total -= self._spent.popleft()[1]


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
        self._slots = threading.BoundedSemaphore(concurrency) if concurrency else None
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
                if self._slots is not None:
                    with self._slots:
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
            reset = _reset_seconds(response.headers.get("x-rate-limit-reset"))
            if reset is not None and self.rate is not None:
                self.rate.pause(min(reset, self.max_wait))

    def _server_delay(self, response: httpx.Response) -> float | None:
        delay = retry_after(response)
        if delay is not None:
            return delay
        if response.status_code == 429:
            return _reset_seconds(response.headers.get("x-rate-limit-reset"))
        return None

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: half fixed, half random, capped."""
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return ceiling / 2 + self.jitter() * ceiling / 2

    def _pause(self, delay: float, where: str, why: object) -> None:
        log.info("%s: %s; retrying in %.2f s", where, self.redactor.scrub(str(why)), delay)
        self.sleep(delay)


def _reset_seconds(value: str | None) -> float | None:
    """``X-Rate-Limit-Reset`` as seconds from now (Zoho sends seconds; an epoch also works)."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number > 1_000_000_000:  # an epoch time, not a duration
        number -= time.time()
    return max(0.0, number)


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


def body_of(response: httpx.Response) -> Any:
    """The JSON of an answer (Decimal numbers); ``{}`` for an empty one (204)."""
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return loads(response.content)
    except ValueError:
        return {}


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "DATA_CENTRES",
    "EPOCH",
    "ApiClient",
    "Auth",
    "CreditBudget",
    "OAuth",
    "RateLimiter",
    "Redactor",
    "Secret",
    "StaticToken",
    "ZohoAuthError",
    "ZohoError",
    "ZohoLimitError",
    "ZohoRefreshLimitError",
    "ZohoTransportError",
    "body_of",
    "chunks",
    "data_centre",
    "digest",
    "dumps",
    "loads",
    "overlap_start",
    "parse_time",
    "idle_mark",
    "marks",
    "read_mark",
    "retry_after",
    "server_time",
    "token_request",
    "translate",
    "zoho_time",
]
