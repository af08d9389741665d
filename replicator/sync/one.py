"""One record, now: ``replicator fetch`` (a person names a record) and the daemon's
callbacks (a notification names records), outside the cycle's pull of everything new.

Functions over an :class:`~replicator.sync.engine.Engine`, which delegates to them; they use
its pull, ingest and settle steps, so a record fetched here is journaled, planned and
pushed exactly as a cycle would.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from conflicts import ACTIVE
from journal import Journal, Kind
from journal.anchors import write_anchor
from journal.payloads import Merged, expect
from replicator.config.load import ModuleConfig
from replicator.connectors.base import matches
from replicator.errors import EngineError
from replicator.sync.engine import CycleReport

if TYPE_CHECKING:
    from replicator.sync.engine import Engine


def fetch(engine: Engine, module_name: str, side: str, id: str) -> tuple[CycleReport, str]:
    """Re-sync one record from ``side`` now: read it there, journal it, plan and push.

    Returns the report and the record's id.  A disabled integration refuses; a paused
    module is still fetched (a person asked for this record).  The side's cursor stays
    where it is: the next pull may read the record again and finds nothing new.  The
    module's other sides that were synced before are read from their cursors first, as
    a sync would: a write never overwrites a change there that was not read (a Zoho
    connector refuses to, and their changes are merged, not lost), and a side never
    pulled yet is pulled to its end, so the record's duplicate there is found.
    """
    from replicator.sync.engine import retry
    from replicator.sync.lifecycle import gate, journal_run

    module = _module(engine, module_name, side)
    gate(engine.journal, [module_name])
    side_module = module.side_module(side)
    change = engine.connectors[side].get(side_module, str(id))
    if change is None:
        raise EngineError(
            f"side {side} has no {side_module.table} record {id} (module {module_name})"
        )
    if side_module.where and not matches(side_module.where, change.values):
        raise EngineError(
            f"side {side}, {side_module.table} record {id} does not meet the criteria of "
            f"module {module_name} ({dict(side_module.where)}): it is not synced"
        )
    report = CycleReport(entries_before=engine.journal.last_seq)
    started = engine.journal.now()
    engine._pushed = Counter()
    record = {"side": side, "id": str(change.id)}
    try:
        engine.journal_config()
        engine.finish_pending(module, report)  # a crash's creates first, as a cycle does
        with engine.journal.transaction():
            engine._ingest(module, side, [change], report)
        rid = engine.journal.rid_for(module_name, side, str(change.id)) or f"{side}:{change.id}"
        retry(engine.journal, module_name, [rid], by="fetch")  # a person asked for it now
        for other in module.order:
            # every side that could hold its duplicate is read to its end first (the
            # cycle invariant), from its cursor, or from the start if it never was
            if other != side and not engine.pull(module, other, report):
                raise EngineError(
                    f"stopped while reading side {other} of module {module_name}: record "
                    f"{rid} is journaled and syncs with the next `replicator sync`"
                )
        # this record only (what the pulls found waits for the next sync)
        settle_only(engine, module, [rid], report)
    except Exception as exc:
        with contextlib.suppress(Exception):
            journal_run(
                engine.journal,
                report,
                [module_name],
                started=started,
                error=exc,
                trigger="fetch",
                record=record,
            )
        raise
    report.seconds = time.monotonic() - report.started
    journal_run(
        engine.journal,
        report,
        [module_name],
        started=started,
        trigger="fetch",
        record={**record, "rid": rid},
    )
    write_anchor(engine.journal)  # the head, outside the journal file, as a cycle does
    report.entries_after = engine.journal.last_seq
    return report, rid


def settle_only(
    engine: Engine, module: ModuleConfig, rids: Sequence[str], report: CycleReport
) -> None:
    """Plan and push these records, and the records a duplicate decision folds them into."""
    settled: set[str] = set()
    for _ in range(3):  # a decision may fold a record into one that then needs attention
        targets: list[str] = []
        for rid in rids:
            for target in (rid, folded_into(engine.journal, module.name, rid)):
                state = engine.journal.record(module.name, target) if target else None
                if state is not None and state.attention and state.rid not in settled:
                    targets.append(state.rid)
        if not targets:
            break
        targets = sorted(set(targets))
        engine._settle_batch(module, targets, report)
        settled.update(targets)


def folded_into(journal: Journal, module: str, rid: str) -> str | None:
    """The record a duplicate decision merged ``rid`` into, if it did."""
    into = None
    state = journal.record(module, rid)
    if state is not None and state.status != ACTIVE:
        for entry in journal.read(module=module, rid=rid, kinds=[str(Kind.MERGED)]):
            into = expect(entry, Merged).into
    return into


def sync_ids(
    engine: Engine, module_name: str, side: str, ids: Sequence[str], *, trigger: str = "callback"
) -> CycleReport:
    """Re-read these records of ``side`` now (a notification named them), journal what
    changed, plan and push, as a cycle does for one batch.

    Ids the side no longer holds, or whose record is outside the module's criteria, are
    counted ``missing`` (deletes come through the side's own feed at the next pull).  A
    paused module reads nothing; a disabled integration refuses.  The cursor stays: the
    next pull may read the records again and finds nothing new.
    """
    from replicator.sync.lifecycle import gate, journal_run

    module = _module(engine, module_name, side)
    names, paused = gate(engine.journal, [module_name])
    report = CycleReport(entries_before=engine.journal.last_seq, paused=paused)
    if not names:
        report.entries_after = report.entries_before
        return report
    side_module = module.side_module(side)
    started = engine.journal.now()
    engine._pushed = Counter()
    try:
        changes = []
        for id in dict.fromkeys(str(i) for i in ids):
            change = engine.connectors[side].get(side_module, id)
            if change is None or (
                side_module.where and not matches(side_module.where, change.values)
            ):
                report.add(module_name, side, "missing")
                continue
            changes.append(change)
        report.add(module_name, side, "pulled", len(changes))
        engine.journal_config()
        if not engine.pulled_once(module):
            # a first sync did not finish: its pulls read these rows and its next cycle
            # decides their duplicates first.  Nothing is journaled now: a first pull is a
            # snapshot, so a row journaled here and deleted before it would never be
            # tombstoned
            report.add(module_name, side, "deferred", len(changes))
        else:
            # creates a crash left without an outcome first, as a cycle does: a row named
            # here may be one of them, which must be found, not taken for a new record
            engine.finish_pending(module, report)
            # a row a write of ours went to with no outcome yet holds what we wrote: read
            # now it would come back as a change (an echo); the next cycle finishes it
            unsure = {r for (r, s), _ in engine.pending_writes(module_name).items() if s == side}
            if unsure:
                known = engine.journal.rids_for(module_name, side, [c.id for c in changes])
                kept = [c for c in changes if known.get(str(c.id)) not in unsure]
                report.add(module_name, side, "deferred", len(changes) - len(kept))
                changes = kept
            if changes:
                if module.lookup_missing == "fetch":
                    engine.fetch_parents(module, side, changes, report)
                with engine.journal.transaction():
                    engine._ingest(module, side, changes, report)
                named = engine.journal.rids_for(module_name, side, [c.id for c in changes])
                # these records only: any other one needing attention may have a twin on a
                # side not read since, and waits for the module's cycle, which reads them all
                settle_only(engine, module, sorted(set(named.values())), report)
    except Exception as exc:
        with contextlib.suppress(Exception):
            journal_run(
                engine.journal, report, [module_name], started=started, error=exc, trigger=trigger
            )
        raise
    report.seconds = time.monotonic() - report.started
    journal_run(engine.journal, report, [module_name], started=started, trigger=trigger)
    write_anchor(engine.journal)
    report.entries_after = engine.journal.last_seq
    return report


def _module(engine: Engine, module_name: str, side: str) -> ModuleConfig:
    """The module named, which must pair ``side``."""
    module = engine.config.modules.get(module_name)
    if module is None:
        known = ", ".join(engine.config.modules)
        raise EngineError(f"no module {module_name!r} in {engine.config.path} (modules: {known})")
    if side not in module.sides:
        raise EngineError(
            f"module {module_name} has no side {side!r} (sides: {', '.join(module.order)})"
        )
    return module
