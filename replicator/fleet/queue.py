"""The fleet's work on Celery with Redis as broker: each module cycle of each tenant is one
task, ``replicator.fleet.cycle(tenant, module, trigger, side, ids)``.

Settings that make it safe (issue 17, item 5):

- ``task_acks_late`` with ``task_reject_on_worker_lost``: a job is acknowledged when it
  ends, so a worker killed mid-cycle leaves it to be delivered again (at once when a pool
  child dies; after ``visibility_timeout`` when the whole worker is gone), and the
  journal's intents make the re-run safe.
- ``worker_prefetch_multiplier = 1``: a worker holds one job beyond the one it runs, so a
  stop or a kill strands little.
- The tenant and module's lock (:mod:`.locks`): a job that finds it held is retried after
  ``BUSY_RETRY`` seconds.  A scheduled cycle gives up once the lock of a dead holder would
  have expired (a live holder's cycle covers it: the daemon's ``coalesce``); a callback's
  is retried until it runs (its ids must be read).
- SIGTERM is Celery's warm shutdown: the job in hand finishes its batch (the engine's
  ``stop_requested``), is journaled, and its module's cycle is queued again for another
  worker.

The broker is ``REPLICATOR_FLEET_BROKER`` (``redis://HOST:PORT/DB``), which also holds the
locks and the shared limits.  :func:`configure` sets it for a process.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

from celery import Celery, Task, signals

from replicator.fleet.channels import PUBLIC_URL_ENV
from replicator.fleet.store import BROKER_ENV
from replicator.fleet.worker import FleetWorker

log = logging.getLogger("replicator.fleet")

CYCLE_TASK = "replicator.fleet.cycle"
CHANNELS_TASK = "replicator.fleet.channels"
QUEUE = "replicator"
BUSY_RETRY = 5.0  # seconds before a job that found its lock held tries again
LOCK_TTL = 30.0
VISIBILITY_TIMEOUT = 3600.0  # a killed worker's job is delivered again after this

app = Celery("replicator.fleet", set_as_current=False)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_acks_on_failure_or_timeout=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    enable_utc=True,
    timezone="UTC",
    beat_scheduler="replicator.fleet.schedule:FleetScheduler",
)

_worker: FleetWorker | None = None


def configure(
    broker: str | None = None,
    *,
    visibility_timeout: float | None = None,
    lock_ttl: float | None = None,
) -> Celery:
    """Point the fleet's Celery app at ``broker`` (default: ``REPLICATOR_FLEET_BROKER``)."""
    url = broker or os.environ.get(BROKER_ENV)
    if url:
        os.environ[BROKER_ENV] = url  # the tasks' worker reads it (and a pool's children)
        app.conf.broker_url = url
    if visibility_timeout is not None:
        os.environ["REPLICATOR_FLEET_VISIBILITY"] = str(visibility_timeout)
    seconds = float(os.environ.get("REPLICATOR_FLEET_VISIBILITY", VISIBILITY_TIMEOUT))
    app.conf.broker_transport_options = {
        "visibility_timeout": seconds,
        # kombu looks for unacknowledged jobs past their visibility timeout every
        # interval x throttle seconds (10 x 10 by default): a tenth of the timeout, so a
        # killed worker's job comes back within about 1.1 x visibility_timeout
        "unacked_restore_interval": max(1.0, seconds / 10),
        "unacked_restore_throttle": 1,
    }
    if lock_ttl is not None:
        os.environ["REPLICATOR_FLEET_LOCK_TTL"] = str(lock_ttl)
    return app


def worker() -> FleetWorker:
    """This process's :class:`FleetWorker` (made from the environment on first use)."""
    global _worker
    if _worker is None:
        ttl = float(os.environ.get("REPLICATOR_FLEET_LOCK_TTL", LOCK_TTL))
        _worker = FleetWorker.from_env(lock_ttl=ttl)
    return _worker


def busy_retries(ttl: float) -> int:
    """How often a scheduled job retries a held lock: until a dead holder's lock is gone."""
    return math.ceil(ttl / BUSY_RETRY) + 1


@app.task(name=CYCLE_TASK, bind=True, max_retries=None)
def cycle(
    self: Task,
    tenant: str,
    module: str,
    trigger: str = "schedule",
    side: str | None = None,
    ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One module cycle of one tenant (``ids`` of ``side``: a callback's records)."""
    fleet = worker()
    result = fleet.cycle(tenant, module, trigger=trigger, side=side, ids=ids)
    if result.status == "busy":
        retries = self.request.retries or 0
        if trigger == "schedule" and retries >= busy_retries(fleet.locks.ttl):
            return {**result.data(), "status": "coalesced"}
        raise self.retry(countdown=BUSY_RETRY)
    if result.status == "interrupted":  # stopped after a batch: another worker goes on
        enqueue_cycle(tenant, module, trigger=trigger)
    return result.data()


@app.task(name=CHANNELS_TASK, max_retries=0)
def channels(tenant: str) -> dict[str, Any]:
    """Subscribe or renew a tenant's CRM watch channels to the fleet's endpoint."""
    public_url = os.environ.get(PUBLIC_URL_ENV)
    if not public_url:
        return {}
    return worker().channels(tenant, public_url)


def enqueue_cycle(
    tenant: str,
    module: str,
    *,
    trigger: str = "schedule",
    side: str | None = None,
    ids: Sequence[str] | None = None,
) -> None:
    """Queue a cycle (the endpoint's callbacks, a stopped worker's unfinished cycle)."""
    cycle.apply_async(args=[tenant, module, trigger, side, list(ids) if ids else None], queue=QUEUE)


@signals.worker_shutting_down.connect
def _stopping(**_: Any) -> None:
    """Warm shutdown: the cycle in hand stops after its batch."""
    if _worker is not None:
        _worker.stopping.set()


__all__ = [
    "BUSY_RETRY",
    "CHANNELS_TASK",
    "CYCLE_TASK",
    "QUEUE",
    "app",
    "busy_retries",
    "channels",
    "configure",
    "cycle",
    "enqueue_cycle",
    "worker",
]
