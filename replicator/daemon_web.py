"""The daemon's HTTP endpoint (Starlette, served by uvicorn on loopback by default)::

    GET  /healthz        200 {"status": "ok", ...} or 503 {"status": "unhealthy", ...}:
                         the scheduler, each module's last cycle and error, the channels
    GET  /metrics        Prometheus text format (see :mod:`replicator.daemon_metrics`)
    POST /callbacks/crm  a Zoho CRM notification: the channel's token must match, or 401
                         and nothing else happens; the named ids are re-fetched
    POST /sync           {"modules": [...]} with header X-Replicator-Token: a cycle now;
                         answers its report when it ends (``replicator sync`` uses it)

Handlers never block the event loop on the engine: they hand work to the scheduler.
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from replicator.daemon_metrics import CONTENT_TYPE, Metrics
from replicator.errors import DaemonError

MAX_BODY = 1_000_000  # a callback names at most a few hundred ids


class Host(Protocol):
    """What the endpoint needs of the daemon."""

    metrics: Metrics
    control_token: str

    def health(self) -> tuple[bool, dict[str, Any]]: ...

    def callback(self, body: dict[str, Any]) -> bool: ...

    def sync_now(self, modules: list[str]) -> dict[str, Any]: ...


def create_web_app(host: Host) -> Starlette:
    async def healthz(request: Request) -> Response:
        ok, data = host.health()
        return JSONResponse(data, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(host.metrics.render(), media_type=CONTENT_TYPE)

    async def callback(request: Request) -> Response:
        body = await _json(request)
        if body is None:
            host.metrics.inc("replicator_callbacks_total", outcome="refused")
            return JSONResponse({"error": "expected a JSON object"}, status_code=400)
        if not host.callback(body):
            return JSONResponse({"error": "unknown channel or wrong token"}, status_code=401)
        return JSONResponse({"accepted": True}, status_code=202)

    async def sync(request: Request) -> Response:
        given = request.headers.get("x-replicator-token", "")
        if not hmac.compare_digest(given.encode(), host.control_token.encode()):
            return JSONResponse({"error": "missing or wrong X-Replicator-Token"}, status_code=401)
        body = await _json(request)
        modules = (body or {}).get("modules") or []
        if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
            return JSONResponse({"error": "modules must be a list of names"}, status_code=400)
        answer = await run_in_threadpool(host.sync_now, modules)
        return JSONResponse(answer, status_code=200 if "error" not in answer else 409)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/callbacks/crm", callback, methods=["POST"]),
            Route("/sync", sync, methods=["POST"]),
        ]
    )


async def _json(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return None
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def serve(app: Starlette, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Serve ``app`` on ``host:port`` (0: a free port) from a daemon thread; the server,
    its thread and the port.  Signals stay with the main thread (uvicorn installs none
    outside it); the access log is off, so no callback body or header is ever logged."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="daemon-http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise DaemonError(f"the HTTP endpoint on {host}:{port} did not start")
        time.sleep(0.01)
    return server, thread, port


__all__ = ["Host", "create_web_app", "serve"]
