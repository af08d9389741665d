"""What a running daemon leaves beside its journal, and what other processes read of it.

- ``JOURNAL.lock``: held with ``fcntl.flock`` for the daemon's life, so one daemon runs per
  journal.  The kernel drops the lock when the process ends, however it ends: a crash
  leaves the file but never a stale lock.  The file says who holds it (pid, URL, since).
- ``JOURNAL.daemon.json``: the daemon's published state (its URL, each module's schedule,
  next run, last run and error, the watch channels without their tokens), rewritten
  atomically after every job; :func:`daemon_status` reads it for ``replicator status``.
- ``JOURNAL.daemon-token`` (mode 0600): the control token ``POST /sync`` asks for, so only
  someone who may read the journal's folder can make the daemon run a cycle.
- The published state also carries the journal's last anchor (``JOURNAL.anchors``): one
  more copy of the head outside the journal file for whoever collects the state.

``pause``, ``resume``, ``disable`` and ``enable`` need none of this: they are journal
entries, and the daemon reads the journal's lifecycle before every job.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from replicator.config import Config
from replicator.engine import CycleReport
from replicator.errors import DaemonError


def lock_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".lock")


def state_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".daemon.json")


def token_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".daemon-token")


class DaemonLock:
    """One daemon per journal: an exclusive ``flock`` on ``JOURNAL.lock``."""

    def __init__(self, journal_path: Path) -> None:
        self.journal_path = journal_path
        self.path = lock_path(journal_path)
        self._file: IO[str] | None = None

    def acquire(self, holder: dict[str, Any]) -> None:
        """Take the lock and write ``holder`` into the file; :class:`DaemonError` if another
        process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the daemon's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            text = handle.read()
            handle.close()
            raise DaemonError(
                f"another daemon is running on journal {self.journal_path}"
                f"{_holder(text)}: stop it first (one daemon per journal)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        self._file = handle

    def update(self, holder: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
            self._file.write(json.dumps(holder))
            self._file.flush()

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.seek(0)
                self._file.truncate()
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def _holder(text: str) -> str:
    try:
        holder = json.loads(text)
    except ValueError:
        return ""
    parts = [f"pid {holder['pid']}"] if holder.get("pid") else []
    if holder.get("url"):
        parts.append(f"serving {holder['url']}")
    if holder.get("since"):
        parts.append(f"since {holder['since']}")
    return f" ({', '.join(parts)})" if parts else ""


def is_running(journal_path: Path) -> bool:
    """Whether a process holds the daemon lock of this journal."""
    path = lock_path(journal_path)
    if not path.exists():
        return False
    with open(path, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def published_anchor(journal_path: Path) -> dict[str, Any] | None:
    """The last anchor of the journal (``JOURNAL.anchors``), as the daemon publishes it."""
    from journal import JournalError
    from journal.anchors import anchor_path, last_anchor

    try:
        anchor = last_anchor(anchor_path(journal_path))
    except JournalError:  # unreadable: the state says nothing rather than fail
        return None
    return anchor.to_json() if anchor is not None else None


def write_json(path: Path, data: Any, *, mode: int = 0o644) -> None:
    """Replace ``path`` atomically (a reader sees the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def daemon_status(config: Config) -> dict[str, Any]:
    """The daemon of this config's journal, for ``replicator status``: ``running``, and what
    it last published (``pid``, ``url``, ``started``, per module ``next_run`` / ``last_run``
    / ``status`` / ``error``, ``channels``).  Times are UTC ISO texts."""
    running = is_running(config.journal_path)
    try:
        state = json.loads(state_path(config.journal_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if not isinstance(state, dict):
        state = {}
    if not running:  # what a stopped daemon published is history, not a schedule
        for module in (state.get("modules") or {}).values():
            module["next_run"] = None
    return {**state, "running": running}


def forward_sync(
    config: Config, modules: Sequence[str] = (), *, timeout: float = 3600.0
) -> dict[str, Any] | None:
    """Ask a running daemon to run a cycle now (``POST /sync``) and wait for its report;
    None when no daemon runs on this journal (the caller runs the cycle itself)."""
    if not is_running(config.journal_path):
        return None
    status = daemon_status(config)
    url = status.get("local_url") or status.get("url")
    try:
        token = json.loads(token_path(config.journal_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DaemonError(
            f"a daemon runs on {config.journal_path} but its token file is unreadable: "
            f"{type(exc).__name__}"
        ) from None
    if not url:
        raise DaemonError(f"a daemon runs on {config.journal_path} but published no URL yet")
    try:
        response = httpx.post(
            f"{url}/sync",
            json={"modules": list(modules)},
            headers={"X-Replicator-Token": token},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise DaemonError(f"the daemon at {url} did not answer: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        raise DaemonError(
            f"the daemon at {url} refused the sync: HTTP {response.status_code} "
            f"{body.get('error', '')}".rstrip()
        )
    return dict(body)


def forwarded_report(answer: dict[str, Any]) -> CycleReport:
    """The :class:`CycleReport` of a cycle the daemon ran for :func:`forward_sync`, to print
    as a cycle run here would be."""
    report = CycleReport(
        seconds=float(answer.get("seconds") or 0.0),
        entries_before=int((answer.get("entries") or {}).get("before", 0)),
        entries_after=int((answer.get("entries") or {}).get("after", 0)),
        paused=list(answer.get("paused") or ()),
    )
    for module, sides in (answer.get("modules") or {}).items():
        for side, counts in sides.items():
            for what, n in counts.items():
                report.add(module, side, what, int(n))
    return report


__all__ = [
    "DaemonLock",
    "daemon_status",
    "forward_sync",
    "forwarded_report",
    "is_running",
    "lock_path",
    "state_path",
    "token_path",
    "write_json",
]
