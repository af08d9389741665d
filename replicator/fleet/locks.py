"""At most one cycle per tenant and module anywhere in the fleet: a lock in Redis that
expires with its worker.

The lock is redis-py's :class:`redis.lock.Lock` (a key set with ``NX`` and an expiry, a
random token, Lua scripts that extend and release it only for the token's owner), not a
home-made one.  A live holder renews it every third of its time to live from a thread of
its own; a worker that dies (SIGKILL, a lost machine) stops renewing, so its lock is gone
``ttl`` seconds later and another worker may run the cycle again (the journal's intents
make that re-run safe).  A holder whose renewal fails (the key expired during a long stall,
or Redis was flushed) is told by :attr:`Held.lost`; the cycle in hand still ends, and no
new one starts under a lost lock.

Keys: ``replicator:fleet:cycle:TENANT:MODULE``; their value is the holder's random token.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import redis
from redis.exceptions import LockError, RedisError

log = logging.getLogger("replicator.fleet")

PREFIX = "replicator:fleet"
TTL = 30.0  # seconds a dead worker's lock outlives it


def lock_key(tenant: str, module: str) -> str:
    return f"{PREFIX}:cycle:{tenant}:{module}"


class Held:
    """A lock held by this process, renewed from a thread until released."""

    def __init__(self, lock: Any, ttl: float) -> None:
        self._lock = lock
        self.ttl = ttl
        self.renewals = 0
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="fleet-lock", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._done.wait(self.ttl / 3):
            try:
                self._lock.reacquire()  # back to the full ttl, only while the token is ours
            except (LockError, RedisError) as exc:
                self.lost.set()
                log.warning("fleet lock %s lost: %s", self._lock.name, type(exc).__name__)
                return
            self.renewals += 1

    def release(self) -> None:
        self._done.set()
        self._thread.join()
        if self.lost.is_set():
            return
        with contextlib.suppress(LockError, RedisError):  # expired or unreachable: it expires
            self._lock.release()


class CycleLocks:
    """The fleet's cycle locks in the Redis at ``client``."""

    def __init__(self, client: redis.Redis, *, ttl: float = TTL) -> None:
        if ttl <= 0:
            raise ValueError("a lock's ttl must be positive")
        self.client, self.ttl = client, ttl

    def try_hold(self, tenant: str, module: str) -> Held | None:
        """The lock of ``tenant``'s ``module``, renewed until released; None when another
        worker holds it (never waits)."""
        lock = self.client.lock(
            lock_key(tenant, module), timeout=self.ttl, blocking=False, thread_local=False
        )
        if not lock.acquire(blocking=False):
            return None
        return Held(lock, self.ttl)

    @contextlib.contextmanager
    def hold(self, tenant: str, module: str) -> Iterator[Held | None]:
        """:meth:`try_hold` as a context: None inside when another worker holds it."""
        held = self.try_hold(tenant, module)
        try:
            yield held
        finally:
            if held is not None:
                held.release()

    def holder(self, tenant: str, module: str) -> bool:
        """Whether any worker holds the lock now."""
        return bool(self.client.exists(lock_key(tenant, module)))


__all__ = ["PREFIX", "TTL", "CycleLocks", "Held", "lock_key"]
