"""The dry run: what a sync would do, told without writing a byte to either side or the
journal.

It runs the real engine, so the plan is the sync's own and not a second implementation of
its rules, against scratch copies in a temporary folder:

- the journal, copied with SQLite's backup API (a consistent snapshot, read without a
  write), with its key (a journal without one yet gets a key that lives only as long as
  the copy; none is saved);
- each SQLite side, copied the same way, with its change log: the engine reads and writes
  the copy;
- each other side (Zoho) wrapped by :class:`Capturing`: reads go to the real API, writes
  are captured and answered with ids ``dry-1``, ``dry-2``...

The entries the scratch run appended become the plan (:func:`plan_of_run`,
:mod:`~replicator.sync.plan_report`).  The temporary folder goes when the dry run ends.

A journal that is not a SQLite file (a fleet tenant's on PostgreSQL) has no file to copy:
the dry run runs on the journal itself inside one transaction that is rolled back at the
end (:func:`rolled_back`), its appends savepoints within it, so nothing of it stays.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import attrs

from journal import ChainKey, Entry, Journal, JournalStorage, Kind, NewEntry
from replicator.config.load import Config
from replicator.connectors import Connector, build_connector
from replicator.connectors.base import (
    Change,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
    utc_now,
)
from replicator.connectors.sqlite import SQLiteConnector
from replicator.errors import GuardStop, UnavailableError
from replicator.sync.app import KEY_ENV, App, journal_key, key_path, record_reducer
from replicator.sync.context import Progress
from replicator.sync.engine import Engine
from replicator.sync.plan_report import Plan, build_plan
from replicator.sync.record import CycleReport, journal_run

DRY_ID = "dry-{}"
RIDS_A_READ = 500  # records whose history one query reads (SQLite's variable limit)
Now = Callable[[], dt.datetime]
# the sides a first sync's guard watches: remote apps, where a mistaken first sync cannot
# be put back by copying a file
GUARDED = frozenset({"zoho_crm", "zoho_books"})


class Capturing:
    """A side whose reads go through to ``inner`` and whose writes are kept here, each
    answered as made: a create with the id ``dry-N``, an update with its own id."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.side = inner.side
        self.writes: list[tuple[str, Write]] = []  # (table, write), in the order sent
        self._ids = itertools.count(1)

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        return self.inner.pull(module, since, page_size=page_size)

    def get(self, module: SideModule, id: str) -> Change | None:
        return self.inner.get(module, id)

    def search(self, module: SideModule, text: str) -> list[Change]:
        return self.inner.search(module, text)

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        outcomes = []
        for write in writes:
            self.writes.append((module.table, write))
            made = write.id if write.id is not None else DRY_ID.format(next(self._ids))
            outcomes.append(Outcome(key=write.key, id=made))
        return outcomes

    def schema(self, module: SideModule) -> dict[str, str]:
        return self.inner.schema(module)

    def views(self, module: SideModule) -> list[str]:
        return self.inner.views(module)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # the optional capabilities (rounds_amounts, identity, base_currency, key_field...)
        # are the inner side's: the checks and the ingest must see the real side
        return getattr(self.inner, name)


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite file ``source``, read through a plain connection.

    ``mode=rw``: a missing file is an error, never an empty database made.  Not ``ro``: a
    read-only connection to a WAL database leaves ``-wal`` and ``-shm`` files behind, where
    a plain one that only reads removes them as it closes and leaves the file as it was."""
    uri = f"{source.resolve().as_uri()}?mode=rw"
    with (
        contextlib.closing(sqlite3.connect(uri, uri=True)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


class Recording(Journal):
    """A journal that also keeps the entries appended to it, by seq, so the plan is made
    of the entries as written rather than read back and decoded again (a tenth of a dry
    run of a large first sync).  An entry a rolled-back transaction dropped is replaced
    by the one that took its seq, or left past the head (:meth:`written`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.appended: dict[int, Entry] = {}
        super().__init__(*args, **kwargs)

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        stored = super().append(entries)
        for entry in stored:
            self.appended[entry.seq] = entry
        return stored

    def written(self, first: int) -> list[Entry]:
        """The entries appended from seq ``first`` to the head, in order."""
        return [self.appended[seq] for seq in range(first, self.last_seq + 1)]


def scratch_journal(config: Config, folder: Path, *, now: Now | None = None) -> Recording:
    """A copy of the config's journal in ``folder`` (empty when it does not exist yet),
    open with the journal's key (``now``: its clock, when not the system's)."""
    target = folder / config.journal_path.name
    if config.journal_path.exists():
        copy_database(config.journal_path, target)
    journal = Recording(target, record_reducer(config), now=now or utc_now)
    try:
        keyed = journal.keyed_from is not None and journal.last_seq >= journal.keyed_from
        if os.environ.get(KEY_ENV) or key_path(config).exists() or keyed:
            key, _ = journal_key(config, journal)  # read, never made (a keyed one must exist)
        else:
            key, _ = ChainKey.generate()  # lives as long as the copy
        journal.use_key(key)
        if journal.needs_upgrade:
            journal.upgrade()
    except BaseException:
        journal.close()
        raise
    return journal


def scratch_connectors(
    config: Config,
    folder: Path,
    connectors: Mapping[str, Connector] | None = None,
    *,
    now: Now | None = None,
) -> dict[str, Connector]:
    """Each side as the dry run sees it: a SQLite side's copy (``now``: its clock, when
    not the system's), any other side (or one given in ``connectors``) wrapped in
    :class:`Capturing`."""
    found: dict[str, Connector] = {}
    try:
        for name, side in config.sides.items():
            if connectors is not None and name in connectors:
                found[name] = Capturing(connectors[name])
            elif side.connector == "sqlite":
                assert side.path is not None
                copy = folder / f"side-{name}.db"
                if side.path.exists():
                    copy_database(side.path, copy)
                found[name] = SQLiteConnector(name, copy, now=now or utc_now)
            else:
                found[name] = Capturing(build_connector(side))
    except BaseException:
        for connector in found.values():
            connector.close()
        raise
    return found


def plan_of_run(
    journal: JournalStorage,
    first: int,
    last: int | None = None,
    *,
    run: Sequence[Entry] | None = None,
) -> Plan:
    """The plan of the entries ``first``..``last`` (to the end) of ``journal`` (``run``:
    those entries, when the caller has them), with what each side held before of the
    records they update (the ``old`` of an overwrite)."""
    if run is None:
        run = list(journal.read(since=first - 1, until=last))
    kinds = [str(Kind.OBSERVED), str(Kind.APPLIED), str(Kind.LINK)]

    def history(records: Set[tuple[str, str]]) -> list[Entry]:
        by_module: dict[str, list[str]] = {}
        for module, rid in sorted(records):
            by_module.setdefault(module, []).append(rid)
        found: list[Entry] = []
        for module, rids in by_module.items():
            for start in range(0, len(rids), RIDS_A_READ):
                chunk = rids[start : start + RIDS_A_READ]
                found += journal.read(module=module, rids=chunk, kinds=kinds, until=first - 1)
        found.sort(key=lambda e: e.seq)
        return found

    return build_plan(run, first=first, history=history)


class _RolledBack(Exception):
    """Ends the transaction a dry run ran in, so none of it commits."""


@contextlib.contextmanager
def rolled_back(journal: JournalStorage) -> Iterator[None]:
    """Run the block in one transaction of ``journal`` and roll it back, whatever the
    block did (its appends, and the state and anchors they wrote, are gone after)."""
    with contextlib.suppress(_RolledBack), journal.transaction():
        yield
        raise _RolledBack


@attrs.frozen
class DryRun:
    """A dry run's plan, and the report the scratch run counted."""

    plan: Plan
    report: CycleReport
    captured: Mapping[str, int] = attrs.field(factory=dict)  # side -> writes held back


def dry_run(
    config: Config,
    modules: Sequence[str] = (),
    *,
    connectors: Mapping[str, Connector] | None = None,
    progress: Progress | None = None,
    batch_size: int = 1000,
    now: Now | None = None,
    journal: JournalStorage | None = None,
) -> DryRun:
    """What ``sync`` of ``modules`` (none: every module) would do now; nothing is written
    to the sides or the journal.  ``connectors``: sides to use instead of the config's (a
    test's memory sides), wrapped so their writes are captured; ``now``: the clock of the
    scratch journal and SQLite sides (a test's, to compare with a run on the same).
    ``journal``: an open journal to dry-run on in a transaction rolled back at the end
    (:func:`rolled_back`), instead of a copy of the config's SQLite file."""
    if journal is not None:
        return _dry_run_in(journal, config, modules, connectors, progress, batch_size, now)
    with tempfile.TemporaryDirectory(prefix="replicator-dry-") as tmp:
        folder = Path(tmp)
        journal = scratch_journal(config, folder, now=now)
        sides: dict[str, Connector] = {}
        try:
            sides = scratch_connectors(config, folder, connectors, now=now)
            engine = Engine(config, journal, sides, progress=progress, batch_size=batch_size)
            first = journal.last_seq + 1
            report = engine.run(list(modules) or None)
            plan = plan_of_run(journal, first, run=journal.written(first))
            captured = _captured(sides)
        finally:
            _close(sides, connectors)
            journal.close()
    return DryRun(plan, report, captured)


def _captured(sides: Mapping[str, Connector]) -> dict[str, int]:
    """The writes each capturing side held back, by side."""
    return {name: len(side.writes) for name, side in sides.items() if isinstance(side, Capturing)}


def _close(sides: Mapping[str, Connector], connectors: Mapping[str, Connector] | None) -> None:
    """Close the scratch sides, but not a capturing side the caller handed in."""
    for name, side in sides.items():
        if connectors is not None and name in connectors and isinstance(side, Capturing):
            continue  # the caller's side: the caller closes it
        side.close()


def _dry_run_in(
    journal: JournalStorage,
    config: Config,
    modules: Sequence[str],
    connectors: Mapping[str, Connector] | None,
    progress: Progress | None,
    batch_size: int,
    now: Now | None,
) -> DryRun:
    """:func:`dry_run` on ``journal`` itself, in a transaction rolled back at the end."""
    with tempfile.TemporaryDirectory(prefix="replicator-dry-") as tmp:
        sides: dict[str, Connector] = {}
        try:
            sides = scratch_connectors(config, Path(tmp), connectors, now=now)
            with rolled_back(journal):
                engine = Engine(config, journal, sides, progress=progress, batch_size=batch_size)
                first = journal.last_seq + 1
                report = engine.run(list(modules) or None)
                plan = plan_of_run(journal, first)
            captured = _captured(sides)
        finally:
            _close(sides, connectors)
    return DryRun(plan, report, captured)


def _dry_run_opened(
    opener: Callable[..., App],
    config: Config,
    modules: Sequence[str],
    progress: Progress | None,
    batch_size: int,
) -> DryRun:
    """:func:`dry_run` on a second opening of the config's journal and sides."""
    with opener(config) as app:
        remote = {
            name: connector
            for name, connector in app.connectors.items()
            if config.sides[name].connector != "sqlite"
        }
        return dry_run(
            config,
            modules,
            connectors=remote,
            progress=progress,
            batch_size=batch_size,
            journal=app.journal,
        )


def first_sync_modules(engine: Engine, modules: Sequence[str] = ()) -> list[str]:
    """The modules of ``modules`` (none: every module) whose first sync against a guarded
    side is still ahead: a side of theirs was never read to its end."""
    config = engine.config
    guarded = {name for name, side in config.sides.items() if side.connector in GUARDED}
    found = []
    for name in list(modules) or list(config.modules):
        module = config.modules[name]
        if guarded & set(module.sides) and not engine.pulled_once(module):
            found.append(name)
    return found


def guard_first_sync(
    engine: Engine,
    modules: Sequence[str] = (),
    *,
    progress: Progress | None = None,
    opener: Callable[..., App] | None = None,
) -> DryRun | None:
    """The guard rail of a first sync (``[guard] first_sync_creates``): when a module's
    first sync is ahead, dry-run the sync and raise :class:`GuardStop` (with the dry run)
    if it would create more records than the limit on a guarded side.  Returns the dry
    run when one ran and the sync may go, None when none was needed.

    ``opener(config)``: opens the journal and sides anew (a fleet tenant's, with its
    credentials); a journal that is no SQLite file (none to copy) is dry-run on that
    second opening, in a transaction rolled back, with its remote sides: never the
    engine's own, whose connectors remember what they read."""
    config = engine.config
    limit = config.guard.first_sync_creates
    if not config.guard.on or not first_sync_modules(engine, modules):
        return None
    try:
        if isinstance(engine.journal, Journal) or opener is None:
            run = dry_run(config, modules, progress=progress, batch_size=engine.batch_size)
        else:
            run = _dry_run_opened(opener, config, modules, progress, engine.batch_size)
    except UnavailableError as exc:
        # the sync could not be planned (a token limit, an outage): it fails here, journaled
        # as the run's error as the engine journals it when checking the sides meets it; a
        # refusal of the config (a field to create, currencies that differ) writes nothing,
        # as with the engine
        names = list(modules) or list(config.modules)
        report = CycleReport(entries_before=engine.journal.last_seq)
        with contextlib.suppress(Exception):
            journal_run(engine.journal, report, names, started=engine.journal.now(), error=exc)
        raise
    guarded = {name for name, side in config.sides.items() if side.connector in GUARDED}
    over = {
        side: n for side, n in run.plan.creates_per_side().items() if side in guarded and n > limit
    }
    if over:
        raise GuardStop(over, limit, run)
    return run


__all__ = [
    "DRY_ID",
    "GUARDED",
    "Capturing",
    "DryRun",
    "Recording",
    "copy_database",
    "dry_run",
    "first_sync_modules",
    "guard_first_sync",
    "plan_of_run",
    "rolled_back",
    "scratch_connectors",
    "scratch_journal",
]
