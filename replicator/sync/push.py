"""Push: the writes decided for one side -> sent in a batch, each outcome journaled.

Enters: from :mod:`~replicator.sync.decide`, the records of a batch with the write each
should get on one side (and whether it is the record's last write of the batch).

Leaves: an ``intent`` entry naming the writes, durable before the side sees them (a crash
before the outcomes leaves them pending: :func:`pending_writes`); the writes, sent; per
write an ``applied`` entry (the side's id) or an ``error`` entry (why the side refused, and
whether it is retried), in one transaction; the run's progress.  An update the module's
lock keeps from a document's system of record is not sent: its ``error`` entry (stage
``push``) says why, and the record is held until its next change (:func:`lock_refusal`);
a void or cancel in it still goes, alone (:func:`lock_passes`).
A create whose duplicate lies on the side outside the module's view waits for it instead,
and a clone goes under another name (:mod:`~replicator.sync.clone_names`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from conflicts import DuplicatePolicy, RecordState, match_key
from conflicts.deals import sent_status
from conflicts.merge import SideWrite, canonical
from journal import Dot, JournalStorage, Kind, NewEntry, VectorClock
from journal.entry import from_wire, same_wire
from journal.payloads import Applied, Failure, RunMarker, WriteIntent, expect, new_entry, payload_of
from replicator.config.load import ModuleConfig, split_lookup
from replicator.connectors.base import Write
from replicator.errors import EngineError, MappingError
from replicator.sync.clone_names import Batch, HeldNames, clones, name_fields, rename_clones
from replicator.sync.context import Context
from replicator.sync.record import CONFIG_MODULE, RUN, CycleReport


def push(
    ctx: Context,
    module: ModuleConfig,
    side: str,
    batch: Batch,
    report: CycleReport,
    *,
    retrying: set[str],
    held: set[tuple[str, str]] | None = None,
    dots: Mapping[str, Dot] | None = None,
) -> None:
    """Journal the intent, push, journal each outcome (``done``: the record's last write).

    ``dots``: record -> the dot of its applied entry (an undo's restore: the value written
    becomes the record's newest, :mod:`~replicator.sync.undo`).

    ``retrying`` holds the records of the batch a side asked to retry: they stay marked
    for attention, so a later write of theirs in the batch is not their last.  ``held``
    gets (record, side) of each update the module's lock kept from the side."""
    journal = ctx.journal
    name = module.name
    writes: list[Write] = []
    sent: list[tuple[RecordState, SideWrite, bool]] = []
    entries: list[NewEntry] = []
    # duplicates = "clone": the fields a record's write was sent under another name
    renamed_in: dict[str, list[dict[str, Any]]] = {}

    def refused(rid: str, counted: str, **failure: Any) -> None:
        """An error entry for a write that failed (``failure``: reason, done, ...)."""
        entries.append(new_entry(Failure(**{"stage": "write", **failure}), name, rid, side))
        report.add(name, side, counted)

    twins = _twins_outside(ctx, module, side, [state for state, w, _ in batch if w.id is None])
    renames = _clone_names(ctx, module, side, batch, report)  # duplicates = "clone"
    lock, lookups = module.lock, module.lookups
    to_side = module.fields.wire_to_side
    defaults = module.side_module(side).create  # a create's columns the map does not set
    for state, w, done in batch:
        # a create always goes (lock_refusal): no lock is asked of it
        locked = (
            lock_refusal(module, side, state, w) if lock is not None and w.id is not None else None
        )
        # a trigger's write to its document goes whole or not at all (its void is no
        # person's edit passing the lock: the document is a person's once sent)
        passing = lock_passes(module, w) if locked is not None and not state.trigger else None
        if locked is not None and passing is not None:
            # a void or cancel goes through the lock on its own, as the write's last part;
            # the rest is refused as any locked write (reason naming only those fields)
            rest = attrs.evolve(w, values={k: v for k, v in w.values.items() if k not in passing})
            reason = lock_refusal(module, side, state, rest)
            if reason is not None:
                refused(state.rid, "locked", stage="push", reason=reason, id=w.id, done=False)
            w, locked = attrs.evolve(w, values=passing), None
        if locked is not None:  # held, not retried: the record's next change plans it again
            # unless another side's refused write of the record waits for its retry: the
            # record stays marked for it (a refusal that ends the batch would unmark it)
            done = (
                done and state.rid not in retrying and not _retried(journal, name, state.rid, side)
            )
            refused(state.rid, "locked", stage="push", reason=locked, id=w.id, done=done)
            if held is not None:
                held.add((state.rid, side))
            continue
        if state.rid in twins:
            retrying.add(state.rid)
            refused(state.rid, "outside view", reason=twins[state.rid], retry=True, done=done)
            continue
        if renames and state.rid in renames:
            w, renamed_in[state.rid] = renames[state.rid]
        if lookups:
            values = canonical(w.values)
            unresolved = _side_ids(journal, module, side, values)
            if unresolved is not None:
                retrying.add(state.rid)
                refused(state.rid, "rejected", reason=unresolved, retry=True, done=done)
                continue
        try:
            side_values = (
                module.fields.to_side(side, values) if lookups else to_side(side, w.values)
            )
        except (MappingError, ValueError, TypeError) as exc:
            refused(
                state.rid,
                "errors",
                reason=f"cannot convert for {side}: {exc}",
                done=done,
                attempt=_attempt(state, side),
            )
            continue
        if w.id is None:  # a create leaves unset columns to the side's defaults
            side_values = {k: v for k, v in side_values.items() if v is not None}
            if defaults:
                side_values = {**defaults, **side_values}
        writes.append(Write(key=state.rid, id=w.id, values=side_values))
        sent.append((state, w, done))
    if writes:  # what is about to be written, durable before the side sees it
        intent = {wr.key: wr.id for wr in writes}
        journal.append([new_entry(WriteIntent(writes=intent), name, None, side)])
    outcomes = ctx.connectors[side].push(module.side_module(side), writes) if writes else []
    if len(outcomes) != len(writes):
        raise EngineError(f"side {side} answered {len(outcomes)} outcomes for {len(writes)} writes")
    # a batch's writes share a few contexts (a first copy's: one a side): each made once
    clocks: dict[tuple[tuple[str, int], ...], VectorClock] = {}
    for (state, w, done), outcome in zip(sent, outcomes, strict=True):
        done = done and state.rid not in retrying
        if not outcome.ok and outcome.retry:
            retrying.add(state.rid)
        if outcome.ok and outcome.id is not None:
            renamed = renamed_in.get(state.rid)
            applied = Applied(
                id=str(outcome.id),
                create=w.id is None,
                done=done,
                renamed=tuple(renamed or ()),
            )
            entries.append(
                new_entry(
                    applied,
                    name,
                    state.rid,
                    side,
                    dot=dots.get(state.rid) if dots else None,
                    context=_clock(clocks, w.context),
                    fields=w.values,
                )
            )
            report.add(name, side, "created" if w.id is None else "updated")
            if renamed:
                report.add(name, side, "renamed")
        else:
            again: dict[str, Any] = (
                {"retry": True} if outcome.retry else {"attempt": _attempt(state, side)}
            )
            refused(
                state.rid,
                "rejected",
                reason=outcome.error or "no id returned",
                id=w.id,
                done=done,
                **again,
            )
    with journal.transaction():
        journal.append(entries)
    pushed = ctx.kept.pushed
    pushed[(name, side)] += len(writes)
    ctx.progress("push", name, side, pushed[(name, side)])


def _clock(clocks: dict[Any, VectorClock], context: Mapping[str, int]) -> VectorClock:
    """``VectorClock(context)``, made once per context in ``clocks`` (a frozen value, so
    shared): 5 us a write at a first copy's 100k writes, against 1 us looked up."""
    key = tuple(context.items())
    clock = clocks.get(key)
    if clock is None:
        clock = clocks[key] = VectorClock(context)
    return clock


def lock_refusal(module: ModuleConfig, side: str, state: RecordState, w: SideWrite) -> str | None:
    """Why the module's lock (:class:`~replicator.config.load.Lock`) keeps update ``w``
    from ``side``, or None when it may go.

    Refused: an update (a create always goes) to the lock's side while the value of the
    lock's field held there is not one of ``open``, unless the only field it changes
    there is the lock's field, to one of ``passes``.  (A write that sets it to one of
    ``passes`` among other changes is split by :func:`push`: that part goes, the rest is
    refused with this reason for its own fields.)

    Decided here, as the write is about to go, rather than in the merge: the plan stays
    what the record's values call for (the merge is pure and knows no documents), and a
    refusal is an outcome like a side's own, journaled in the same place.  Its ``error``
    entry carries no ``attempt`` and no ``retry``, so the reducer neither schedules a
    retry (:data:`~conflicts.reducer.RETRY_LIMIT`, ``retry_delay``) nor keeps the record
    dirty: it is held, and only its next change (the document back to draft, say) plans
    it, and so this check, again.  Writes of the record to other sides go on as planned.

    A document a deal trigger made is not locked: it has no copy on the other side, and
    the trigger stops touching it once a person marked it sent
    (:func:`conflicts.deals.decide`), so its moves void -> draft and on go through.
    """
    lock = module.lock
    if lock is None or lock.side != side or w.id is None:
        return None
    if state.trigger is not None:  # a deal's document: its trigger's rules guard it
        return _trigger_refusal(module, side, state)
    held = state.held_wire(side)
    if held is None:
        return None
    have = held.wire
    status = from_wire(have.get(lock.field))
    if status in lock.open:
        return None
    columns = module.fields.fields
    changes = sorted(
        k
        for k, v in w.values.items()
        if k in columns and side in columns[k][1] and (k not in have or not same_wire(have[k], v))
    )
    if not changes:
        return None
    if changes == [lock.field] and from_wire(w.values[lock.field]) in lock.passes:
        return None
    others = " and ".join(s for s in module.order if s != side)
    is_now = f"is {status}" if status is not None else f"has no {lock.field}"
    return (
        f"{module.name} record {state.rid} {is_now} in {side}: edits from {others} reach "
        f"{side} only while it is {' or '.join(lock.open)}; refused ({', '.join(changes)} "
        "not written)"
    )


def _trigger_refusal(module: ModuleConfig, side: str, state: RecordState) -> str | None:
    """Why a trigger's write to its document no longer goes: a person marked it sent in
    Books after the trigger decided (between our read and our write), which the trigger's
    rules would have skipped (:func:`conflicts.deals.sent_status`); None: it goes."""
    info = state.trigger
    assert info is not None
    sent = sent_status(state, side, info.values.get("status"))
    if sent is None:
        return None
    return (
        f"{module.name} record {state.rid} is {sent} in {side}: deal changes no longer touch "
        f"it (the {info.trigger} trigger of deal {info.deal}); refused"
    )


def lock_passes(module: ModuleConfig, w: SideWrite) -> dict[str, Any] | None:
    """The part of a locked update that goes anyway: its lock field set to one of the
    lock's ``passes`` values (a void or cancel), or None."""
    lock = module.lock
    if lock is None or lock.field not in w.values:
        return None
    if from_wire(w.values[lock.field]) not in lock.passes:
        return None
    return {lock.field: w.values[lock.field]}


def _retried(journal: JournalStorage, name: str, rid: str, side: str) -> bool:
    """Whether a refused write of the record to another side than ``side`` waits for a
    retry (its state as journaled so far, this batch's earlier sides included)."""
    state = journal.record(name, rid)
    if state is None:
        return False
    return any(when is not None for s, (_, when) in state.retries.items() if s != side)


def _twins_outside(
    ctx: Context, module: ModuleConfig, side: str, states: Sequence[RecordState]
) -> dict[str, str]:
    """Records about to be created on ``side`` whose duplicate is there but outside the
    module's view or criteria (so never pulled), each with the reason it waits.

    A view limits what syncs, never what duplicate matching sees: such a record is
    not created a second time; it waits, and pairs with its twin once the twin
    enters the view (or the view changes).  Under ``clone`` both are meant to exist.
    """
    side_module = module.side_module(side)
    if (
        not states
        or not module.match_fields
        or not (side_module.view or side_module.where)
        or module.policy.duplicates is DuplicatePolicy.CLONE
    ):
        return {}
    whole = attrs.evolve(side_module, view=None, where={})
    scope = (
        f"view {side_module.view!r}" if side_module.view else f"criteria {dict(side_module.where)}"
    )
    connector = ctx.connectors[side]
    waiting: dict[str, str] = {}
    for state in states:
        held = state.held_wire(state.origin)
        if state.key is None or held is None:
            continue
        text = from_wire(held.wire.get(module.match_fields[0]))
        if text is None:
            continue
        for change in connector.search(whole, str(text)):
            values, _ = module.fields.to_canonical(side, change.values, record=state.rid)
            if match_key([values.get(f) for f in module.match_fields]) != state.key:
                continue
            if ctx.journal.rid_for(module.name, side, str(change.id)) is None:
                waiting[state.rid] = (
                    f"{side} {side_module.table} record {change.id} has the same "
                    f"{'/'.join(module.match_fields)} ({text!s}) but lies outside the "
                    f"{scope}: not created a second time; the two pair up when it "
                    "enters it"
                )
                break
    return waiting


def _clone_names(
    ctx: Context,
    module: ModuleConfig,
    side: str,
    batch: Batch,
    report: CycleReport,
) -> dict[str, tuple[SideWrite, list[dict[str, Any]]]]:
    """Clones (``duplicates = "clone"``, or a person's ``--value clone``): the writes to
    send under another name, as another record holds theirs
    (:mod:`replicator.sync.clone_names`)."""
    fields, batch = name_fields(module), clones(module, batch)
    if not fields or not batch:
        return {}
    held_names = ctx.kept.held_names
    names = held_names.get(module.name)
    if names is None or names.fields != fields or names.cycle is not report:
        names = HeldNames(ctx.journal, module.name, fields, cycle=report)  # read afresh
        held_names[module.name] = names
    return rename_clones(names, module, side, batch)


def _side_ids(
    journal: JournalStorage, module: ModuleConfig, side: str, values: dict[str, Any]
) -> str | None:
    """Lookup fields' record ids turned into the side's ids, in place (in each line, for
    a lookup inside lines); or why not."""
    for key, target in module.lookups.items():
        field, part = split_lookup(key)
        value = values.get(field)
        if value is None:
            continue
        if part is not None:
            lines = []
            for number, line in enumerate(value, start=1):
                rid = line.get(part)
                side_id = _side_id(journal, target, side, rid) if rid is not None else None
                if rid is not None and side_id is None:
                    return (
                        f"field {field}: line {number}: {target} record {rid} has no live "
                        f"record on {side} yet; retried next cycle"
                    )
                lines.append({**line, part: side_id} if rid is not None else line)
            values[field] = lines
            continue
        side_id = _side_id(journal, target, side, value)
        if side_id is None:
            return (
                f"field {field}: {target} record {value} has no live record on {side} yet; "
                "retried next cycle"
            )
        values[field] = side_id
    return None


def _side_id(journal: JournalStorage, target: str, side: str, rid: Any) -> str | None:
    """The id on ``side`` of record ``rid`` of module ``target`` (None: none live there)."""
    state = journal.record(target, str(rid))
    held = state.held_wire(side) if state is not None else None
    if held is None or held.id is None or held.deleted:
        return None
    return held.id


def pending_creates(
    journal: JournalStorage, name: str, pending: Mapping[tuple[str, str], str | None] | None = None
) -> list[str]:
    """Records of module ``name`` with a create intent and no outcome since (among
    ``pending``, the :func:`pending_writes` already read, if given)."""
    rids = []
    if pending is None:
        pending = pending_writes(journal, name)
    for (rid, side), side_id in pending.items():
        if side_id is not None:
            continue
        state = journal.record(name, rid)
        if state is not None and state.attention and not state.linked(side):
            rids.append(rid)
    return sorted(set(rids))


def pending_writes(journal: JournalStorage, name: str) -> dict[tuple[str, str], str | None]:
    """(record, side) -> the side's id (None: a create) of the writes of module
    ``name`` journaled as intents with no outcome since.

    Every intent of a cycle that ended without an error has its outcome, and a cycle
    finishes the pending creates it finds first: so only the entries after the last
    such cycle of the module are read, a few in the steady state.
    """
    floor = 0
    for entry in journal.read(module=CONFIG_MODULE, rid=RUN, descending=True):
        run = expect(entry, RunMarker)
        if run.trigger == "sync" and run.error is None and name in run.modules:
            floor = int(run.last)
            break
    pending: dict[tuple[str, str], str | None] = {}
    kinds = [str(Kind.INTENT), str(Kind.APPLIED), str(Kind.ERROR)]
    for entry in journal.read(since=floor, kinds=kinds):
        if entry.module != name or entry.side is None:
            continue
        payload = payload_of(entry)
        if isinstance(payload, WriteIntent):
            for rid, side_id in payload.writes.items():
                pending[(rid, entry.side)] = side_id
        elif entry.kind is Kind.INTENT:
            continue
        elif entry.rid is not None and not (
            isinstance(payload, Failure) and payload.stage == "read"
        ):
            pending.pop((entry.rid, entry.side), None)
    return pending


def _attempt(state: RecordState, side: str) -> int:
    """The number of this attempt at writing the record to ``side`` (1 unless refused)."""
    return state.retries.get(side, (0, None))[0] + 1


__all__ = ["lock_refusal", "pending_creates", "pending_writes", "push"]
