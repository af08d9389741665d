"""The fleet's cycle locks: one holder per tenant and module, renewed while alive, gone
after a SIGKILLed holder's ttl."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from replicator.fleet.locks import CycleLocks, lock_key

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


def wait_until(condition, timeout: float = 10.0) -> float:
    """Poll ``condition`` until true (the seconds it took), or fail after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail("condition not met in time")
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_held_cycle_lock_refuses_a_second_holder_until_released(redis_url):
    """While one worker holds acme's customers, no other gets it; other modules and other
    tenants are free; after the release it can be taken again."""
    client = redis.Redis.from_url(redis_url)
    locks, other = CycleLocks(client), CycleLocks(redis.Redis.from_url(redis_url))
    with locks.hold("acme", "customers") as held:
        assert held is not None
        assert other.try_hold("acme", "customers") is None
        assert locks.holder("acme", "customers")
        for tenant, module in (("acme", "items"), ("globex", "customers")):
            free = other.try_hold(tenant, module)
            assert free is not None
            free.release()
    assert not locks.holder("acme", "customers")
    again = other.try_hold("acme", "customers")
    assert again is not None
    again.release()


def test_a_live_holder_renews_its_lock_past_its_ttl(redis_url):
    """A holder renews every third of the ttl: its lock outlives several ttls."""
    client = redis.Redis.from_url(redis_url)
    locks = CycleLocks(client, ttl=0.3)
    held = locks.try_hold("acme", "customers")
    assert held is not None
    try:
        wait_until(lambda: held.renewals >= 5)  # well past one ttl
        assert locks.holder("acme", "customers")
        assert CycleLocks(client, ttl=0.3).try_hold("acme", "customers") is None
        assert not held.lost.is_set()
    finally:
        held.release()
    assert not locks.holder("acme", "customers")


def test_a_holder_whose_key_vanished_is_told_it_lost_the_lock(redis_url):
    """A renewal that finds the token gone (expired in a stall, Redis flushed) sets lost."""
    client = redis.Redis.from_url(redis_url)
    held = CycleLocks(client, ttl=0.3).try_hold("acme", "customers")
    assert held is not None
    client.delete(lock_key("acme", "customers"))
    wait_until(held.lost.is_set)
    held.release()  # no error: it is gone already


HOLDER = """
import sys, time, redis
from replicator.fleet.locks import CycleLocks
locks = CycleLocks(redis.Redis.from_url(sys.argv[1]), ttl=float(sys.argv[2]))
held = locks.try_hold("acme", "customers")
print("held" if held else "busy", flush=True)
time.sleep(600)
"""


def test_a_sigkilled_holders_lock_expires_after_its_ttl(redis_url):
    """A worker killed with SIGKILL stops renewing: its lock is free about ttl later, not
    before (another worker then runs the cycle)."""
    ttl = 1.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_url, str(ttl)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        locks = CycleLocks(redis.Redis.from_url(redis_url), ttl=ttl)
        assert locks.try_hold("acme", "customers") is None
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        killed = time.monotonic()
        wait_until(lambda: not locks.holder("acme", "customers"), timeout=ttl * 5)
        assert time.monotonic() - killed <= ttl + 0.5
        held = locks.try_hold("acme", "customers")
        assert held is not None
        held.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
