"""Celery beat's schedule of the fleet: one periodic entry per tenant and module, with the
daemon's intervals (:func:`replicator.daemon.schedule.every`: masters every
``masters_every``, 2 h by default; transaction modules every ``poll_every``, the polling
fallback when callbacks stop; a module's own ``every``).

:class:`FleetScheduler` is beat's own :class:`~celery.beat.PersistentScheduler` (its last
runs kept in beat's schedule file, so a restarted beat does not run every module at once
again) whose entries come from the fleet's store, read at start and again every
``reload_every`` seconds: a tenant added or removed, or a config changed, is scheduled
within a minute without restarting beat.  A module's first run is at once (as the daemon's
first start with no history); beat's own scheduling loop decides the rest.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler

from replicator.config.load import Config, parse_config
from replicator.daemon.schedule import MAX_RENEW, every, is_instant
from replicator.fleet.backends import open_store
from replicator.fleet.channels import CHANNELS, PUBLIC_URL_ENV
from replicator.fleet.store import STORE_ENV, StoredTenant

log = logging.getLogger("replicator.fleet")

ENTRY_PREFIX = "fleet:"
RELOAD_EVERY = 60.0


def entry_name(tenant: str, module: str) -> str:
    return f"{ENTRY_PREFIX}{tenant}:{module}"


_parsed: dict[tuple[str, str, str], Config] = {}  # (tenant, config path, text) -> parsed


def stored_config(stored: StoredTenant) -> Config:
    """A stored tenant's config, read without its secrets (parsed once per text: beat
    reads every tenant's every minute)."""
    key = (stored.id, stored.config_path, stored.config)
    config = _parsed.get(key)
    if config is None:
        config = parse_config(tomllib.loads(stored.config), Path(stored.config_path))
        if len(_parsed) > 100_000:  # tenants removed or changed leave old texts: start over
            _parsed.clear()
        _parsed[key] = config
    return config


def watches(config: Config) -> bool:
    """Whether a tenant has CRM channels to keep: an instant module with a Zoho CRM side."""
    return any(
        is_instant(config, name)
        and any(config.sides[side].connector == "zoho_crm" for side in module.sides)
        for name, module in config.modules.items()
    )


def tenant_entries(
    tenants: Iterable[StoredTenant],
    *,
    now: dt.datetime | None = None,
    public_url: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Beat entries for every module of every tenant, and with ``public_url`` (the fleet
    endpoint's) one renewing each watching tenant's CRM channels (a config that no longer
    parses is logged and left out: its tenant's other state is untouched)."""
    # the cycle task is imported with Celery's app: the pure part above needs neither
    from replicator.fleet.queue import CHANNELS_TASK, CYCLE_TASK, QUEUE

    moment = now or dt.datetime.now(dt.UTC)
    entries: dict[str, dict[str, Any]] = {}
    for stored in tenants:
        try:
            config = stored_config(stored)
        except Exception as exc:
            log.error("fleet beat: tenant %s not scheduled: %s", stored.id, exc)
            continue
        for module in config.modules:
            seconds = every(config, module)
            entries[entry_name(stored.id, module)] = {
                "task": CYCLE_TASK,
                "schedule": dt.timedelta(seconds=seconds),
                "args": (stored.id, module, "schedule"),
                "options": {"queue": QUEUE, "expires": seconds},
                # first run at once (a new entry only: beat keeps an existing one's)
                "last_run_at": moment - dt.timedelta(seconds=seconds),
            }
        if public_url and watches(config):
            renew = max(1.0, min(config.daemon.channel_expiry / 2, MAX_RENEW))
            entries[entry_name(stored.id, CHANNELS)] = {
                "task": CHANNELS_TASK,
                "schedule": dt.timedelta(seconds=renew),
                "args": (stored.id,),
                "options": {"queue": QUEUE, "expires": renew},
                "last_run_at": moment - dt.timedelta(seconds=renew),
            }
    return entries


class FleetScheduler(PersistentScheduler):
    """Beat's persistent scheduler over the fleet's tenants (``REPLICATOR_FLEET_STORE``)."""

    reload_every = RELOAD_EVERY

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._next_reload = 0.0
        self.store_location = os.environ.get(STORE_ENV, "")
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        super().setup_schedule()
        self._reload()

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if time.monotonic() >= self._next_reload:
            self._reload()
        wait = float(super().tick(*args, **kwargs))
        return min(wait, max(0.0, self._next_reload - time.monotonic()))

    def _reload(self) -> None:
        self._next_reload = time.monotonic() + self.reload_every
        if not self.store_location:
            log.error("fleet beat: no %s: nothing to schedule", STORE_ENV)
            return
        store = open_store(self.store_location)
        try:
            wanted = tenant_entries(store.all(), public_url=os.environ.get(PUBLIC_URL_ENV))
        finally:
            store.close()
        static = dict(self.app.conf.beat_schedule or {})
        before = {name for name in self.schedule if name.startswith(ENTRY_PREFIX)}
        self.merge_inplace({**static, **wanted})
        added, removed = set(wanted) - before, before - set(wanted)
        if added or removed:
            log.info("fleet beat: %d entries added, %d removed", len(added), len(removed))
        self._heap = None  # beat rebuilds its heap of due entries from the new schedule


__all__ = [
    "ENTRY_PREFIX",
    "FleetScheduler",
    "entry_name",
    "stored_config",
    "tenant_entries",
    "watches",
]
