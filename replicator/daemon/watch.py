"""Zoho CRM watch channels for the daemon: register, renew, check callbacks, remove.

One channel per CRM side, watching ``{Table}.all`` for the tables of its instant modules.
Its id is stable per journal and side (Zoho wants digits), so a restart replaces the
daemon's own channel instead of leaving one behind; its token is random per start, known
to the daemon before Zoho can call, and scrubbed from every log line.  A callback is
accepted only when its ``channel_id`` is one of ours and its ``token`` matches (compared in
constant time); :func:`route` turns accepted callbacks into work: ids to re-fetch per
module, or a module's cycle for a delete (deletes come from the side's deleted feed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from replicator.config.load import Config
from replicator.connectors.base import Connector, notifications
from replicator.daemon.log import Redactor, log_event
from replicator.daemon.metrics import Metrics
from replicator.daemon.schedule import is_instant
from replicator.daemon.state import moment_text
from replicator.errors import ZohoError

log = logging.getLogger("replicator.daemon.service")

Callback = tuple[str, str, str, list[str]]  # side, table, operation, ids


def channel_id(config: Config, side: str) -> str:
    """A stable channel id per journal and side: 17 digits."""
    digest = hashlib.sha256(f"{config.journal_path.resolve()}\x1f{side}".encode()).hexdigest()
    return str(int(digest[:13], 16) + 10**16)


@attrs.define
class Channel:
    side: str
    channel_id: str
    token: str = attrs.field(repr=False)
    events: list[str]
    expiry: dt.datetime | None = None  # None: not registered (yet)
    error: str | None = None

    def state(self) -> dict[str, Any]:
        """What the daemon publishes of it: never the token."""
        return {
            "channel_id": self.channel_id,
            "events": list(self.events),
            "expiry": moment_text(self.expiry),
            "error": self.error,
        }


class Watch:
    """The daemon's channels over its connectors (any thread may check a callback)."""

    def __init__(
        self,
        config: Config,
        connectors: Mapping[str, Connector],
        *,
        redactor: Redactor,
        metrics: Metrics,
        now: Callable[[], dt.datetime],
    ) -> None:
        self.config, self.connectors = config, connectors
        self.redactor, self.metrics, self.now = redactor, metrics, now
        self.channels: dict[str, Channel] = {}
        self._lock = threading.Lock()

    def watched(self) -> dict[str, list[str]]:
        """CRM side -> the tables of its instant modules (what its channel watches)."""
        out: dict[str, set[str]] = {}
        for name, module in self.config.modules.items():
            if not is_instant(self.config, name):
                continue
            for side, side_module in module.sides.items():
                if notifications(self.connectors.get(side)) is not None:
                    out.setdefault(side, set()).add(side_module.table)
        return {side: sorted(tables) for side, tables in out.items()}

    def add(self, channel: Channel) -> None:
        with self._lock:
            self.channels[channel.side] = channel
        self.redactor.add(channel.token)

    def register(self, notify_url: str) -> None:
        """Subscribe each side's channel (first call) or renew it (later calls); a side that
        refuses is logged and left to polling."""
        for side, tables in self.watched().items():
            connector = notifications(self.connectors[side])
            assert connector is not None  # watched() names only the sides that notify
            events = [f"{table}.all" for table in tables]
            with self._lock:
                channel = self.channels.get(side)
            fresh = channel is None or channel.expiry is None
            if channel is None:  # known before Zoho calls: a callback may come first
                channel = Channel(
                    side, channel_id(self.config, side), secrets.token_urlsafe(24), events
                )
                self.add(channel)
            expiry = self.now() + dt.timedelta(seconds=self.config.daemon.channel_expiry)
            spec = {
                "channel_id": channel.channel_id,
                "events": events,
                "notify_url": notify_url,
                "token": channel.token,
                "channel_expiry": expiry,
            }
            try:
                if fresh:
                    connector.enable_notifications([spec])
                else:
                    try:
                        connector.update_notifications([spec])
                    except ZohoError:  # it expired or someone removed it: subscribe again
                        connector.enable_notifications([spec])
            except Exception as exc:
                error = self.redactor.scrub(f"{type(exc).__name__}: {exc}")
                with self._lock:
                    channel.error = error
                log_event(
                    log,
                    "watch channel not registered; polling picks changes up",
                    level=logging.WARNING,
                    side=side,
                    error=error,
                    poll_every=self.config.daemon.poll_every,
                )
                continue
            with self._lock:
                channel.expiry, channel.error, channel.events = expiry, None, events
            self.metrics.channel_expiry.labels(side=side).set(expiry.timestamp())
            log_event(
                log,
                "watch channel registered" if fresh else "watch channel renewed",
                side=side,
                channel_id=channel.channel_id,
                events=events,
                expiry=moment_text(expiry),
                notify_url=notify_url,
            )

    def check(self, body: Mapping[str, Any]) -> Callback | None:
        """An accepted callback's (side, table, operation, ids); None for an unknown channel
        or a wrong or missing token (counted, logged without the token)."""
        claimed = str(body.get("channel_id") or "")
        token = body.get("token")
        with self._lock:
            channel = next((c for c in self.channels.values() if c.channel_id == claimed), None)
        if (
            channel is None
            or not isinstance(token, str)
            or not hmac.compare_digest(token.encode(), channel.token.encode())
        ):
            self.metrics.callbacks.labels(outcome="refused").inc()
            log_event(
                log,
                "callback refused: unknown channel or wrong token",
                level=logging.WARNING,
                channel_id=claimed[:40],
            )
            return None
        table = str(body.get("module") or "")
        operation = "delete" if body.get("operation") == "delete" else "update"
        given = body.get("ids")  # anything but a list of ids: the module's whole cycle
        ids = [str(i) for i in given if isinstance(i, str | int)] if isinstance(given, list) else []
        self.metrics.callbacks.labels(outcome="accepted").inc()
        log_event(
            log, "callback", side=channel.side, table=table, operation=operation, ids=len(ids)
        )
        return channel.side, table, operation, ids

    def remove(self, timeout: float) -> None:
        """Remove the registered channels (bounded: the process is stopping)."""
        with self._lock:
            channels = [c for c in self.channels.values() if c.expiry is not None]
        if not channels:
            return

        def remove() -> None:
            for channel in channels:
                connector = notifications(self.connectors[channel.side])
                if connector is None:
                    continue
                try:
                    connector.disable_notifications([channel.channel_id])
                except Exception as exc:
                    log_event(
                        log,
                        "watch channel not removed; it expires by itself",
                        level=logging.WARNING,
                        side=channel.side,
                        error=self.redactor.scrub(str(exc)),
                    )

        worker = threading.Thread(target=remove, name="daemon-unwatch", daemon=True)
        worker.start()
        worker.join(timeout)

    def state(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {side: c.state() for side, c in self.channels.items()}


def route(
    config: Config, callbacks: Iterable[Callback]
) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """Accepted callbacks -> ids to re-fetch per (module, side), and the modules whose cycle
    should run (a delete, or a callback without ids).  Only instant modules are touched."""
    fetch: dict[tuple[str, str], dict[str, None]] = {}  # ordered sets: O(1) per id
    rerun: list[str] = []
    for side, table, operation, ids in callbacks:
        for name, module in config.modules.items():
            side_module = module.sides.get(side)
            if side_module is None or side_module.table != table:
                continue
            if not is_instant(config, name):
                continue
            if operation == "delete" or not ids:
                if name not in rerun:
                    rerun.append(name)
            else:
                fetch.setdefault((name, side), {}).update(dict.fromkeys(ids))
    return {key: list(ids) for key, ids in fetch.items()}, rerun


MAX_PENDING = 10_000  # ids queued for re-fetch; past it, the module's cycle reads them all


class Pending:
    """Accepted callbacks not yet drained: the ids of each (side, table, operation), each
    kept once (O(1) per id), at most ``limit`` in all.  Past the limit, or for a callback
    without ids, a table's ids give way to its module's whole cycle, which reads them and
    every other change: memory stays bounded under a flood and nothing is lost.  The
    caller holds a lock around it."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self._queued: dict[tuple[str, str, str], dict[str, None] | None] = {}  # None: a cycle
        self._count = 0

    def add(self, callback: Callback) -> None:
        side, table, operation, ids = callback
        key = (side, table, operation)
        queued = self._queued.setdefault(key, {})
        if queued is None:  # the module's cycle already takes these
            return
        if not ids or self._count + len(ids) > self.limit:
            self._count -= len(queued)
            self._queued[key] = None
            return
        before = len(queued)
        queued.update(dict.fromkeys(ids))
        self._count += len(queued) - before

    def take(self) -> list[Callback]:
        """Every queued callback (ids in arrival order; none: the module's cycle); empties."""
        taken = [
            (side, table, operation, list(ids or ()))
            for (side, table, operation), ids in self._queued.items()
        ]
        self._queued, self._count = {}, 0
        return taken

    def __len__(self) -> int:
        """How many ids are queued."""
        return self._count


__all__ = ["MAX_PENDING", "Callback", "Channel", "Pending", "Watch", "channel_id", "route"]
