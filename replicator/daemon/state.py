"""What a running daemon leaves beside its journal, and what other processes read of it.

- ``JOURNAL.lock`` (mode 0600): held with ``fcntl.flock`` by the one writer of the journal:
  a daemon for its life (one daemon per journal), or ``replicator sync`` / ``fetch`` for
  their run, so two writers never interleave (:func:`journal_writer`).  The kernel drops
  the lock when the process ends, however it ends: a crash leaves the file but never a
  stale lock.  The file says who holds it (pid, since, command, the daemon's URL).
- ``JOURNAL.daemon.json`` (mode 0600): the daemon's published state (its URL, each module's
  schedule, next run, last run and error, the watch channels without their tokens),
  rewritten atomically after every job; :func:`daemon_status` reads it for
  ``replicator status``.
- ``JOURNAL.daemon-token`` (mode 0600): the bare control token ``POST /sync`` asks for, so
  only someone who may read the journal's folder can make the daemon run a cycle.
- The published state also carries the journal's last anchor (``JOURNAL.anchors``): one
  more copy of the head outside the journal file for whoever collects the state.

``pause``, ``resume``, ``disable`` and ``enable`` need none of this: they are journal
entries, and the daemon reads the journal's lifecycle before every job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

from journal import JournalError
from journal.anchors import anchor_path, last_anchor
from replicator.config.load import Config
from replicator.errors import DaemonError
from replicator.sync.record import CycleReport


def lock_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".lock")


def state_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".daemon.json")


def token_path(journal_path: Path) -> Path:
    return journal_path.with_name(journal_path.name + ".daemon-token")


DAEMON = "replicator daemon"
LOCK_WAIT = 30.0  # seconds a writer waits for another one to finish (never for a daemon)
LOCK_POLL = 0.05  # seconds between two tries while a writer waits for the lock


class DaemonLock:
    """One writer per journal: an exclusive ``flock`` on ``JOURNAL.lock``, held by the daemon
    for its life and by ``replicator sync`` and ``fetch`` for their run (the holder's
    ``command`` says which)."""

    def __init__(self, journal_path: Path) -> None:
        self.journal_path = journal_path
        self.path = lock_path(journal_path)
        self._file: IO[str] | None = None

    def acquire(self, holder: dict[str, Any], *, wait: float = 0.0) -> None:
        """Take the lock and write ``holder`` into the file.  While another process holds it,
        try again for up to ``wait`` seconds (never for a daemon: it holds the lock for its
        life), then raise :class:`DaemonError` naming the holder."""
        handle = _open_lock(self.path)
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                held = _read_holder(handle)
                waited = time.monotonic() - start
                # no holder named: a status probe's shared lock, or a holder still writing
                # its name; both last moments, so even `wait=0` tries again for a second
                if _is_daemon(held) or (waited >= wait and (held or waited >= 1.0)):
                    handle.close()
                    raise DaemonError(self._busy(held, holder, wait)) from None
                time.sleep(LOCK_POLL)
        self._file = handle
        self.update(holder)

    def _busy(self, held: dict[str, Any], wanted: dict[str, Any], wait: float) -> str:
        journal = self.journal_path
        if _is_daemon(held) and wanted.get("command") == DAEMON:
            return (
                f"another daemon is running on journal {journal}{_holder(held)}: "
                "stop it first (one daemon per journal)"
            )
        if _is_daemon(held):  # it started since the caller looked: it takes the request
            return (
                f"a daemon started on journal {journal}{_holder(held)}: run "
                f"`{wanted.get('command')}` again and the daemon runs it"
            )
        waited = f" after waiting {wait:g} s" if wait > 0 else ""
        return (
            f"journal {journal} is busy{waited}: `{held.get('command') or 'another process'}`"
            f"{_holder(held)} is writing to it; run this again when it ends"
        )

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


@contextlib.contextmanager
def journal_writer(
    journal_path: Path, command: str, *, wait: float, postgres: str | None = None
) -> Iterator[None]:
    """Hold the journal's lock while a CLI command writes to it, so two of them never
    interleave: the second waits up to ``wait`` seconds, then fails naming the first.
    The kernel drops the lock when the process ends, however it ends (no stale lock).

    ``postgres``: the journal's location when it is on PostgreSQL (a fleet's tenant): the
    lock is then the journal's advisory writer lock in the database
    (:func:`journal.postgres.writer_lock`), which every worker of the fleet sees and the
    server drops with the holder's session."""
    if postgres is not None:
        # psycopg is the optional extra `fleet`: imported only for a PostgreSQL journal
        from journal.postgres import writer_lock

        with contextlib.ExitStack() as held:
            try:
                held.enter_context(writer_lock(postgres, wait=wait))
            except JournalError as exc:  # busy, or the database cannot be reached
                raise DaemonError(str(exc)) from None
            yield
        return
    lock = DaemonLock(journal_path)
    lock.acquire(
        {"pid": os.getpid(), "since": _now_text(), "command": command},
        wait=wait,
    )
    try:
        yield
    finally:
        lock.release()


def _open_lock(path: Path) -> IO[str]:
    """The lock file, created 0600 (an older, wider one is narrowed when it is ours)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise DaemonError(f"cannot open the journal's lock file {path}: {exc.strerror}") from None
    with contextlib.suppress(OSError):  # not ours: the lock works the same
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    return os.fdopen(fd, "r+", encoding="utf-8")


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def moment_text(moment: dt.datetime | None) -> str | None:
    """A moment as the daemon publishes it: UTC, whole seconds (None stays None)."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _read_holder(handle: IO[str], *, tries: int = 1) -> dict[str, Any]:
    """What the lock's holder wrote ({} while it is still writing it, or if unreadable).
    A holder whose process is gone is a stale text the new holder has not replaced yet."""
    for n in range(tries):
        if n:
            time.sleep(LOCK_POLL)
        handle.seek(0)
        try:
            held = json.loads(handle.read() or "null")
        except ValueError:
            held = None
        if isinstance(held, dict) and _alive(held.get("pid")):
            return held
    return {}


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _is_daemon(held: dict[str, Any]) -> bool:
    # a daemon from before the command was written names no command, but a pid
    return bool(held) and held.get("command", DAEMON) == DAEMON


def _holder(held: dict[str, Any]) -> str:
    parts = [f"pid {held['pid']}"] if held.get("pid") else []
    if held.get("url"):
        parts.append(f"serving {held['url']}")
    if held.get("since"):
        parts.append(f"since {held['since']}")
    return f" ({', '.join(parts)})" if parts else ""


def is_running(journal_path: Path) -> bool:
    """Whether a daemon holds the lock of this journal (not a `replicator sync`)."""
    path = lock_path(journal_path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:  # none yet, or not ours to read: no daemon of ours
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: its holder writes its name right after taking it
            return _is_daemon(_read_holder(handle, tries=20))
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def published_anchor(journal_path: Path) -> dict[str, Any] | None:
    """The last anchor of the journal (``JOURNAL.anchors``), as the daemon publishes it."""
    try:
        anchor = last_anchor(anchor_path(journal_path))
    except JournalError:  # unreadable: the state says nothing rather than fail
        return None
    return anchor.to_json() if anchor is not None else None


def write_json(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Replace ``path`` atomically (a reader sees the old file or the new one)."""
    write_text(path, json.dumps(data, indent=1, sort_keys=True), mode=mode)


def write_text(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with ``text``, the new file made with ``mode``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # a leftover temporary file keeps its own mode otherwise
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_token(journal_path: Path, token: str) -> None:
    """The control token, bare (``-H "X-Replicator-Token: $(cat FILE)"`` works), mode 0600."""
    write_text(token_path(journal_path), token, mode=0o600)


def read_token(journal_path: Path) -> str:
    """The control token; a file from before the bare format holds it as a JSON string."""
    text = token_path(journal_path).read_text(encoding="utf-8").strip()
    if text.startswith('"'):
        token = json.loads(text)
        if not isinstance(token, str):
            raise ValueError("not a token")
        return token
    if not text:
        raise ValueError("empty")
    return text


def read_state(journal_path: Path) -> dict[str, Any]:
    """What the last daemon on this journal published ({} if nothing readable)."""
    try:
        state = json.loads(state_path(journal_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def daemon_status(config: Config) -> dict[str, Any]:
    """The daemon of this config's journal, for ``replicator status``: ``running``, and what
    it last published (``pid``, ``url``, ``started``, per module ``next_run`` / ``last_run``
    / ``status`` / ``error``, ``channels``).  Times are UTC ISO texts."""
    running = is_running(config.journal_path)
    state = read_state(config.journal_path)
    if not running:  # what a stopped daemon published is history, not a schedule
        for module in (state.get("modules") or {}).values():
            module["next_run"] = None
    return {**state, "running": running}


def forward_sync(
    config: Config, modules: Sequence[str] = (), *, timeout: float = 3600.0, yes: bool = False
) -> dict[str, Any] | None:
    """Ask a running daemon to run a cycle now (``POST /sync``) and wait for its report;
    None when no daemon runs on this journal (the caller runs the cycle itself).  ``yes``:
    past the first sync's guard."""
    body: dict[str, Any] = {"modules": list(modules)}
    if yes:
        body["yes"] = True
    return _forward(config, "/sync", body, "sync", timeout)


def forward_fetch(
    config: Config, module: str, side: str, record_id: str, *, timeout: float = 3600.0
) -> dict[str, Any] | None:
    """Ask a running daemon to re-sync one record (``POST /fetch``): its report and
    ``rid``; None when no daemon runs on this journal (the caller fetches it itself)."""
    body = {"module": module, "side": side, "id": record_id}
    return _forward(config, "/fetch", body, "fetch", timeout)


def _forward(
    config: Config, path: str, body: dict[str, Any], what: str, timeout: float
) -> dict[str, Any] | None:
    if not is_running(config.journal_path):
        return None
    status = daemon_status(config)
    url = status.get("local_url") or status.get("url")
    try:
        token = read_token(config.journal_path)
    except (OSError, ValueError) as exc:
        raise DaemonError(
            f"a daemon runs on {config.journal_path} but its token file is unreadable: "
            f"{type(exc).__name__}"
        ) from None
    if not url:
        raise DaemonError(f"a daemon runs on {config.journal_path} but published no URL yet")
    try:
        response = httpx.post(
            f"{url}{path}", json=body, headers={"X-Replicator-Token": token}, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise DaemonError(f"the daemon at {url} did not answer: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        raise DaemonError(
            f"the daemon at {url} refused the {what}: HTTP {response.status_code} "
            f"{answer.get('error', '')}".rstrip()
        )
    return dict(answer)


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
    "DAEMON",
    "LOCK_WAIT",
    "DaemonLock",
    "daemon_status",
    "forward_fetch",
    "forward_sync",
    "forwarded_report",
    "is_running",
    "journal_writer",
    "lock_path",
    "state_path",
    "read_token",
    "token_path",
    "write_json",
    "write_text",
    "write_token",
]
