"""Zoho's per-org limits kept in Redis: every worker of the fleet counts against one
allowance per organisation."""

from __future__ import annotations

import time

import pytest
import redis

from replicator.errors import ZohoLimitError
from replicator.fleet.limits import SharedCreditBudget, SharedRateLimiter, SharedSlots

pytestmark = pytest.mark.redis


class Sleeps:
    """A sleep that records what was asked and really waits (the window is Redis' clock)."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds)


def test_two_workers_share_one_orgs_request_window(redis_url):
    """Three requests a window between two workers: the fourth waits for the window, and
    another org's allowance is its own."""
    a_sleeps, b_sleeps = Sleeps(), Sleeps()
    a = SharedRateLimiter(redis.Redis.from_url(redis_url), "books:1", 3, 0.4, margin=0.05,
                          sleep=a_sleeps)  # fmt: skip
    b = SharedRateLimiter(redis.Redis.from_url(redis_url), "books:1", 3, 0.4, margin=0.05,
                          sleep=b_sleeps)  # fmt: skip
    other = SharedRateLimiter(redis.Redis.from_url(redis_url), "books:2", 3, 0.4, sleep=Sleeps())
    started = time.monotonic()
    a.acquire()
    a.acquire()
    b.acquire()
    assert a_sleeps.asked == b_sleeps.asked == []
    for _ in range(3):
        other.acquire()  # another org: no wait
    b.acquire()
    assert len(b_sleeps.asked) >= 1 and 0 < b_sleeps.asked[0] <= 0.45
    assert time.monotonic() - started >= 0.4


def test_a_pause_one_worker_was_told_holds_every_worker(redis_url):
    """The server said the allowance is spent: no worker sends to that org meanwhile."""
    sleeps = Sleeps()
    a = SharedRateLimiter(redis.Redis.from_url(redis_url), "books:1", 100, 60.0)
    b = SharedRateLimiter(redis.Redis.from_url(redis_url), "books:1", 100, 60.0, sleep=sleeps)
    a.pause(0.3)
    b.acquire()
    assert sleeps.asked and 0.2 < sleeps.asked[0] <= 0.3


def test_crm_credits_are_one_budget_for_every_worker(redis_url):
    """Six credits spent by one worker leave four to the other: a call of five is refused
    before it is sent, and nothing is taken for it."""
    a = SharedCreditBudget(redis.Redis.from_url(redis_url), "crm:acme", 10)
    b = SharedCreditBudget(redis.Redis.from_url(redis_url), "crm:acme", 10)
    a.charge(6)
    with pytest.raises(ZohoLimitError, match="6 of 10 credits"):
        b.charge(5)
    b.charge(4)
    assert a.spent == b.spent == 10


def test_crm_concurrency_is_one_cap_for_every_worker(redis_url):
    """Two slots for the org: a third request waits until one is given back."""
    client = redis.Redis.from_url(redis_url)
    first = SharedSlots(client, "crm:acme", 2)
    held = [first.acquire(), first.acquire()]
    polls: list[float] = []

    def release_one(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 1:
            first.release(held.pop())

    second = SharedSlots(redis.Redis.from_url(redis_url), "crm:acme", 2, sleep=release_one)
    with second:
        assert len(polls) == 1  # it waited once, then took the freed slot
        assert client.zcard(second.key) == 2


def test_a_killed_workers_slot_is_free_after_its_lease(redis_url):
    """A lease never given back (its worker was killed) ends after ``lease`` seconds."""
    client = redis.Redis.from_url(redis_url)
    dead = SharedSlots(client, "crm:acme", 1, lease=0.3)
    dead.acquire()  # never released
    sleeps = Sleeps()
    alive = SharedSlots(client, "crm:acme", 1, lease=0.3, poll=0.05, sleep=sleeps)
    started = time.monotonic()
    with alive:
        pass
    assert sleeps.asked and time.monotonic() - started >= 0.2
