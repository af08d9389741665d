"""Rate limits as the real services apply them.

- CRM: API credits over a rolling 24 hours (a read costs 1, a write 1 per 10 records) and
  a concurrency limit (requests in flight at once).  Over either: HTTP 429
  ``TOO_MANY_REQUESTS``, with ``Retry-After`` saying when a credit comes back.
- Books: 100 requests a minute and a daily cap, per organisation.  Every Books response
  carries ``X-Rate-Limit-Limit`` / ``-Remaining`` / ``-Reset`` (seconds until the minute
  window resets); over a limit: HTTP 429 with a Books envelope and ``Retry-After``.

Windows are kept in memory: a restarted sandbox starts with full allowances.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import math
import threading
from collections.abc import Iterator

from .clock import UTC, Clock
from .errors import BOOKS_CODES, BooksError, CrmError
from .settings import Settings

DAY = 86_400.0


class CrmLimiter:
    """Credits over a rolling day and requests in flight."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0
        self._in_flight = 0
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - DAY:
            _, credits = self._spent.popleft()
            self._total -= credits

    def charge(self, credits: int, settings: Settings) -> None:
        """Spend ``credits``; raise 429 when the day's allowance would be exceeded."""
        now = self._clock.now()
        with self._lock:
            self._prune(now)
            limit = settings.crm_credits_per_day
            if settings.rate_limits and self._total + credits > limit:
                wait = (self._spent[0][0] + DAY - now) if self._spent else 1.0
                raise CrmError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "You have exceeded the maximum API credits allowed in 24 hours",
                    {"limit": limit, "used": self._total},
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            self._spent.append((now, credits))
            self._total += credits

    @contextlib.contextmanager
    def slot(self, settings: Settings) -> Iterator[None]:
        """Hold one concurrency slot for the duration of a request."""
        with self._lock:
            if settings.rate_limits and self._in_flight >= settings.crm_concurrency:
                raise CrmError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Concurrency limit exceeded: too many requests in parallel",
                    {"limit": settings.crm_concurrency},
                    headers={"Retry-After": "1"},
                )
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1

    def usage(self) -> dict[str, int]:
        with self._lock:
            self._prune(self._clock.now())
            return {"credits_used": self._total, "in_flight": self._in_flight}

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._total = 0


class BooksLimiter:
    """Requests per minute and per day, per organisation."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._minute: dict[str, tuple[float, int]] = {}
        self._day: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()

    def hit(self, org: str, settings: Settings) -> dict[str, str]:
        """Count one request for ``org``; the rate headers, or a 429 carrying them."""
        now = self._clock.now()
        today = dt.datetime.fromtimestamp(now, UTC).date().isoformat()
        with self._lock:
            start, used = self._minute.get(org, (now, 0))
            if now - start >= 60:
                start, used = now, 0
            day, used_today = self._day.get(org, (today, 0))
            if day != today:
                day, used_today = today, 0
            limit = settings.books_per_minute
            reset = max(0, math.ceil(start + 60 - now))
            over_minute = used >= limit
            over_day = used_today >= settings.books_per_day
            if not (settings.rate_limits and (over_minute or over_day)):
                used, used_today = used + 1, used_today + 1
            self._minute[org] = (start, used)
            self._day[org] = (day, used_today)
        headers = {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(max(0, limit - used)),
            "X-Rate-Limit-Reset": str(reset),
        }
        if settings.rate_limits and over_day:
            midnight = dt.datetime.combine(
                dt.date.fromisoformat(today) + dt.timedelta(days=1), dt.time(), UTC
            ).timestamp()
            raise BooksError(
                429,
                BOOKS_CODES["rate_day"],
                "The API call for this organization has exceeded the maximum call rate "
                f"limit of {settings.books_per_day}.",
                headers=headers | {"Retry-After": str(max(1, math.ceil(midnight - now)))},
            )
        if settings.rate_limits and over_minute:
            raise BooksError(
                429,
                BOOKS_CODES["rate_minute"],
                "You have made too many requests continuously. Please try again after some time.",
                headers=headers | {"Retry-After": str(max(1, reset))},
            )
        return headers

    def usage(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {
                org: {"minute": self._minute[org][1], "day": self._day.get(org, ("", 0))[1]}
                for org in self._minute
            }

    def reset(self) -> None:
        with self._lock:
            self._minute.clear()
            self._day.clear()


__all__ = ["BooksLimiter", "CrmLimiter"]
