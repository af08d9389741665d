"""The reducer: the only code that folds journal entries into records' state.

It runs live (each append) and in replay alike, so replay equals the live state by
construction; the property suite checks it.  It changes the JSON of :mod:`conflicts.state`
in place (the journal forgets its cache on rollback, so nothing half-done survives), and
keeps a refused write's retries (attempts with backoff, then held for a person).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import orjson

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
from journal.entry import Entry, EntryDecoder, Kind, same_wire, to_wire, utc_text
from journal.errors import EncodingError
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
# how many entries (observations and applied writes of its own) a record's state may be the
# fold of and be stored by reference to them, not as its text (0: never; see
# RecordReducer.references)
REFERENCE_LIMIT = 4
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


def _referred(seqs: tuple[int, ...] | None, seq: int, limit: int) -> tuple[int, ...] | None:
    """The seqs a state is the fold of once the entry ``seq`` (an observation or an
    applied write of its record) is folded into it, ``seqs`` those it was the fold of
    (``()``: a new state; None: one stored as its text, which it stays): None past
    ``limit`` entries."""
    if seqs is None or len(seqs) >= limit:
        return None
    return (*seqs, seq)


def _side_ids(rows: Sequence[Sequence[Any]], ids: dict[str, str]) -> bool:
    """The id each side holds after ``rows`` (a record's observations and applied writes
    with compact metas, in seq order), into ``ids``, read from their metas alone as
    :meth:`RecordReducer._synced` reads them; False for a row of another shape."""
    module, rid = rows[0][2], rows[0][3]
    for row in rows:
        kind, side, meta = row[5], row[4], row[9]
        if (
            (kind != "observed" and kind != "applied")
            or row[2] != module
            or row[3] != rid
            or type(side) is not str
            or not side
            or meta[:1] != "["
        ):
            return False
        try:
            info = _loads(meta)
        except orjson.JSONDecodeError:
            return False
        if type(info) is not list or not info:
            return False
        first = info[0]
        if type(first) is str:
            ids[side] = first
        elif first == 0 and type(first) is int and rid.startswith(side + ":"):
            ids[side] = rid[len(side) + 1 :]
        else:
            return False
    return True


class _Scratch:
    """The :class:`~journal.protocols.View` a state stored by reference is folded again
    in (:meth:`RecordReducer.unfold`): the one record, nothing else kept (the links and
    conflicts its entries made are in their tables already)."""

    __slots__ = ("names", "state")

    def __init__(self, names: Any = None) -> None:
        self.state: RecordState | None = None
        self.names = names  # the journal's field names, for compact fields (journal.names)

    def record(self, module: str, rid: str) -> RecordState | None:
        return self.state

    def put_record(self, module: str, rid: str, state: RecordState) -> None:
        self.state = state

    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None:
        pass

    def cursor(self, side: str, module: str) -> Any | None:
        return None

    def set_cursor(self, side: str, module: str, value: Any) -> None:
        pass

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        return None

    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None:
        pass

    def drop_module(self, module: str) -> None:
        pass


# the slot a state keeps its JSON in (a sketch: once folded)
_RAW: Any = RecordState.__dict__["raw"]


class _Sketch(RecordState):
    """The state of a record stored by reference (:meth:`RecordReducer.references`) as
    the columns its row stores need it, its entries not folded: the id each side holds,
    its match and near keys, whether it needs attention, and the registers of its label
    and reference fields (what :meth:`RecordReducer.referred` reads of its rows).  An
    observation or an applied write of the shapes a sync makes extends it
    (:meth:`RecordReducer.apply`); anything that reads its JSON (``raw``) folds its
    entries then, once (``load``: the view's, by their seqs), and from then on it is a
    state like any other.  A law holds a sketch's columns to those of the fold.

    A new record's first observation is kept as a sketch too, in a module without a label
    or reference field (:meth:`RecordReducer.apply`):
    its entries are then kept (``pending``), folded (``load(module, rid, pending)``) when its
    JSON is asked for, with no read of their rows (a batch's appends that no one reads
    back, most of a first copy's pulls before their plan, fold nothing at all)."""

    __slots__ = (
        "dirty_",
        "folded",
        "ids",
        "key_",
        "lazy",
        "load",
        "module_",
        "near_",
        "pending",
        "regs",
        "rid_",
    )

    def __init__(
        self,
        module: str,
        rid: str,
        load: Callable[[str, str, Any], RecordState | None],
        pending: list[Entry] | None = None,
    ) -> None:
        self.module_, self.rid_, self.load = module, rid, load
        self.lazy = True  # no JSON yet
        self.folded: tuple[int, ...] = ()  # the seqs of the entries it is the fold of
        self.pending = pending  # those entries, when it keeps them (None: read by their seqs)
        self.seqs = ()
        self.ids: dict[str, str] = {}
        self.key_: Any = None
        self.near_: Any = None
        self.dirty_ = False
        self.regs: dict[str, Any] = {}  # the label and reference fields' registers

    @property  # type: ignore[override]
    def raw(self) -> Raw:
        if self.lazy:
            pending = self.pending
            state = self.load(self.module_, self.rid_, self.folded if pending is None else pending)
            if state is None:
                raise LookupError(f"no state folded for {self.module_}/{self.rid_}")
            self.fill(state)
        return _RAW.__get__(self)  # type: ignore[no-any-return]

    @raw.setter
    def raw(self, value: Raw) -> None:
        _RAW.__set__(self, value)
        self.lazy = False
        self.pending = None

    @property
    def sketched(self) -> tuple[int, ...] | None:
        """The seqs whose rows to read and fold for its JSON while it has none (None: it
        has it, or holds those entries and folds them itself when asked)."""
        return self.folded if self.lazy and self.pending is None else None

    def fill(self, state: RecordState) -> None:
        """Its JSON, folded by the caller from the entries of :attr:`sketched`."""
        if self.lazy:
            self.raw = state.raw

    def observe(
        self,
        side: str,
        side_id: str,
        key: Any,
        near: Any,
        values: Mapping[str, Any],
        dot_side: str,
        counter: int,
        clock: Mapping[str, int] | None,
    ) -> bool:
        """Extend it with an observation (``values``: the wanted fields' wire values);
        whether the side's id is linked by it."""
        linked = self.ids.get(side) is None
        self.ids[side] = side_id
        self.dirty_ = True
        if key is not ABSENT:
            self.key_, self.near_ = key, near
        if values:
            seen = write_clock(dot_side, counter, dict(clock) if clock else {})
            regs = self.regs
            for name, wire in values.items():
                regs[name] = write_register(regs.get(name), dot_side, counter, wire, "", seen)
        return linked

    def applied(self, side: str, side_id: str, done: bool) -> bool:
        """Extend it with an applied write; whether the side's id is linked by it."""
        linked = self.ids.get(side) != side_id
        self.ids[side] = side_id
        if done:  # no side's refused write waits (none is folded)
            self.dirty_ = False
        return linked


# -- the reducer ---------------------------------------------------------------------------


def _observe(
    raw: Raw, side: str, entry: Entry, payload: Observed | Linked, side_id: str | None
) -> None:
    """Fold the fields of an observation (or a linked duplicate) into the registers."""
    assert entry.dot is not None
    context = entry.context.as_dict() if entry.context is not None else {}
    # linked duplicates: values that fill a gap
    fill = payload.fill if isinstance(payload, Linked) and payload.fill is not ABSENT else ()
    # fields the side never held (mapped since), read empty: the side holds no value, so
    # they are no sibling to compete with another side's value, which fills the gap
    absent = payload.absent if isinstance(payload, Observed) else ()
    _observe_values(
        raw,
        side,
        entry.dot.side,
        entry.dot.counter,
        context,
        _side_time(payload.modified, entry.at),
        entry.fields,
        side_id,
        fill,
        absent,
    )


def _side_time(modified: Any, at: dt.datetime) -> str:
    """The side's own time of a change, as UTC ISO text (the entry's time if it gave none)."""
    if isinstance(modified, str):
        return modified
    return utc_text(modified if isinstance(modified, dt.datetime) else at)


_PLAIN = frozenset({str, int, bool, type(None)})  # wire values that are their own wire form


def _wire(value: Any) -> Any:
    """``to_wire(value)``, a value in wire form already told at once: a plain value, and
    a tagged one (``{"$decimal": "1.5"}``, what a plan sends back as an applied write's
    fields; any dict of one text is its own wire form)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict and len(value) == 1:
        for inner in value.values():
            if type(inner) is str:
                return value
    return to_wire(value)


def _observe_values(
    raw: Raw,
    side: str,
    dot_side: str,
    counter: int,
    context: dict[str, int],
    at: str,
    fields: Mapping[str, Any],
    side_id: Any,
    fill: Any = (),
    absent: Any = (),
    wired: bool = False,
) -> None:
    """:func:`_observe` on plain values (the dot, the context as a dict, the side's time as
    text): what the fold of a stored row (:meth:`RecordReducer.apply_row`) calls too
    (``wired``: the values are in wire form already, read from a row's JSON)."""
    seen = write_clock(dot_side, counter, context)  # one clock for all the write's fields
    registers = raw["f"]
    sides = raw["s"]
    held = sides.get(side)
    if held is None:
        held = sides[side] = {"id": None, "c": {}, "v": {}, "del": False}
    values = held["v"]
    # a register whose clock the write had seen whole: the usual edit, told once a clock
    # (the registers one write made share its clock)
    covered: list[Any] = []
    for name, value in fields.items():
        wire = value if wired else _wire(value)
        if wire is None and name in absent:
            values[name] = None
            continue
        reg = registers.get(name)
        if reg is None:
            registers[name] = [[[dot_side, counter, wire, at]], seen]
        elif name in fill:
            # a value filling a gap replaces all the field has seen (the register's clock)
            registers[name] = write_register(
                reg, dot_side, counter, wire, at, merge_clock(dict(seen), reg[1])
            )
        else:
            # write_register's usual case spelled out: one sibling, which the write had
            # seen, in a register whose clock it had seen whole (the same result)
            siblings, clock = reg
            one = siblings[0] if len(siblings) == 1 else None
            if (
                one is not None
                and (one[0] != dot_side or one[1] != counter)
                and one[1] <= seen.get(one[0], 0)
                and (clock is covered or _covers(seen, clock))
            ):
                covered = clock
                if counter > clock.get(dot_side, 0):
                    registers[name] = [[[dot_side, counter, wire, at]], seen]
                else:  # seen already: superseded by a write delivered before it
                    registers[name] = [[], seen]
            else:
                registers[name] = write_register(reg, dot_side, counter, wire, at, seen)
        values[name] = wire
    if side_id is not None:
        held["id"] = side_id
    merge_clock(held["c"], seen)
    if counter > raw["c"].get(dot_side, 0):
        raw["c"][dot_side] = counter


def _covers(seen: dict[str, int], clock: dict[str, int]) -> bool:
    """Whether ``seen`` covers every dot of ``clock``."""
    return all(n <= seen.get(name, 0) for name, n in clock.items())


def _unalias(held: Raw, fields: Mapping[str, Any]) -> None:
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


def _supersede(view: View, raw: Raw, seq: int, kind: str) -> None:
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
                data = {**row["data"], "settled_by": {"seq": seq, "kind": str(kind)}}
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
    # 9: the state is stored more compact still: times as integers, a side's id left out
    # where it is the rid's tail, the match key named by its field, the registers whose
    # clock is the record's grouped by their write.
    # 10: ``records`` is keyed WITHOUT ROWID and ``links`` has no index by rid: a rebuild
    # makes an older journal's tables in that layout.
    # 11: a register's time is stored as an integer of its digits (10: of microseconds
    # since the epoch, slower to make and read).
    # 12: a record's state that is the fold of at most REFERENCE_LIMIT observations and
    # applied writes of its own is stored by reference to them (their seqs), not as text.
    version: int = 12
    # every field value goes through to_wire: a replay may hand the fields in wire form
    wire_fields = True
    # how many entries a state stored by reference may be the fold of (0: none is; see
    # :meth:`references`)
    reference_limit: int = REFERENCE_LIMIT

    def __init__(
        self, labels: Mapping[str, str] | None = None, refs: Mapping[str, str] | None = None
    ) -> None:
        # module -> the field that names its records, and the field that points at the
        # record it belongs to (a document's party); the layer that knows the modules says
        # which (``replicator.sync.presentation.label_fields``, ``ref_fields``): a module
        # without one stores no label, or no reference
        self.labels = dict(labels or {})
        self.refs = dict(refs or {})
        self._decoder = EntryDecoder(wire_fields=True)  # rows apply_row hands to apply
        self._at: tuple[str, str] = ("", "")  # the last entry time read, and as utc_text
        # apply_row's reads: the last fields text and its values (floatless), and the
        # contexts read (plain clocks) by their text
        self._fields: tuple[str, dict[str, Any]] = ("", {})
        self._clocks: dict[str, dict[str, int]] = {}
        # referred's reads: by (module, mask) the names a compact fields text holds and
        # where each one's value is; each module's field names in their order
        self._picks: dict[tuple[str, int], tuple[int, dict[str, int]]] = {}
        self._orders: dict[str, list[str]] = {}
        # the last compact observation folded from its row (seq, module, rid, values, the
        # names they were read with): what an applied write after it refers to
        self._seen: tuple[int, str, str | None, dict[str, Any], Any] = (0, "", None, {}, None)
        # a record's first observation built at once (False: by the general fold, which
        # the law comparing the two sets)
        self.direct = True
        # a new record's first observation kept as a sketch holding it, in a module
        # without a label or reference field (whose sketch would fold those fields'
        # registers, then the whole state again when asked: a first copy's plan asks for
        # every one); False: folded at once, which the law comparing the two sets
        self.lazy_first = True
        self._unfolder: RecordReducer | None = None  # folds a state stored by reference

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
        return (encode_state(state.raw), *self.columns(state))

    def columns(
        self, state: RecordState
    ) -> tuple[str | None, bool, str | None, str | None, str | None, str | None, str | None]:
        """What :meth:`encode` gives beside the state's text: the match key, whether it
        needs attention, the near key, status, marks, label and reference (the columns a
        state stored by reference keeps, see :meth:`references`)."""
        if type(state) is _Sketch and state.lazy:
            return self._sketch_columns(state)
        key, attention, near, status, marks = state.indexed()
        label = ref = None
        if status == ACTIVE and (self.labels or self.refs):
            module = state.raw["m"]
            field = self.labels.get(module)
            label = state.label(field).casefold() if field is not None else None
            field = self.refs.get(module)
            ref = state.ref(field) if field is not None else None
        return (key, attention, near, status, marks, label, ref)

    def decode(self, text: str) -> RecordState:
        return RecordState(decode_state(text))

    def references(self, state: RecordState) -> tuple[int, ...] | None:
        """The seqs of the entries ``state`` is the fold of, when it may be stored by
        reference to them instead of as its text (None: as its text).

        A pure function of the record's entries, so a replay stores each record as the
        live journal did: a state folded from nothing by at most :attr:`reference_limit`
        entries of its own record, each an observation or an applied write (whose fold
        reads nothing but the record and the entry).  Any other entry that changes it (a
        link, a conflict, a failure, a merge, an undo's unlink, a retry or a settling of
        many records...) makes it a state stored as its text from then on."""
        return state.seqs

    def unfold(self, rows: Sequence[Sequence[Any]], names: Any = None) -> RecordState | None:
        """The state of a record stored by reference: its entries' stored rows (the
        columns of :data:`journal.schema.ENTRY_COLUMNS`, the hashes may be left out, in
        seq order) folded from nothing, by the fold a replay makes of them (``names``:
        the journal's field names, :class:`journal.names.FieldNames`)."""
        unfolder = self._unfolding()
        unfolder.reference_limit = self.reference_limit
        scratch = _Scratch(names)
        for row in rows:
            unfolder.apply_row(scratch, row)
        return scratch.state

    def _unfolding(self) -> RecordReducer:
        """The reducer a state is folded again by, from nothing (:meth:`unfold`,
        :meth:`_fold_held`): one of its own, so this one's reads of rows stay as they are,
        that makes no sketch."""
        unfolder = self._unfolder
        if unfolder is None:
            unfolder = self._unfolder = RecordReducer()
            unfolder.lazy_first = False
        return unfolder

    def _sketch_columns(
        self, sketch: _Sketch
    ) -> tuple[str | None, bool, str | None, str | None, str | None, str | None, str | None]:
        """:meth:`columns` of a sketch's state, its entries not folded (as
        :meth:`referred` makes them)."""
        module = sketch.module_
        label_field = self.labels.get(module)
        ref_field = self.refs.get(module)
        label = ref = None
        if label_field is not None or ref_field is not None:
            raw = new_state(module, sketch.rid_, "")
            raw["f"] = sketch.regs
            state = RecordState(raw)
            if label_field is not None:
                label = state.label(label_field).casefold()
            if ref_field is not None:
                ref = state.ref(ref_field)
        key = sketch.key_ if sketch.key_ is not None and len(sketch.ids) == 1 else None
        return (key, sketch.dirty_, sketch.near_, ACTIVE, None, label, ref)

    def sketch_metas(self, module: str) -> bool:
        """Whether :meth:`sketch` makes a sketch of ``module``'s records from its rows'
        metas alone, given their stored columns: a module without a label or reference
        field (the view then reads those alone, :data:`journal.view.META_COLUMNS`)."""
        return not self._wanted(module)

    def _wanted(self, module: str) -> list[str]:
        """The fields whose registers a sketch of ``module``'s records keeps."""
        if not self.labels and not self.refs:
            return []
        return [f for f in (self.labels.get(module), self.refs.get(module)) if f is not None]

    def sketch(
        self,
        rows: Sequence[Sequence[Any]],
        names: Any,
        load: Callable[[str, str, tuple[int, ...]], RecordState | None],
        stored: tuple[tuple[Any, ...], bool] | None = None,
    ) -> RecordState | None:
        """The state of a record stored by reference to ``rows`` (its entries' stored
        rows, in seq order; ``names`` the journal's field names) as a sketch
        (:class:`_Sketch`), its rows read as :meth:`referred` reads them and not folded
        (``load(module, rid, seqs)``: the fold, when its JSON is asked for); None when
        they are not of the shapes read so (the caller folds them).

        ``stored``: the record's row's indexed columns (key, near, status, marks, label,
        reference) and attention, as :meth:`columns` gave them for the fold of ``rows``.
        A module without a label or reference field then needs of its rows the id each
        side holds alone (its match key is the stored one while a side alone holds an
        id, and never indexed again once two do): read from their metas."""
        if not rows or len(rows) > self.reference_limit:
            return None
        module, rid = rows[0][2], rows[0][3]
        if rid is None:
            return None
        wanted = self._wanted(module)
        sketch = _Sketch(module, rid, load)
        if stored is not None and not wanted:
            indexed, attention = stored
            if indexed[2] == ACTIVE and indexed[3] is None and _side_ids(rows, sketch.ids):
                sketch.key_, sketch.near_, sketch.dirty_ = indexed[0], indexed[1], attention
                sketch.folded = sketch.seqs = tuple(row[0] for row in rows)
                return sketch
            sketch.ids.clear()
        if any(row[8] is None for row in rows):  # their metas alone (sketch_metas)
            return None
        reads = self._synced_rows(names, rows, module, rid, wanted)
        if reads is None:
            return None
        for row, read in zip(rows, reads, strict=True):
            if row[5] == "observed":
                values = read[5]
                sketch.observe(
                    row[4],
                    read[1],
                    read[6],
                    read[7],
                    {name: values[name] for name in wanted if name in values},
                    read[2],
                    int(read[3]),
                    read[4],
                )
            else:
                sketch.applied(row[4], read[1], bool(read[2]))
        sketch.folded = sketch.seqs = tuple(row[0] for row in rows)
        return sketch

    def _synced_rows(
        self, names: Any, rows: Any, module: str, rid: str, wanted: Any
    ) -> list[Any] | None:
        """:meth:`_synced_row`'s reading of each of a record's rows, in order, each
        applied write's fields read against the record's last observation before it;
        None when any row is not of those shapes."""
        reads = []
        observation = 0  # the seq of the record's last observation read
        for row in rows:
            read = self._synced_row(names, row, module, rid, wanted, observation)
            if read is None:
                return None
            if row[5] == "observed" and row[8][:1] == "[":  # what an applied write may refer to
                observation = row[0]
            reads.append(read)
        return reads

    def _synced_row(
        self, names: Any, row: Any, module: str, rid: str, wanted: Any, observation: int
    ) -> Any:
        """A row of ``module``/``rid``'s observation or applied write as :meth:`_synced`
        reads it (:meth:`_read_row`'s reading cut to that shape when it cannot); None for
        any other row, or an observation with a field absent or a baseline: the caller
        folds the record whole."""
        kind = row[5]
        if (kind != "observed" and kind != "applied") or row[2] != module or row[3] != rid:
            return None
        read = self._synced(names, row, wanted, observation)
        if read is None:
            read = self._read_row(names, row)
            if read is None:
                return None
            if kind == "observed":
                if read[9] or read[10]:  # a field absent, a baseline
                    return None
                read = read[:5] + read[6:9]
            else:
                read = read[:2] + read[3:4]
        return read

    def _extend(self, view: View, sketch: _Sketch, entry: Entry, payload: Any) -> bool:
        """Extend a sketch not folded yet with an observation or an applied write of the
        shapes :meth:`referred` reads, linking as :meth:`apply` does; False (nothing
        done) for any other, or past :attr:`reference_limit` entries: the caller folds."""
        side = entry.side
        if side is None or len(sketch.folded) >= self.reference_limit:
            return False
        module, rid = entry.module, sketch.rid_
        if payload is None:  # read from its meta, as the payload decoded from it reads
            meta = entry.meta
            if "id" not in meta:
                return False
            if entry.kind is Kind.OBSERVED and meta.keys() <= _SKETCH_KEYS:
                payload = _Observation(
                    meta["id"], meta.get("key", ABSENT), meta.get("near"), (), False
                )
            elif entry.kind is Kind.APPLIED and meta.keys() <= _APPLIED_KEYS:
                payload = _Write(meta["id"], meta.get("done", ABSENT))
            else:
                return False
        kind = type(payload)
        if kind is Observed or kind is _Observation:
            dot = entry.dot
            side_id = payload.id
            key, near = payload.key, payload.near
            if (
                dot is None
                or payload.absent
                or payload.baseline
                or type(side_id) is not str
                or (key is not ABSENT and key is not None and type(key) is not str)
                or (near is not None and type(near) is not str)
            ):
                return False
            fields = entry.fields
            values = {
                name: to_wire(fields[name]) for name in self._wanted(module) if name in fields
            }
            context = entry.context
            if sketch.observe(
                side,
                side_id,
                key,
                near,
                values,
                dot.side,
                dot.counter,
                context.as_dict() if context is not None else None,
            ):
                view.link(module, side, side_id, rid, "active")
        elif kind is Applied or kind is _Write:
            done = payload.done
            if (
                entry.dot is not None
                or payload.renamed
                or (done is not ABSENT and type(done) is not bool)
            ):
                return False
            side_id = str(payload.id)
            if sketch.applied(side, side_id, done is True):
                view.link(module, side, side_id, rid, "active")
        else:
            return False
        sketch.folded = sketch.seqs = (*sketch.folded, entry.seq)
        if sketch.pending is not None:
            sketch.pending.append(entry)
        return True

    def _kept(self, view: View, entry: Entry, state: RecordState | None, payload: Any) -> bool:
        """Whether a sketch keeps ``entry`` (an observation or applied write of a record
        whose state is ``state``; ``payload``: the entry's, or None to read its meta): a
        new record's first observation made a sketch (folded when asked), or a lazy
        sketch extended by it; False: the caller folds it."""
        module, rid = entry.module, entry.rid
        assert rid is not None
        if state is None:
            if not (entry.kind is Kind.OBSERVED and self.lazy_first and self.sketch_metas(module)):
                return False
            first = self._first(view, entry, payload)
            if first is None:
                return False
            view.put_record(module, rid, first)
            return True
        if type(state) is _Sketch and state.lazy and self._extend(view, state, entry, payload):
            view.put_record(module, rid, state)
            return True
        return False

    def _first(self, view: View, entry: Entry, payload: Any) -> _Sketch | None:
        """A new record's first observation as a sketch holding it (:class:`_Sketch`),
        linked as :meth:`apply` links it (``payload``: the entry's, or None to read its
        meta); None (nothing done) when it is not of the shapes :meth:`_extend` reads:
        the caller folds it."""
        assert entry.rid is not None
        sketch = _Sketch(entry.module, entry.rid, self._fold_held, [])
        if self._extend(view, sketch, entry, payload):
            return sketch
        return None

    def _first_fold(self, view: View, entry: Entry, payload: Observed) -> None:
        """A new record's first observation folded: built at once (:func:`_first_observed`)
        unless a field is absent or it is a baseline, which the general fold folds."""
        module, rid, side = entry.module, entry.rid, entry.side or ""
        assert rid is not None and entry.dot is not None
        if payload.absent or payload.baseline:
            state = RecordState(new_state(module, rid, side), ())
            state.seqs = _referred((), entry.seq, self.reference_limit)
            _fold_entry(view, state.raw, entry, payload, side)
            view.put_record(module, rid, state)
            return
        side_id = payload.id
        fields = entry.fields
        first = _first_observed(
            module,
            rid,
            side,
            entry.dot.side,
            entry.dot.counter,
            entry.context.as_dict() if entry.context is not None else None,
            _side_time(payload.modified, entry.at),
            {name: _wire(value) for name, value in fields.items()},
            side_id,
            payload.key,
            payload.near,
        )
        first.seqs = _referred((), entry.seq, self.reference_limit)
        view.put_record(module, rid, first)
        if side_id is not None:
            view.link(module, side, str(side_id), rid, "active")

    def _fold_held(self, module: str, rid: str, entries: Sequence[Entry]) -> RecordState | None:
        """The fold of a sketch's held entries (its record's, from nothing): by
        :meth:`apply`, in a view of the one record, with no sketch made."""
        unfolder = self._unfolding()
        scratch = _Scratch()
        for entry in entries:
            unfolder.apply(scratch, entry)
        return scratch.state

    def referred(
        self, rows: Sequence[Sequence[Any]], names: Any = None
    ) -> tuple[tuple[Any, ...], list[tuple[int, str, str]]] | None:
        """What a fold of ``rows`` (every stored row of one record, in seq order; ``names``
        the journal's field names) stores when its state is stored by reference
        (:meth:`references`), made without the state: the :meth:`columns` of the state the
        fold makes, and the links it makes, ``(seq, side, side id)`` in the order made.
        None when the fold would store it otherwise or the rows are of another shape than
        a sync's observations and applied writes (no field absent, no baseline): the
        caller folds them (a replay by record; a law holds the two the same).

        Such a record is active; it needs attention after an observation until an applied
        write that is done; its match key is indexed while one side holds it; its label
        and reference come from their fields' registers, which only its observations
        write (folded here for those fields alone)."""
        if not rows or len(rows) > self.reference_limit:
            return None
        module, rid = rows[0][2], rows[0][3]
        if rid is None:
            return None
        label_field = self.labels.get(module)
        ref_field = self.refs.get(module)
        wanted = self._wanted(module)
        registers: dict[str, Any] = {}
        ids: dict[str, str] = {}
        links: list[tuple[int, str, str]] = []
        dirty = False
        key: Any = None
        near: Any = None
        reads = self._synced_rows(names, rows, module, rid, wanted)
        if reads is None:
            return None
        for row, read in zip(rows, reads, strict=True):
            side = row[4]
            side_id = read[1]
            if row[5] == "observed":
                if ids.get(side) is None:
                    links.append((row[0], side, side_id))
                ids[side] = side_id
                dirty = True
                if read[6] is not ABSENT:
                    key, near = read[6], read[7]
                if wanted:
                    dot_side, counter, clock, values = read[2], int(read[3]), read[4], read[5]
                    seen = write_clock(dot_side, counter, clock or {})
                    for name in wanted:
                        if name in values:
                            registers[name] = write_register(
                                registers.get(name), dot_side, counter, values[name], "", seen
                            )
            else:
                if ids.get(side) != side_id:
                    links.append((row[0], side, side_id))
                ids[side] = side_id
                if read[2]:  # done: no side's refused write waits (none was folded)
                    dirty = False
        label = ref = None
        if wanted:
            raw = new_state(module, rid, rows[0][4])
            raw["f"] = registers
            state = RecordState(raw)
            if label_field is not None:
                label = state.label(label_field).casefold()
            if ref_field is not None:
                ref = state.ref(ref_field)
        indexed_key = key if key is not None and len(ids) == 1 else None
        return (indexed_key, dirty, near, ACTIVE, None, label, ref), links

    def _synced(
        self, names: Any, row: Sequence[Any], wanted: Sequence[str], observation: int
    ) -> tuple[Any, ...] | None:
        """What :meth:`referred` reads of a row of the shapes a sync writes (compact fields
        and meta, ``observation`` the seq of the record's last observation read): an
        observation's ``("observed", side id, dot's side, its counter as text, context,
        the ``wanted`` fields' values, key, near key)``, an applied write's ``("applied",
        side id, done)``; what :meth:`_read_row` reads of it, without the fields' values
        it does not use (a law holds the two the same).  None: read it with
        :meth:`_read_row` (a row of another shape, or one it would refuse)."""
        _, at, module, rid, side, kind, dot, context, fields, meta = row[:10]
        if type(side) is not str or meta[:1] != "[" or fields[:1] != "[" or names is None:
            return None
        try:
            if fields[1:2] == "-":  # an applied write's reference to its observation
                if kind != "applied" or fields != f"[{observation - row[0]}]":
                    return None
                values: Any = None
            else:
                items = _loads(fields)
                if type(items) is not list or not items:
                    return None
                start = 2 if type(items[0]) is list else 1  # a declaration first
                if len(items) < start:
                    return None
                mask = items[start - 1]
                if type(mask) is not int or mask < 0:
                    return None
                pick = self._picks.get((module, mask))
                if pick is None:
                    held, where = names.shape(module, mask)
                    pick = (len(held), dict(zip(held, where, strict=True)))
                    if len(self._picks) > 4096:
                        self._picks.clear()
                    self._picks[(module, mask)] = pick
                count, at_ = pick
                if len(items) != count + start or not _no_float(items[start:]):
                    return None
                values = {}
                for name in wanted:
                    i = at_.get(name)
                    if i is not None:
                        values[name] = items[i + start - 1]
            info = _loads(meta)
            if type(info) is not list or len(info) != 3 and len(info) != 4:
                return None
            first = info[0]
            if type(first) is str:
                side_id = first
            elif first == 0 and type(first) is int and rid and side and rid.startswith(side + ":"):
                side_id = rid[len(side) + 1 :]
            else:
                return None
            near = None
            if len(info) == 4:
                rest = info[3]
                if kind != "observed" or type(rest) is not dict or not rest.keys() <= {"near"}:
                    return None
                near = rest.get("near")
                if near is not None and type(near) is not str:
                    return None
            clock = None if context is None else self._clock(context)
            if context is not None and clock is None:
                return None
            if kind == "applied":
                create, done = info[1], info[2]
                if dot is not None or type(create) is not bool and create is not None:
                    return None
                if type(done) is bool:
                    return (kind, side_id, done)
                return (kind, side_id, False) if done is None else None
            if values is None or dot is None:
                return None
            key, modified = info[1], info[2]
            if key is False:
                key = ABSENT
            elif type(key) is int:
                order = self._orders.get(module)
                if order is None or not 0 <= key < len(order):
                    order = self._orders[module] = names.order(module)
                    if not 0 <= key < len(order):
                        return None
                i = at_.get(order[key])
                key = items[i + start - 1] if i is not None else None
                if type(key) is not str:
                    return None
            elif key is not None and type(key) is not str:
                return None
            if type(modified) is not str:
                if modified is None:
                    self._utc(at)
                elif type(modified) is dict and modified.keys() == {"$datetime"}:
                    _utc_of(modified["$datetime"])
                else:
                    return None
            parts = _dot_parts(dot)
            if parts is None:
                return None
            dot_side, count_ = parts
        except (orjson.JSONDecodeError, EncodingError, ValueError, TypeError):
            return None  # _read_row's, or apply's, to name
        return (kind, side_id, dot_side, count_, clock, values, key, near)

    def _clock(self, context: str) -> dict[str, int] | None:
        """A stored context's clock, parsed once (a journal's contexts are few; kept so);
        None when it is not a plain clock (the caller's slower read names what is wrong)."""
        clock = self._clocks.get(context)
        if clock is None:
            clock = _loads(context)
            if not _plain_clock(clock):
                return None
            if len(self._clocks) > 4096:
                self._clocks.clear()
            self._clocks[context] = clock
        return clock  # type: ignore[no-any-return]

    def linked_ids(self, state: RecordState) -> dict[str, str]:
        """The id the record has on each side its state holds one for: where the journal
        looks up its links (:meth:`journal.view.SQLiteView.links`)."""
        return {side: str(h["id"]) for side, h in state.raw["s"].items() if h["id"] is not None}

    def apply(self, view: View, entry: Entry) -> None:
        kind = entry.kind
        if kind is Kind.CONFIG:
            if variant(kind, entry.meta) is IntegrationDeleted:
                # the integration was deleted: each module it names starts afresh (entries stay)
                for dropped in expect(entry, IntegrationDeleted).modules:
                    view.drop_module(dropped)
            return
        rid = entry.rid
        state: RecordState | None = None
        looked = (kind is Kind.OBSERVED or kind is Kind.APPLIED) and rid is not None
        if looked:
            assert rid is not None
            state = view.record(entry.module, rid)
            # kept by a sketch from the entry's meta alone, no payload decoded
            if self._kept(view, entry, state, entry.payload):
                return
            if type(state) is _Sketch and not state.lazy:
                # folded: stored from now on as a plain state (no lazy reads)
                state = RecordState(state.raw, state.seqs)
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
                    again.seqs = None  # changed by an entry of no record: stored as text
                    view.put_record(entry.module, rid, again)
            return
        if isinstance(payload, SettledIntent):
            for rid in payload.settled:
                settled = view.record(entry.module, rid)
                if settled is not None:
                    settled.raw["d"] = False
                    settled.seqs = None
                    view.put_record(entry.module, rid, settled)
            return
        if entry.rid is None or isinstance(payload, (TriggerSkipped, DealAssociation)):
            # a trigger that did nothing and a person's association are said in the
            # journal (``history``, ``journal log``); they change no record
            return
        module, rid = entry.module, entry.rid
        if not looked:
            state = view.record(module, rid)
        elif (
            entry.payload is None
            and (type(payload) is Observed or type(payload) is Applied)
            and self._kept(view, entry, state, payload)
        ):
            return  # a meta holding more than the sketch reads from it: its payload read
        if state is None:
            if type(payload) is Observed and self.direct:
                self._first_fold(view, entry, payload)
                return
            state = RecordState(new_state(module, rid, entry.side or ""), ())
        if isinstance(payload, (Observed, Applied)):
            state.seqs = _referred(state.seqs, entry.seq, self.reference_limit)
        else:
            state.seqs = None
        raw = state.raw
        side = entry.side or ""
        if isinstance(payload, Observed):
            assert entry.dot is not None
            _fold_entry(view, raw, entry, payload, side)
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
            _fold_applied(
                view,
                raw,
                module,
                rid,
                side,
                str(payload.id),
                payload.create,
                payload.done,
                entry.context.as_dict() if entry.context is not None else None,
                entry.fields,
                entry,
                payload.renamed,
            )
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
                _supersede(view, raw, entry.seq, entry.kind)
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

    def folds_per_record(
        self, kinds: frozenset[str], read: Callable[[Sequence[str]], Iterable[Entry]]
    ) -> bool:
        """Whether a journal holding entries of ``kinds`` folds record by record into what
        its fold in seq order makes (``read(kinds)``: its entries of those kinds, in seq
        order): each record's entries read and write that record alone, with conflicts
        keyed by the seq of the record's own conflict entry and links (the one table
        records share) written by the journal as the highest seq left them.

        Not so, and False, for the entries that cross records: a deleted integration (a
        module dropped), a retry or a settling asked of many records (an intent naming
        them), an undo's unlink (the record it was made active again), a cursor set on a
        record's entry (cursors are set in seq order with the module's other entries
        without a rid), a resolution of another record's conflict; and any kind not
        known here (a newer entry's)."""
        if not kinds <= _RECORD_KINDS:
            return False
        conflicts: dict[int, tuple[str, str | None]] = {}
        for entry in read(sorted(kinds & _CHECKED_KINDS)):
            kind = entry.kind
            cls = variant(kind, entry.meta)
            if cls in _CROSSING or (kind is Kind.CURSOR and entry.rid is not None):
                return False
            if kind is Kind.CONFLICT:
                conflicts[entry.seq] = (entry.module, entry.rid)
            elif kind is Kind.RESOLUTION:
                payload = payload_of(entry)
                assert isinstance(payload, (ValueResolution, DuplicateResolution))
                if conflicts.get(payload.conflict) != (entry.module, entry.rid):
                    return False
        return True

    def apply_row(self, view: View, row: Sequence[Any]) -> None:
        """Fold one stored row (the columns of :data:`journal.schema.ENTRY_COLUMNS`; the
        two hashes may be left out) exactly as :meth:`apply` folds its entry.

        An observation or an applied write of the shapes a sync writes is folded from the
        row's JSON as it is, without building the entry and its payload (a replay's hot
        path: the same functions fold it); any other row, or one holding what this does
        not read (a key it does not know, a value not of the type it expects, a float, a
        format of another version), is decoded and goes through :meth:`apply`."""
        kind = row[5]
        if (
            (kind == "observed" or kind == "applied")
            and row[3] is not None
            and self._fold_row(view, row)
        ):
            return
        decoder = self._decoder
        decoder.names = getattr(view, "names", None)  # the view's journal's names
        self.apply(view, decoder.entry(tuple(row) if len(row) >= 12 else (*row[:10], "", "")))

    def _fold_row(self, view: View, row: Sequence[Any]) -> bool:
        """Fold an observation or an applied write from its stored text; False (nothing
        done) when the row is not of a shape read here."""
        read = self._read_row(getattr(view, "names", None), row)
        if read is None:
            return False
        seq, module, rid, side = row[0], row[2], row[3], row[4]
        if read[0] == "observed":
            _, side_id, dot_side, count, clock, modified, values, key, near, absent, baseline = read
            state = view.record(module, rid)
            if state is None:
                if not absent and not baseline and self.direct:
                    first = _first_observed(
                        module,
                        rid,
                        side,
                        dot_side,
                        int(count),
                        clock,
                        modified,
                        values,
                        side_id,
                        key,
                        near,
                    )
                    first.seqs = _referred((), seq, self.reference_limit)
                    view.put_record(module, rid, first)
                    view.link(module, side, side_id, rid, "active")
                    return True
                state = RecordState(new_state(module, rid, side), ())
            state.seqs = _referred(state.seqs, seq, self.reference_limit)
            _fold_observed(
                view,
                state.raw,
                module,
                rid,
                side,
                dot_side,
                int(count),
                clock if clock is not None else {},
                modified,
                values,
                _Observation(side_id, key, near, absent, baseline),
                seq,
                True,
            )
        else:
            _, side_id, create, done, clock, values = read
            state = view.record(module, rid)
            if state is None:
                state = RecordState(new_state(module, rid, side), ())
            state.seqs = _referred(state.seqs, seq, self.reference_limit)
            _fold_applied(
                view, state.raw, module, rid, side, side_id, create, done, clock, values, wired=True
            )
        view.put_record(module, rid, state)
        return True

    def _read_row(self, names: Any, row: Sequence[Any]) -> tuple[Any, ...] | None:
        """What :meth:`_fold_row` folds of an observation's or an applied write's stored
        row (``names``: the field names of its journal): ``("observed", side id, dot's
        side, its counter as text, context (None: none), the side's time as UTC text,
        values, key, near key, absent, baseline)`` or ``("applied", side id, create, done,
        context, values)``; None when the row is not of a shape read here (``apply`` folds
        it).  A time that is none raises ValueError, as ``apply`` does."""
        _, at, module, rid, side, kind, dot, context, fields, meta = row[:10]
        if type(side) is not str:
            return None
        compact_meta = meta[:1] == "["  # journal.names: said with the fields' names
        if not compact_meta and meta[:1] != "{":
            return None
        compact = fields[:1] == "["  # interned names (journal.names): the view's journal's
        if not compact and fields[:1] != "{":
            return None
        try:
            # an applied create repeats the fields of the observation before it, and
            # contexts are few: each read once (the values are never changed in place)
            last, values = self._fields
            said = module + "\x1f" + fields if compact else fields
            if compact and fields[1:2] == "-":  # an applied write's reference (journal.names)
                seen = self._seen  # to the observation read last, or the decoder reads it
                if (
                    kind != "applied"
                    or seen[1] != module
                    or seen[2] != rid
                    or seen[4] is not names
                    or fields != f"[{seen[0] - row[0]}]"
                ):
                    return None
                values = seen[3]
            elif said != last:
                values = _loads(fields)
                if compact:
                    if names is None or type(values) is not list:
                        return None
                    values = names.expand(module, values)
                if type(values) is not dict or not _floatless(values):
                    return None
                self._fields = (said, values)
            if kind == "observed" and compact:
                self._seen = (row[0], module, rid, values, names)
            info = _loads(meta) if meta != "{}" else {}
            if compact_meta:
                if names is None or type(info) is not list:
                    return None
                info = names.expand_meta(kind, module, rid, side, info, values, sort=False)
            clock = None if context is None else self._clock(context)
            if context is not None and clock is None:
                return None
        except (orjson.JSONDecodeError, EncodingError):  # apply names what it is
            return None
        if type(info) is not dict:
            return None
        side_id = info.get("id")
        if type(side_id) is not str:
            return None
        if kind == "observed":
            if dot is None or not info.keys() <= _OBSERVED_KEYS:
                return None
            parts = _dot_parts(dot)
            if parts is None:
                return None
            dot_side, count = parts
            key = info.get("key", ABSENT)
            near = info.get("near")
            absent = info.get("absent", ())
            baseline = info.get("baseline", False)
            modified = info.get("modified")
            if (
                (key is not ABSENT and key is not None and type(key) is not str)
                or (near is not None and type(near) is not str)
                or (absent != () and type(absent) is not list)
                or type(baseline) is not bool
            ):
                return None
            if type(modified) is not str:
                if modified is None:
                    modified = self._utc(at)
                elif type(modified) is dict and modified.keys() == {"$datetime"}:
                    modified = _utc_of(modified["$datetime"])
                else:
                    return None
            return (
                kind,
                side_id,
                dot_side,
                count,
                clock,
                modified,
                values,
                key,
                near,
                absent,
                baseline,
            )
        create = info.get("create", False)
        done = info.get("done", False)
        if (
            dot is not None
            or not info.keys() <= _APPLIED_KEYS
            or type(create) is not bool
            or type(done) is not bool
        ):
            return None
        return (kind, side_id, create, done, clock, values)

    def _utc(self, at: str) -> str:
        """``utc_text`` of a stored entry time (the last one kept: a batch shares one)."""
        last, text = self._at
        if at != last:
            text = utc_text(dt.datetime.fromisoformat(at))
            self._at = (at, text)
        return text

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
            _supersede(view, raw, entry.seq, entry.kind)

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
        _supersede(view, raw, entry.seq, entry.kind)


# the kinds a fold by record knows (RecordReducer.folds_per_record), those whose entries it
# reads first, and the payloads that cross records
_RECORD_KINDS = frozenset(str(kind) for kind in Kind)
_CHECKED_KINDS = frozenset({"config", "intent", "link", "cursor", "conflict", "resolution"})
_CROSSING = (IntegrationDeleted, RetryIntent, SettledIntent, Unlinked)

# a time as the journal stores it (UTC, to the second or the microsecond): its utc_text
# is told from the text; any other text is parsed (and refused as apply refuses it)
_UTC_TEXT = re.compile(
    r"\d{4}-\d\d-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{6})?\+00:00", re.ASCII
)
_DAYS: set[str] = set()  # days read and found real (not 2026-02-30)


def _utc_of(text: str) -> str:
    """``utc_text(datetime.fromisoformat(text))``, without building the datetime for a
    time as the journal stores it."""
    match = _UTC_TEXT.fullmatch(text)
    if match is not None:
        day = text[:10]
        if day in _DAYS or _real_day(day):
            return text if match.group(1) else text[:19] + ".000000+00:00"
    return utc_text(dt.datetime.fromisoformat(text))


def _real_day(day: str) -> bool:
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    if len(_DAYS) > 100_000:  # a journal's days are few; this keeps it so whatever it holds
        _DAYS.clear()
    _DAYS.add(day)
    return True


_loads = orjson.loads
# the keys of an observation's and an applied write's meta that apply_row reads (a row
# holding any other goes through apply, which keeps it in the payload's ``extra``)
_OBSERVED_KEYS = frozenset({"id", "key", "near", "modified", "absent", "baseline"})
_APPLIED_KEYS = frozenset({"id", "create", "done"})


def _floatless(values: dict[str, Any]) -> bool:
    """Whether no value holds a float: orjson reads an integer past 64 bits as one (a
    stored row holding one is read by the standard parser, through ``apply``)."""
    return _no_float(values.values())


def _dot_parts(dot: str) -> tuple[str, str] | None:
    """A stored dot's text (``["side",n]``, as the journal writes it) as its side and its
    counter's digits, read without a JSON parser; None for any other text (the caller's
    slower read names what is wrong).  A journal's dots are few (a side and a record's
    counter): each text read once, kept."""
    parts = _DOTS.get(dot)
    if parts is None:
        parts = _read_dot(dot)
        if parts is None:
            return None
        if len(_DOTS) > 4096:  # kept so whatever the journal holds
            _DOTS.clear()
        _DOTS[dot] = parts
    return parts


_DOTS: dict[str, tuple[str, str]] = {}  # dots read (_dot_parts)


def _read_dot(dot: str) -> tuple[str, str] | None:
    side, sep, count = dot[2:-1].rpartition('",')
    if (
        sep
        and dot[:2] == '["'
        and dot[-1:] == "]"
        and '"' not in side
        and "\\" not in side
        and count.isascii()
        and count.isdigit()
    ):
        return side, count
    return None


def _no_float(values: Collection[Any]) -> bool:
    """:func:`_floatless` of the values alone: a value at a time, a tagged value (a
    Decimal, a date: a dict of one text) told at once."""
    for value in values:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            continue
        if kind is dict:
            if len(value) == 1:
                for inner in value.values():
                    if type(inner) is str:
                        break
                else:
                    if _has_float(value):
                        return False
            elif _has_float(value):
                return False
        elif kind is float or (kind is list and _has_float(value)):
            return False
    return True


def _has_float(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return True
    if kind is dict:
        return any(_has_float(v) for v in value.values())
    if kind is list:
        return any(_has_float(v) for v in value)
    return False


def _plain_clock(clock: Any) -> bool:
    """A stored context as :class:`~journal.clock.VectorClock` keeps it: counters above 0."""
    if type(clock) is not dict:
        return False
    return all(type(n) is int and n > 0 for n in clock.values())


# the keys of an observation's meta a sketch is extended by without its payload
_SKETCH_KEYS = frozenset({"id", "key", "near", "modified"})


class _Write:
    """What :meth:`RecordReducer._extend` reads of an applied write's meta (an
    :class:`Applied` payload has the same attributes)."""

    __slots__ = ("done", "id")
    renamed = ()

    def __init__(self, id: Any, done: Any) -> None:
        self.id, self.done = id, done


class _Observation:
    """What :func:`_fold_observed` reads of an observation's meta (an :class:`Observed`
    payload has the same attributes): a stored row's, read without building the payload."""

    __slots__ = ("absent", "baseline", "id", "key", "near")

    def __init__(self, id: Any, key: Any, near: Any, absent: Any, baseline: Any) -> None:
        self.id, self.key, self.near, self.absent, self.baseline = id, key, near, absent, baseline


def _fold_entry(view: View, raw: Raw, entry: Entry, payload: Observed, side: str) -> None:
    """An observed entry folded into ``raw`` (:func:`_fold_observed` of its parts)."""
    assert entry.rid is not None and entry.dot is not None
    _fold_observed(
        view,
        raw,
        entry.module,
        entry.rid,
        side,
        entry.dot.side,
        entry.dot.counter,
        entry.context.as_dict() if entry.context is not None else {},
        _side_time(payload.modified, entry.at),
        entry.fields,
        payload,
        entry.seq,
    )


def _fold_observed(
    view: View,
    raw: Raw,
    module: str,
    rid: str,
    side: str,
    dot_side: str,
    counter: int,
    context: dict[str, int],
    at: str,
    fields: Mapping[str, Any],
    payload: Observed | _Observation,
    seq: int,
    wired: bool = False,
) -> None:
    """An observation (``at``: the side's time of it as UTC ISO text; ``wired``: the
    fields in wire form already)."""
    raw.pop("rt", None)  # a new change is worth a new round of attempts
    unread = raw.get("re")
    if unread is not None and unread.pop(side, None) is not None and not unread:
        del raw["re"]  # the side's values read again: its read errors are past
    held = raw["s"].get(side)
    new_link = held is None or held["id"] is None
    _observe_values(
        raw, side, dot_side, counter, context, at, fields, payload.id, (), payload.absent, wired
    )
    _unalias(raw["s"][side], fields)  # the side's own edit of a renamed field
    if payload.baseline:  # a deal as it was before its triggers were on
        base = raw.setdefault("b", {})
        for name, value in fields.items():
            base[name] = to_wire(value)
    raw["d"] = True
    key = payload.key
    if key is not ABSENT:
        raw["k"] = key
        # a state without a near key stays byte for byte what it was before near keys
        if payload.near is not None and not raw.get("na"):
            raw["nk"] = payload.near
        else:
            raw.pop("nk", None)
    if new_link and payload.id is not None:
        view.link(module, side, str(payload.id), rid, "active")
    if raw["x"]:
        _supersede(view, raw, seq, Kind.OBSERVED)


def _first_observed(
    module: str,
    rid: str,
    side: str,
    dot_side: str,
    counter: int,
    context: dict[str, int] | None,
    at: str,
    values: dict[str, Any],
    side_id: str,
    key: Any,
    near: Any,
) -> RecordState:
    """The state of a record its first observation makes (no field absent, no baseline;
    the values in wire form): what ``new_state`` and :func:`_fold_observed` make of it,
    built at once (a law holds the two the same)."""
    seen = dict(context) if context else {}
    if counter > seen.get(dot_side, 0):
        seen[dot_side] = counter
    raw: Raw = {
        "m": module,
        "r": rid,
        "o": side,
        "k": None if key is ABSENT else key,
        "f": {name: [[[dot_side, counter, wire, at]], seen] for name, wire in values.items()},
        "c": {dot_side: counter} if counter > 0 else {},
        "s": {side: {"id": side_id, "c": dict(seen), "v": dict(values), "del": False}},
        "st": ACTIVE,
        "d": True,
        "e": {},
        "x": {},
        "n": None,
    }
    if key is not ABSENT and near is not None:
        raw["nk"] = near
    return RecordState(raw)


def _fold_applied(
    view: View,
    raw: Raw,
    module: str,
    rid: str,
    side: str,
    side_id: str,
    create: Any,
    done: Any,
    context: dict[str, int] | None,
    fields: Mapping[str, Any],
    dotted: Entry | None = None,
    renamed: Any = (),
    wired: bool = False,
) -> None:
    """A write a side accepted (``dotted``: the entry, when it may have a dot: an undo's
    restore; ``renamed``: the clone's fields sent under another name; ``wired``: the
    fields in wire form already)."""
    held = raw["s"].get(side)
    if held is None:
        held = raw["s"][side] = {"id": None, "c": {}, "v": {}, "del": False}
    if held["id"] != side_id:
        view.link(module, side, side_id, rid, "active")
    held["id"] = side_id
    if create:  # a record made again where an undo deleted it (undo of undo)
        held["del"] = False
    if context is not None:
        merge_clock(held["c"], context)
    values = held["v"]
    if wired:
        values.update(fields)
    else:
        for name, value in fields.items():
            values[name] = _wire(value)
    if dotted is not None and dotted.dot is not None:
        # an undo's restore: the value it put back is the record's newest value
        # (a later sync does not write the undone value again), seen by the side
        _write_dotted(raw, dotted)
        merge_clock(held["c"], {dotted.dot.side: dotted.dot.counter})
        _supersede(view, raw, dotted.seq, dotted.kind)
    _unalias(held, fields)
    for renamed_field in renamed:  # a clone sent under another name
        held.setdefault("a", {})[renamed_field["field"]] = [
            to_wire(renamed_field["from"]),
            to_wire(renamed_field["to"]),
        ]
    raw["e"].pop(side, None)
    _forget_retry(raw, side)
    if done:
        raw["d"] = _retry_due(raw)  # another side's refused write waits its retry


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
    _supersede(view, raw, entry.seq, entry.kind)
    if payload.from_ != raw["r"]:
        was = view.record(module, payload.from_)
        if was is not None and was.raw["st"] == MERGED:
            was.raw.update(st=ACTIVE, d=False, n=f"unlinked by undo of run {payload.undoes}")
            was.seqs = None  # changed by another record's entry: stored as text
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
