"""A test run killed by SIGKILL leaves no PostgreSQL cluster or redis-server behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pg import need_postgres
from tests.redis_server import need_redis

ROOT = Path(__file__).resolve().parent.parent

# A stand-in for a pytest run: starts a server, says where it is, then waits to be killed.
RUN = """
import json, sys, time
kind = sys.argv[1]
if kind == "postgres":
    from tests.pg import Cluster, binaries
    server = Cluster(binaries()).start()
    print(json.dumps({"folder": str(server.folder), "pid": None}), flush=True)
else:
    from tests.redis_server import RedisServer, binary
    server = RedisServer(binary()).start()
    print(json.dumps({"folder": str(server.folder), "pid": server.process.pid}), flush=True)
time.sleep(600)
"""


def postmaster_pid(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split()[0])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def killed_run(kind: str) -> tuple[Path, int]:
    """Start a run that starts a server, SIGKILL the run; the server's folder and pid."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(
        [sys.executable, "-c", RUN, kind], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    assert run.stdout is not None
    said = json.loads(run.stdout.readline())
    folder = Path(said["folder"])
    pid = said["pid"] or postmaster_pid(folder)
    assert alive(pid)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    return folder, pid


def gone(folder: Path, pid: int) -> bool:
    """Whether the watcher stopped the server and removed its folder (bounded wait)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not folder.exists() and not alive(pid):
            return True
        time.sleep(0.1)  # waiting on another process's effect, bounded by the deadline
    return False


@pytest.mark.redis
def test_a_killed_run_stops_its_redis_server() -> None:
    need_redis()
    folder, pid = killed_run("redis")
    assert gone(folder, pid), f"redis-server {pid} or {folder} outlived the run"


@pytest.mark.postgres
def test_a_killed_run_stops_its_postgresql_cluster() -> None:
    need_postgres()
    folder, pid = killed_run("postgres")
    assert gone(folder, pid), f"postgres {pid} or {folder} outlived the run"
