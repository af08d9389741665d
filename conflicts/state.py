"""The state of one record, and the reducer that folds journal entries into it.

The reducer is the only code that turns entries into materialised state, live and in
replay alike, so replay equals the live state by construction; the property suite checks it.
"""

from __future__ import annotations

from typing import Any

import attrs

from conflicts.register import Register, same_value
from journal.clock import Dot, VectorClock
from journal.entry import Entry, Kind, dumps, loads
from journal.store import View

ACTIVE, MERGED, SKIPPED, HELD = "active", "merged", "skipped", "held"


@attrs.frozen
class Held:
    """What one side holds of a record: its id there, the clock it has seen, its values."""

    id: str | None = None
    clock: VectorClock = attrs.field(factory=VectorClock)
    values: dict[str, Any] = attrs.field(factory=dict)
    deleted: bool = False

    def to_json(self) -> list[Any]:
        return [self.id, self.clock.to_json(), self.values, self.deleted]

    @classmethod
    def from_json(cls, data: list[Any]) -> Held:
        id_, clock, values, deleted = data
        return cls(id_, VectorClock.from_json(clock), values, deleted)


@attrs.frozen
class RecordState:
    module: str
    rid: str
    origin: str
    key: str | None = None
    fields: dict[str, Register] = attrs.field(factory=dict)
    clock: VectorClock = attrs.field(factory=VectorClock)
    sides: dict[str, Held] = attrs.field(factory=dict)
    status: str = ACTIVE
    dirty: bool = False
    pending: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    errors: dict[str, str] = attrs.field(factory=dict)
    conflicts: dict[str, dict[str, Any]] = attrs.field(factory=dict)  # field -> {id, dots, open}
    note: str | None = None  # why a record is merged / skipped / held

    @property
    def attention(self) -> bool:
        return self.status == ACTIVE and (self.dirty or bool(self.pending))

    def linked(self, side: str) -> bool:
        held = self.sides.get(side)
        return held is not None and held.id is not None

    @property
    def linked_sides(self) -> tuple[str, ...]:
        return tuple(sorted(s for s, h in self.sides.items() if h.id is not None))

    def index_key(self) -> str | None:
        """The match key is indexed only while the record is on one side alone."""
        if self.status == ACTIVE and self.key is not None and len(self.linked_sides) == 1:
            return self.key
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "o": self.origin,
            "k": self.key,
            "f": {name: reg.to_json() for name, reg in self.fields.items()},
            "c": self.clock.to_json(),
            "s": {side: held.to_json() for side, held in self.sides.items()},
            "st": self.status,
            "d": self.dirty,
            "p": self.pending,
            "e": self.errors,
            "x": self.conflicts,
            "n": self.note,
            "_m": self.module,
            "_r": self.rid,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordState:
        return cls(
            module=data["_m"],
            rid=data["_r"],
            origin=data["o"],
            key=data["k"],
            fields={name: Register.from_json(reg) for name, reg in data["f"].items()},
            clock=VectorClock.from_json(data["c"]),
            sides={side: Held.from_json(h) for side, h in data["s"].items()},
            status=data["st"],
            dirty=data["d"],
            pending=data["p"],
            errors=data["e"],
            conflicts=data["x"],
            note=data["n"],
        )

    def visible_clock_of(self, field: str) -> VectorClock:
        reg = self.fields.get(field)
        return reg.clock if reg is not None else VectorClock()


def _observe(state: RecordState, side: str, entry: Entry, side_id: str | None) -> RecordState:
    """Fold the fields of an observation (or a person's resolution) into the registers."""
    assert entry.dot is not None
    context = entry.context or VectorClock()
    at = entry.meta.get("modified") or entry.at
    fill = set(entry.meta.get("fill", ()))  # linked duplicates: values that fill a gap
    fields = dict(state.fields)
    for name, value in entry.fields.items():
        reg = fields.get(name, Register())
        seen = context.merge(reg.clock) if name in fill else context
        fields[name] = reg.write(entry.dot, value, at, seen)
    sides = dict(state.sides)
    held = sides.get(side, Held())
    sides[side] = Held(
        id=side_id if side_id is not None else held.id,
        clock=held.clock.merge(context).add(entry.dot),
        values={**held.values, **entry.fields},
        deleted=held.deleted,
    )
    return attrs.evolve(state, fields=fields, clock=state.clock.add(entry.dot), sides=sides)


def _supersede(view: View, state: RecordState, entry: Entry) -> RecordState:
    """Conflicts whose siblings a later write replaced are settled by that write."""
    if not state.conflicts:
        return state
    conflicts = dict(state.conflicts)
    for name, info in state.conflicts.items():
        reg = state.fields.get(name)
        dots = [list(d.to_json()) for d in reg.dots] if reg is not None else []
        if dots == info["dots"]:
            continue
        del conflicts[name]
        if info.get("open"):
            row = view.conflict(info["id"])
            if row is not None and row["status"] == "open":
                data = {**row["data"], "settled_by": {"seq": entry.seq, "kind": str(entry.kind)}}
                view.put_conflict(
                    row["id"], row["module"], row["rid"], row["field"], "resolved", data
                )
    return attrs.evolve(state, conflicts=conflicts)


class RecordReducer:
    """Folds every kind of entry into records, links, cursors and conflicts."""

    def encode(self, state: RecordState) -> tuple[str, str | None, bool]:
        return dumps(state.to_json()), state.index_key(), state.attention

    def decode(self, text: str) -> RecordState:
        return RecordState.from_json(loads(text))

    def apply(self, view: View, entry: Entry) -> None:
        kind = entry.kind
        if kind is Kind.CURSOR:
            view.set_cursor(entry.side or "", entry.module, entry.meta["cursor"])
            return
        if kind is Kind.CONFIG or entry.rid is None:
            return
        module, rid = entry.module, entry.rid
        state: RecordState | None = view.record(module, rid)
        meta = entry.meta
        if state is None:
            state = RecordState(module=module, rid=rid, origin=entry.side or "")
        if kind is Kind.OBSERVED:
            side = entry.side or ""
            new_link = not state.linked(side)
            state = _observe(state, side, entry, meta.get("id"))
            state = attrs.evolve(state, dirty=True, key=meta.get("key", state.key))
            if new_link and meta.get("id") is not None:
                view.link(module, side, str(meta["id"]), rid, "active")
            state = _supersede(view, state, entry)
        elif kind is Kind.TOMBSTONE:
            side = entry.side or ""
            held = state.sides.get(side, Held(id=meta.get("id")))
            sides = {**state.sides, side: attrs.evolve(held, deleted=True)}
            state = attrs.evolve(state, sides=sides)
            if held.id is not None:
                view.link(module, side, str(held.id), rid, "deleted")
        elif kind is Kind.INTENT:
            writes = meta.get("writes", {})
            state = attrs.evolve(state, dirty=False, pending=dict(writes))
        elif kind is Kind.APPLIED:
            side = entry.side or ""
            held = state.sides.get(side, Held())
            context = entry.context or VectorClock()
            side_id = str(meta["id"])
            sides = {
                **state.sides,
                side: Held(
                    side_id,
                    held.clock.merge(context),
                    {**held.values, **entry.fields},
                    held.deleted,
                ),
            }
            pending = {s: w for s, w in state.pending.items() if s != side}
            errors = {s: e for s, e in state.errors.items() if s != side}
            state = attrs.evolve(state, sides=sides, pending=pending, errors=errors)
            if held.id != side_id:
                view.link(module, side, side_id, rid, "active")
        elif kind is Kind.ERROR:
            side = entry.side or ""
            pending = state.pending
            if not meta.get("retry"):
                pending = {s: w for s, w in pending.items() if s != side}
            errors = {**state.errors, side: str(meta.get("reason", "rejected"))}
            state = attrs.evolve(state, pending=pending, errors=errors)
        elif kind is Kind.LINK:
            side = entry.side or ""
            side_id = str(meta["id"])
            if entry.dot is not None:  # policy link: the existing values merge as concurrent
                state = _observe(state, side, entry, side_id)
                state = _supersede(view, state, entry)
            else:  # policy overwrite: the existing side holds its values, the incoming ones win
                sides = {**state.sides, side: Held(side_id, VectorClock(), dict(entry.fields))}
                state = attrs.evolve(state, sides=sides)
            state = attrs.evolve(state, dirty=True)
            view.link(module, side, side_id, rid, "active")
        elif kind is Kind.MERGED:
            state = attrs.evolve(
                state,
                status=MERGED,
                dirty=False,
                pending={},
                note=f"merged into {meta['into']} ({meta.get('policy', '')})",
            )
        elif kind is Kind.SKIPPED:
            state = attrs.evolve(state, status=SKIPPED, dirty=False, note=meta.get("reason"))
        elif kind is Kind.CONFLICT:
            name = meta["field"]
            status = meta["status"]
            view.put_conflict(entry.seq, module, rid, name, status, meta)
            if meta.get("duplicate"):
                state = attrs.evolve(state, status=HELD, dirty=False, note=meta.get("reason"))
            else:
                info = {"id": entry.seq, "dots": meta["dots"], "open": status == "open"}
                state = attrs.evolve(state, conflicts={**state.conflicts, name: info})
                winner = meta.get("winner")
                if winner is not None and name in state.fields:
                    # a side already holding the winner has now seen every sibling
                    reg = state.fields[name]
                    sides = dict(state.sides)
                    for side, held in state.sides.items():
                        if name in held.values and same_value(held.values[name], winner["value"]):
                            sides[side] = attrs.evolve(held, clock=held.clock.merge(reg.clock))
                    state = attrs.evolve(state, sides=sides)
        elif kind is Kind.RESOLUTION:
            cid = meta["conflict"]
            row = view.conflict(cid)
            if row is not None:
                data = {**row["data"], "resolution": meta}
                view.put_conflict(cid, row["module"], row["rid"], row["field"], "resolved", data)
            if meta.get("decision"):  # a duplicate group settled by a person
                decision = meta["decision"]
                status = SKIPPED if decision == "skip" else ACTIVE
                state = attrs.evolve(
                    state,
                    status=status,
                    dirty=status == ACTIVE,
                    key=None if decision == "clone" else state.key,
                    note=f"duplicate: {decision} (by a person)",
                )
            elif entry.dot is not None:
                fields = dict(state.fields)
                at = entry.at
                for name, value in entry.fields.items():
                    fields[name] = fields.get(name, Register()).write(
                        entry.dot, value, at, entry.context or VectorClock()
                    )
                state = attrs.evolve(
                    state, fields=fields, clock=state.clock.add(entry.dot), dirty=True
                )
                state = _supersede(view, state, entry)
        view.put_record(module, rid, state)


def dot_list(dots: tuple[Dot, ...]) -> list[list[Any]]:
    return [list(d.to_json()) for d in dots]


__all__ = [
    "ACTIVE",
    "HELD",
    "MERGED",
    "SKIPPED",
    "Held",
    "RecordReducer",
    "RecordState",
    "dot_list",
]
