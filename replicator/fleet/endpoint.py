"""The fleet's one endpoint for Zoho CRM callbacks (``replicator fleet endpoint``), run
behind a load balancer as many times as wanted (it keeps no state)::

    POST /callbacks/crm  a notification: routed to its tenant by the channel's token
                         (:mod:`.channels`), checked as the daemon checks its own (the body
                         capped, a JSON object, the channel one of the tenant's CRM sides'
                         and the token its own, compared in constant time), else 401 and
                         nothing happens; accepted: 202 and the tenant's cycles are queued
                         (the named ids re-read, or the module's cycle for a delete)
    GET  /healthz        200 while the broker answers, else 503
    GET  /metrics        replicator_fleet_callbacks_total{tenant,outcome}

The daemon's :func:`~replicator.daemon.watch.route` turns a callback into work, so a
callback does in the fleet what it does in a daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from replicator.config.load import Config
from replicator.daemon.log import log_event
from replicator.daemon.metrics import CONTENT_TYPE, WithoutCreated
from replicator.daemon.watch import channel_id, route
from replicator.daemon.web import json_object, read_body
from replicator.fleet.channels import CALLBACK_PATH, ChannelTokens
from replicator.fleet.schedule import stored_config
from replicator.fleet.store import TenantStore
from replicator.fleet.tenant import TENANT_ID

log = logging.getLogger("replicator.fleet")

# (tenant, module, trigger, side, ids): queue one cycle
Enqueue = Callable[[str, str, str, str | None, Sequence[str] | None], None]


class Router:
    """Checks a callback and turns it into the tenant's queued cycles."""

    def __init__(self, store: TenantStore, tokens: ChannelTokens, enqueue: Enqueue) -> None:
        self.store, self.tokens, self.enqueue = store, tokens, enqueue
        self._configs: dict[str, tuple[str, Config]] = {}  # tenant -> (its text, parsed)
        self.registry = CollectorRegistry(auto_describe=True)
        self.callbacks = Counter(
            "replicator_fleet_callbacks",
            "Zoho CRM callbacks the endpoint received, by tenant and outcome",
            ["tenant", "outcome"],
            registry=self.registry,
        )

    def _config(self, tenant: str) -> Config | None:
        stored = self.store.get(tenant)
        if stored is None:
            return None
        known = self._configs.get(tenant)
        if known is None or known[0] != stored.config:
            known = (stored.config, stored_config(stored))
            self._configs[tenant] = known
        return known[1]

    def callback(self, body: dict[str, Any]) -> str | None:
        """The tenant whose cycles were queued, or None (refused: nothing queued)."""
        token = body.get("token")
        tenant = self.tokens.tenant_of(token)
        claimed = str(body.get("channel_id") or "")
        config = None
        if tenant is not None and TENANT_ID.fullmatch(tenant):
            config = self._config(tenant)
        side = None
        if config is not None:
            assert tenant is not None
            side = next(
                (
                    s
                    for s in config.sides
                    if channel_id(config, s) == claimed
                    and self.tokens.check(token, tenant, s, claimed)
                ),
                None,
            )
        if config is None or side is None:
            self.callbacks.labels(tenant="", outcome="refused").inc()
            log_event(
                log,
                "callback refused: unknown channel or wrong token",
                level=logging.WARNING,
                channel_id=claimed[:40],
            )
            return None
        assert tenant is not None
        table = str(body.get("module") or "")
        operation = "delete" if body.get("operation") == "delete" else "update"
        given = body.get("ids")  # anything but a list of ids: the module's whole cycle
        ids = [str(i) for i in given if isinstance(i, str | int)] if isinstance(given, list) else []
        fetch, rerun = route(config, [(side, table, operation, ids)])
        for (module, fetch_side), names in fetch.items():
            self.enqueue(tenant, module, "callback", fetch_side, names)
        for module in rerun:  # only instant modules: route() leaves the others out
            self.enqueue(tenant, module, "callback", None, None)
        self.callbacks.labels(tenant=tenant, outcome="accepted").inc()
        log_event(
            log, "callback", tenant=tenant, side=side, table=table, operation=operation,
            ids=len(ids),
        )  # fmt: skip
        return tenant

    def render(self) -> bytes:
        return generate_latest(WithoutCreated(self.registry))  # type: ignore[arg-type]


def create_endpoint_app(router: Router, broker: redis.Redis | None = None) -> Starlette:
    """The endpoint's Starlette app."""

    async def callback(request: Request) -> Response:
        try:
            body = json_object(await read_body(request))
        except HTTPException:
            router.callbacks.labels(tenant="", outcome="refused").inc()
            raise
        tenant = await run_in_threadpool(router.callback, body)
        if tenant is None:
            return JSONResponse({"error": "unknown channel or wrong token"}, status_code=401)
        return JSONResponse({"accepted": True}, status_code=202)

    async def healthz(request: Request) -> Response:
        problems = []
        if broker is not None:
            try:
                await run_in_threadpool(broker.ping)
            except redis.RedisError as exc:
                problems.append(f"the broker cannot be reached: {type(exc).__name__}")
        data = {"status": "unhealthy" if problems else "ok", "problems": problems}
        return JSONResponse(data, status_code=503 if problems else 200)

    async def metrics(request: Request) -> Response:
        return Response(router.render(), media_type=CONTENT_TYPE)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    return Starlette(
        routes=[
            Route(CALLBACK_PATH, callback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: refused},
    )


__all__ = ["Enqueue", "Router", "create_endpoint_app"]
