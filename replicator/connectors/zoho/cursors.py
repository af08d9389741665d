"""Zoho's times and the cursor texts the connectors make of them.

Zoho sends times with an offset (``2026-11-27T15:30:00+05:30``, Books ``+0530``) and whole
seconds; a cursor keeps them as fixed-width UTC texts (:func:`zoho_time`), so text order is
time order.  An incremental read starts an overlap before the watermark; the server's
time when the last read began (its ``Date`` header, :func:`server_time`) narrows that
overlap once a side is idle (:func:`overlap_start`, :func:`read_mark`, :func:`idle_mark`),
so idle syncs re-read nothing and journal no new cursor.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from typing import Any

import httpx

EPOCH = "1970-01-01T00:00:00+00:00"


def parse_time(value: Any) -> dt.datetime | None:
    """A Zoho timestamp (``2026-11-27T10:00:00+05:30`` or ``...+0530``) as aware UTC."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def zoho_time(moment: dt.datetime) -> str:
    """A cursor text as Zoho's times are: UTC, whole seconds, fixed width, so text order
    is time order (the journal's ``utc_text`` keeps microseconds)."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def overlap_start(
    watermark: dt.datetime, read_at: dt.datetime | None, overlap: dt.timedelta
) -> dt.datetime:
    """Where the next incremental read starts: the watermark less the overlap, or later
    when the server's time of the last read says so.

    The overlap catches changes that were not yet visible when the last pull read (a
    commit landing late, in the same second as the watermark).  Such a change is no older
    than ``read_at - overlap``; one visible then was read, bar the watermark's own second.
    So after a read long after the watermark (an idle period), the next read starts at the
    watermark's second instead of re-reading the whole overlap window.
    """
    start = watermark - overlap
    if read_at is not None:
        start = max(start, min(watermark - dt.timedelta(seconds=1), read_at - overlap))
    return start


def read_mark(records: str, read_at: str, overlap: dt.timedelta) -> str:
    """``read_at`` as a cursor keeps it: no later than the time past which it no longer
    narrows the next read (the watermark plus the overlap, less a second), so a cursor
    stops moving once a side is idle for longer than the overlap: idle syncs add nothing."""
    watermark, seen = parse_time(records), parse_time(read_at)
    if watermark is None or seen is None:
        return read_at
    return zoho_time(min(seen, watermark + overlap - dt.timedelta(seconds=1)))


def idle_mark(records: str, previous: str, read_at: str, overlap: dt.timedelta) -> str:
    """The read mark after a pull that found nothing newer than the watermark ``records``:
    the ``previous`` one (an earlier mark only re-reads more, never less), until the read
    came long enough after the watermark to narrow the next read fully, then that one.

    So an idle pull moves the cursor at most once, whichever second of the server's clock
    it runs in: idle syncs journal no new cursor."""
    full = read_mark(records, read_at, overlap)
    watermark = parse_time(records)
    if watermark is None or full != zoho_time(watermark + overlap - dt.timedelta(seconds=1)):
        return previous
    return full


def marks(
    records: str, read: str | None, *, floor: str, previous: str | None, overlap: dt.timedelta
) -> list[str]:
    """A ``[records, read mark]`` cursor of a pull that began at ``[floor, previous]``."""
    if read and records == floor and previous is not None:
        return [records, idle_mark(records, previous, read, overlap)]
    return [records, read_mark(records, read, overlap) if read else EPOCH]


def server_time(response: httpx.Response) -> dt.datetime | None:
    """The server's clock from the ``Date`` header, if it sent one."""
    header = response.headers.get("date")
    if not header:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


__all__ = [
    "EPOCH",
    "idle_mark",
    "marks",
    "overlap_start",
    "parse_time",
    "read_mark",
    "server_time",
    "zoho_time",
]
