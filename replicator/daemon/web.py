"""The daemon's HTTP endpoint (Starlette, served by uvicorn on loopback by default)::

    GET  /healthz        200 {"status": "ok", ...} or 503 {"status": "unhealthy", ...}:
                         the scheduler, each module's last cycle and error, the channels
    GET  /metrics        Prometheus text format (see :mod:`replicator.daemon.metrics`)
    POST /callbacks/crm  a Zoho CRM notification: the channel's token must match, or 401
                         and nothing else happens; the named ids are re-fetched
    POST /sync           {"modules": [...]} with header X-Replicator-Token: a cycle now;
                         answers its report when it ends (``replicator sync`` uses it)
    POST /fetch          {"module", "side", "id"} with the same header: re-sync one record
                         (``replicator fetch`` uses it while the daemon holds the journal)
    /console/...         the web console, only when the config says ``[console] enabled``

Handlers never block the event loop on the engine: they hand work to the scheduler.

**Limits.**  A body is streamed with a cap (:data:`MAX_BODY`): a larger Content-Length
gets 413 before a byte is read, a larger chunked body 413 as soon as it passes the cap, so a
flood of large bodies never grows memory.  ``/sync`` and ``/fetch`` check their header token
before they read anything (401).  A body that is not a JSON object, or nests deeper than
:data:`MAX_DEPTH`, gets 400, never a 500.  Refusals close the connection instead of reading
the rest, and at most :data:`MAX_CONNECTIONS` connections are served at once (503 beyond).
"""

from __future__ import annotations

import functools
import hmac
import json
import socket
import threading
import time
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from replicator.daemon.metrics import CONTENT_TYPE, Metrics
from replicator.errors import DaemonError

MAX_BODY = 256 * 1024  # a callback names at most a few hundred ids: a few kB
MAX_DEPTH = 16  # a callback or a sync request is two levels deep
MAX_CONNECTIONS = 64  # beyond this, 503 at once: a flood holds at most this many bodies
REFUSED = {"Connection": "close"}  # the rest of a refused body is not read, nor kept alive


class Host(Protocol):
    """What the endpoint needs of the daemon."""

    metrics: Metrics
    control_token: str

    def health(self) -> tuple[bool, dict[str, Any]]: ...

    def callback(self, body: dict[str, Any]) -> bool: ...

    def sync_now(self, modules: list[str], *, yes: bool = False) -> dict[str, Any]: ...

    def fetch_now(self, module: str, side: str, record_id: str) -> dict[str, Any]: ...


def create_web_app(host: Host, *, console: ASGIApp | None = None) -> Starlette:
    """The endpoint's app; ``console`` (the web console, when configured) at /console."""

    async def healthz(request: Request) -> Response:
        ok, data = host.health()
        return JSONResponse(data, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(host.metrics.render(), media_type=CONTENT_TYPE)

    async def callback(request: Request) -> Response:
        # Zoho puts the channel's token in the body: the size cap comes first
        try:
            body = json_object(await read_body(request))
        except HTTPException:
            host.metrics.callbacks.labels(outcome="refused").inc()
            raise
        if not host.callback(body):
            return JSONResponse({"error": "unknown channel or wrong token"}, status_code=401)
        return JSONResponse({"accepted": True}, status_code=202)

    def authorize(request: Request) -> None:
        given = request.headers.get("x-replicator-token", "")
        if not hmac.compare_digest(given.encode(), host.control_token.encode()):
            raise _refuse(401, "missing or wrong X-Replicator-Token")  # before any read

    async def sync(request: Request) -> Response:
        authorize(request)
        body = json_object(await read_body(request))
        modules = body.get("modules") or []
        if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
            return JSONResponse({"error": "modules must be a list of names"}, status_code=400)
        yes = body.get("yes", False)
        if not isinstance(yes, bool):
            return JSONResponse({"error": "yes must be true or false"}, status_code=400)
        answer = await run_in_threadpool(functools.partial(host.sync_now, modules, yes=yes))
        return JSONResponse(answer, status_code=200 if "error" not in answer else 409)

    async def fetch(request: Request) -> Response:
        authorize(request)
        body = json_object(await read_body(request))
        module, side, record_id = (body.get(key) for key in ("module", "side", "id"))
        if not (isinstance(module, str) and isinstance(side, str) and isinstance(record_id, str)):
            return JSONResponse({"error": "module, side and id must be texts"}, status_code=400)
        answer = await run_in_threadpool(host.fetch_now, module, side, record_id)
        return JSONResponse(answer, status_code=200 if "error" not in answer else 409)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/callbacks/crm", callback, methods=["POST"]),
            Route("/sync", sync, methods=["POST"]),
            Route("/fetch", fetch, methods=["POST"]),
            *([Mount("/console", console)] if console is not None else []),
        ],
        exception_handlers={HTTPException: _refused},
    )


async def _refused(request: Request, exc: Exception) -> Response:
    """A refused request as JSON: ``{"error": why}`` with its status (and its headers)."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _refuse(status: int, reason: str) -> HTTPException:
    return HTTPException(status, reason, headers=REFUSED)


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, at most ``limit`` bytes: a larger Content-Length is refused before
    a byte is read, a larger streamed body as soon as it passes the limit (413)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise _refuse(400, "Content-Length is not a number")
        digits = declared.lstrip("0")
        if len(digits) > len(str(limit)) or int(digits or "0") > limit:
            raise _refuse(413, f"the body is over {limit} bytes")
    received = bytearray()
    async for chunk in request.stream():
        if len(received) + len(chunk) > limit:
            raise _refuse(413, f"the body is over {limit} bytes")
        received += chunk
    return bytes(received)


def json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object ({} when empty); 400 for anything else, including values
    nested deeper than :data:`MAX_DEPTH`."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except RecursionError:  # the decoder's own guard, far deeper than MAX_DEPTH
        raise _refuse(400, f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # not JSON, not UTF-8, or an integer too long to convert
        raise _refuse(400, "expected a JSON object") from None
    if not isinstance(value, dict):
        raise _refuse(400, "expected a JSON object")
    if _depth(value) > MAX_DEPTH:
        raise _refuse(400, f"the body is nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


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
        limit_concurrency=MAX_CONNECTIONS,
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


__all__ = [
    "MAX_BODY",
    "MAX_DEPTH",
    "Host",
    "create_web_app",
    "json_object",
    "read_body",
    "serve",
]
