"""A throwaway Redis for tests: Debian's redis-server, 127.0.0.1 on a free port, no
persistence, stopped (and its folder removed) at the end.

The server is started with ``--save ''`` and ``--appendonly no`` (nothing is written to
disk), in a temp folder that is its working directory.  Tests that need it are marked
``@pytest.mark.redis``; they skip when the server (or the ``redis`` client package) is
missing, except under CI, where ``.ci/run`` installs them and a missing one is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.reaper import reap_after


def binary() -> Path | None:
    """Debian's redis-server, or None."""
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    return Path(found) if found else None


def need_redis() -> Path:
    """The server's binary, or skip (fail under CI) naming what is missing."""
    found = binary()
    missing = []
    if found is None:
        missing.append("redis-server (Debian package redis-server)")
    try:
        import redis  # noqa: F401  # celery[redis] brings it
    except ImportError:
        missing.append("the redis client (pip install -e .)")
    if missing:
        reason = "needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI installs them: .ci/run)")
        pytest.skip(reason)
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server in a temp folder; :attr:`url` reaches its database 0."""

    def __init__(self, server: Path) -> None:
        self.server = server
        self.folder = Path(tempfile.mkdtemp(prefix="replicator-redis-"))
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                str(self.server),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.folder),
                "--protected-mode", "yes",
                "--loglevel", "warning",
                "--logfile", str(self.folder / "log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.folder,
        )  # fmt: skip
        reap_after(self.folder, server=self.process.pid)  # a killed run stops it too
        import redis

        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log = (self.folder / "log").read_text(errors="replace")[-2000:]
                        self.stop()
                        raise RuntimeError(f"redis-server did not start: {log}") from None
                    time.sleep(0.02)  # polling for readiness, bounded by the deadline
        finally:
            client.close()

    def flush(self) -> None:
        """Empty every database (between tests sharing one server)."""
        import redis

        with redis.Redis.from_url(self.url) as client:
            client.flushall()

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            self.process = None
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["RedisServer", "binary", "need_redis"]
