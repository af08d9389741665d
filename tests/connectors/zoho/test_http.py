"""The retrying Zoho client: 401s, retries and backoff, limits it honours, the translation of
every httpx error, secrets kept out of errors, reprs and logs."""

from __future__ import annotations

import inspect
import logging

import httpx
import pytest

from replicator.connectors.zoho.auth import OAuth
from replicator.connectors.zoho.http import _HTTPX_ERRORS, translate
from replicator.connectors.zoho.limits import RateLimiter
from replicator.connectors.zoho.secrets import Secret
from replicator.errors import (
    ConnectorError,
    ZohoAuthError,
    ZohoError,
    ZohoLimitError,
    ZohoTransportError,
)
from tests.connectors.zoho.conftest import api, ok
from tests.connectors.zoho.fakes import REFRESH, SECRET, TOKEN, FakeClock, reply, token_handler

# -- 401s ------------------------------------------------------------------------------


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
