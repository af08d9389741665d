"""Client-side limits: the sliding-window rate limiter and the CRM credit budget."""

from __future__ import annotations

import pytest

from replicator.connectors.zoho.limits import CreditBudget, RateLimiter
from replicator.errors import (
    ZohoLimitError,
)
from tests.connectors.zoho.conftest import api, ok
from tests.connectors.zoho.fakes import FakeClock


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
