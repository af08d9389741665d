"""What a fleet worker process holds while Celery runs its tasks: the tenants, the Redis
of locks and limits, each tenant's last outcome, its metrics and its HTTP endpoint.

:meth:`FleetWorker.cycle` is the body of the Celery task (:mod:`replicator.fleet.queue`):
take the tenant and module's lock (:mod:`.locks`) or answer "busy", run the daemon's cycle
for the tenant (:mod:`.runner`), record the outcome (never raises for a cycle that failed:
the next one is scheduled anyway, as in the daemon).  A stop (SIGTERM, Celery's warm
shutdown) makes the engine stop after the batch in hand; the module's cycle is then queued
again, so another worker finishes it.

Its endpoint (``--http`` of ``replicator fleet worker``)::

    GET /healthz   200 {"status": "ok" | "degraded", "tenants": {...}} or 503 when Redis
                   cannot be reached or the worker is stopping
    GET /metrics   Prometheus text, every family labelled by tenant::

        replicator_fleet_cycles_total{tenant,module,trigger,outcome}   counter
        replicator_fleet_cycle_duration_seconds{tenant,module}         histogram
        replicator_fleet_last_cycle_timestamp_seconds{tenant,module}   gauge
        replicator_fleet_lock_busy_total{tenant,module}                counter
        replicator_fleet_records_total{tenant,module,side,what}        counter
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from replicator.daemon.log import log_event
from replicator.daemon.metrics import BUCKETS, CONTENT_TYPE, WithoutCreated
from replicator.daemon.state import moment_text
from replicator.errors import GuardStop
from replicator.fleet.backends import open_store
from replicator.fleet.channels import CHANNELS
from replicator.fleet.errors import FleetError, TenantError
from replicator.fleet.locks import CycleLocks
from replicator.fleet.sealing import Sealer
from replicator.fleet.store import BROKER_ENV, STORE_ENV
from replicator.fleet.tenants import Tenants
from replicator.sync.record import CycleReport

log = logging.getLogger("replicator.fleet")


class FleetMetrics:
    """A worker's metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter(
            "replicator_fleet_cycles",
            "Cycles run by this worker, by outcome",
            ["tenant", "module", "trigger", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "replicator_fleet_cycle_duration_seconds",
            "How long a tenant's cycle took",
            ["tenant", "module"],
            buckets=BUCKETS,
            registry=r,
        )
        self.last_cycle = Gauge(
            "replicator_fleet_last_cycle_timestamp_seconds",
            "When a tenant's last cycle on this worker ended (UTC)",
            ["tenant", "module"],
            registry=r,
        )
        self.busy = Counter(
            "replicator_fleet_lock_busy",
            "Cycles put off because another worker held the tenant's module",
            ["tenant", "module"],
            registry=r,
        )
        self.records = Counter(
            "replicator_fleet_records",
            "Records a tenant's cycles counted (pulled, created, ...)",
            ["tenant", "module", "side", "what"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(WithoutCreated(self.registry))  # type: ignore[arg-type]


@attrs.define
class Outcome:
    """A tenant's module's last cycle on this worker."""

    status: str  # ok, error, waiting, interrupted, busy, gone
    trigger: str
    at: dt.datetime
    seconds: float = 0.0
    error: str | None = None

    def data(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "trigger": self.trigger,
            "at": moment_text(self.at),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@attrs.frozen
class CycleResult:
    """What the task answers (JSON): the outcome, and whether the lock was free."""

    status: str
    error: str | None = None
    counts: dict[str, int] = attrs.field(factory=dict)

    def data(self) -> dict[str, Any]:
        return attrs.asdict(self)


Runner = Callable[..., CycleReport]


class FleetWorker:
    """One worker process's state; the Celery task calls :meth:`cycle`."""

    def __init__(
        self,
        tenants: Tenants,
        client: redis.Redis,
        *,
        lock_ttl: float = 30.0,
        runner: Runner | None = None,
        ids_runner: Runner | None = None,
    ) -> None:
        # the runner is imported with the engine: a worker that never runs a cycle (a test
        # of its endpoint) does not load it
        from replicator.fleet.runner import run_tenant_cycle, sync_tenant_ids

        self.tenants, self.client = tenants, client
        self.locks = CycleLocks(client, ttl=lock_ttl)
        self.runner = runner or run_tenant_cycle
        self.ids_runner = ids_runner or sync_tenant_ids
        self.metrics = FleetMetrics()
        self.stopping = threading.Event()
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.running: dict[tuple[str, str], dt.datetime] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **options: Any) -> FleetWorker:
        """The worker of ``REPLICATOR_FLEET_STORE``, ``REPLICATOR_FLEET_KEY`` and
        ``REPLICATOR_FLEET_BROKER`` (the Redis of the queue, the locks and the limits)."""
        env = dict(os.environ if env is None else env)
        store, broker = env.get(STORE_ENV), env.get(BROKER_ENV)
        if not store or not broker:
            raise FleetError(f"a fleet worker needs {STORE_ENV} and {BROKER_ENV}")
        tenants = Tenants(open_store(store), lambda: Sealer.from_env(env))
        return cls(tenants, redis.Redis.from_url(broker), **options)

    # -- the task's body --------------------------------------------------------------------

    def cycle(
        self,
        tenant_id: str,
        module: str,
        *,
        trigger: str = "schedule",
        side: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> CycleResult:
        """One cycle of ``tenant_id``'s ``module`` (``ids`` of ``side``: only those
        records), under its lock; ``busy`` when another worker holds it."""
        key = (tenant_id, module)
        with self.locks.hold(tenant_id, module) as held:
            if held is None:
                self.metrics.busy.labels(tenant=tenant_id, module=module).inc()
                return CycleResult("busy")
            started = dt.datetime.now(dt.UTC)
            with self._lock:
                self.running[key] = started
            try:
                result = self._run(tenant_id, module, trigger, side, ids)
            finally:
                with self._lock:
                    self.running.pop(key, None)
            if held.lost.is_set():  # another worker may have run it meanwhile: say so
                log_event(log, "cycle lock lost", level=logging.WARNING, tenant=tenant_id)
        ended = dt.datetime.now(dt.UTC)
        seconds = (ended - started).total_seconds()
        with self._lock:
            self.outcomes[key] = Outcome(result.status, trigger, ended, seconds, result.error)
        labels = {"tenant": tenant_id, "module": module}
        self.metrics.cycles.labels(**labels, trigger=trigger, outcome=result.status).inc()
        self.metrics.last_cycle.labels(**labels).set(ended.timestamp())
        if result.status == "ok":
            self.metrics.duration.labels(**labels).observe(seconds)
        return result

    def _run(
        self,
        tenant_id: str,
        module: str,
        trigger: str,
        side: str | None,
        ids: Sequence[str] | None,
    ) -> CycleResult:
        try:
            tenant = self.tenants.get(tenant_id)
        except TenantError as exc:  # removed since the job was queued: nothing to do
            return CycleResult("gone", str(exc))
        try:
            if ids and side is not None:
                report = self.ids_runner(
                    tenant, module, side, ids, limits=self.client, sealer=self.tenants.sealer
                )
            else:
                report = self.runner(
                    tenant,
                    module,
                    limits=self.client,
                    sealer=self.tenants.sealer,
                    stop_requested=self.stopping.is_set,
                )
        except GuardStop as stop:
            return CycleResult("waiting", str(stop))
        except Exception as exc:  # a failed cycle is recorded; the next one runs anyway
            error = f"{type(exc).__name__}: {exc}"
            log_event(
                log, "cycle failed", level=logging.ERROR, tenant=tenant_id, module=module,
                trigger=trigger, error=error,
            )  # fmt: skip
            return CycleResult("error", error[:2000])
        counts: dict[str, int] = {}
        for name, side_name, what, n in report.rows():
            self.metrics.records.labels(
                tenant=tenant_id, module=name, side=side_name, what=what
            ).inc(n)
            counts[f"{name}/{side_name}/{what}"] = n
        status = "ok"
        if module in report.paused:
            status = "paused"
        elif self.stopping.is_set():
            status = "interrupted"
        log_event(
            log, "cycle", level=logging.INFO if counts else logging.DEBUG, tenant=tenant_id,
            module=module, trigger=trigger, status=status, counts=counts,
        )  # fmt: skip
        return CycleResult(status, counts=counts)

    def channels(self, tenant_id: str, public_url: str) -> dict[str, Any]:
        """Subscribe or renew the tenant's CRM watch channels to the fleet's endpoint at
        ``public_url``; each side's channel state (never a token)."""
        # the channels need the tenant's connectors: loaded with the engine, as the runner
        from replicator.fleet.channels import ChannelTokens, register_channels
        from replicator.fleet.runner import open_tenant_app  # (see above)

        with self.locks.hold(tenant_id, CHANNELS) as held:
            if held is None:  # another worker renews them now
                return {}
            try:
                tenant = self.tenants.get(tenant_id)
            except TenantError:
                return {}
            config = tenant.config()
            with open_tenant_app(
                tenant, config, limits=self.client, sealer=self.tenants.sealer
            ) as app:
                return register_channels(
                    config,
                    tenant.id,
                    app.connectors,
                    tokens=ChannelTokens.from_env(),
                    public_url=public_url,
                )

    # -- health ------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        problems = []
        try:
            self.client.ping()
        except redis.RedisError as exc:
            problems.append(f"redis cannot be reached: {type(exc).__name__}")
        if self.stopping.is_set():
            problems.append("the worker is stopping")
        with self._lock:
            tenants: dict[str, dict[str, Any]] = {}
            for (tenant, module), outcome in sorted(self.outcomes.items()):
                tenants.setdefault(tenant, {})[module] = outcome.data()
            running = [
                {"tenant": t, "module": m, "since": moment_text(at)}
                for (t, m), at in sorted(self.running.items())
            ]
        failing = [
            f"tenant {t} module {m}: {data['error']}"
            for t, modules in tenants.items()
            for m, data in modules.items()
            if data["status"] == "error"
        ]
        ok = not problems
        status = "unhealthy" if problems else ("degraded" if failing else "ok")
        data = {
            "status": status,
            "pid": os.getpid(),
            "running": running,
            "tenants": tenants,
            "problems": problems,
            "failing": failing,
        }
        return ok, data

    def close(self) -> None:
        self.tenants.close()
        self.client.close()


def create_worker_app(worker: FleetWorker) -> Starlette:
    """The worker's ``/healthz`` and ``/metrics``."""

    async def healthz(request: Request) -> Response:
        ok, data = worker.health()
        return JSONResponse(data, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(worker.metrics.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


__all__ = [
    "CycleResult",
    "FleetMetrics",
    "FleetWorker",
    "Outcome",
    "create_worker_app",
]
