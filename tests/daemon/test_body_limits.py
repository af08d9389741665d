"""The daemon endpoint's limits: token and size checked before the body is read, bodies
streamed with a cap, JSON nested too deep or malformed refused with 400, memory flat under
a flood of large bodies, callback ids queued once each and bounded."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from replicator.daemon.metrics import Metrics
from replicator.daemon.state import state_path
from replicator.daemon.watch import Pending, route
from replicator.daemon.web import MAX_BODY, MAX_DEPTH, create_web_app
from tests.daemon.conftest import make_world, wait_for

CONTROL = "control-token-0123456789"
ENTRY = "import sys; from replicator.cli.main import main; sys.exit(main())"
MB = 1024 * 1024


class Host:
    """The daemon as the endpoint sees it: callbacks and sync requests recorded."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.control_token = CONTROL
        self.callbacks: list[dict[str, Any]] = []
        self.syncs: list[list[str]] = []

    def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"status": "ok"}

    def callback(self, body: dict[str, Any]) -> bool:
        self.callbacks.append(body)
        return body.get("token") == "channel-token"

    def sync_now(self, modules: list[str], *, yes: bool = False) -> dict[str, Any]:
        self.syncs.append(modules)
        return {"modules": {}}

    def fetch_now(self, module: str, side: str, record_id: str) -> dict[str, Any]:
        self.syncs.append([module, side, record_id])
        return {"modules": {}, "rid": f"{side}:{record_id}"}


class Exchange:
    """One request played against the ASGI app, counting the body bytes the app read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.read = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        chunk = next(self.chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            self.body += message.get("body", b"")

    @property
    def error(self) -> str:
        return str(json.loads(self.body)["error"])


def play(
    host: Host, path: str, chunks: Iterator[bytes], headers: dict[str, str] | None = None
) -> Exchange:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    exchange = Exchange(chunks)
    asyncio.run(create_web_app(host)(scope, exchange.receive, exchange.send))
    return exchange


def endless(chunk: int = 64 * 1024) -> Iterator[bytes]:
    piece = b"x" * chunk
    while True:
        yield piece


def once(body: bytes) -> Iterator[bytes]:
    yield body


SYNC_HEADERS = {"X-Replicator-Token": CONTROL}


@pytest.mark.parametrize("path", ["/callbacks/crm", "/sync", "/fetch"])
def test_a_declared_oversized_body_is_refused_with_413_before_a_byte_is_read(path):
    """Content-Length over the cap: 413 and the connection closed, nothing read."""
    host = Host()
    headers = {**SYNC_HEADERS, "Content-Length": str(250 * MB)}
    answer = play(host, path, endless(), headers)
    assert answer.status == 413 and answer.read == 0
    assert answer.headers["connection"] == "close" and "over" in answer.error
    assert host.callbacks == [] and host.syncs == []


@pytest.mark.parametrize("path", ["/callbacks/crm", "/sync", "/fetch"])
def test_a_streamed_oversized_body_is_refused_once_it_passes_the_cap(path):
    """No Content-Length (chunked): the body is read only up to the cap, then 413."""
    host = Host()
    answer = play(host, path, endless(), SYNC_HEADERS)
    assert answer.status == 413 and MAX_BODY < answer.read <= MAX_BODY + 64 * 1024
    assert host.callbacks == [] and host.syncs == []


@pytest.mark.parametrize("path", ["/sync", "/fetch"])
@pytest.mark.parametrize("token", [None, "wrong", CONTROL + "x"])
def test_control_without_the_token_is_refused_with_401_before_the_body_is_read(path, token):
    """/sync and /fetch check their header token first: 401, not a byte of the body read."""
    host = Host()
    headers = {} if token is None else {"X-Replicator-Token": token}
    answer = play(host, path, endless(), headers)
    assert answer.status == 401 and answer.read == 0 and host.syncs == []
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize("path", ["/callbacks/crm", "/sync", "/fetch"])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 200_000,  # deeper than the JSON decoder's own guard
        b'{"ids": ' + b"[" * 100 + b"]" * 100 + b"}",  # parses, but deeper than MAX_DEPTH
        b'{"a": {"b": ' * (MAX_DEPTH + 1) + b"1" + b"}}" * (MAX_DEPTH + 1),
    ],
    ids=["decoder-guard", "deep-list", "deep-object"],
)
def test_json_nested_too_deep_is_refused_with_400(path, body):
    """A body nested deeper than MAX_DEPTH: 400 saying so, never a 500 or a traceback."""
    host = Host()
    answer = play(host, path, once(body), SYNC_HEADERS)
    assert answer.status == 400 and "nested deeper" in answer.error
    assert b"Traceback" not in answer.body and host.callbacks == [] and host.syncs == []


@pytest.mark.parametrize("path", ["/callbacks/crm", "/sync", "/fetch"])
@pytest.mark.parametrize(
    "body",
    [
        b'{"ids": [1, 2',
        b"channel_id=1&token=x",  # a form is not what Zoho sends
        b"\xff\xfe{}",
        b'{"n": ' + b"9" * 5000 + b"}",  # past Python's integer-conversion limit
        b"[1, 2]",
        b'"text"',
    ],
    ids=["truncated", "form", "not-utf8", "huge-int", "list", "string"],
)
def test_malformed_bodies_are_refused_with_400(path, body):
    """Anything but a JSON object: 400 with a one-line reason."""
    host = Host()
    answer = play(host, path, once(body), SYNC_HEADERS)
    assert answer.status == 400 and answer.error == "expected a JSON object"
    assert host.callbacks == [] and host.syncs == []


@pytest.mark.parametrize("length", ["abc", "-1", "1e9", "²", "9" * 5000])
def test_a_bad_content_length_is_refused_before_the_body_is_read(length):
    """A Content-Length that is no number is 400; an absurdly long one 413; nothing read."""
    host = Host()
    answer = play(host, "/callbacks/crm", endless(), {"Content-Length": length})
    assert answer.status in (400, 413) and answer.read == 0


def test_a_body_within_the_limits_still_reaches_the_daemon():
    """A callback within the cap and depth is handed over as before."""
    host = Host()
    body = {"channel_id": "1", "token": "channel-token", "module": "Deals", "ids": ["7"]}
    answer = play(host, "/callbacks/crm", once(json.dumps(body).encode()))
    assert answer.status == 202 and host.callbacks == [body]
    synced = play(host, "/sync", once(b'{"modules": ["customers"]}'), SYNC_HEADERS)
    assert synced.status == 200 and host.syncs == [["customers"]]
    asked = b'{"module": "customers", "side": "crm", "id": "7"}'
    fetched = play(host, "/fetch", once(asked), SYNC_HEADERS)
    assert fetched.status == 200 and host.syncs[-1] == ["customers", "crm", "7"]
    wrong = play(host, "/fetch", once(b'{"module": "customers", "side": 1}'), SYNC_HEADERS)
    assert wrong.status == 400 and "texts" in wrong.error


def test_pending_ids_are_kept_once_each_in_arrival_order():
    """Re-delivered ids are queued once; their first arrival sets the order."""
    pending = Pending()
    pending.add(("crm", "Deals", "update", ["3", "1", "3"]))
    pending.add(("crm", "Deals", "update", ["1", "2"]))
    assert len(pending) == 3
    assert pending.take() == [("crm", "Deals", "update", ["3", "1", "2"])]
    assert len(pending) == 0 and pending.take() == []


def test_pending_ids_past_the_limit_become_the_modules_cycle():
    """More ids than the limit: the table's ids give way to a whole cycle (no ids), which
    reads them all; memory stays bounded however many arrive."""
    pending = Pending(limit=1000)
    for start in range(0, 100_000, 500):
        pending.add(("crm", "Deals", "update", [str(i) for i in range(start, start + 500)]))
    pending.add(("crm", "Quotes", "update", ["9"]))
    assert len(pending) == 1
    assert pending.take() == [("crm", "Deals", "update", []), ("crm", "Quotes", "update", ["9"])]


def test_route_keeps_each_id_once_over_many_callbacks(tmp_path):
    """100 000 ids across callbacks, each named twice: each is fetched once, in order."""
    world = make_world(tmp_path, daemon="[daemon.modules.customers]\ninstant = true\n")
    ids = [str(i) for i in range(100_000)]
    fetch, rerun = route(world.config, [("crm", "accounts", "update", ids)] * 2)
    assert fetch == {("customers", "crm"): ids} and rerun == []


# -- the daemon as a process under a flood --------------------------------------------------


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def body_of(size: int, chunk: int = MB) -> Iterator[bytes]:
    """``size`` bytes, made as they are sent (never held in memory)."""
    piece = b"x" * chunk
    for _ in range(size // chunk):
        yield piece


# what each of the four floods gets when its answer arrives before the connection closes
REFUSED_UNREAD = {
    ("/sync", False): 401,
    ("/callbacks/crm", False): 413,
    ("/sync", True): 401,
    ("/callbacks/crm", True): 413,
}


def test_four_unauthenticated_250_mb_bodies_leave_the_daemons_memory_flat(tmp_path):
    """A real daemon process gets 4 bodies of 250 MB (chunked and with Content-Length, to
    /sync and /callbacks/crm) and 200 malformed or deeply nested ones: each is refused
    (401, 413 or 400) and its RSS grows less than 50 MB."""
    world = make_world(tmp_path, daemon='masters_every = "1h"\npoll_every = "1h"')
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "daemon", "--config", str(world.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def url() -> str | None:
        try:
            state = json.loads(state_path(world.config.journal_path).read_text())
        except (OSError, ValueError):
            return None
        ready = state.get("pid") == process.pid and state["modules"]["customers"]["last_ok"]
        return state["url"] if ready else None

    try:
        base = wait_for(url, timeout=60)
        before = rss(process.pid)
        size = 250 * MB
        statuses = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for path, declared in [
                ("/sync", False),
                ("/callbacks/crm", False),
                ("/sync", True),
                ("/callbacks/crm", True),
            ]:
                headers = {"Content-Length": str(size)} if declared else {}
                try:
                    answer = client.post(path, content=body_of(size), headers=headers)
                except (httpx.RemoteProtocolError, httpx.WriteError, httpx.ReadError):
                    # the daemon answered and closed without reading the rest of the body:
                    # the client, still sending, may get a reset before it reads the answer
                    # (TCP drops unread data on a close); either way nothing was read
                    statuses.append(REFUSED_UNREAD[(path, declared)])
                else:
                    statuses.append(answer.status_code)
            for n in range(100):
                deep = client.post("/callbacks/crm", content=b"[" * (MAX_BODY - n))
                broken = client.post("/callbacks/crm", content=b'{"ids": [' + b"1," * 1000)
                statuses += [deep.status_code, broken.status_code]
        after = rss(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    assert statuses[:4] == [401, 413, 401, 413] and set(statuses[4:]) == {400}
    assert after - before < 50 * MB, f"RSS grew {(after - before) / MB:.1f} MB"
