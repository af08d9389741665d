"""Undo: revert what a run wrote, as a new journaled run (``replicator undo RUN``).

Enters: a run's id (the seq of its run marker, as ``history`` lists it), optionally some
of its modules, the engine's context (settings, journal, connectors) and who asks.

Leaves: a run whose marker's trigger is ``undo`` (and ``undoes`` the run's id), holding:

1. the pull of every side of the modules concerned, as a sync's (so an edit made since
   the run is journaled, and seen);
2. the plan (:mod:`~replicator.sync.undo_plan`) made from the journal as it then is;
3. links an undone undo had dropped made again (``link`` + ``merged``, as the duplicate
   decision made them);
4. the records the run created deleted on the side it created them (a ``tombstone`` that
   names who asked and the run undone: a delete of our own create, never propagated to
   the other side, and not re-created by a later sync, as any delete);
5. each field the run changed written back to its value before the run (an ``intent``
   then an ``applied`` entry whose dot makes the restored value the record's newest, so a
   later sync does not write the undone value again); a field changed since is not
   written: a ``conflict`` (open, held for a person) holds both values;
6. the records an undone undo deleted, created again with the values they held;
7. the links the run made dropped (``link`` entries marked ``unlinked``).

A side that cannot delete a record (a Zoho Books side without a remover) keeps the record
the run created there: the undo journals an ``error`` entry (stage ``undo``) naming it, the
record's link stays, and nothing is sent to it again from the run's values: the rule is
"kept, said, never silently left".  A dry run (``plan_undo``) reads the journal only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from conflicts import RecordState
from conflicts.merge import SideWrite
from conflicts.register import register_dots
from journal import Dot, Entry, JournalStorage, Kind, NewEntry
from journal.entry import from_wire, utc_text
from journal.payloads import (
    Failure,
    Linked,
    Merged,
    RunMarker,
    Tombstone,
    Unlinked,
    ValueConflict,
    expect,
    new_entry,
)
from replicator.config.load import ModuleConfig
from replicator.connectors.remove import Removal, Remover
from replicator.errors import EngineError
from replicator.sync import pull, push, record
from replicator.sync.context import Context
from replicator.sync.copies import remover
from replicator.sync.engine import _no_cyclic_gc
from replicator.sync.lifecycle import gate
from replicator.sync.record import CONFIG_MODULE, RUN, CycleReport
from replicator.sync.undo_plan import (
    UNDO,
    Conflict,
    Link,
    Recreate,
    Remove,
    Restore,
    RunSpan,
    UndoPlan,
    make_plan,
    touched,
)

CHUNK = 500  # record ids per read of their entries
STAGE = "undo"  # the stage of an undo's error entries
# the entries a plan reads: what a side holds, and what changed a field or a link
KINDS = [
    str(k)
    for k in (Kind.OBSERVED, Kind.APPLIED, Kind.LINK, Kind.TOMBSTONE, Kind.RESOLUTION, Kind.TRIGGER)
]


@attrs.frozen
class UndoOutcome:
    """What an undo did: its plan, its run's report and marker (None: nothing written)."""

    plan: UndoPlan
    report: CycleReport | None = None
    marker: int | None = None
    failed: tuple[tuple[str, str, str, str], ...] = ()  # module, rid, side, reason


def find_run(journal: JournalStorage, run_id: int) -> RunSpan:
    """The run whose marker is entry ``run_id`` (:class:`EngineError` if there is none)."""
    found = list(journal.read(since=run_id - 1, until=run_id))
    entry = found[0] if found else None
    if entry is None or entry.kind is not Kind.CONFIG or entry.rid != RUN:
        raise EngineError(
            f"no run {run_id}: a run's id is the seq of its run marker (`replicator history` "
            "lists them in its run column)"
        )
    marker = expect(entry, RunMarker)
    return RunSpan(
        id=entry.seq,
        first=int(marker.first),
        last=int(marker.last),
        trigger=marker.trigger,
        modules=tuple(marker.modules),
    )


def undone_by(journal: JournalStorage, run_id: int) -> int | None:
    """The undo run that reverted run ``run_id`` (and was not itself undone), or None."""
    undoes: dict[int, int] = {}  # undo run -> the run it undid
    for entry in journal.read(since=run_id, module=CONFIG_MODULE, rid=RUN):
        marker = expect(entry, RunMarker)
        if marker.undoes is not None and marker.error is None:
            undoes[entry.seq] = int(marker.undoes)
    live = {run for run, target in undoes.items() if run not in undoes.values()}
    for run in sorted(live):
        if undoes[run] == run_id:
            return run
    return None


def plan_undo(
    journal: JournalStorage, run: RunSpan, *, modules: Sequence[str] | None = None
) -> UndoPlan:
    """The undo plan of ``run`` from the journal as it is (nothing read from the sides).

    The run's entries are read once; the records it touched then have their entries
    before and after it read, a chunk of records at a time (none, for a first sync)."""
    in_run: dict[tuple[str, str], list[Entry]] = {}
    for entry in journal.read(since=run.first - 1, until=run.last, kinds=KINDS):
        if entry.rid is not None and (not modules or entry.module in modules):
            in_run.setdefault((entry.module, entry.rid), []).append(entry)
    records = touched(run, (e for entries in in_run.values() for e in entries), modules)
    by_module: dict[str, list[str]] = {}
    for module, rid in records:
        by_module.setdefault(module, []).append(rid)
    before: dict[tuple[str, str], list[Entry]] = {}
    after: dict[tuple[str, str], list[Entry]] = {}
    for module, rids in by_module.items():
        for start in range(0, len(rids), CHUNK):
            chunk = rids[start : start + CHUNK]
            for entry in journal.read(module=module, rids=chunk, until=run.first - 1, kinds=KINDS):
                before.setdefault((module, str(entry.rid)), []).append(entry)
            for entry in journal.read(module=module, rids=chunk, since=run.last, kinds=KINDS):
                after.setdefault((module, str(entry.rid)), []).append(entry)
    entries = {
        key: [*before.get(key, ()), *in_run.get(key, ()), *after.get(key, ())] for key in records
    }
    return make_plan(run, entries)


def _modules(ctx: Context, run: RunSpan, modules: Sequence[str] | None) -> list[str]:
    names = list(modules) if modules else list(run.modules)
    for name in names:
        if name not in run.modules:
            raise EngineError(
                f"run {run.id} did not sync module {name!r} ({', '.join(run.modules)})"
            )
        if name not in ctx.config.modules:
            raise EngineError(f"module {name!r} of run {run.id} is not configured any more")
    return names


def undo(
    ctx: Context,
    run_id: int,
    *,
    modules: Sequence[str] | None = None,
    by: str = "person",
    removers: Mapping[str, Remover] | None = None,
) -> UndoOutcome:
    """Undo run ``run_id`` (its ``modules`` only, if given) as a new run (module docstring).

    ``removers``: side -> what deletes its records (default: the side's connector's own,
    :func:`replicator.sync.copies.remover`)."""
    journal = ctx.journal
    run = find_run(journal, run_id)
    names = _modules(ctx, run, modules)
    later = undone_by(journal, run.id)
    if later is not None:
        raise EngineError(
            f"run {run.id} was undone by run {later} already: `replicator undo {later}` redoes it"
        )
    names, paused = gate(journal, names)
    if paused:
        raise EngineError(f"paused: {', '.join(paused)}; resume them to undo run {run.id}")
    failed: list[tuple[str, str, str, str]] = []
    # a plan of a large run holds its entries: as a sync, no cyclic collection meanwhile
    with _no_cyclic_gc(), record.recorded(ctx, names, trigger=UNDO, undoes=run.id) as report:
        for name in names:
            module = ctx.config.modules[name]
            for side in module.order:
                pull.pull(ctx, module, side, report)
        found = plan_undo(journal, run, modules=names)
        for name in names:
            module = ctx.config.modules[name]
            failed += _execute(ctx, module, found, report, by=by, removers=removers)
    marker = report.entries_after if report.entries_after > report.entries_before else None
    return UndoOutcome(found, report, marker, tuple(failed))


def _execute(
    ctx: Context,
    module: ModuleConfig,
    found: UndoPlan,
    report: CycleReport,
    *,
    by: str,
    removers: Mapping[str, Remover] | None,
) -> list[tuple[str, str, str, str]]:
    name = module.name

    def mine(items: Sequence[Any]) -> list[Any]:
        return [i for i in items if i.module == name]

    run = found.run
    failed: list[tuple[str, str, str, str]] = []
    _relink(ctx, module, mine(found.relinks), run, by=by, report=report)
    removes = mine(found.removes)
    failed += _remove(ctx, module, removes, run, by=by, report=report, removers=removers)
    _restore(ctx, module, mine(found.restores), report)
    _conflicts(ctx, module, mine(found.conflicts), run, report)
    _recreate(ctx, module, mine(found.recreates), report)
    _unlink(ctx, module, mine(found.unlinks), run, by=by, report=report)
    return failed


def undo_remover(connector: object) -> Remover | None:
    """What deletes an undo's records on a connector's side: the one ``disable
    --remove-crm-copies`` uses, or for a Zoho Books side the Books remover (an undo deletes
    Books records the run created: Books data it made, nothing a person made)."""
    found = remover(connector)
    if found is not None:
        return found
    # function-level: the Zoho client (httpx) loads only for a Zoho side
    from replicator.connectors.zoho.books import ZohoBooksConnector
    from replicator.connectors.zoho.books_remove import BooksRemover  # function-level: as above

    if isinstance(connector, ZohoBooksConnector):
        return BooksRemover(connector)
    return None


def _relink(
    ctx: Context,
    module: ModuleConfig,
    links: Sequence[Link],
    run: RunSpan,
    *,
    by: str,
    report: CycleReport,
) -> None:
    """Pair again what an undo unpaired: its side's record becomes part of this one."""
    journal = ctx.journal
    entries: list[NewEntry] = []
    for link in links:
        was = journal.record(module.name, link.from_)
        held = was.held_wire(link.side) if was is not None else None
        values = {k: from_wire(v) for k, v in held.wire.items()} if held is not None else {}
        linked = Linked(id=link.id, policy=link.policy, from_=link.from_, key=link.key, by=by)
        entries.append(new_entry(linked, module.name, link.rid, link.side, fields=values))
        merged = Merged(into=link.rid, policy=link.policy, key=link.key, by=by)
        entries.append(new_entry(merged, module.name, link.from_, link.side))
        report.add(module.name, link.side, "linked")
    if entries:
        journal.append(entries)


def _remove(
    ctx: Context,
    module: ModuleConfig,
    removes: Sequence[Remove],
    run: RunSpan,
    *,
    by: str,
    report: CycleReport,
    removers: Mapping[str, Remover] | None,
) -> list[tuple[str, str, str, str]]:
    """Delete the records the run created, side by side (our own creates only)."""
    journal = ctx.journal
    failed: list[tuple[str, str, str, str]] = []
    reason = f"undo of run {run.id}: a record it created"
    for side in sorted({r.side for r in removes}):
        items = [r for r in removes if r.side == side]
        deleter = removers.get(side) if removers is not None else undo_remover(ctx.connectors[side])
        entries: list[NewEntry] = []
        if deleter is None:
            why = (
                f"side {side} cannot delete records: the record run {run.id} created there "
                "is kept (its link stays; delete it there by hand if it must go)"
            )
            for item in items:
                entries.append(
                    new_entry(
                        Failure(reason=why, stage=STAGE, id=item.id), module.name, item.rid, side
                    )
                )
                failed.append((module.name, item.rid, side, why))
                report.add(module.name, side, "errors")
            journal.append(entries)
            continue
        answers = deleter.remove(module.side_module(side), [i.id for i in items])
        by_id: Mapping[str, Removal] = {a.id: a for a in answers}
        for item in items:
            answer = by_id.get(item.id) or Removal(item.id, error=f"side {side} gave no answer")
            if answer.ok:
                why = f"{reason}; {answer.note}" if answer.note else reason
                gone = Tombstone(id=item.id, by=by, reason=why, gone=answer.gone)
                entries.append(new_entry(gone, module.name, item.rid, side))
                report.add(module.name, side, "deleted")
            else:
                error = str(answer.error)
                entries.append(
                    new_entry(
                        Failure(reason=error, stage=STAGE, id=item.id), module.name, item.rid, side
                    )
                )
                failed.append((module.name, item.rid, side, error))
                report.add(module.name, side, "errors")
        journal.append(entries)
    return failed


def _restore(
    ctx: Context, module: ModuleConfig, restores: Sequence[Restore], report: CycleReport
) -> None:
    """Write back each side's values from before the run, the restored value made the
    record's newest (the applied entry's dot)."""
    journal = ctx.journal
    for side in module.order:
        batch: list[tuple[RecordState, SideWrite, bool]] = []
        dots: dict[str, Dot] = {}
        for item in restores:
            if item.side != side:
                continue
            state = journal.record(module.name, item.rid)
            if state is None:
                continue
            clock = dict(state.raw["c"])
            batch.append((state, SideWrite(side, item.id, dict(item.before), clock), False))
            dots[item.rid] = Dot(side, state.counter(side) + 1)
        if batch:
            push.push(ctx, module, side, batch, report, retrying=set(), dots=dots)


def _conflicts(
    ctx: Context,
    module: ModuleConfig,
    conflicts: Sequence[Conflict],
    run: RunSpan,
    report: CycleReport,
) -> None:
    """A field changed since the run: held for a person with the value now and before."""
    journal = ctx.journal
    at = utc_text(journal.now())
    entries: list[NewEntry] = []
    for item in conflicts:
        state = journal.record(module.name, item.rid)
        reg = state.raw["f"].get(item.field) if state is not None else None
        dots = register_dots(reg) if reg is not None else []
        siblings = [
            {
                "side": s,
                "dot": [s, state.counter(s) if state is not None else 0],
                "value": from_wire(v),
                "at": at,
            }
            for s, v in item.now.items()
        ]
        siblings.append(
            {"side": UNDO, "dot": [UNDO, run.id], "value": from_wire(item.before), "at": at}
        )
        now = ", ".join(f"{s} {_shown(v)}" for s, v in item.now.items())
        reason = (
            f"undo of run {run.id}: {item.field} on {item.side} was set to {_shown(item.was)} "
            f"by the run and changed since (now {now}); before the run it was "
            f"{_shown(item.before)}: not overwritten, a person decides (--take {UNDO} puts "
            "that value back)"
        )
        held = ValueConflict(
            field=item.field,
            status="open",
            policy="manual",
            siblings=tuple(siblings),
            dots=tuple(dots),
            winner=None,
            reason=reason,
        )
        entries.append(new_entry(held, module.name, item.rid))
        report.add(module.name, item.side, "conflicts")
    if entries:
        journal.append(entries)


def _shown(wire: Any) -> str:
    value = from_wire(wire)
    return "(empty)" if value is None else repr(str(value))


def _recreate(
    ctx: Context, module: ModuleConfig, recreates: Sequence[Recreate], report: CycleReport
) -> None:
    """Create again the records an undone undo deleted, with the values they held."""
    journal = ctx.journal
    for side in module.order:
        batch: list[tuple[RecordState, SideWrite, bool]] = []
        for item in recreates:
            state = journal.record(module.name, item.rid) if item.side == side else None
            if state is None:
                continue
            values = {k: v for k, v in item.values.items() if v is not None}
            batch.append((state, SideWrite(side, None, values, dict(state.raw["c"])), False))
        if batch:
            push.push(ctx, module, side, batch, report, retrying=set())


def _unlink(
    ctx: Context,
    module: ModuleConfig,
    links: Sequence[Link],
    run: RunSpan,
    *,
    by: str,
    report: CycleReport,
) -> None:
    """Drop the links the run made: each side's record is its own record again."""
    entries = [
        new_entry(
            Unlinked(
                id=link.id,
                from_=link.from_,
                policy=link.policy,
                key=link.key,
                undoes=run.id,
                by=by,
            ),
            module.name,
            link.rid,
            link.side,
        )
        for link in links
    ]
    for link in links:
        report.add(module.name, link.side, "unlinked")
    if entries:
        ctx.journal.append(entries)


# -- for people -------------------------------------------------------------------------------


def plan_data(found: UndoPlan) -> dict[str, Any]:
    """An undo plan as ``--json`` prints it (values as canonical values' text)."""

    def values(wire: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _plain(v) for k, v in wire.items()}

    return {
        "run": found.run.id,
        "trigger": found.run.trigger,
        "counts": found.counts(),
        "restores": [
            {
                "module": r.module,
                "record": r.rid,
                "side": r.side,
                "id": r.id,
                "before": values(r.before),
                "was": values(r.was),
            }
            for r in found.restores
        ],
        "conflicts": [
            {
                "module": c.module,
                "record": c.rid,
                "side": c.side,
                "field": c.field,
                "now": values(c.now),
                "before": _plain(c.before),
                "was": _plain(c.was),
            }
            for c in found.conflicts
        ],
        "removes": [
            {"module": r.module, "record": r.rid, "side": r.side, "id": r.id} for r in found.removes
        ],
        "recreates": [
            {
                "module": r.module,
                "record": r.rid,
                "side": r.side,
                "id": r.id,
                "values": values(r.values),
            }
            for r in found.recreates
        ],
        "unlinks": [_link(link) for link in found.unlinks],
        "relinks": [_link(link) for link in found.relinks],
        "kept": [
            {"module": k.module, "record": k.rid, "side": k.side, "id": k.id, "reason": k.reason}
            for k in found.kept
        ],
    }


def _link(link: Link) -> dict[str, Any]:
    return {
        "module": link.module,
        "record": link.rid,
        "side": link.side,
        "id": link.id,
        "from": link.from_,
        "policy": link.policy,
    }


def _plain(wire: Any) -> Any:
    value = from_wire(wire)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return wire
    return str(value)


__all__ = [
    "STAGE",
    "UndoOutcome",
    "find_run",
    "plan_data",
    "plan_undo",
    "undo",
    "undo_remover",
    "undone_by",
]
