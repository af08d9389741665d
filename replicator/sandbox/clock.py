"""The sandbox's clock and the two APIs' ways of writing time.

Every expiry (access tokens, page tokens, notification channels), every rate-limit window
and every ``Modified_Time`` reads :class:`Clock`, so a test can move time forward through
the admin API instead of sleeping.  Times are kept as float epoch seconds; the APIs show
them at second precision:

- CRM: ISO 8601 with a colon in the offset, ``2026-11-27T10:00:00+00:00``;
- Books: ISO 8601 with no colon in the offset, ``2026-11-27T10:00:00+0000``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
import threading
import time
from collections.abc import Callable

UTC = dt.UTC
# the clock stops short of the calendar's end (9999-12-31), so every expiry and due date
# computed from it (a week's channel, years of payment terms) can still be written
LATEST = dt.datetime(9000, 1, 1, tzinfo=UTC).timestamp()


class Clock:
    """Wall-clock time plus an offset the admin API can move forward (never back)."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._source() + self._offset

    def advance(self, seconds: float) -> float:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the clock only moves forward by a finite time, not {seconds}")
        with self._lock:
            if self._source() + self._offset + seconds > LATEST:
                raise ValueError("the clock cannot move past the year 9000")
            self._offset += seconds
            return self._offset

    @property
    def offset(self) -> float:
        return self._offset


def parse_offset(text: str) -> dt.timezone:
    """``"+05:30"``, ``"-0800"``, ``"Z"`` or ``"UTC"`` -> a fixed timezone."""
    if text in ("Z", "UTC", "+00:00", "+0000", ""):
        return UTC
    m = re.fullmatch(r"([+-])(\d\d):?(\d\d)", text)
    if not m:
        raise ValueError(f"not a UTC offset: {text!r}")
    sign = 1 if m.group(1) == "+" else -1
    return dt.timezone(sign * dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))


def crm_time(epoch: float, tz: dt.tzinfo = UTC) -> str:
    """CRM style: second precision, offset with a colon."""
    return dt.datetime.fromtimestamp(int(epoch), tz).isoformat(timespec="seconds")


def books_time(epoch: float, tz: dt.tzinfo = UTC) -> str:
    """Books style: second precision, offset without a colon."""
    return dt.datetime.fromtimestamp(int(epoch), tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def books_date(epoch: float, tz: dt.tzinfo = UTC) -> str:
    return dt.datetime.fromtimestamp(int(epoch), tz).strftime("%Y-%m-%d")


_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d\d:?\d\d|-?UTC)?"
)


def parse_time(text: str) -> float:
    """Epoch seconds from ISO 8601 (either offset style, ``Z``, or Books' ``-UTC``) or an
    HTTP date.  A time with no offset is UTC.  Raises ``ValueError`` on anything else."""
    text = text.strip()
    m = _ISO.fullmatch(text)
    if m:
        year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
        second = int(m.group(6) or 0)
        zone = m.group(7) or "Z"
        tz = parse_offset("Z" if zone in ("UTC", "-UTC", "Z") else zone)
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp()
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        parsed = None
    if parsed is None:
        raise ValueError(f"not a time: {text!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_date(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` date; raises ``ValueError`` otherwise."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        raise ValueError(f"not a date: {text!r}")
    return dt.date.fromisoformat(text)


__all__ = [
    "Clock",
    "UTC",
    "books_date",
    "books_time",
    "crm_time",
    "parse_date",
    "parse_offset",
    "parse_time",
]
