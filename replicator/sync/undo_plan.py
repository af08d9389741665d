"""The undo plan of a run: the journal entries of the records a run wrote -> what puts
every side back as it was before the run (pure: values in, a plan out; executed by
:mod:`~replicator.sync.undo`).

A run is named by its id, the seq of its run marker; its own entries are ``first..last`` of
the marker.  For each record the run touched, its entries are walked in order, following
what each side holds (as the reducer follows it), and the plan is made of:

- **restores**: each field the run changed on a side (an ``applied`` update), back to the
  value the side held before the run's first write of it (a side that held no value of it:
  empty).  A field changed since the run by anyone (an entry after the run's last that
  reads or writes it on any side, a person's resolution included) is not overwritten: it
  becomes a **conflict** for a person, with both values; one the side holds with its value
  from before already (an undo interrupted, run again) needs nothing;
- **removes**: each record the run created on a side (an ``applied`` create), deleted
  there: our own creates only.  A created record edited on that side since the run is
  **kept** (and said why), never deleted with someone's edit in it; one deleted since
  needs nothing;
- **unlinks**: each link the run made (a ``link`` entry pairing an existing record of a
  side with this one) dropped: the side's record is its own record again.  A link whose
  side has a field in conflict stays (the person decides first).

An undo is a run too (trigger ``undo``), so undoing it redoes the run undone: its restores
are restored back, the records it deleted (its ``tombstone`` entries, which name who
asked) are **recreated** with the values they held, and the links it dropped
(``unlinked`` entries) are **relinked**.  Decisions that wrote nothing to a side (a skip,
a duplicate group held for a person) stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from journal.entry import Entry, Kind, same_wire, to_wire
from journal.payloads import (
    Applied,
    Linked,
    Observed,
    Tombstone,
    Triggered,
    Unlinked,
    ValueResolution,
    payload_of,
)

UNDO = "undo"  # the trigger of an undo's run marker, and the side named by its conflicts


@attrs.frozen
class RunSpan:
    """The run to undo: its id (its marker's seq), its entries' range and its trigger."""

    id: int
    first: int
    last: int
    trigger: str
    modules: tuple[str, ...] = ()


@attrs.frozen
class Restore:
    """Fields of a record a run changed on a side: ``before`` each field's value there
    before the run, ``was`` what the run wrote (wire values)."""

    module: str
    rid: str
    side: str
    id: str
    before: Mapping[str, Any]
    was: Mapping[str, Any]


@attrs.frozen
class Conflict:
    """A field the run changed on ``side`` that someone changed since: not overwritten.
    ``now``: each side's value now; ``before``: the value before the run (wire values)."""

    module: str
    rid: str
    side: str
    field: str
    now: Mapping[str, Any]
    before: Any
    was: Any


@attrs.frozen
class Remove:
    """A record the run created on ``side`` (its id there): deleted there."""

    module: str
    rid: str
    side: str
    id: str


@attrs.frozen
class Recreate:
    """A record an undo deleted on ``side`` (its id was ``id``): made there again with the
    values it held (wire values)."""

    module: str
    rid: str
    side: str
    id: str
    values: Mapping[str, Any]


@attrs.frozen
class Link:
    """A link a run made (``unlink``) or an undo dropped (``relink``): ``side``'s record
    ``id`` paired with record ``rid``; ``from_`` the record it is on its own."""

    module: str
    rid: str
    side: str
    id: str
    from_: str
    policy: str
    key: str | None


@attrs.frozen
class Kept:
    """Something of the run the undo leaves as it is, and why."""

    module: str
    rid: str
    side: str
    id: str | None
    reason: str


@attrs.frozen
class UndoPlan:
    """What undoing run ``run`` does."""

    run: RunSpan
    restores: tuple[Restore, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    removes: tuple[Remove, ...] = ()
    recreates: tuple[Recreate, ...] = ()
    unlinks: tuple[Link, ...] = ()
    relinks: tuple[Link, ...] = ()
    kept: tuple[Kept, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.restores
            or self.conflicts
            or self.removes
            or self.recreates
            or self.unlinks
            or self.relinks
        )

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """module -> side -> how many of each kind of step."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        groups: tuple[tuple[str, Iterable[Any]], ...] = (
            ("restore", self.restores),
            ("conflict", self.conflicts),
            ("remove", self.removes),
            ("recreate", self.recreates),
            ("unlink", self.unlinks),
            ("relink", self.relinks),
            ("kept", self.kept),
        )
        for what, items in groups:
            for item in items:
                sides = out.setdefault(item.module, {}).setdefault(item.side, {})
                sides[what] = sides.get(what, 0) + 1
        return out

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(sorted(self.counts()))


@attrs.define
class _Walk:
    """What the walk of one record's entries has found so far."""

    held: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # side -> field -> wire
    ids: dict[str, str] = attrs.field(factory=dict)
    deleted: set[str] = attrs.field(factory=set)
    before: dict[tuple[str, str], Any] = attrs.field(factory=dict)  # (side, field) -> wire
    wrote: dict[tuple[str, str], Any] = attrs.field(factory=dict)
    created: dict[str, str] = attrs.field(factory=dict)  # side -> id
    links: list[Link] = attrs.field(factory=list)
    relinks: list[Link] = attrs.field(factory=list)
    recreates: dict[str, tuple[str, dict[str, Any]]] = attrs.field(factory=dict)
    changed: set[str] = attrs.field(factory=set)  # fields changed after the run
    edited: set[str] = attrs.field(factory=set)  # sides a person changed after the run
    gone: set[str] = attrs.field(factory=set)  # sides deleted after the run


def _fold(walk: _Walk, entry: Entry, payload: Any) -> None:
    """What a side holds after ``entry`` (as the reducer's ``s`` follows it; values as the
    entries hold them, in wire form only when the plan needs one: most are never read)."""
    side = entry.side
    if side is None:
        return
    if isinstance(payload, Observed):
        walk.held.setdefault(side, {}).update(entry.fields)
        walk.ids[side] = str(payload.id)
    elif isinstance(payload, Applied):
        walk.held.setdefault(side, {}).update(entry.fields)
        walk.ids[side] = str(payload.id)
        if payload.create:
            walk.deleted.discard(side)
    elif isinstance(payload, Linked):
        values = dict(entry.fields)
        if entry.dot is not None:
            values.update(dict.fromkeys(payload.empty))
            walk.held.setdefault(side, {}).update(values)
        else:
            walk.held[side] = values
        walk.ids[side] = str(payload.id)
        walk.deleted.discard(side)
    elif isinstance(payload, Unlinked):
        walk.held.pop(side, None)
    elif isinstance(payload, Tombstone):
        walk.deleted.add(side)


def walk_record(run: RunSpan, entries: Sequence[Entry]) -> _Walk:
    """Walk one record's entries (in seq order, every kind) against the run."""
    walk = _Walk()
    for entry in entries:
        if entry.kind in (Kind.CONFIG, Kind.CURSOR, Kind.INTENT):
            continue
        payload = payload_of(entry)
        side = entry.side
        if entry.seq < run.first:
            _fold(walk, entry, payload)
            continue
        if entry.seq <= run.last:
            if side is not None:
                _in_run(walk, run, entry, payload, side)
            _fold(walk, entry, payload)
            continue
        _after_run(walk, entry, payload, side)
        _fold(walk, entry, payload)
    return walk


def _in_run(walk: _Walk, run: RunSpan, entry: Entry, payload: Any, side: str) -> None:
    if isinstance(payload, Applied):
        if payload.create:
            walk.created[side] = str(payload.id)
            walk.recreates.pop(side, None)
            return
        had = walk.held.get(side, {})
        for name, value in entry.fields.items():
            if (side, name) not in walk.before:
                walk.before[(side, name)] = to_wire(had.get(name))
            walk.wrote[(side, name)] = to_wire(value)
    elif isinstance(payload, Linked) and entry.rid is not None:
        walk.links.append(
            Link(
                entry.module,
                entry.rid,
                side,
                str(payload.id),
                payload.from_,
                payload.policy,
                payload.key,
            )
        )
    elif isinstance(payload, Unlinked) and entry.rid is not None:
        walk.relinks.append(
            Link(
                entry.module,
                entry.rid,
                side,
                str(payload.id),
                payload.from_,
                payload.policy,
                payload.key,
            )
        )
    elif isinstance(payload, Tombstone) and run.trigger == UNDO and payload.by is not None:
        # a record an undo deleted (its own, or a run's create): made again
        held = walk.held.get(side, {})
        walk.recreates[side] = (str(payload.id), {k: to_wire(v) for k, v in held.items()})


def _after_run(walk: _Walk, entry: Entry, payload: Any, side: str | None) -> None:
    if isinstance(payload, (Observed, Applied, Linked, ValueResolution, Triggered)):
        walk.changed.update(entry.fields)
        if isinstance(payload, Observed) and side is not None and entry.fields:
            walk.edited.add(side)
        if isinstance(payload, Applied) and payload.create and side is not None:
            walk.gone.discard(side)
            walk.created.pop(side, None)  # made again since: not ours to delete now
            walk.recreates.pop(side, None)
    elif isinstance(payload, (Unlinked, Tombstone)) and side is not None:
        walk.gone.add(side)


def plan_record(run: RunSpan, module: str, rid: str, entries: Sequence[Entry]) -> UndoPlan:
    """The undo plan of run ``run`` for one record, from all its entries."""
    walk = walk_record(run, entries)
    restores: list[Restore] = []
    conflicts: list[Conflict] = []
    removes: list[Remove] = []
    kept: list[Kept] = []
    conflicted: set[str] = set()
    for side, id in sorted(walk.created.items()):
        if side in walk.gone or side in walk.deleted:
            continue
        if side in walk.edited:
            reason = (
                f"created on {side} by run {run.id} and edited there since: not deleted "
                "(a person decides)"
            )
            kept.append(Kept(module, rid, side, id, reason))
            continue
        removes.append(Remove(module, rid, side, id))
    by_side: dict[str, dict[str, tuple[Any, Any]]] = {}
    for (side, name), was in sorted(walk.wrote.items()):
        before = walk.before.get((side, name))
        if side in walk.created or side in walk.gone or side in walk.deleted:
            continue
        if same_wire(before, was):
            continue
        held = walk.held.get(side)
        if held is not None and name in held and same_wire(to_wire(held[name]), before):
            continue  # back as before already (an undo interrupted and run again)
        if name in walk.changed:
            now = {s: to_wire(h[name]) for s, h in sorted(walk.held.items()) if name in h}
            conflicts.append(Conflict(module, rid, side, name, now, before, was))
            conflicted.add(side)
            continue
        by_side.setdefault(side, {})[name] = (before, was)
    for side, fields in sorted(by_side.items()):
        restores.append(
            Restore(
                module,
                rid,
                side,
                walk.ids[side],
                {k: b for k, (b, _) in fields.items()},
                {k: w for k, (_, w) in fields.items()},
            )
        )
    unlinks: list[Link] = []
    for link in walk.links:
        if link.side in walk.gone:
            continue
        if link.side in conflicted:
            reason = (
                f"linked by run {run.id}; a field of its {link.side} record changed since: "
                "the link stays until a person settles the conflict"
            )
            kept.append(Kept(module, rid, link.side, link.id, reason))
            continue
        unlinks.append(link)
    relinks = [link for link in walk.relinks if link.side not in walk.held]
    recreates = [
        Recreate(module, rid, side, id, values)
        for side, (id, values) in sorted(walk.recreates.items())
        if side in walk.deleted and side not in walk.created
    ]
    return UndoPlan(
        run,
        tuple(restores),
        tuple(conflicts),
        tuple(removes),
        tuple(recreates),
        tuple(unlinks),
        tuple(relinks),
        tuple(kept),
    )


def touched(
    run: RunSpan, entries: Iterable[Entry], modules: Sequence[str] | None
) -> list[tuple[str, str]]:
    """(module, rid) of the records the run wrote to a side, linked or unlinked (from the
    run's own entries), in order of first appearance."""
    seen: dict[tuple[str, str], None] = {}
    for entry in entries:
        if entry.rid is None or entry.side is None or not run.first <= entry.seq <= run.last:
            continue
        if modules and entry.module not in modules:
            continue
        if entry.kind in (Kind.APPLIED, Kind.LINK) or (
            entry.kind is Kind.TOMBSTONE and run.trigger == UNDO
        ):
            seen.setdefault((entry.module, entry.rid), None)
    return list(seen)


def combine(run: RunSpan, plans: Iterable[UndoPlan]) -> UndoPlan:
    """One plan of the records' plans."""
    parts: dict[str, list[Any]] = {
        "restores": [],
        "conflicts": [],
        "removes": [],
        "recreates": [],
        "unlinks": [],
        "relinks": [],
        "kept": [],
    }
    for p in plans:
        for name, items in parts.items():
            items.extend(getattr(p, name))
    return UndoPlan(run, **{name: tuple(items) for name, items in parts.items()})


def make_plan(run: RunSpan, records: Mapping[tuple[str, str], Sequence[Entry]]) -> UndoPlan:
    """The undo plan of ``run`` from every entry of each record it touched."""
    return combine(
        run, (plan_record(run, module, rid, entries) for (module, rid), entries in records.items())
    )


__all__ = [
    "UNDO",
    "Conflict",
    "Kept",
    "Link",
    "Recreate",
    "Remove",
    "Restore",
    "RunSpan",
    "UndoPlan",
    "combine",
    "make_plan",
    "plan_record",
    "touched",
    "walk_record",
]
