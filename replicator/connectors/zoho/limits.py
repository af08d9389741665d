"""Zoho's rate limits, kept on the client side, and the waits a server asks for.

- :class:`RateLimiter`: at most ``rate`` requests in any ``per`` seconds, a sliding window
  (Books: 100 requests a minute per organisation), plus pauses when an answer's
  ``X-Rate-Limit-Remaining`` says the allowance is spent.
- :class:`CreditBudget`: CRM API credits spent in a rolling 24 hours; a call that would
  overspend raises :class:`~replicator.errors.ZohoLimitError` instead of being sent.
- :func:`retry_after` and :func:`reset_seconds` read the ``Retry-After`` and
  ``X-Rate-Limit-Reset`` headers as seconds to wait.

The retrying client (:mod:`.http`) applies them; its backoff between retries is its own.
"""

from __future__ import annotations

import collections
import datetime as dt
import email.utils
import logging
import threading
import time
from collections.abc import Callable

import httpx

from replicator.errors import ZohoLimitError

log = logging.getLogger("replicator.zoho")

Sleep = Callable[[float], None]
Clock = Callable[[], float]


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


def reset_seconds(value: str | None) -> float | None:
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


__all__ = ["Clock", "CreditBudget", "RateLimiter", "Sleep", "reset_seconds", "retry_after"]
