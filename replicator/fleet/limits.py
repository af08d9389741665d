"""Per-org Zoho limits shared by every worker of the fleet, kept in Redis.

One worker process knows only its own requests; Zoho counts an organisation's.  These
classes keep the connectors' limits (:mod:`replicator.connectors.zoho.limits`) behind the
same interface, with their counts in Redis, so the limit holds for the fleet:

- :class:`SharedRateLimiter` (a :class:`RateLimiter`): Books' 100 requests a minute per
  organisation, a sliding window in a sorted set, checked and taken in one Lua script on
  Redis' own clock (workers' clocks may differ); ``pause`` (the server said the allowance
  is spent) pauses every worker of that org.
- :class:`SharedCreditBudget` (a :class:`CreditBudget`): CRM credits over a rolling 24 h,
  counted per hour in Redis; a call that would overspend raises as the local one does.
- :class:`SharedSlots`: CRM's concurrency cap (requests in flight per org), a semaphore of
  leases in a sorted set; a lease a killed worker left expires after ``lease`` seconds.

:func:`share_limits` puts them on a tenant's Zoho connectors.  Keys:
``replicator:fleet:rate:ORG``, ``...:pause:ORG``, ``...:credits:ORG:HOUR``,
``...:slots:ORG``, where ORG names the organisation (Books: its organisation id; CRM: the
side's ``organization_id`` option, else the tenant and side).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import redis

from replicator.connectors.base import Connector
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.limits import CreditBudget, RateLimiter, Sleep
from replicator.errors import ZohoLimitError
from replicator.fleet.locks import PREFIX

log = logging.getLogger("replicator.fleet")

# KEYS: window, pause.  ARGV: rate, per (ms), margin (ms), member.  0 when taken, else the
# milliseconds to wait.  Redis' TIME: one clock for every worker.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, per, margin = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - per - margin)
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = paused - now
if redis.call('ZCARD', KEYS[1]) >= rate then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  wait = math.max(wait, tonumber(oldest[2]) + per + margin - now)
end
if wait <= 0 then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], per + margin + 1000)
  return 0
end
return math.ceil(wait)
"""

# KEYS: pause.  ARGV: ms.  Pause until now + ms (never shortens a longer pause).
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], until_, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_
"""

# KEYS: slots.  ARGV: limit, lease (ms), member.  1 when taken, else 0.
_LEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
  return 1
end
return 0
"""

# KEYS: the 24 hourly counters, newest first.  ARGV: credits, cost, ttl (s).  The total
# spent before, when the charge would overspend (nothing taken), else -1 (taken).
_CHARGE = """
local total = 0
for i, key in ipairs(KEYS) do total = total + tonumber(redis.call('GET', key) or '0') end
if total + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return total end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return -1
"""


class SharedRateLimiter(RateLimiter):
    """At most ``rate`` requests in any ``per`` seconds for ``org``, over every worker."""

    def __init__(
        self,
        client: redis.Redis,
        org: str,
        rate: int = 100,
        per: float = 60.0,
        *,
        margin: float = 0.5,
        sleep: Sleep = time.sleep,
    ) -> None:
        super().__init__(rate, per, margin=margin, sleep=sleep)
        self.client, self.org = client, org
        self._take = client.register_script(_TAKE)
        self._pause = client.register_script(_PAUSE)
        self.waited = 0.0

    @property
    def keys(self) -> list[str]:
        return [f"{PREFIX}:rate:{self.org}", f"{PREFIX}:pause:{self.org}"]

    def acquire(self) -> None:
        member = uuid.uuid4().hex
        per, margin = math.ceil(self.per * 1000), math.ceil(self.margin * 1000)
        while True:
            wait = int(self._take(keys=self.keys, args=[self.rate, per, margin, member]))
            if wait <= 0:
                return
            log.debug("zoho rate limit of %s (shared): waiting %.2f s", self.org, wait / 1000)
            self.waited += wait / 1000
            self.sleep(wait / 1000)

    def pause(self, seconds: float) -> None:
        """Every worker sends nothing to ``org`` for ``seconds``."""
        self._pause(keys=self.keys[1:], args=[max(1, math.ceil(seconds * 1000))])


class SharedCreditBudget(CreditBudget):
    """CRM credits spent by ``org`` in a rolling 24 h (hourly counts), over every worker."""

    HOURS = 24

    def __init__(self, client: redis.Redis, org: str, credits: int) -> None:
        super().__init__(credits)
        self.client, self.org = client, org
        self._charge = client.register_script(_CHARGE)

    def _keys(self) -> list[str]:
        hour = int(time.time() // 3600)
        return [f"{PREFIX}:credits:{self.org}:{hour - n}" for n in range(self.HOURS)]

    @property
    def spent(self) -> int:
        return sum(int(v or 0) for v in self.client.mget(self._keys()))

    def charge(self, cost: int) -> None:
        ttl = (self.HOURS + 1) * 3600
        spent = int(self._charge(keys=self._keys(), args=[self.credits, cost, ttl]))
        if spent >= 0:
            raise ZohoLimitError(
                f"Zoho CRM credit budget spent: {spent} of {self.credits} credits used by the "
                f"fleet in the last {self.HOURS} h and this call needs {cost} (raise "
                "credit_budget if your edition allows more)",
                retryable=True,
            )


class SharedSlots:
    """At most ``limit`` requests in flight for ``org`` over every worker (a context manager
    as :class:`threading.BoundedSemaphore` is); a lease ends after ``lease`` seconds even
    when its holder was killed."""

    def __init__(
        self,
        client: redis.Redis,
        org: str,
        limit: int,
        *,
        lease: float = 120.0,
        poll: float = 0.02,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.client, self.org, self.limit, self.lease = client, org, limit, lease
        self.poll, self.sleep = poll, sleep
        self._lease = client.register_script(_LEASE)
        self._held = threading.local()

    @property
    def key(self) -> str:
        return f"{PREFIX}:slots:{self.org}"

    def acquire(self) -> str:
        member = uuid.uuid4().hex
        while not int(
            self._lease(keys=[self.key], args=[self.limit, math.ceil(self.lease * 1000), member])
        ):
            self.sleep(self.poll)  # a slot frees within one request's time
        return member

    def release(self, member: str) -> None:
        self.client.zrem(self.key, member)

    def __enter__(self) -> SharedSlots:
        stack = getattr(self._held, "stack", None)
        if stack is None:
            stack = self._held.stack = []
        stack.append(self.acquire())
        return self

    def __exit__(self, *exc: object) -> None:
        self.release(self._held.stack.pop())


def _client_of(connector: Connector) -> ApiClient | None:
    client = getattr(connector, "client", None)
    return client if isinstance(client, ApiClient) else None


def share_limits(
    connectors: Mapping[str, Connector],
    options: Mapping[str, Mapping[str, Any]],
    client: redis.Redis,
    *,
    tenant: str,
) -> dict[str, str]:
    """Put every Zoho connector's limits in Redis (``options``: each side's config options);
    the org key each side's limits use."""
    # only Zoho connectors have an ApiClient: the others have no limit to share
    from replicator.connectors.zoho.books import ZohoBooksConnector

    orgs: dict[str, str] = {}
    for side, connector in connectors.items():
        api = _client_of(connector)
        if api is None:
            continue
        side_options = options.get(side, {})
        if isinstance(connector, ZohoBooksConnector):
            org = f"books:{connector.organization_id}"
            rate = int(side_options.get("requests_per_minute", 100))
            api.rate = SharedRateLimiter(client, org, rate, sleep=api.sleep)
        else:
            named = side_options.get("organization_id")
            org = f"crm:{named}" if named else f"crm:{tenant}:{side}"
            if api.credits is not None:
                api.credits = SharedCreditBudget(client, org, api.credits.credits)
            if api.slots is not None:
                limit = int(side_options.get("concurrency", 5))
                api.slots = SharedSlots(client, org, limit, sleep=api.sleep)
        orgs[side] = org
    return orgs


__all__ = ["SharedCreditBudget", "SharedRateLimiter", "SharedSlots", "share_limits"]
