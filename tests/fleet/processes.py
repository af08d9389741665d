"""Fleet processes for tests: `replicator fleet worker|beat|endpoint` as subprocesses of
this checkout, on 127.0.0.1, stopped (SIGTERM, then SIGKILL) at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def fleet_env(store: Path | str, broker: str, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REPLICATOR_FLEET_STORE": str(store),
        "REPLICATOR_FLEET_BROKER": broker,
        "REPLICATOR_FLEET_KEY": key,
        "REPLICATOR_TOKEN_CACHE": "off",
    }


class Process:
    """One `replicator fleet ...` process; its output in ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "replicator", "fleet", *args],
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Until ``text`` is in the output (polled; fails if the process ends first)."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in:\n{self.output()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM (a warm shutdown), then SIGKILL past ``timeout``; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()
        with_children = self.popen.pid
        try:
            os.killpg(with_children, signal.SIGKILL)  # nothing of it outlives the test
        except ProcessLookupError:
            pass
        return self.popen.returncode


def start_worker(env: dict[str, str], log: Path, *options: str) -> tuple[Process, str]:
    """A worker and the URL of its /healthz and /metrics, once it is ready."""
    return start_workers(env, [log], *options)[0]


def start_workers(
    env: dict[str, str], logs: list[Path], *options: str
) -> list[tuple[Process, str]]:
    """Workers started at once, each with the URL of its /healthz and /metrics, once ready."""
    workers = [Process(["worker", "--http", "127.0.0.1:0", *options], env, log) for log in logs]
    found = []
    try:
        for worker in workers:
            worker.wait_for(" ready.")
            line = next(x for x in worker.output().splitlines() if "worker endpoint on" in x)
            found.append((worker, line.split("worker endpoint on ", 1)[1].split()[0]))
    except BaseException:  # none outlives a failed start
        for worker in workers:
            worker.stop(timeout=10)
        raise
    return found


def healthz(url: str) -> dict:
    return httpx.get(url + "/healthz", timeout=10).json()


__all__ = ["Process", "fleet_env", "healthz", "start_worker", "start_workers"]
