"""The state of one record, as the reducer (:mod:`conflicts.reducer`) folds it from the
journal's entries.

A record's state is kept as plain JSON (it is read and written once per batch for every
record a sync touches, so it must be cheap to decode, change in place and encode; it is
stored in a compact form, :mod:`conflicts.state_codec`, that decodes to this JSON):

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
``n`` a note (why merged / skipped / held), ``tg`` (only on a document a deal trigger
made) ``{"deal": the deal's rid, "t": the trigger, "out": the deal's outcome, "only": the
sides it is written to, "v": {field: wire value the trigger last set}}``, ``b`` (only on a
deal read before its triggers were on) ``{field: wire value}`` as first read: the
baseline a trigger compares with (:attr:`RecordState.baseline`), ``rt`` (only
while a side refused a write) refused writes per side: ``[attempts, next try or None once
held]``, ``re`` (only while a side gave a value that would not read) its read errors per
side, until its next change.

Intents are journaled per push batch (``rid`` None) and leave record state alone: a record
stays dirty until its writes have outcomes, so a crash anywhere in between re-plans it and
the push (idempotent by record id) runs again.

:class:`RecordState` is the read-only view callers use; the reducer changes the JSON in
place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from conflicts.register import (
    Clock,
    Register,
    as_register,
)
from conflicts.state_codec import decode_state, encode_state
from journal.clock import VectorClock
from journal.entry import Kind, canonical_decimal, from_wire
from journal.errors import PayloadError
from journal.payloads import (
    DuplicateConflict,
    DuplicateResolution,
    ValueConflict,
    ValueResolution,
    decode,
)

ACTIVE, MERGED, SKIPPED, HELD = "active", "merged", "skipped", "held"
CLONED_NOTE = "duplicate: clone"  # the note of a record a person kept apart (clone)

Raw = dict[str, Any]

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


# the reference of a record whose field's siblings point at different records
MANY_REFS = "\x1f"


def plain(value: Any) -> Any:
    """A canonical value as JSON: Decimal as text, dates and times in ISO form."""
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class RecordState:
    """A read-only view of one record's stored state."""

    __slots__ = ("raw", "seqs")

    def __init__(self, raw: Raw, seqs: tuple[int, ...] | None = None) -> None:
        self.raw = raw
        # the seqs of the entries this state is the fold of, when the reducer may store it
        # by reference to them (see ``RecordReducer.references``); None: it may not (a
        # state read from its text, or touched by an entry of another shape or record)
        self.seqs = seqs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecordState) and encode_state(self.raw) == encode_state(other.raw)

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
        after :data:`RETRY_LIMIT` attempts until ``replicator retry`` or an edit.

        A side the record holds deleted has none: no write goes to it again (a delete is
        never undone), so its refusal (often of an update to the row it had just deleted,
        before a pull saw the delete) has nothing to retry and must not hold the record's
        writes to the other sides (a person's resolution among them) for its backoff."""
        retries = self.raw.get("rt")
        if not retries:
            return {}
        sides = self.raw["s"]
        return {
            side: (n, when)
            for side, (n, when) in retries.items()
            if side not in sides or not sides[side]["del"]
        }

    def waits(self, now: str) -> bool:
        """Whether a refused write of this record waits for its next try (``now``: UTC ISO)."""
        return any(when is not None and when > now for _, when in self.retries.values())

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
    def trigger(self) -> TriggerInfo | None:
        """What the deal trigger that made this document last set (None: no trigger made it)."""
        tg = self.raw.get("tg")
        if tg is None:
            return None
        return TriggerInfo(
            deal=tg["deal"],
            trigger=tg["t"],
            outcome=tg["out"],
            only=tuple(tg["only"]),
            values={k: from_wire(v) for k, v in tg["v"].items()},
        )

    @property
    def baseline(self) -> dict[str, Any] | None:
        """A deal's canonical values as read before its triggers were ever on (None: it
        was first read since, or this is no deal)."""
        base = self.raw.get("b")
        if base is None:
            return None
        return {k: from_wire(v) for k, v in base.items()}

    @property
    def only(self) -> tuple[str, ...] | None:
        """The sides this record is written to alone (a trigger-made document), or None."""
        tg = self.raw.get("tg")
        return tuple(tg["only"]) if tg is not None else None

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
        if raw["st"] == ACTIVE and raw["k"] is not None:
            linked = 0  # counted, not listed: asked of every state each time it is stored
            for held in raw["s"].values():
                if held["id"] is not None:
                    linked += 1
            if linked == 1:
                key: str = raw["k"]
                return key
        return None

    def marks(self) -> str | None:
        """What a person may need to see of this record, as words apart by spaces (None:
        nothing): ``errors`` (a side refused a write or a value would not read),
        ``retrying:SIDE`` (a refused write waits for its next try), ``held:SIDE`` (held
        after its retries) and ``renamed:SIDE`` (the side holds a clone under another
        name).  The journal counts records by them without decoding a state
        (``replicator status``, the console's overview)."""
        raw = self.raw
        if not (raw["e"] or raw.get("re") or raw.get("rt")) and not any(
            "a" in held for held in raw["s"].values()
        ):
            return None  # the usual state: asked each time it is stored
        words = {"errors"} if self.errors else set()
        for side, (_, when) in self.retries.items():
            words.add(f"{'retrying' if when is not None else 'held'}:{side}")
        words.update(f"renamed:{side}" for side, held in self.raw["s"].items() if "a" in held)
        return " ".join(sorted(words)) or None

    def indexed(self) -> tuple[str | None, bool, str | None, str, str | None]:
        """``(index_key(), attention, index_near(), status, marks())`` at once: what its
        row stores beside it, asked of every state each time it is stored (a first copy's
        every record twice), the sides counted once."""
        raw = self.raw
        status: str = raw["st"]
        active = status == ACTIVE
        renamed = False
        linked = 0
        for held in raw["s"].values():
            if held["id"] is not None:
                linked += 1
            if "a" in held:
                renamed = True
        key = raw["k"] if active and linked == 1 else None
        near = raw.get("nk") if active and linked else None
        marks = self.marks() if renamed or raw["e"] or raw.get("re") or raw.get("rt") else None
        return key, active and bool(raw["d"]), near, status, marks

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

    def ref(self, field: str) -> str | None:
        """The record ``field`` points at, as an index holds it: its one value when that
        is text (a rid), :data:`MANY_REFS` when its siblings differ (a search reads the
        state), None for none."""
        values: list[Any] = []
        for _, value in self.wire_values(field):
            if value not in values:
                values.append(value)
        if len(values) > 1:
            return MANY_REFS
        return values[0] if values and isinstance(values[0], str) else None

    def label(self, field: str) -> str:
        """``field``'s value as a person reads it: the text of each distinct sibling (in
        dot order) joined with `` / ``, "" for none -- the name a list of records shows
        and a search matches (stored folded beside the state: :class:`RecordReducer`)."""
        reg = self.raw["f"].get(field)
        if reg is not None and len(reg[0]) == 1 and type(reg[0][0][2]) is str:
            text: str = reg[0][0][2]  # one text is itself (asked each time a state is stored)
            return text
        values: list[Any] = []
        for _, value in self.wire_values(field):
            if value not in values:
                values.append(value)
        if len(values) == 1:
            value = from_wire(values[0])
            return "" if value is None else str(plain(value))
        return " / ".join(str(plain(from_wire(v))) for v in values)


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


@attrs.frozen
class TriggerInfo:
    """A trigger-made document's trigger: the deal (its rid), the trigger (``quote`` |
    ``invoice``), the deal's last outcome, the sides the document is written to alone, and
    the canonical values the trigger last set (merged over its entries): what the next
    decision compares with, never what a person set since."""

    deal: str
    trigger: str
    outcome: str
    only: tuple[str, ...]
    values: dict[str, Any]


# -- retries of refused writes --------------------------------------------------------------


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
    "SKIPPED",
    "ConflictData",
    "Held",
    "HeldWire",
    "MANY_REFS",
    "RecordState",
    "TriggerInfo",
    "decode_state",
    "encode_state",
    "new_state",
    "plain",
]
