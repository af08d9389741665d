"""One record, now: ``replicator fetch`` (a person names a record) and the daemon's
callbacks (a notification names records), outside the cycle's pull of everything new.

Functions over the engine's :class:`~replicator.sync.context.Context` (the
:class:`~replicator.sync.engine.Engine` delegates to them); they use the cycle's steps, so
a record fetched here is ingested, decided, pushed and recorded exactly as a cycle would.
"""

from __future__ import annotations

from collections.abc import Sequence

from conflicts import ACTIVE
from journal import JournalStorage, Kind
from journal.payloads import Merged, expect
from replicator.config.load import ModuleConfig
from replicator.connectors.base import matches
from replicator.errors import EngineError
from replicator.sync.context import Context
from replicator.sync.deals import books_side
from replicator.sync.decide import finish_pending, settle_batch
from replicator.sync.ingest import ingest
from replicator.sync.lifecycle import gate
from replicator.sync.pull import fetch_parents, pull, pulled_once
from replicator.sync.push import pending_writes
from replicator.sync.record import CycleReport, recorded
from replicator.sync.resolve import retry


def fetch(ctx: Context, module_name: str, side: str, id: str) -> tuple[CycleReport, str]:
    """Re-sync one record from ``side`` now: read it there, journal it, plan and push.

    Returns the report and the record's id.  A disabled integration refuses; a paused
    module is still fetched (a person asked for this record).  The side's cursor stays
    where it is: the next pull may read the record again and finds nothing new.  The
    module's other sides that were synced before are read from their cursors first, as
    a sync would: a write never overwrites a change there that was not read (a Zoho
    connector refuses to, and their changes are merged, not lost), and a side never
    pulled yet is pulled to its end, so the record's duplicate there is found.
    """
    module = _module(ctx, module_name, side)
    gate(ctx.journal, [module_name])
    side_module = module.side_module(side)
    change = ctx.connectors[side].get(side_module, str(id))
    if change is None:
        raise EngineError(
            f"side {side} has no {side_module.table} record {id} (module {module_name})"
        )
    if side_module.where and not matches(side_module.where, change.values):
        raise EngineError(
            f"side {side}, {side_module.table} record {id} does not meet the criteria of "
            f"module {module_name} ({dict(side_module.where)}): it is not synced"
        )
    record = {"side": side, "id": str(change.id)}
    with recorded(ctx, [module_name], trigger="fetch", record=record) as report:
        finish_pending(ctx, module, report)  # a crash's creates first, as a cycle does
        with ctx.journal.transaction():
            ingest(ctx, module, side, [change], report)
        rid = ctx.journal.rid_for(module_name, side, str(change.id)) or f"{side}:{change.id}"
        retry(ctx.journal, module_name, [rid], by="fetch")  # a person asked for it now
        for other in module.order:
            # every side that could hold its duplicate is read to its end first (the
            # cycle invariant), from its cursor, or from the start if it never was
            if other != side and not pull(ctx, module, other, report):
                raise EngineError(
                    f"stopped while reading side {other} of module {module_name}: record "
                    f"{rid} is journaled and syncs with the next `replicator sync`"
                )
        refresh_documents(ctx, module, report)
        # this record only (what the pulls found waits for the next sync)
        settle_only(ctx, module, [rid], report)
        record["rid"] = rid  # the run marker names it once it synced
    return report, rid


def settle_only(
    ctx: Context, module: ModuleConfig, rids: Sequence[str], report: CycleReport
) -> None:
    """Plan and push these records, and the records a duplicate decision folds them into."""
    settled: set[str] = set()
    for _ in range(3):  # a decision may fold a record into one that then needs attention
        targets: list[str] = []
        for rid in rids:
            for target in (rid, folded_into(ctx.journal, module.name, rid)):
                state = ctx.journal.record(module.name, target) if target else None
                if state is not None and state.attention and state.rid not in settled:
                    targets.append(state.rid)
        if not targets:
            break
        targets = sorted(set(targets))
        settle_batch(ctx, module, targets, report)
        settled.update(targets)


def folded_into(journal: JournalStorage, module: str, rid: str) -> str | None:
    """The record a duplicate decision merged ``rid`` into, if it did."""
    into = None
    state = journal.record(module, rid)
    if state is not None and state.status != ACTIVE:
        for entry in journal.read(module=module, rid=rid, kinds=[str(Kind.MERGED)]):
            into = expect(entry, Merged).into
    return into


def sync_ids(
    ctx: Context, module_name: str, side: str, ids: Sequence[str], *, trigger: str = "callback"
) -> CycleReport:
    """Re-read these records of ``side`` now (a notification named them), journal what
    changed, plan and push, as a cycle does for one batch.

    Ids the side no longer holds, or whose record is outside the module's criteria, are
    counted ``missing`` (deletes come through the side's own feed at the next pull).  A
    paused module reads nothing; a disabled integration refuses.  The cursor stays: the
    next pull may read the records again and finds nothing new.
    """
    module = _module(ctx, module_name, side)
    names, paused = gate(ctx.journal, [module_name])
    if not names:
        last = ctx.journal.last_seq
        return CycleReport(entries_before=last, entries_after=last, paused=paused)
    side_module = module.side_module(side)
    with recorded(ctx, [module_name], trigger=trigger, paused=paused) as report:
        changes = []
        for id in dict.fromkeys(str(i) for i in ids):
            change = ctx.connectors[side].get(side_module, id)
            if change is None or (
                side_module.where and not matches(side_module.where, change.values)
            ):
                report.add(module_name, side, "missing")
                continue
            changes.append(change)
        report.add(module_name, side, "pulled", len(changes))
        if not pulled_once(ctx, module):
            # a first sync did not finish: its pulls read these rows and its next cycle
            # decides their duplicates first.  Nothing is journaled now: a first pull is a
            # snapshot, so a row journaled here and deleted before it would never be
            # tombstoned
            report.add(module_name, side, "deferred", len(changes))
        else:
            # creates a crash left without an outcome first, as a cycle does: a row named
            # here may be one of them, which must be found, not taken for a new record
            finish_pending(ctx, module, report)
            # a row a write of ours went to with no outcome yet holds what we wrote: read
            # now it would come back as a change (an echo); the next cycle finishes it
            writes = pending_writes(ctx.journal, module_name)
            unsure = {r for (r, s), _ in writes.items() if s == side}
            if unsure:
                known = ctx.journal.rids_for(module_name, side, [c.id for c in changes])
                kept = [c for c in changes if known.get(str(c.id)) not in unsure]
                report.add(module_name, side, "deferred", len(changes) - len(kept))
                changes = kept
            if changes:
                if module.lookup_missing == "fetch":
                    fetch_parents(ctx, module, side, changes, report)
                with ctx.journal.transaction():
                    ingest(ctx, module, side, changes, report)
                named = ctx.journal.rids_for(module_name, side, [c.id for c in changes])
                refresh_documents(ctx, module, report)
                # these records only: any other one needing attention may have a twin on a
                # side not read since, and waits for the module's cycle, which reads them all
                settle_only(ctx, module, sorted(set(named.values())), report)
    return report


def refresh_documents(ctx: Context, module: ModuleConfig, report: CycleReport) -> None:
    """Before a watch module's deals are settled (its cycle, a callback, a fetch), the
    side their triggers' documents are written to is read from its cursor: a
    document a person marked sent there since its module's last cycle is then known to
    be sent, and the deal's change leaves it alone (what else the pull finds waits for
    the module's cycle).  A document module never pulled through, or paused, is not read:
    its documents wait for its cycle anyway."""
    for trigger in module.triggers.values():
        documents = ctx.config.modules[trigger.module]
        if not gate(ctx.journal, [documents.name])[0] or not pulled_once(ctx, documents):
            continue
        # as a cycle does: a create a crash left without an outcome goes first, so the
        # pull finds the row it made ours instead of taking it for a new record
        finish_pending(ctx, documents, report)
        pull(ctx, documents, books_side(documents, module.order[0]), report)


def _module(ctx: Context, module_name: str, side: str) -> ModuleConfig:
    """The module named, which must pair ``side``."""
    module = ctx.config.modules.get(module_name)
    if module is None:
        known = ", ".join(ctx.config.modules)
        raise EngineError(f"no module {module_name!r} in {ctx.config.path} (modules: {known})")
    if side not in module.sides:
        raise EngineError(
            f"module {module_name} has no side {side!r} (sides: {', '.join(module.order)})"
        )
    return module


__all__ = ["fetch", "folded_into", "refresh_documents", "settle_only", "sync_ids"]
