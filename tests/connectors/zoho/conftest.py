"""Connectors wired to the fakes through ``httpx.MockTransport``, on a fake clock."""

from __future__ import annotations

import httpx
import pytest

from replicator.connectors.zoho.auth import OAuth
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.limits import RateLimiter
from tests.connectors.zoho.fakes import (
    REFRESH,
    SECRET,
    FakeBooks,
    FakeClock,
    FakeCRM,
    reply,
    token_handler,
)


def oauth(transport: httpx.BaseTransport, clock: FakeClock) -> OAuth:
    return OAuth(
        client_id="1000.CLIENTID",
        client_secret=SECRET,
        refresh_token=REFRESH,
        accounts_url="https://accounts.test",
        transport=transport,
        clock=clock.monotonic,
    )


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


def crm_connector(fake: FakeCRM, clock: FakeClock, **options) -> ZohoCRMConnector:
    transport = httpx.MockTransport(fake.handler)
    client = ApiClient(
        oauth(transport, clock),
        "/crm/v8",
        name="side crm (Zoho CRM)",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.monotonic,
        jitter=lambda: 0.5,
    )
    return ZohoCRMConnector("crm", client=client, now=clock.wall, **options)


def books_connector(fake: FakeBooks, clock: FakeClock, **options) -> ZohoBooksConnector:
    transport = httpx.MockTransport(fake.handler)
    client = ApiClient(
        oauth(transport, clock),
        "/books/v3",
        name="side books (Zoho Books)",
        transport=transport,
        rate=RateLimiter(100, 60.0, clock=clock.monotonic, sleep=clock.sleep),
        sleep=clock.sleep,
        clock=clock.monotonic,
        jitter=lambda: 0.5,
    )
    return ZohoBooksConnector(
        "books", client=client, organization_id=fake.org, now=clock.wall, **options
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def crm(clock: FakeClock) -> FakeCRM:
    return FakeCRM(clock)


@pytest.fixture
def books(clock: FakeClock) -> FakeBooks:
    return FakeBooks(clock)
