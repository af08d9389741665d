"""One sync cycle now, as ``replicator sync`` and the console's "sync now" ask it: a running
daemon runs it (one engine per journal), else it runs here, holding the journal's writer
lock, after the config, the sides' files and the journal's tail are checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from replicator.config.load import Config
from replicator.daemon.state import LOCK_WAIT, forward_sync, forwarded_report, journal_writer
from replicator.sync.app import App, open_app
from replicator.sync.checks import check_side_files
from replicator.sync.context import Progress
from replicator.sync.dryrun import guard_first_sync
from replicator.sync.guard import guard_journal
from replicator.sync.lifecycle import check_modules
from replicator.sync.record import CycleReport


def run_cycle(
    config: Config,
    modules: Sequence[str] = (),
    *,
    wait: float | None = None,
    force: bool = False,
    yes: bool = False,
    progress: Progress | None = None,
    command: str = "replicator sync",
    opener: Callable[..., App] = open_app,
    postgres: str | None = None,
) -> tuple[CycleReport, bool]:
    """One cycle of ``modules`` (none: every module) and whether the running daemon ran it.
    Another writer of the journal is waited for up to ``wait`` seconds (None: the usual
    wait); a journal whose tail fails its check is refused unless ``force``; a first sync
    that would create more records on a Zoho side than ``[guard] first_sync_creates``
    raises :class:`~replicator.errors.GuardStop` before anything is pushed, unless ``yes``.
    ``opener(config, progress=...)`` makes the journal, connectors and engine (a fleet
    worker opens a tenant's, with its credentials and limits shared through Redis);
    ``postgres``: the journal's location when it is on PostgreSQL (the writer lock is
    then taken in the database, see :func:`~replicator.daemon.state.journal_writer`)."""
    check_modules(config, modules)
    answer = forward_sync(config, modules, yes=yes)
    if answer is not None:
        return forwarded_report(answer), True
    check_side_files(config)
    wait = LOCK_WAIT if wait is None else wait
    with (
        journal_writer(config.journal_path, command, wait=wait, postgres=postgres),
        opener(config, progress=progress) as app,
    ):
        guard_journal(app.journal, force=force)  # refuses a journal whose tail fails its check
        if not yes:
            # GuardStop: nothing pushed
            guard_first_sync(app.engine, modules, progress=progress, opener=opener)
        return app.engine.run(list(modules) or None), False


__all__ = ["run_cycle"]
