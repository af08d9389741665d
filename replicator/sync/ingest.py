"""Ingest: the changes a side gave -> journal entries.

Enters: changes of one side for one module (a page of a pull, or rows read by id), in the
side's own values, and what the journal holds of their records.

Leaves: appended to the journal, in the caller's transaction: an ``observed`` entry per
record whose values changed there (canonical values in wire form, with its match key and,
for suggestions, its near key), a ``tombstone`` per row deleted there, and an ``error`` per
row that cannot be a record, value that does not convert, lookup that names a record not
synced, or amount the side rounded.  A row that holds what the journal says it holds (our
own write read back: an echo) leaves nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from conflicts import RecordState, match_key
from conflicts.duplicates import near_key
from journal import Dot, JournalStorage, NewEntry, VectorClock
from journal.entry import from_wire, same_wire, to_wire, utc_text
from journal.payloads import ABSENT, Absent, Failure, Observed, Tombstone, new_entry
from replicator.config.load import ModuleConfig, split_lookup
from replicator.config.mapping import to_canonical
from replicator.connectors.base import Change, rounds_amounts
from replicator.errors import SHOWN_CHARS, MappingError, shown
from replicator.sync.context import Context
from replicator.sync.lifecycle import pulled_once
from replicator.sync.record import CycleReport


def ingest(
    ctx: Context, module: ModuleConfig, side: str, changes: Sequence[Change], report: CycleReport
) -> None:
    """Journal the entries the changes of ``side`` make (in the caller's transaction)."""
    journal = ctx.journal
    name = module.name
    known = journal.rids_for(name, side, [c.id for c in changes])
    journal.preload(name, list({known.get(str(c.id)) or f"{side}:{c.id}" for c in changes}))
    entries: list[NewEntry] = []
    batch_rids: set[str] = set()
    lookups = _lookup_rids(journal, module, side, changes)
    # only a side that keeps fixed decimal places rounds our writes (a capability its
    # connector class declares: Zoho's); on a side that holds amounts exactly, an
    # amount typed as ours rounded is a change
    rounds = rounds_amounts(ctx.connectors[side])
    # deals read before their triggers were ever on (the watch module's first read, until
    # it reaches its end: durable, as the journal knows it): their values are a baseline,
    # so switching triggers on makes no document for what a deal already was
    baseline = bool(module.triggers) and not pulled_once(ctx, module)
    n_observed = 0  # counted into the report once the page's entries are appended
    # the values go to wire form in one pass (FieldMap.to_wire) unless a lookup must turn
    # a side's id into ours first, or a match field's key is the text of a canonical value
    # other than its wire form (an amount: str(Decimal("1.50")) is not "1.5")
    fused = not module.lookups and all(
        module.fields.kind(f) in _OWN_WIRE_FORM for f in module.match_fields
    )
    first_dot = Dot(side, 1)  # a record's first observation on the side (dots are values)
    for change in changes:
        if change.problem is not None:
            # a row that cannot be a record (no id, a shared id): an error, journaled
            # against the record when the id is one we know, and nothing else of it
            problem = Failure(reason=change.problem, stage="read", id=change.id or None)
            rid_known = known.get(str(change.id)) if change.id else None
            entries.append(new_entry(problem, name, rid_known, side))
            report.add(name, side, "errors")
            continue
        rid = known.get(str(change.id)) or f"{side}:{change.id}"
        if rid in batch_rids:  # the same record twice in a page: fold the first one in
            journal.append(entries)
            entries, batch_rids = [], set()
        state: RecordState | None = journal.record(name, rid)
        held = state.held_wire(side) if state is not None else None
        if held is not None and held.deleted and not change.deleted:
            # the side gave a deleted row's id to a new row: that is a new record
            rid = _fresh_rid(journal, name, side, str(change.id))
            state, held = None, None
        if change.deleted:
            # only the row the record holds now: an undo of an undo made it again under
            # another id, and the delete of its old row is no delete of the record
            if held is not None and not held.deleted and held.id in (None, str(change.id)):
                entries.append(new_entry(Tombstone(id=str(change.id)), name, rid, side))
                batch_rids.add(rid)
                report.add(name, side, "deleted")
            continue
        if not fused:
            values, errors = module.fields.to_canonical(side, change.values, record=rid)
            missing = _look_up(module, side, values, lookups, record=rid)
            if missing and module.lookup_missing == "skip" and held is None:
                continue  # its parent is not synced: the record is outside this module
            errors += missing
            # the journal stores values in wire form: convert once, compare and store that
            wire = {k: to_wire(v) for k, v in values.items()}
        else:
            wire, errors = module.fields.to_wire(side, change.values, record=rid)
        # journaled after the change they come with: the change clears the side's
        # read errors of before (``heals``), so a fixed value leaves none behind
        read_errors = [
            new_entry(  # the entry names the record, the payload what and why, once
                Failure(
                    reason=err.reason,
                    field=err.field,
                    value=_shown(err.value),
                    stage="read",
                    id=str(change.id),
                    heals=True,
                ),
                name,
                rid,
                side,
            )
            for err in errors
        ]
        if read_errors:
            report.add(name, side, "errors", len(read_errors))
        read = wire
        absent: list[str] = []
        if held is not None:
            have = held.wire
            wire = {k: v for k, v in wire.items() if k not in have or not same_wire(have[k], v)}
            for field in [k for k in wire if rounds and module.fields.kind(k) == "decimal"]:
                assert state is not None
                rounded = _rounded_by(side, field, have.get(field), wire[field], state)
                if rounded is None:
                    continue
                del wire[field]  # our write, as the side could hold it: no change of theirs
                if state.write_error(side) != rounded:  # said once, not on every re-read
                    rounding = Failure(
                        reason=rounded,
                        field=field,
                        value=from_wire(have[field]),
                        stage="read",
                        id=str(change.id),
                    )
                    entries.append(new_entry(rounding, name, rid, side))
                    report.add(name, side, "errors")
            if not wire:
                entries += read_errors
                continue  # our own echo, or a change to columns we do not map
            # empty in a field this side never held (mapped since): no value, not a clear
            absent = sorted(k for k, v in wire.items() if v is None and k not in have)
        dot = Dot(side, state.counter(side) + 1) if state is not None else first_dot
        context = VectorClock(held.clock) if held is not None else _NO_CLOCK
        key: str | None | Absent = ABSENT  # no match fields: the entry holds no key
        near = None
        if module.match_fields:
            have = held.wire if held is not None else {}
            matched = [
                (read[f] if fused else values[f]) if f in read else from_wire(have.get(f))
                for f in module.match_fields
            ]
            key = match_key(matched)
            if module.suggest:  # the normalised key, for suggestions of near matches
                near = near_key(matched)
        observed = Observed(
            id=str(change.id),
            key=key,
            near=near,
            modified=_utc_text(change.modified) if change.modified is not None else None,
            absent=tuple(absent),
            baseline=baseline,
        )
        entries.append(new_entry(observed, name, rid, side, dot=dot, context=context, fields=wire))
        entries += read_errors
        batch_rids.add(rid)
        n_observed += 1
    journal.append(entries)
    report.add(name, side, "observed", n_observed)


_NO_CLOCK = VectorClock()  # the context of a record's first observation


def _utc_text(at: dt.datetime) -> str:
    """:func:`journal.entry.utc_text` in one step for a time in UTC already (a side's
    times, as connectors give them)."""
    if at.tzinfo is dt.UTC:
        return at.isoformat(timespec="microseconds")
    return utc_text(at)


# the field types whose canonical values are their own wire form
_OWN_WIRE_FORM = frozenset({"text", "picklist", "integer", "boolean"})


def lookup_ids(module: ModuleConfig, side: str, changes: Sequence[Change]) -> dict[str, set[str]]:
    """The side ids the changes' lookup fields name, per target module (and, for a lookup
    inside lines, ``"lines.item"``, the ids each line names)."""
    wanted: dict[str, set[str]] = {}
    for key, target in module.lookups.items():
        field, part = split_lookup(key)
        column = module.fields.fields[field][1].get(side)
        if column is None:
            continue
        for change in changes:
            value = change.values.get(column)
            if part is not None:
                wanted.setdefault(target, set()).update(_line_ids(value, part))
                continue
            if isinstance(value, Mapping):
                value = value.get("id")
            if value not in (None, ""):
                wanted.setdefault(target, set()).add(str(value))
    return {target: ids for target, ids in wanted.items() if ids}


def _line_ids(raw: Any, part: str) -> list[str]:
    """The ids a side's lines name in key ``part`` (bad lines name none: ingest reports them)."""
    try:
        lines = to_canonical("lines", raw)
    except MappingError:
        return []
    return [str(line[part]) for line in lines or () if line[part] is not None]


def _lookup_rids(
    journal: JournalStorage, module: ModuleConfig, side: str, changes: Sequence[Change]
) -> dict[tuple[str, str], str]:
    """Our record ids for the side ids a page's lookup fields name, per target module."""
    found: dict[tuple[str, str], str] = {}
    for target, ids in lookup_ids(module, side, changes).items():
        for side_id, rid in journal.rids_for(target, side, sorted(ids)).items():
            found[(target, side_id)] = rid
    return found


def _look_up(
    module: ModuleConfig,
    side: str,
    values: dict[str, Any],
    found: Mapping[tuple[str, str], str],
    *,
    record: str,
) -> list[MappingError]:
    """Lookup fields hold our record id: a side's id is turned into it, in place (in each
    line, for a lookup inside lines)."""
    errors = []
    for key, target in module.lookups.items():
        field, part = split_lookup(key)
        value = values.get(field)
        if value is None:
            continue
        if part is not None:
            lines, error = _look_up_lines(field, value, part, target, side, found, record=record)
            if error is None:
                values[field] = lines
            else:  # the document's lines cannot be read whole: none of them is taken
                del values[field]
                errors.append(error)
            continue
        if isinstance(value, Mapping):
            value = value.get("id")
        rid = found.get((target, str(value)))
        if rid is None:
            del values[field]
            errors.append(
                MappingError(
                    field,
                    value,
                    f"names {target} record {value} on {side}, which is not synced "
                    f"(outside the view, or not pulled yet); sync {target} first",
                    record=record,
                )
            )
        else:
            values[field] = rid
    return errors


def _look_up_lines(
    field: str,
    lines: list[dict[str, Any]],
    part: str,
    target: str,
    side: str,
    found: Mapping[tuple[str, str], str],
    *,
    record: str,
) -> tuple[list[dict[str, Any]], MappingError | None]:
    """The lines of ``field`` with ``part`` (a line's item) holding our record id instead
    of the side's id; or the error naming the first line whose item is not synced."""
    out = []
    missing: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        side_id = line.get(part)
        if side_id is None:
            out.append(line)
            continue
        rid = found.get((target, str(side_id)))
        if rid is None:
            missing.append((number, str(side_id)))
        else:
            out.append({**line, part: rid})
    if not missing:
        return out, None
    number, side_id = missing[0]
    more = f" (and {len(missing) - 1} more line(s))" if len(missing) > 1 else ""
    return out, MappingError(
        field,
        side_id,
        f"in line {number} names {target} record {side_id} on {side}, which is not synced "
        f"(outside the view, or not pulled yet){more}; sync {target} first",
        record=record,
    )


def _fresh_rid(journal: JournalStorage, module: str, side: str, side_id: str) -> str:
    """A record id for a side's row whose id an earlier, deleted row had."""
    n = 2
    while journal.record(module, f"{side}:{side_id}~{n}") is not None:
        n += 1
    return f"{side}:{side_id}~{n}"


def _shown(value: Any) -> Any:
    """A side's bad value for an error entry: as it is when short and canonical, else as
    safe text (bytes as a hex literal, long text cut; see :func:`replicator.errors.shown`)."""
    if value is None or type(value) is bool:
        return value
    if type(value) is Decimal and _short_amount(value):
        return value
    if type(value) is int and value.bit_length() <= 4 * SHOWN_CHARS:
        return value
    if type(value) is str and len(value) <= SHOWN_CHARS and _utf8(value):
        return value
    return shown(value)


def _short_amount(value: Decimal) -> bool:
    """Whether an amount is finite and short in plain notation: the journal cannot hold
    ``Infinity`` or ``NaN``, and ``1E+999999999`` would be a billion digits long."""
    if not value.is_finite():
        return False
    places = -int(value.as_tuple().exponent)
    return abs(value.adjusted()) <= SHOWN_CHARS and places <= SHOWN_CHARS


def _rounded_by(side: str, field: str, have: Any, got: Any, state: RecordState) -> str | None:
    """Why ``got`` is ``side``'s rounding of the amount ``have`` we wrote there, or None.

    A side that keeps fewer decimal places (a Zoho currency field keeps 2) rounds what it
    is given: read back, the rounded amount is no change of theirs, and taken for one it
    would be written back over the exact amount on every other side.  It is compared at the
    side's precision instead, and the rounding journaled as an error; a value the side's
    people type (any other amount) is a change as ever."""
    if type(have) is not dict or type(got) is not dict:
        return None
    exact, read = from_wire(have), from_wire(got)
    if not isinstance(exact, Decimal) or not isinstance(read, Decimal):
        return None
    places, held_places = read.as_tuple().exponent, exact.as_tuple().exponent
    if not isinstance(places, int) or not isinstance(held_places, int) or places <= held_places:
        return None
    step = Decimal(1).scaleb(places)
    if read not in (exact.quantize(step, ROUND_HALF_UP), exact.quantize(step, ROUND_HALF_EVEN)):
        return None
    # the amount it held came from another side, through our write (not typed there)
    if not any(s != side and same_wire(v, have) for s, v in state.wire_values(field)):
        return None
    return (
        f"side {side} keeps fewer decimal places in {field}: it rounded our write of {exact} "
        f"to {read}; the exact amount stays on the other sides and the rounded one is not "
        "taken back"
    )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the journal (UTF-8) could not hold it
        return False
    return True


__all__ = ["ingest", "lookup_ids"]
