"""How the CLI and the web console show what the journal holds: values, times, conflicts,
entries and records, the same words in a terminal and on a page.

Pure presentation over the journal's values (no I/O of its own): :func:`plain` (a
canonical value as JSON), :func:`show` (one for a person), :func:`at_text` (a time),
:func:`conflict_data` (a conflict row as ``conflicts list --json`` shows it) and
:func:`conflict_base` (the value every side held before it), :func:`describe` and
:func:`entry_data` (an entry as ``journal log`` shows it), :func:`register_value` and
:func:`display_field` (a record's value of a field, and the field that names it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from conflicts import RESOLVER, ConflictData, RecordState, plain, same_value
from journal import Entry, JournalStorage, Kind
from journal.entry import from_wire
from journal.payloads import (
    ABSENT,
    Applied,
    DealAssociation,
    DuplicateConflict,
    DuplicateResolution,
    Failure,
    Linked,
    Merged,
    Observed,
    SettledIntent,
    Skipped,
    Tombstone,
    Triggered,
    TriggerSkipped,
    Unlinked,
    ValueConflict,
    ValueResolution,
    WriteIntent,
    encode,
    payload_of,
)
from replicator.config.integration_transactions import DOCUMENT_PARTIES
from replicator.config.load import Config

# -- values and times ------------------------------------------------------------------------


def show(value: Any) -> str:
    """A canonical value for a person: text quoted, no value shown as such."""
    if value is None:
        return "(no value)"
    if isinstance(value, str):
        return repr(value)
    return str(plain(value))


def at_text(value: dt.datetime | str | None) -> str:
    """A time for a person: UTC, to the millisecond ("" for none)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# -- conflicts ------------------------------------------------------------------------------


def values_by_side(siblings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each side's value among a conflict's siblings (its latest, if it wrote twice)."""
    values: dict[str, tuple[int, Any]] = {}
    for s in siblings:
        counter = s["dot"][1]
        if s["side"] not in values or counter > values[s["side"]][0]:
            values[s["side"]] = (counter, s["value"])
    return {side: value for side, (_, value) in values.items()}


def conflict_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """A conflict row as the JSON listing shows it."""
    data = ConflictData.of(row["data"])
    held = data.conflict
    siblings = held.siblings if isinstance(held, ValueConflict) else ()
    values = values_by_side(siblings)
    winner = held.winner if isinstance(held, ValueConflict) else None
    reason = held.reason
    resolution = data.resolution
    if isinstance(resolution, ValueResolution) and resolution.take is not None:
        winner = {"side": resolution.take, "value": values.get(resolution.take)}
        reason = f"resolved by a person: took the value from {resolution.take}"
    elif isinstance(resolution, ValueResolution) and resolution.value is not ABSENT:
        winner = {"side": None, "value": resolution.value}
        reason = "resolved by a person: a value of their own"
    elif resolution is not None:
        decided = resolution if isinstance(resolution, DuplicateResolution) else None
        paired = f" with {decided.with_}" if decided is not None and decided.with_ else ""
        reason = f"resolved by a person: {decided.decision if decided else None}{paired}"
    elif data.settled_by:
        settled = data.settled_by
        reason = f"{reason}; settled by a later {settled['kind']} (entry {settled['seq']})"
    out = {
        "id": row["id"],
        "module": row["module"],
        "rid": row["rid"],
        "field": row["field"],
        "status": row["status"],
        "values": values,
        "winner": winner,
        "reason": reason,
        "policy": held.policy,
        "siblings": [{"side": s["side"], "value": s["value"], "at": s["at"]} for s in siblings],
    }
    if isinstance(held, DuplicateConflict) and held.suggestion:
        out["kind"] = "suggestion"  # a near match for a person: nothing was applied
        out["duplicate"] = {
            "key": held.key,
            "near_key": held.near_key,
            "candidates": list(held.candidates),
        }
    elif isinstance(held, DuplicateConflict):
        out["kind"] = "duplicate"
        out["duplicate"] = {"key": held.key, "candidates": list(held.candidates)}
    else:
        out["kind"] = "field"
    return plain(out)


def conflict_base(journal: JournalStorage, row: Mapping[str, Any]) -> tuple[Any, Entry] | None:
    """The last value every side held of the field before the conflict, and the entry."""
    field = row["field"]
    conflict = ConflictData.of(row["data"]).conflict
    siblings = conflict.siblings if isinstance(conflict, ValueConflict) else ()
    sides = {s["side"] for s in siblings if s["side"] != RESOLVER}
    held: dict[str, Any] = {}
    base = None
    kinds = [str(Kind.OBSERVED), str(Kind.APPLIED), str(Kind.LINK)]
    for entry in journal.read(module=row["module"], rid=row["rid"], kinds=kinds):
        if entry.seq >= row["id"]:
            break
        if entry.side is None or field not in entry.fields:
            continue
        held[entry.side] = entry.fields[field]
        values = [held.get(s) for s in sides]
        if all(s in held for s in sides) and all(same_value(v, values[0]) for v in values):
            base = (values[0], entry)
    return base


# -- entries --------------------------------------------------------------------------------

RECORD_KINDS = [str(k) for k in Kind if k not in (Kind.CURSOR, Kind.CONFIG)]


def _fields(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in sorted(values.items()))


def describe(entry: Entry) -> str:
    """What an entry says, field by field, for a person."""
    payload = payload_of(entry)
    if isinstance(payload, Observed):
        return f"id {payload.id}: {_fields(entry.fields)}"
    if isinstance(payload, Tombstone):
        if payload.by is not None:  # a delete we made at a person's request
            why = f": {payload.reason}" if payload.reason else ""
            return f"deleted on {entry.side} (id {payload.id}) for {payload.by}{why}"
        return f"deleted on {entry.side} (id {payload.id}); not propagated"
    if entry.kind is Kind.INTENT:
        if isinstance(payload, SettledIntent):
            return f"nothing to write for {len(payload.settled)} record(s)"
        writes = payload.writes if isinstance(payload, WriteIntent) else {}
        creates = sum(1 for v in writes.values() if v is None)
        return (
            f"about to write {len(writes)} record(s) to {entry.side} "
            f"({creates} create, {len(writes) - creates} update)"
        )
    if isinstance(payload, Applied):
        made = "created" if payload.create else "restored" if entry.dot else "updated"
        text = f"{made} on {entry.side} id {payload.id}: {_fields(entry.fields)}"
        for renamed in payload.renamed:  # duplicates = "clone": the name was taken
            text += f"; renamed by clone_name {renamed['rule']!r}: {renamed['reason']}"
        return text
    if isinstance(payload, Failure):
        field = f" field {payload.field}" if payload.field else ""
        return f"{payload.stage}{field}: {payload.reason}"
    if isinstance(payload, Linked):
        return (
            f"linked to {entry.side} id {payload.id} ({payload.policy}, was "
            f"{payload.from_}): {_fields(entry.fields)}"
        )
    if isinstance(payload, Unlinked):
        return (
            f"unlinked from {entry.side} id {payload.id} by undo of run {payload.undoes} "
            f"({payload.by}): it is record {payload.from_} again"
        )
    if isinstance(payload, Merged):
        return f"merged into {payload.into} ({payload.policy})"
    if isinstance(payload, Skipped):
        return f"skipped: {payload.reason}"
    if isinstance(payload, DuplicateConflict):
        return f"duplicate key {payload.key!r}: {payload.reason}"
    if isinstance(payload, ValueConflict):
        siblings = "; ".join(
            f"{s['side']}={show(s['value'])} at {at_text(s['at'])}" for s in payload.siblings
        )
        winner = payload.winner
        won = f"{winner['side']}={show(winner['value'])}" if winner else "held for a person"
        return f"{payload.field}: {siblings}\nwinner: {won} ({payload.reason})"
    if isinstance(payload, (ValueResolution, DuplicateResolution)):
        what = (
            payload.decision if isinstance(payload, DuplicateResolution) else _fields(entry.fields)
        )
        return f"conflict {payload.conflict} settled by a person: {what}"
    if isinstance(payload, Triggered):
        return f"{payload.reason}: {_fields(entry.fields)}"
    if isinstance(payload, TriggerSkipped):
        return f"{payload.trigger} trigger skipped: {payload.reason}"
    if isinstance(payload, DealAssociation):
        named = f" ({payload.deal_name})" if payload.deal_name else ""
        number = f" {payload.number}" if payload.number else ""
        return (
            f"{payload.document}{number} {payload.action}d with deal {payload.deal}{named} "
            f"by {payload.by}"
        )
    return json.dumps(plain(encode(payload)), ensure_ascii=False)


def entry_data(entry: Entry) -> dict[str, Any]:
    return plain(
        {
            "seq": entry.seq,
            "at": entry.at,
            "kind": str(entry.kind),
            "module": entry.module,
            "rid": entry.rid,
            "side": entry.side,
            "dot": entry.dot.to_json() if entry.dot else None,
            "fields": entry.fields,
            "meta": entry.meta,
            "summary": describe(entry),
        }
    )


# -- records --------------------------------------------------------------------------------


def register_value(state: RecordState, field: str) -> Any:
    values: list[Any] = []
    for _, value in state.wire_values(field):
        if value not in values:
            values.append(value)
    if not values:
        return None
    if len(values) == 1:
        return from_wire(values[0])
    return " / ".join(str(plain(from_wire(v))) for v in values)


def display_field(config: Config, module: str) -> str | None:
    module_config = config.modules.get(module)
    if module_config is None:
        return None
    if module_config.match_fields:
        return module_config.match_fields[0]
    return next(iter(module_config.fields.fields), None)


def ref_fields(config: Config) -> dict[str, str]:
    """The field naming each document's party (a customer's or vendor's rid), for the
    document modules the config syncs: the reference the journal's reducer stores beside
    each document, so a customer's documents are found without reading every one."""
    return {m: DOCUMENT_PARTIES[m] for m in sorted(config.modules) if m in DOCUMENT_PARTIES}


def label_fields(config: Config) -> dict[str, str]:
    """The field that names each module's records (:func:`display_field`): the rule the
    journal's reducer stores each record's folded name by, for searches by name
    (``RecordReducer(labels=...)``)."""
    found = {module: display_field(config, module) for module in config.modules}
    return {module: field for module, field in sorted(found.items()) if field is not None}


__all__ = [
    "RECORD_KINDS",
    "at_text",
    "conflict_base",
    "conflict_data",
    "describe",
    "display_field",
    "entry_data",
    "label_fields",
    "plain",
    "ref_fields",
    "register_value",
    "show",
    "values_by_side",
]
