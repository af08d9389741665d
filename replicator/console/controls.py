"""What the console's controls do: pause, resume, sync now, retry and resolve.

The pages call an :class:`Actions`; :class:`LibraryActions` does each through the same
library calls as the CLI (``replicator pause``, ``resume``, ``sync``, ``retry``,
``conflicts resolve``, ``journal verify``), so an action taken in the browser journals the
very entries the command does, apart from who (``by = "console:<name>"``).  The daemon gives its own
``sync`` (a cycle on its worker, :class:`DaemonActions`), since one engine runs per
journal.  Each returns one line for the page; a refusal is a :class:`ControlError` whose
message names the module, record or conflict and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from conflicts import ConflictError
from journal import Journal, JournalError
from replicator.config.load import Config
from replicator.daemon.cycle import run_cycle
from replicator.daemon.verification import verify_journal
from replicator.errors import ReplicatorError
from replicator.sync import lifecycle
from replicator.sync.app import open_journal
from replicator.sync.resolve import resolve, retry


class ControlError(Exception):
    """A control the console refused, with the reason a person reads on the page."""


class Actions(Protocol):
    """The console's controls; ``by`` is who, as journaled (``console:<name>``)."""

    def pause(self, modules: Sequence[str], *, by: str) -> str: ...

    def resume(self, modules: Sequence[str], *, by: str) -> str: ...

    def sync(self, modules: Sequence[str], *, by: str) -> str: ...

    def retry(self, module: str, rids: Sequence[str], *, by: str) -> str: ...

    def resolve(self, conflict_id: int, *, take: str | None, value: str | None, by: str) -> str: ...

    def verify(self, *, by: str) -> str: ...


@contextmanager
def _refusals() -> Iterator[None]:
    """Domain errors as a :class:`ControlError` (their messages name what and why)."""
    try:
        yield
    except (ReplicatorError, ConflictError, JournalError) as exc:
        raise ControlError(str(exc)) from None


class LibraryActions:
    """The controls through the library, on the config's journal (no daemon needed)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @contextmanager
    def _journal(self) -> Iterator[Journal]:
        with _refusals():
            if not self.config.journal_path.exists():
                raise ControlError(f"no journal at {self.config.journal_path} yet: sync first")
            journal = open_journal(self.config)
            try:
                yield journal
            finally:
                journal.close()

    def pause(self, modules: Sequence[str], *, by: str) -> str:
        with self._journal() as journal:
            entry = lifecycle.pause(journal, self.config, modules, by=by)
        what = ", ".join(modules) or "every module"
        return f"paused {what}" if entry is not None else f"already paused: {what}"

    def resume(self, modules: Sequence[str], *, by: str) -> str:
        with self._journal() as journal:
            entry = lifecycle.resume(journal, self.config, modules, by=by)
        what = ", ".join(modules) or "every module"
        return f"resumed {what}" if entry is not None else f"not paused: {what}"

    def sync(self, modules: Sequence[str], *, by: str) -> str:
        # a cycle journals its run with its trigger, as `replicator sync` does; a running
        # daemon runs it (run_cycle forwards it), else it runs here, holding the journal
        with _refusals():
            report, _ = run_cycle(self.config, tuple(modules), wait=0, command="console")
        return _cycle_line(report.failed, modules)

    def retry(self, module: str, rids: Sequence[str], *, by: str) -> str:
        with self._journal() as journal:
            lifecycle.check_modules(self.config, [module])
            wanted = list(rids) or [
                rid for _, rid, state in journal.records(module) if state.retries
            ]
            armed = retry(journal, module, wanted, by=by)
        if not armed:
            return "no refused writes to retry among these records"
        return f"{module}: {armed} record(s) retried at the next sync"

    def resolve(self, conflict_id: int, *, take: str | None, value: str | None, by: str) -> str:
        with self._journal() as journal:
            resolve(journal, self.config, conflict_id, take=take, raw_value=value, by=by)
        return f"conflict {conflict_id} resolved"

    def verify(self, *, by: str) -> str:
        # the full check, as `replicator journal verify`; kept as the last verification
        with self._journal() as journal:
            result = verify_journal(self.config, journal, by=by)
        if not result.ok:
            raise ControlError(f"journal verify failed: {result.problem}")
        return f"journal intact: {result.entries} entries"


class DaemonActions(LibraryActions):
    """The controls inside the daemon: ``sync`` is a cycle on its worker."""

    def __init__(self, config: Config, sync_now: Callable[[list[str]], dict[str, Any]]) -> None:
        super().__init__(config)
        self.sync_now = sync_now

    def sync(self, modules: Sequence[str], *, by: str) -> str:
        answer = self.sync_now(list(modules))
        if "error" in answer:
            raise ControlError(str(answer["error"]))
        failed = answer.get("failed") or {}
        return _cycle_line(failed if isinstance(failed, dict) else {}, modules)


def _cycle_line(failed: Mapping[str, str], modules: Sequence[str]) -> str:
    what = ", ".join(modules) or "every module"
    if not failed:
        return f"synced {what}"
    return f"synced {what}; failed: " + "; ".join(f"{m}: {why}" for m, why in failed.items())


__all__ = ["Actions", "ControlError", "DaemonActions", "LibraryActions"]
