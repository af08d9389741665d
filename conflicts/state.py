"""The state of one record, and the reducer that folds journal entries into it.

The reducer is the only code that turns entries into materialised state, live and in
replay alike, so replay equals the live state by construction; the property suite checks it.

A record's state is kept as plain JSON (it is read and written once per batch for every
record a sync touches, so it must be cheap to decode, change in place and encode):

``m`` module, ``r`` rid, ``o`` origin side, ``k`` match key, ``nk`` near key (the
normalised match key, present only when the module suggests near matches), ``na`` set once
a person kept the record apart from its near matches (then it has no near key again),
``f`` fields: ``{name: [[[side, counter, value, at], ...], {side: counter}]}`` (the
multi-value register of :mod:`conflicts.register` as stored: its siblings with their dots,
and its own clock; values in wire form, ``at`` as UTC ISO text; read it through
:meth:`RecordState.siblings` and :attr:`RecordState.fields`),
``c`` the record clock, ``s`` sides: ``{side: {"id", "c": clock it holds, "v": values it
holds, "del": deleted, "a": (only when set) {field: [shown, held]}: the side holds ``held``
where the record shows ``shown``, a clone renamed there: see :func:`conflicts.merge.plan`}}``,
``st`` status, ``d`` dirty (needs planning: set by a change, cleared once every planned
write has an outcome, or nothing was to be written), ``e`` the last error per side, ``x``
conflicts journaled per field ``{field: {"id", "dots", "open"}}``,
``n`` a note (why merged / skipped / held), ``rt`` (only while a side refused a write)
refused writes per side: ``[attempts, next try or None once held]``, ``re`` (only while
a side gave a value that would not read) its read errors per side, until its next change.

Intents are journaled per push batch (``rid`` None) and leave record state alone: a record
stays dirty until its writes have outcomes, so a crash anywhere in between re-plans it and
the push (idempotent by record id) runs again.

:class:`RecordState` is the read-only view callers use; :class:`RecordReducer` changes the
JSON in place (the journal forgets its cache on rollback, so nothing half-done survives).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs
import orjson

from conflicts.register import (
    Clock,
    Register,
    as_register,
    merge_clock,
    register_dots,
    sibling_clock,
    write_clock,
    write_register,
)
from journal.clock import VectorClock
from journal.entry import Entry, Kind, fast_dumps, from_wire, same_wire, to_wire, utc_text
from journal.errors import PayloadError
from journal.payloads import (
    ABSENT,
    Applied,
    Cursor,
    DuplicateConflict,
    DuplicateResolution,
    Failure,
    IntegrationDeleted,
    Linked,
    Merged,
    Observed,
    RetryIntent,
    SettledIntent,
    Skipped,
    Tombstone,
    ValueConflict,
    ValueResolution,
    decode,
    expect,
    payload_of,
    variant,
)
from journal.protocols import View

ACTIVE, MERGED, SKIPPED, HELD = "active", "merged", "skipped", "held"
CLONED_NOTE = "duplicate: clone"  # the note of a record a person kept apart (clone)

Raw = dict[str, Any]

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME  # as fast_dumps
# orjson reads an integer past 64 bits as a float (and refuses to write one): a state holding
# one is written by the standard encoder with this mark after it, JSON whitespace orjson never
# writes, and read back by the standard parser, which keeps integers of any size exact.  The
# hot path (no such integer) stays one orjson call each way, with no scan of the text.
_WIDE = "\n"


def _encode(raw: Raw) -> str:
    try:
        return orjson.dumps(raw, option=_SORTED).decode()
    except orjson.JSONEncodeError:
        return fast_dumps(raw) + _WIDE


def _decode(text: str) -> Raw:
    if text.endswith(_WIDE):
        raw: Raw = json.loads(text, parse_float=Decimal)
        return raw
    raw = orjson.loads(text)
    return raw


# -- the view ------------------------------------------------------------------------------


@attrs.frozen
class Held:
    """What one side holds of a record: its id there, the clock it has seen, its values."""

    id: str | None = None
    clock: VectorClock = attrs.field(factory=VectorClock)
    values: dict[str, Any] = attrs.field(factory=dict)
    deleted: bool = False


def new_state(module: str, rid: str, origin: str) -> Raw:
    return {
        "m": module,
        "r": rid,
        "o": origin,
        "k": None,
        "f": {},
        "c": {},
        "s": {},
        "st": ACTIVE,
        "d": False,
        "e": {},
        "x": {},
        "n": None,
    }


class RecordState:
    """A read-only view of one record's stored state."""

    __slots__ = ("raw",)

    def __init__(self, raw: Raw) -> None:
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordState) and _encode(self.raw) == _encode(other.raw)

    def __repr__(self) -> str:
        return f"RecordState({self.raw!r})"

    module = property(lambda self: self.raw["m"])
    rid = property(lambda self: self.raw["r"])
    origin = property(lambda self: self.raw["o"])
    key = property(lambda self: self.raw["k"])
    near_key = property(lambda self: self.raw.get("nk"))
    status = property(lambda self: self.raw["st"])
    dirty = property(lambda self: self.raw["d"])

    @property
    def errors(self) -> dict[str, str]:
        """The last error per side: a write it refused, else a value of its that would not
        read (until its next change)."""
        return {**self.raw.get("re", {}), **self.raw["e"]}

    conflicts = property(lambda self: self.raw["x"])
    note = property(lambda self: self.raw["n"])

    @property
    def retries(self) -> dict[str, tuple[int, str | None]]:
        """Refused writes per side: ``(attempts, next try as UTC ISO text)``; None: held
        after :data:`RETRY_LIMIT` attempts until ``replicator retry`` or an edit."""
        return {side: (n, when) for side, (n, when) in self.raw.get("rt", {}).items()}

    def waits(self, now: str) -> bool:
        """Whether a refused write of this record waits for its next try (``now``: UTC ISO)."""
        return any(when is not None and when > now for _, when in self.raw.get("rt", {}).values())

    @property
    def attention(self) -> bool:
        raw = self.raw
        return raw["st"] == ACTIVE and bool(raw["d"])

    @property
    def cloned_by_person(self) -> bool:
        """A person settled this record's duplicate group with ``clone`` (kept apart)."""
        note = self.raw["n"]
        return isinstance(note, str) and note.startswith(CLONED_NOTE)

    @property
    def clock(self) -> VectorClock:
        return VectorClock(self.raw["c"])

    @property
    def fields(self) -> dict[str, Register]:
        return {name: as_register(reg) for name, reg in self.raw["f"].items()}

    def siblings(self, field: str) -> list[list[Any]]:
        """The siblings of ``field``'s register as stored, ``[side, counter, wire value, at
        as UTC ISO text]`` in dot order; none for a field the record has no value of."""
        reg = self.raw["f"].get(field)
        return list(reg[0]) if reg is not None else []

    @property
    def sides(self) -> dict[str, Held]:
        return {
            side: Held(
                h["id"], VectorClock(h["c"]), {k: from_wire(v) for k, v in h["v"].items()}, h["del"]
            )
            for side, h in self.raw["s"].items()
        }

    def held(self, side: str) -> Raw | None:
        """What ``side`` holds, as stored (wire values, clock dict)."""
        held: Raw | None = self.raw["s"].get(side)
        return held

    def linked(self, side: str) -> bool:
        held = self.raw["s"].get(side)
        return held is not None and held["id"] is not None

    @property
    def linked_sides(self) -> tuple[str, ...]:
        return tuple(sorted(s for s, h in self.raw["s"].items() if h["id"] is not None))

    def index_key(self) -> str | None:
        """The match key is indexed only while the record is on one side alone."""
        raw = self.raw
        if raw["st"] == ACTIVE and raw["k"] is not None and len(self.linked_sides) == 1:
            key: str = raw["k"]
            return key
        return None

    def index_near(self) -> str | None:
        """The near key of an active record (suggestions of near matches).  Unlike
        :meth:`index_key`, a record on both sides keeps it: its exact key still tells
        whether a record on one side has an exact duplicate (cloned already, say) and so
        is no near match, whatever order the two were settled in."""
        raw = self.raw
        near = raw.get("nk")
        if near is not None and raw["st"] == ACTIVE and self.linked_sides:
            key: str = near
            return key
        return None

    # -- reads for the engine and the command line: the stored keys stay in this module --

    def held_wire(self, side: str) -> HeldWire | None:
        """What ``side`` holds, as stored (wire values, clock dict), without copying."""
        held = self.raw["s"].get(side)
        return HeldWire(held) if held is not None else None

    def held_wires(self) -> dict[str, HeldWire]:
        """What every side the record was seen on holds, by side."""
        return {side: HeldWire(held) for side, held in self.raw["s"].items()}

    def counter(self, side: str) -> int:
        """The last counter of ``side`` in the record's clock (0: none yet)."""
        counter: int = self.raw["c"].get(side, 0)
        return counter

    def write_error(self, side: str) -> str | None:
        """The last write ``side`` refused, or an error of its values (not a read error)."""
        error: str | None = self.raw["e"].get(side)
        return error

    def wire_values(self, field: str) -> list[tuple[str, Any]]:
        """``(side, wire value)`` of each sibling of ``field``'s register, in order."""
        return [(s[0], s[2]) for s in self.siblings(field)]


class HeldWire:
    """What one side holds of a record, as stored: a read-only view whose dicts are the
    state's own (read them, never change them)."""

    __slots__ = ("_held",)

    def __init__(self, held: Raw) -> None:
        self._held = held

    @property
    def id(self) -> str | None:
        """The record's id on the side (None: not created there yet)."""
        side_id: str | None = self._held["id"]
        return side_id

    @property
    def deleted(self) -> bool:
        return bool(self._held["del"])

    @property
    def wire(self) -> dict[str, Any]:
        """The values the side holds, in wire form."""
        values: dict[str, Any] = self._held["v"]
        return values

    @property
    def clock(self) -> Clock:
        """The clock of what the side has seen."""
        clock: Clock = self._held["c"]
        return clock

    @property
    def renamed(self) -> bool:
        """Whether the side holds a clone under another name (see :func:`_unalias`)."""
        return "a" in self._held


# -- retries of refused writes --------------------------------------------------------------

RETRY_LIMIT = 6  # attempts at a refused write before the record is held for a person
RETRY_FIRST = dt.timedelta(minutes=1)  # then 4x longer after each attempt, at most a day
RETRY_MAX = dt.timedelta(days=1)


def retry_delay(attempt: int) -> dt.timedelta:
    """How long after its ``attempt``-th refusal a write is tried again (1, 4, 16 minutes...)."""
    return min(RETRY_FIRST * 4 ** (attempt - 1), RETRY_MAX)


def _retry_due(raw: Raw) -> bool:
    """Whether some side's refused write is still to be retried (not held)."""
    return any(when is not None for _, when in raw.get("rt", {}).values())


def _forget_retry(raw: Raw, side: str) -> None:
    retries = raw.get("rt")
    if retries is not None:
        retries.pop(side, None)
        if not retries:
            del raw["rt"]


# -- the reducer ---------------------------------------------------------------------------


def _observe(
    raw: Raw, side: str, entry: Entry, payload: Observed | Linked, side_id: str | None
) -> None:
    """Fold the fields of an observation (or a linked duplicate) into the registers."""
    assert entry.dot is not None
    dot_side, counter = entry.dot.side, entry.dot.counter
    context = entry.context.as_dict() if entry.context is not None else {}
    seen = write_clock(dot_side, counter, context)  # one clock for all the write's fields
    modified = payload.modified  # the side's own time, as UTC ISO text
    if isinstance(modified, str):
        at = modified
    else:
        at = utc_text(modified if isinstance(modified, dt.datetime) else entry.at)
    # linked duplicates: values that fill a gap
    fill = payload.fill if isinstance(payload, Linked) and payload.fill is not ABSENT else ()
    # fields the side never held (mapped since), read empty: the side holds no value, so
    # they are no sibling to compete with another side's value, which fills the gap
    absent = payload.absent if isinstance(payload, Observed) else ()
    fields = raw["f"]
    sides = raw["s"]
    held = sides.get(side)
    if held is None:
        held = sides[side] = {"id": None, "c": {}, "v": {}, "del": False}
    values = held["v"]
    for name, value in entry.fields.items():
        wire = to_wire(value)
        if wire is None and name in absent:
            values[name] = None
            continue
        reg = fields.get(name)
        if reg is not None and name in fill:
            # a value filling a gap replaces all the field has seen (the register's clock)
            fields[name] = write_register(
                reg, dot_side, counter, wire, at, merge_clock(dict(seen), reg[1])
            )
        else:
            fields[name] = write_register(reg, dot_side, counter, wire, at, seen)
        values[name] = wire
    if side_id is not None:
        held["id"] = side_id
    merge_clock(held["c"], seen)
    if counter > raw["c"].get(dot_side, 0):
        raw["c"][dot_side] = counter


def _unalias(held: Raw, fields: Any) -> None:
    """A write or an edit of a renamed field on the side ends its other name there."""
    aliases = held.get("a")
    if aliases:
        for name in fields:
            aliases.pop(name, None)
        if not aliases:
            del held["a"]


def _supersede(view: View, raw: Raw, entry: Entry) -> None:
    """Conflicts whose siblings a later write replaced are settled by that write."""
    if not raw["x"]:
        return
    for name in list(raw["x"]):
        info = raw["x"][name]
        reg = raw["f"].get(name)
        if (register_dots(reg) if reg is not None else []) == info["dots"]:
            continue
        del raw["x"][name]
        if info.get("open"):
            row = view.conflict(info["id"])
            if row is not None and row["status"] == "open":
                data = {**row["data"], "settled_by": {"seq": entry.seq, "kind": str(entry.kind)}}
                view.put_conflict(
                    row["id"], row["module"], row["rid"], row["field"], "resolved", data
                )


class RecordReducer:
    """Folds every kind of entry into records, links, cursors and conflicts."""

    # The format of the state it writes (a cache: a journal whose stored states were
    # written at another version rebuilds them by replay).  1: a field's register was its
    # siblings alone; 2: each field's register keeps its own clock (``f`` above).
    version: int = 2

    def encode(self, state: RecordState) -> tuple[str, str | None, bool, str | None]:
        return _encode(state.raw), state.index_key(), state.attention, state.index_near()

    def decode(self, text: str) -> RecordState:
        return RecordState(_decode(text))

    def apply(self, view: View, entry: Entry) -> None:
        kind = entry.kind
        if kind is Kind.CONFIG:
            if variant(kind, entry.meta) is IntegrationDeleted:
                # the integration was deleted: each module it names starts afresh (entries stay)
                for dropped in expect(entry, IntegrationDeleted).modules:
                    view.drop_module(dropped)
            return
        payload = payload_of(entry)
        if isinstance(payload, Cursor):
            view.set_cursor(entry.side or "", entry.module, payload.cursor)
            return
        if isinstance(payload, RetryIntent):
            # a person asked for records held after their retries (or waiting) to go now
            for rid in payload.retry:
                again = view.record(entry.module, rid)
                if again is not None:
                    again.raw.pop("rt", None)
                    again.raw["d"] = True
                    view.put_record(entry.module, rid, again)
            return
        if isinstance(payload, SettledIntent):
            for rid in payload.settled:
                settled = view.record(entry.module, rid)
                if settled is not None:
                    settled.raw["d"] = False
                    view.put_record(entry.module, rid, settled)
            return
        if entry.rid is None:
            return
        module, rid = entry.module, entry.rid
        state: RecordState | None = view.record(module, rid)
        if state is None:
            state = RecordState(new_state(module, rid, entry.side or ""))
        raw = state.raw
        side = entry.side or ""
        if isinstance(payload, Observed):
            raw.pop("rt", None)  # a new change is worth a new round of attempts
            unread = raw.get("re")
            if unread is not None and unread.pop(side, None) is not None and not unread:
                del raw["re"]  # the side's values read again: its read errors are past
            new_link = not state.linked(side)
            _observe(raw, side, entry, payload, payload.id)
            _unalias(raw["s"][side], entry.fields)  # the side's own edit of a renamed field
            raw["d"] = True
            if payload.key is not ABSENT:
                raw["k"] = payload.key
                # a state without a near key stays byte for byte what it was before near keys
                if payload.near is not None and not raw.get("na"):
                    raw["nk"] = payload.near
                else:
                    raw.pop("nk", None)
            if new_link and payload.id is not None:
                view.link(module, side, str(payload.id), rid, "active")
            _supersede(view, raw, entry)
        elif isinstance(payload, Tombstone):
            held = raw["s"].get(side)
            if held is None:
                held = raw["s"][side] = {"id": payload.id, "c": {}, "v": {}, "del": False}
            held["del"] = True
            if held["id"] is not None:
                view.link(module, side, str(held["id"]), rid, "deleted")
        elif isinstance(payload, Applied):
            held = raw["s"].get(side)
            if held is None:
                held = raw["s"][side] = {"id": None, "c": {}, "v": {}, "del": False}
            side_id = str(payload.id)
            if held["id"] != side_id:
                view.link(module, side, side_id, rid, "active")
            held["id"] = side_id
            if entry.context is not None:
                merge_clock(held["c"], entry.context.as_dict())
            values = held["v"]
            for name, value in entry.fields.items():
                values[name] = to_wire(value)
            _unalias(held, entry.fields)
            for renamed in payload.renamed:  # a clone sent under another name
                held.setdefault("a", {})[renamed["field"]] = [
                    to_wire(renamed["from"]),
                    to_wire(renamed["to"]),
                ]
            raw["e"].pop(side, None)
            _forget_retry(raw, side)
            if payload.done:
                raw["d"] = _retry_due(raw)  # another side's refused write waits its retry
        elif isinstance(payload, Failure) and payload.heals:
            # a value the side gave that would not read: until the side's next change
            raw.setdefault("re", {})[side] = str(payload.reason)
        elif isinstance(payload, Failure):
            raw["e"][side] = str(payload.reason)
            attempt = payload.attempt
            if attempt is not None:  # a refused write: retried with backoff, then held
                retries = raw.setdefault("rt", {})
                if attempt >= RETRY_LIMIT:
                    retries[side] = [attempt, None]
                    if payload.done:
                        raw["d"] = _retry_due(raw)
                else:
                    retries[side] = [attempt, utc_text(entry.at + retry_delay(attempt))]
            elif payload.done and not payload.retry:
                raw["d"] = False
        elif isinstance(payload, Linked):
            side_id = str(payload.id)
            if entry.dot is not None:  # policy link: the existing values merge as concurrent
                _observe(raw, side, entry, payload, side_id)
                # fields the side holds empty merge as no value, but it does hold them empty:
                # a re-read before our write reaches it is no change of theirs
                for name in payload.empty:
                    raw["s"][side]["v"].setdefault(name, None)
                _supersede(view, raw, entry)
            else:  # policy overwrite: the existing side holds its values, the incoming ones win
                raw["s"][side] = {
                    "id": side_id,
                    "c": {},
                    "v": {k: to_wire(v) for k, v in entry.fields.items()},
                    "del": False,
                }
            raw["d"] = True
            view.link(module, side, side_id, rid, "active")
        elif isinstance(payload, Merged):
            raw.update(st=MERGED, d=False, n=f"merged into {payload.into} ({payload.policy})")
        elif isinstance(payload, Skipped):
            raw.update(st=SKIPPED, d=False, n=payload.reason)
        elif isinstance(payload, (ValueConflict, DuplicateConflict)):
            self._conflict(view, raw, entry, payload)
        elif isinstance(payload, (ValueResolution, DuplicateResolution)):
            self._resolution(view, raw, entry, payload)
        view.put_record(module, rid, state)

    @staticmethod
    def _conflict(
        view: View, raw: Raw, entry: Entry, payload: ValueConflict | DuplicateConflict
    ) -> None:
        name, status = payload.field, payload.status
        # the conflict's row holds the entry's meta as it is stored
        view.put_conflict(entry.seq, entry.module, raw["r"], name, status, entry.meta)
        if isinstance(payload, DuplicateConflict):
            raw.update(st=HELD, d=False, n=payload.reason)
            return
        raw["x"][name] = {"id": entry.seq, "dots": list(payload.dots), "open": status == "open"}
        winner = payload.winner
        reg = raw["f"].get(name)
        if winner is not None and reg is not None:
            # a side already holding the winner has now seen every sibling
            wire = to_wire(winner["value"])
            for held in raw["s"].values():
                if name in held["v"] and same_wire(held["v"][name], wire):
                    merge_clock(held["c"], sibling_clock(reg))

    @staticmethod
    def _resolution(
        view: View, raw: Raw, entry: Entry, payload: ValueResolution | DuplicateResolution
    ) -> None:
        cid = payload.conflict
        row = view.conflict(cid)
        if row is not None:
            data = {**row["data"], "resolution": entry.meta}
            view.put_conflict(cid, row["module"], row["rid"], row["field"], "resolved", data)
        if isinstance(payload, DuplicateResolution):  # a duplicate group settled by a person
            decision = payload.decision
            status = SKIPPED if decision == "skip" else ACTIVE
            paired = f" with {payload.with_}" if decision == "link" and payload.with_ else ""
            raw.update(
                st=status,
                d=status == ACTIVE,
                k=None if decision == "clone" and not payload.suggestion else raw["k"],
                n=f"duplicate: {decision}{paired} (by a person)",
            )
            if decision == "clone" and ("nk" in raw or payload.suggestion):
                # kept apart: never suggested again, whatever its name becomes
                raw.pop("nk", None)
                raw["na"] = True
        elif entry.dot is not None:
            at = utc_text(entry.at)
            context = entry.context.as_dict() if entry.context is not None else {}
            side, counter = entry.dot.side, entry.dot.counter
            seen = write_clock(side, counter, context)
            for name, value in entry.fields.items():
                raw["f"][name] = write_register(
                    raw["f"].get(name), side, counter, to_wire(value), at, seen
                )
            if entry.dot.counter > raw["c"].get(entry.dot.side, 0):
                raw["c"][entry.dot.side] = entry.dot.counter
            raw["d"] = True
            _supersede(view, raw, entry)


# -- a conflict's row ----------------------------------------------------------------------


@attrs.frozen
class ConflictData:
    """A conflict row's data, typed: the conflict entry's payload (the row holds its meta)
    and what the reducer added since: a person's resolution, or the later entry that
    settled it (``{"seq", "kind"}``)."""

    conflict: ValueConflict | DuplicateConflict
    resolution: ValueResolution | DuplicateResolution | None = None
    settled_by: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> ConflictData:
        conflict = decode(Kind.CONFLICT, data)
        if not isinstance(conflict, (ValueConflict, DuplicateConflict)):  # pragma: no cover
            raise PayloadError(f"a conflict row's data is a {type(conflict).__name__}")
        extra = dict(conflict.extra)
        resolved, settled_by = extra.pop("resolution", None), extra.pop("settled_by", None)
        resolution = decode(Kind.RESOLUTION, resolved) if resolved is not None else None
        if resolution is not None and not isinstance(
            resolution, (ValueResolution, DuplicateResolution)
        ):  # pragma: no cover
            raise PayloadError(f"a conflict row's resolution is a {type(resolution).__name__}")
        return cls(attrs.evolve(conflict, extra=extra), resolution, settled_by)


__all__ = [
    "ACTIVE",
    "HELD",
    "MERGED",
    "RETRY_LIMIT",
    "SKIPPED",
    "ConflictData",
    "Held",
    "HeldWire",
    "RecordReducer",
    "RecordState",
    "new_state",
    "retry_delay",
]
