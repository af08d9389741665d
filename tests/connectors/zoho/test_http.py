"""The shared Zoho client: OAuth, retries, limits, error translation, secrets."""

from __future__ import annotations

import inspect
import logging
from decimal import Decimal

import httpx
import pytest

from replicator.connectors.zoho.auth import OAuth, StaticToken
from replicator.connectors.zoho.cursors import parse_time, utc_text
from replicator.connectors.zoho.datacentres import data_centre
from replicator.connectors.zoho.http import _HTTPX_ERRORS, ApiClient, translate
from replicator.connectors.zoho.limits import CreditBudget, RateLimiter
from replicator.connectors.zoho.secrets import Secret
from replicator.connectors.zoho.values import dumps, loads
from replicator.errors import (
    ConnectorError,
    ZohoAuthError,
    ZohoError,
    ZohoLimitError,
    ZohoRefreshLimitError,
    ZohoTransportError,
)
from tests.connectors.zoho.conftest import oauth
from tests.connectors.zoho.fakes import REFRESH, SECRET, TOKEN, FakeClock, reply, token_handler


def api(handler, clock: FakeClock, **options) -> ApiClient:
    """A client whose OAuth and API calls both go to ``handler``."""

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return token_handler(request, "https://api.test")
        return handler(request)

    transport = httpx.MockTransport(route)
    options.setdefault("jitter", lambda: 0.5)
    return ApiClient(
        oauth(transport, clock),
        "/crm/v8",
        name="test",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.monotonic,
        **options,
    )


def ok(request: httpx.Request) -> httpx.Response:
    return reply(200, {"data": []})


# -- OAuth -----------------------------------------------------------------------------


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


def test_a_401_gets_one_refresh_and_one_retry() -> None:
    """INVALID_TOKEN: the token is refreshed once and the call sent once more."""
    clock = FakeClock()
    answers = iter([reply(401, {"code": "INVALID_TOKEN", "message": "invalid oauth token"})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or reply(200, {"data": [{"id": "1"}]})

    client = api(handler, clock)
    response = client.request("GET", "/Accounts", kind="list")
    assert response.status_code == 200
    assert client.auth.calls == 2
    assert client.calls["list"] == 2


def test_a_second_401_is_an_auth_error() -> None:
    """If the fresh token is refused too, the call fails with ZohoAuthError (no loop)."""
    clock = FakeClock()
    client = api(lambda r: reply(401, {"code": "INVALID_TOKEN", "message": "no"}), clock)
    with pytest.raises(ZohoAuthError, match="INVALID_TOKEN"):
        client.request("GET", "/Accounts", kind="list")
    assert client.calls["list"] == 2 and client.auth.calls == 2


def test_a_refused_refresh_names_the_reason_and_a_fix() -> None:
    """Zoho's 200-with-error answer becomes ZohoAuthError naming the error code."""
    clock = FakeClock()
    transport = httpx.MockTransport(lambda r: reply(200, {"error": "invalid_client"}))
    auth = oauth(transport, clock)
    with pytest.raises(ZohoAuthError, match="invalid_client.*client id and secret"):
        auth.token()


@pytest.mark.parametrize(
    "name, accounts",
    [
        ("com", "https://accounts.zoho.com"),
        ("eu", "https://accounts.zoho.eu"),
        ("in", "https://accounts.zoho.in"),
        ("com.au", "https://accounts.zoho.com.au"),
        ("jp", "https://accounts.zoho.jp"),
        ("com.cn", "https://accounts.zoho.com.cn"),
        ("zohocloud.ca", "https://accounts.zohocloud.ca"),
        ("sa", "https://accounts.zoho.sa"),
        ("AU", "https://accounts.zoho.com.au"),
    ],
)
def test_data_centres_are_selectable_by_name(name: str, accounts: str) -> None:
    """Each data centre's accounts server is found by its short name."""
    assert data_centre(name)[0] == accounts


def test_an_unknown_data_centre_lists_the_choices() -> None:
    """A typo in the data centre names the valid ones."""
    with pytest.raises(ValueError, match="com.au"):
        data_centre("mars")


# -- retries ---------------------------------------------------------------------------


def test_retries_honour_retry_after() -> None:
    """429 with Retry-After waits exactly that long, then the call succeeds."""
    clock = FakeClock()
    answers = iter([reply(429, {"code": "TOO_MANY_REQUESTS"}, {"Retry-After": "7"})])
    client = api(lambda r: next(answers, None) or reply(200, {}), clock)
    assert client.request("GET", "/Accounts", kind="list").status_code == 200
    assert clock.sleeps == [7.0]


def test_a_429_without_retry_after_waits_for_the_rate_limit_reset() -> None:
    """X-Rate-Limit-Reset gives the wait when Retry-After is absent."""
    clock = FakeClock()
    answers = iter([reply(429, {"code": 44}, {"X-Rate-Limit-Reset": "12"})])
    client = api(lambda r: next(answers, None) or reply(200, {}), clock)
    client.request("GET", "/contacts", kind="list")
    assert clock.sleeps == [12.0]


def test_5xx_and_transport_errors_back_off_exponentially_then_give_up() -> None:
    """5xx, timeouts and dropped connections retry with growing delays, then raise."""
    clock = FakeClock()
    failures = iter(
        [
            reply(500, {"code": "INTERNAL_ERROR"}),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("dropped"),
            reply(503, {}),
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        failure = next(failures)
        if isinstance(failure, Exception):
            raise failure
        return failure

    client = api(handler, clock, retries=3, backoff=1.0)
    with pytest.raises(ZohoError, match="gave up after 4 tries") as caught:
        client.request("GET", "/Accounts", kind="list")
    assert caught.value.retryable and caught.value.status == 503
    assert clock.sleeps == [0.75, 1.5, 3.0]  # jitter 0.5: three quarters of 1, 2, 4
    assert client.calls["list"] == 4


def test_a_plain_post_is_not_resent_after_it_may_have_arrived() -> None:
    """A non-idempotent POST is retried after a connect error but not after a read timeout."""
    clock = FakeClock()
    failures = iter([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])

    def handler(request: httpx.Request) -> httpx.Response:
        raise next(failures)

    client = api(handler, clock)
    with pytest.raises(ZohoTransportError, match="timed out waiting"):
        client.request("POST", "/Accounts", kind="write", json_body={"data": []})
    assert client.calls["write"] == 2


def test_a_huge_retry_after_fails_at_once() -> None:
    """A server asking to wait beyond max_wait (a spent daily quota) is not waited for."""
    clock = FakeClock()
    client = api(lambda r: reply(429, {}, {"Retry-After": "3600"}), clock, max_wait=300)
    with pytest.raises(ZohoLimitError, match="wait 3600 s"):
        client.request("GET", "/contacts", kind="list")
    assert clock.sleeps == []


def test_an_exhausted_allowance_pauses_the_limiter() -> None:
    """X-Rate-Limit-Remaining 0 makes the next call wait for X-Rate-Limit-Reset."""
    clock = FakeClock()
    answers = iter([reply(200, {}, {"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "20"})])
    rate = RateLimiter(100, 60.0, clock=clock.monotonic, sleep=clock.sleep)
    client = api(lambda r: next(answers, None) or reply(200, {}), clock, rate=rate)
    client.request("GET", "/contacts", kind="list")
    client.request("GET", "/contacts", kind="list")
    assert clock.sleeps == [20.0]


def test_requests_are_counted_by_kind() -> None:
    """Each request sent counts under its kind; total_calls adds the token requests."""
    clock = FakeClock()
    client = api(ok, clock)
    client.request("GET", "/Accounts", kind="list")
    client.request("GET", "/Accounts", kind="list")
    client.request("PUT", "/Accounts", kind="write", json_body={"data": []})
    assert dict(client.calls) == {"list": 2, "write": 1}
    assert client.total_calls == 4


# -- limits ----------------------------------------------------------------------------


def test_the_rate_limiter_spaces_requests_to_a_hundred_a_minute() -> None:
    """The 101st request waits until the first leaves the 60 s window (plus margin)."""
    clock = FakeClock()
    limiter = RateLimiter(100, 60.0, margin=0.5, clock=clock.monotonic, sleep=clock.sleep)
    times = []
    for _ in range(250):
        limiter.acquire()
        times.append(clock.t)
        clock.advance(0.01)
    assert times[99] < 1.0 and times[100] >= 60.5
    for i in range(len(times) - 100):
        assert times[i + 100] - times[i] >= 60.0  # never 101 inside one minute


def test_the_credit_budget_refuses_a_call_that_would_overspend() -> None:
    """Credits spent in the rolling window are counted; overspending raises, then recovers."""
    clock = FakeClock()
    budget = CreditBudget(10, window=86_400, clock=clock.monotonic)
    client = api(ok, clock, credits=budget)
    for _ in range(10):
        client.request("GET", "/Accounts", kind="list")
    with pytest.raises(ZohoLimitError, match="credit budget"):
        client.request("GET", "/Accounts", kind="list")
    assert client.calls["list"] == 10
    clock.advance(86_400)
    client.request("GET", "/Accounts", kind="list")
    assert budget.spent == 1


# -- errors ----------------------------------------------------------------------------


def _httpx_exception_classes() -> list[type[Exception]]:
    return [
        obj
        for name in dir(httpx)
        if inspect.isclass(obj := getattr(httpx, name)) and issubclass(obj, Exception)
    ]


@pytest.mark.parametrize("cls", _httpx_exception_classes(), ids=lambda c: c.__name__)
def test_every_httpx_exception_maps_to_a_connector_error(cls: type[Exception]) -> None:
    """Every exception class httpx exports has its own entry and becomes a ConnectorError."""
    entry = next(e for e in _HTTPX_ERRORS if issubclass(cls, e[0]))
    assert entry is not _HTTPX_ERRORS[-1] or cls is httpx.HTTPError
    request = httpx.Request("GET", "https://api.test/crm/v8/Accounts")
    if issubclass(cls, httpx.HTTPStatusError):
        exc = cls("bad", request=request, response=httpx.Response(418, request=request))
    elif issubclass(cls, httpx.RequestError):
        exc = cls("boom", request=request)
    else:
        try:
            exc = cls("boom")
        except TypeError:  # the stream errors take no message
            exc = cls()
    error = translate(exc, "side crm: GET /Accounts")
    assert isinstance(error, ConnectorError)
    assert "side crm: GET /Accounts" in str(error) and cls.__name__ in str(error)


def test_transport_failures_are_retryable_and_protocol_misuse_is_not() -> None:
    """Timeouts and connection failures are retryable; an invalid URL is not."""
    request = httpx.Request("GET", "https://api.test/")
    assert translate(httpx.ConnectTimeout("t", request=request), "x").retryable
    assert translate(httpx.ReadError("r", request=request), "x").retryable
    assert not translate(httpx.InvalidURL("u"), "x").retryable
    assert not translate(httpx.UnsupportedProtocol("p", request=request), "x").retryable


def test_secrets_never_appear_in_errors_reprs_or_logs(caplog) -> None:
    """Tokens, the client secret and the refresh token stay out of messages and reprs."""
    caplog.set_level(logging.DEBUG, logger="replicator.zoho")
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        # a hostile server echoing what it was sent
        echo = f"{request.headers.get('authorization')} {request.content.decode()}"
        if request.url.path == "/oauth/v2/token":
            return token_handler(request, "https://api.test")
        if request.url.path.endswith("/boom"):
            raise httpx.ConnectError(f"failed: {echo}", request=request)
        return reply(400, {"code": "INVALID_DATA", "message": echo, "details": {}})

    client = api(handler, clock, retries=1)
    texts = [repr(client), repr(client.auth), repr(Secret(SECRET)), str(Secret(SECRET))]
    for path in ("/Accounts", "/boom"):
        try:
            response = client.request("GET", path, kind="list")
            texts.append(str(client.error(response, "GET")))
        except ZohoError as exc:
            texts.append(str(exc))
    denied = OAuth(
        client_id="1000.CLIENTID",
        client_secret=SECRET,
        refresh_token=REFRESH,
        accounts_url="https://accounts.test",
        transport=httpx.MockTransport(
            lambda r: reply(400, {"error": f"invalid {r.content.decode()}"})
        ),
    )
    with pytest.raises(ZohoAuthError) as caught:
        denied.token()
    texts.append(str(caught.value))
    texts.extend(record.getMessage() for record in caplog.records)
    joined = "\n".join(texts)
    assert "***" in joined
    for secret in (TOKEN, SECRET, REFRESH):
        assert secret not in joined


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


# -- values ----------------------------------------------------------------------------


def test_amounts_travel_as_exact_json_numbers() -> None:
    """Decimals are written as the exact number and read back as Decimal, never float."""
    text = dumps({"rate": Decimal("1234567890.123456789"), "qty": Decimal("3"), "n": None})
    assert text == '{"rate": 1234567890.123456789, "qty": 3, "n": null}'
    assert loads(text)["rate"] == Decimal("1234567890.123456789")


def test_zoho_times_become_fixed_width_utc_texts() -> None:
    """Both Zoho offset styles parse to aware UTC; cursor texts sort as times do."""
    crm = parse_time("2026-11-27T15:30:00+05:30")
    books = parse_time("2026-11-27T15:30:00+0530")
    assert crm == books and utc_text(crm) == "2026-11-27T10:00:00+00:00"
    assert parse_time("not a time") is None
