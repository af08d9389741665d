"""One sync cycle: pull each side -> ingest -> decide -> push -> record.

Every step that changes anything is journaled before the next one starts; each step is a
module of functions over the engine's :class:`~replicator.sync.context.Context`:

1. **pull** (:mod:`~replicator.sync.pull`): each side's changes since its cursor, page by
   page, each page committed with the cursor that covers it (a crash re-reads at most one
   page);
2. **ingest** (:mod:`~replicator.sync.ingest`): a page's rows become ``observed`` /
   ``tombstone`` entries (a re-read that maps to what the side already holds is echo and
   gets no entry);
3. **decide** (:mod:`~replicator.sync.decide`): records on one side only whose match key
   meets records on the other side are linked, merged, skipped or held for a person, by the
   module's duplicate policy; for every record needing attention, the merge engine decides
   what each side should hold; conflicts are journaled;
4. **push** (:mod:`~replicator.sync.push`): the writes go to each side in batches, journaled
   first as an ``intent``; each outcome (the side's id, or the reason it refused) is
   journaled.  A create carries the record id, so a re-run after a crash between push and
   journal finds what it already made instead of making another;
5. **record** (:mod:`~replicator.sync.record`): the settings in force, the run marker and
   the journal's head anchored outside it.

:class:`Engine` holds the context and runs the steps in this order (:meth:`Engine.cycle`);
:mod:`~replicator.sync.one` runs them for records named one by one.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence

from journal import JournalStorage
from replicator.config.load import Config, ModuleConfig
from replicator.connectors.base import Change, Connector
from replicator.errors import ConnectorError, EngineError, UnavailableError
from replicator.sync import decide, one, pull, push, record
from replicator.sync.checks import check_currency, check_fields, check_identities, unproven_modules
from replicator.sync.context import Progress, RunState
from replicator.sync.lifecycle import gate
from replicator.sync.record import CycleReport


def _noop(phase: str, module: str, side: str, n: int) -> None:
    return None


def _never() -> bool:
    return False


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A cycle makes millions of small acyclic containers (record states, entries): the
    cyclic collector would walk every live one again and again (over half the time of a
    large first sync).  Reference counting frees them; one collection runs at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(1)


class Engine:
    """Runs sync cycles for the modules of a config over the given connectors.

    It is the :class:`~replicator.sync.context.Context` the steps are given: its settings,
    journal and connectors, its hooks (``progress``, ``stop_requested``, which callers may
    set), and what a run keeps between steps (``kept``).
    """

    def __init__(
        self,
        config: Config,
        journal: JournalStorage,
        connectors: Mapping[str, Connector],
        *,
        progress: Progress | None = None,
        batch_size: int = 1000,
    ) -> None:
        missing = {s for m in config.modules.values() for s in m.sides} - set(connectors)
        if missing:
            raise EngineError(f"no connector for side(s) {sorted(missing)}")
        self.config = config
        self.journal = journal
        self.connectors = connectors
        self.progress: Progress = progress or _noop
        self.batch_size = batch_size
        self.kept = RunState()
        # asked between pages and batches: True ends the cycle after the one in hand (SIGTERM)
        self.stop_requested: Callable[[], bool] = _never

    # -- the run ----------------------------------------------------------------------------

    def run(self, modules: Sequence[str] | None = None) -> CycleReport:
        """One cycle of each module named (none: every module), paused ones skipped."""
        names = list(modules) if modules else list(self.config.modules)
        for name in names:
            if name not in self.config.modules:
                known = ", ".join(self.config.modules)
                raise EngineError(f"no module {name!r} in {self.config.path} (modules: {known})")
        names, paused = gate(self.journal, names)  # refuses while sync is disabled
        if not names:  # every module asked for is paused: nothing runs, nothing is journaled
            last = self.journal.last_seq
            return CycleReport(entries_before=last, entries_after=last, paused=paused)
        try:
            self._check_sides(names)
        except UnavailableError as exc:  # a token limit or an outage: journaled as the run's
            report = CycleReport(entries_before=self.journal.last_seq, paused=paused)
            with contextlib.suppress(Exception):
                started = self.journal.now()
                record.journal_run(self.journal, report, names, started=started, error=exc)
            raise
        with _no_cyclic_gc():
            return self._run(names, paused)

    def _run(self, names: Sequence[str], paused: Sequence[str] = ()) -> CycleReport:
        self.kept.pulled.clear()  # read again: a delete of the integration forgets them
        failed: list[tuple[str, ConnectorError]] = []
        with record.recorded(self, names, paused=paused) as report:
            for name in names:
                if self.stop_requested():
                    break
                try:
                    self.cycle(self.config.modules[name], report)
                except ConnectorError as exc:
                    # a side down or locked fails its modules, not the others; what this
                    # module had pulled is journaled and nothing of it was pushed
                    failed.append((name, exc))
                    report.failed[name] = str(exc)
            if failed:
                raise (
                    failed[0][1]
                    if len(failed) == 1
                    else ConnectorError("; ".join(f"module {name}: {exc}" for name, exc in failed))
                )
        return report

    def _check_sides(self, names: Sequence[str]) -> None:
        """Every side must have the tables and fields it is asked to sync, and the modules'
        base currencies must allow them, before anything is journaled (SetupError)."""
        # a module that pulled under the settings in force passed these checks: an idle
        # cycle (the daemon's polls) asks no metadata again
        sides = sorted({s for name in names for s in self.config.modules[name].sides})
        self.kept.identities = check_identities(self.journal, self.config, self.connectors, sides)
        unproven = unproven_modules(self.journal, self.config, names)
        check_fields(self.config, self.connectors, modules=unproven)
        check_currency(self.config, self.connectors, modules=unproven)

    # -- one module's cycle: the steps in order ----------------------------------------------

    def cycle(self, module: ModuleConfig, report: CycleReport) -> bool:
        """One module's cycle; returns whether it settled.

        The cycle invariant (DESIGN section 5): nothing is planned, so no create is sent,
        until every side of the module has been pulled to its end in this cycle.  Only
        the creates a crash left without an outcome go out before the pulls: each carries
        its record id, so the side finds the record it made instead of the pull taking it
        for a new one.  An interrupted pull (stop, outage, lock) leaves every record
        marked for the next cycle, which decides their duplicates as if nothing happened.
        """
        self.finish_pending(module, report)
        # a large batch of pulls (a first copy) writes the state in bulk, its indexes made
        # once when the last side is pulled, before anything is planned
        with contextlib.ExitStack() as stack:
            bulk = pull.BulkPulls(self, module, stack)
            for side in module.order:
                if not self.pull(module, side, report, bulk):
                    report.add(module.name, side, "interrupted")
                    return False
        if module.triggers:  # deals: what Books holds of their documents, read just now
            one.refresh_documents(self, module, report)
        self.settle(module, report)
        return True

    def finish_pending(self, module: ModuleConfig, report: CycleReport) -> None:
        """Push again the creates journaled as intents that got no outcome (a crash or an
        error between the intent and the side's answer)."""
        decide.finish_pending(self, module, report)

    def pull(
        self,
        module: ModuleConfig,
        side: str,
        report: CycleReport,
        bulk: pull.BulkPulls | None = None,
    ) -> bool:
        """Journal the side's changes since its cursor, page by page; returns whether the
        pull reached the end (False: a stop was asked for between two pages).  ``bulk``:
        the cycle's pulls may write the state in bulk (:class:`~replicator.sync.pull.
        BulkPulls`)."""
        return pull.pull(self, module, side, report, bulk)

    def settle(self, module: ModuleConfig, report: CycleReport) -> None:
        """Decide and push every record of the module that needs it, a batch at a time."""
        decide.settle(self, module, report)

    # -- what the steps know, asked from outside ---------------------------------------------

    def pending_creates(self, name: str) -> list[str]:
        """Records of module ``name`` with a create intent and no outcome since."""
        return push.pending_creates(self.journal, name)

    def pending_writes(self, name: str) -> dict[tuple[str, str], str | None]:
        """(record, side) -> the side's id (None: a create) of the writes of module
        ``name`` journaled as intents with no outcome since."""
        return push.pending_writes(self.journal, name)

    def pulled_once(self, module: ModuleConfig) -> bool:
        """Whether every side of the module was pulled to its end at least once (since the
        integration was last deleted): until then no create may be sent outside a cycle."""
        return pull.pulled_once(self, module)

    def fetch_parents(
        self, module: ModuleConfig, side: str, changes: Sequence[Change], report: CycleReport
    ) -> None:
        """``lookup_missing = "fetch"``: journal and push now the records these changes
        name that are not synced yet (:func:`replicator.sync.pull.fetch_parents`)."""
        pull.fetch_parents(self, module, side, changes, report)

    def journal_config(self) -> None:
        """A ``config`` entry whenever the settings in force change."""
        record.journal_config(self)

    # -- one record, now ----------------------------------------------------------------------

    def fetch(self, module_name: str, side: str, id: str) -> tuple[CycleReport, str]:
        """Re-sync one record from ``side`` now: read it there, journal it, plan and push
        (:func:`replicator.sync.one.fetch`); the report and the record's id."""
        return one.fetch(self, module_name, side, id)

    def sync_ids(
        self, module_name: str, side: str, ids: Sequence[str], *, trigger: str = "callback"
    ) -> CycleReport:
        """Re-read these records of ``side`` now (a notification named them), journal what
        changed, plan and push (:func:`replicator.sync.one.sync_ids`)."""
        return one.sync_ids(self, module_name, side, ids, trigger=trigger)


__all__ = ["Engine"]
