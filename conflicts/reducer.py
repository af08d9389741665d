"""The reducer: the only code that folds journal entries into records' state.

It runs live (each append) and in replay alike, so replay equals the live state by
construction; the property suite checks it.  It changes the JSON of :mod:`conflicts.state`
in place (the journal forgets its cache on rollback, so nothing half-done survives), and
keeps a refused write's retries (attempts with backoff, then held for a person).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from conflicts.register import (
    merge_clock,
    register_dots,
    sibling_clock,
    write_clock,
    write_register,
)
from conflicts.state import (
    ACTIVE,
    HELD,
    MERGED,
    SKIPPED,
    Raw,
    RecordState,
    decode_state,
    encode_state,
    new_state,
)
from journal.entry import Entry, Kind, same_wire, to_wire, utc_text
from journal.payloads import (
    ABSENT,
    Applied,
    Cursor,
    DealAssociation,
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
    Triggered,
    TriggerSkipped,
    Unlinked,
    ValueConflict,
    ValueResolution,
    expect,
    payload_of,
    variant,
)
from journal.protocols import View

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


def _unalias(held: Raw, fields: dict[str, Any]) -> None:
    """A write or an edit of a renamed field on the side ends its other name there, unless
    it holds that other name still: an update re-sent whole after a crash (``plan``'s
    ``in_flight``) writes the clone's name again, which keeps it a clone's name."""
    aliases = held.get("a")
    if aliases:
        for name, value in fields.items():
            alias = aliases.get(name)
            if alias is not None and not same_wire(to_wire(value), alias[1]):
                del aliases[name]
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
    # siblings alone; 2: each field's register keeps its own clock (``f`` above); 3: a
    # tombstone ends the side's refused-write retries (a state folded by 2 may keep them);
    # 4: an applied create clears the side's deleted flag and an applied entry with a dot
    # (an undo's restore) writes its registers (a state folded by 3 may keep a record
    # deleted on a side the sync made it again on).
    # 5: each record's status and marks are stored beside its state, counted without it.
    # 6: an active record's name (``labels``) is stored folded beside it, searched without it.
    # 7: the state is stored compact (:mod:`conflicts.state_codec`): a side's values and a
    # register's clock and time only where they say more than the field's one sibling.
    # 8: an active record's reference (``refs``: a document's party) is stored beside it.
    version: int = 8
    # every field value goes through to_wire: a replay may hand the fields in wire form
    wire_fields = True

    def __init__(
        self, labels: Mapping[str, str] | None = None, refs: Mapping[str, str] | None = None
    ) -> None:
        # module -> the field that names its records, and the field that points at the
        # record it belongs to (a document's party); the layer that knows the modules says
        # which (``replicator.sync.presentation.label_fields``, ``ref_fields``): a module
        # without one stores no label, or no reference
        self.labels = dict(labels or {})
        self.refs = dict(refs or {})

    @property
    def rule(self) -> str | None:
        """The settings this reducer folds with, as canonical text (None: none given, a
        reader's reducer): a journal whose state was folded under another rule, e.g.
        before the configuration named a module's records by another field, is rebuilt on
        open like one of another version (:meth:`journal.Journal.upgrade_state`)."""
        if not self.labels and not self.refs:
            return None
        return json.dumps(
            {"labels": self.labels, "refs": self.refs}, sort_keys=True, separators=(",", ":")
        )

    def encode(
        self, state: RecordState
    ) -> tuple[str, str | None, bool, str | None, str | None, str | None, str | None, str | None]:
        status = state.status
        module = state.module
        label = ref = None
        if status == ACTIVE:
            field = self.labels.get(module)
            label = state.label(field).casefold() if field is not None else None
            field = self.refs.get(module)
            ref = state.ref(field) if field is not None else None
        return (
            encode_state(state.raw),
            state.index_key(),
            state.attention,
            state.index_near(),
            status,
            state.marks(),
            label,
            ref,
        )

    def decode(self, text: str) -> RecordState:
        return RecordState(decode_state(text))

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
        if entry.rid is None or isinstance(payload, (TriggerSkipped, DealAssociation)):
            # a trigger that did nothing and a person's association are said in the
            # journal (``history``, ``journal log``); they change no record
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
            if payload.baseline:  # a deal as it was before its triggers were on
                base = raw.setdefault("b", {})
                for name, value in entry.fields.items():
                    base[name] = to_wire(value)
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
            # no write goes to a deleted row again, so a refusal of one (often because the
            # row was already gone, a pull later saw it) has nothing to retry: kept, it
            # would keep the record dirty after its other sides' writes (see _retry_due)
            _forget_retry(raw, side)
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
            if payload.create:  # a record made again where an undo deleted it (undo of undo)
                held["del"] = False
            if entry.context is not None:
                merge_clock(held["c"], entry.context.as_dict())
            values = held["v"]
            for name, value in entry.fields.items():
                values[name] = to_wire(value)
            if entry.dot is not None:
                # an undo's restore: the value it put back is the record's newest value
                # (a later sync does not write the undone value again), seen by the side
                _write_dotted(raw, entry)
                merge_clock(held["c"], {entry.dot.side: entry.dot.counter})
                _supersede(view, raw, entry)
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
        elif isinstance(payload, Unlinked):
            _unlink(view, raw, entry, payload)
        elif isinstance(payload, Merged):
            raw.update(st=MERGED, d=False, n=f"merged into {payload.into} ({payload.policy})")
        elif isinstance(payload, Skipped):
            raw.update(st=SKIPPED, d=False, n=payload.reason)
        elif isinstance(payload, (ValueConflict, DuplicateConflict)):
            self._conflict(view, raw, entry, payload)
        elif isinstance(payload, (ValueResolution, DuplicateResolution)):
            self._resolution(view, raw, entry, payload)
        elif isinstance(payload, Triggered):
            self._triggered(view, raw, entry, payload)
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
            _write_dotted(raw, entry)
            raw["d"] = True
            _supersede(view, raw, entry)

    @staticmethod
    def _triggered(view: View, raw: Raw, entry: Entry, payload: Triggered) -> None:
        """A deal trigger set a document's values: each a register write with the entry's
        dot (as a person's resolution value), and what it set, merged over its earlier
        entries, kept in ``tg`` for its next decision to compare with."""
        if entry.dot is not None:
            _write_dotted(raw, entry)
        tg = raw.get("tg")
        values = dict(tg["v"]) if tg is not None else {}
        for name, value in entry.fields.items():
            values[name] = to_wire(value)
        raw["tg"] = {
            "deal": payload.deal,
            "t": payload.trigger,
            "out": payload.outcome,
            "only": list(payload.only),
            "v": values,
        }
        raw.pop("rt", None)  # a new change is worth a new round of attempts
        raw["d"] = True
        _supersede(view, raw, entry)


def _unlink(view: View, raw: Raw, entry: Entry, payload: Unlinked) -> None:
    """An undo dropped the link of the entry's side: the side's id is record ``from_``
    again (active, as it was before the link merged it), and this record forgets the side:
    what it held there and every value the side brought to its registers."""
    module, side = entry.module, entry.side or ""
    raw["s"].pop(side, None)
    fields = raw["f"]
    for name in list(fields):
        siblings, clock = fields[name]
        kept = [s for s in siblings if s[0] != side]
        if not kept:
            del fields[name]
        elif len(kept) != len(siblings):
            fields[name] = [kept, clock]
    _forget_retry(raw, side)
    raw["e"].pop(side, None)
    raw["d"] = False
    _supersede(view, raw, entry)
    if payload.from_ != raw["r"]:
        was = view.record(module, payload.from_)
        if was is not None and was.raw["st"] == MERGED:
            was.raw.update(st=ACTIVE, d=False, n=f"unlinked by undo of run {payload.undoes}")
            view.put_record(module, payload.from_, was)
        view.link(module, side, str(payload.id), payload.from_, "active")


def _write_dotted(raw: Raw, entry: Entry) -> None:
    """Write an entry's fields (a person's resolution, a deal trigger's values) into their
    registers with the entry's dot and context."""
    assert entry.dot is not None
    at = utc_text(entry.at)
    context = entry.context.as_dict() if entry.context is not None else {}
    side, counter = entry.dot.side, entry.dot.counter
    seen = write_clock(side, counter, context)
    for name, value in entry.fields.items():
        raw["f"][name] = write_register(raw["f"].get(name), side, counter, to_wire(value), at, seen)
    if counter > raw["c"].get(side, 0):
        raw["c"][side] = counter


# -- a conflict's row ----------------------------------------------------------------------


__all__ = ["RETRY_LIMIT", "RecordReducer", "retry_delay"]
