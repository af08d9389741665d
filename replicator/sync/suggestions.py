"""Duplicates a person decides: near matches suggested, and the decisions taken on them.

With ``suggest = true`` on a module, a record on one side only whose exact match key meets
nothing on the other side, but whose *near key* (the normalised key: case, spacing,
punctuation and legal suffixes folded, see :func:`conflicts.duplicates.near_key`) equals
that of records on the other side, is not created there silently.  Every member of such a
*near group* is held by a duplicate conflict marked as a suggestion (its candidates, each
one's exact key, the near key and why), which `replicator conflicts list` shows and
`replicator conflicts resolve ID --value link|clone|skip` settles:

- ``link`` pairs the record with its one candidate on the other side (``link:RID`` names
  one of several) with the same entries the module's policy makes for an exact pair: the
  incoming record's values replace the other's under ``overwrite``, and they merge field by
  field under ``link`` (and under ``clone`` and ``skip``, which have no pairing of their own);
- ``clone`` keeps the group apart: each record is created on the other side, and never
  suggested again;
- ``skip`` leaves every record of the group unsynced.

The group is decided from the records present when its first member is settled, and is a
function of that set alone (:func:`conflicts.duplicates.near_group`), so arrival order,
pages and batches do not change it; every decision is journaled, so replay rebuilds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from conflicts import (
    ACTIVE,
    HELD,
    ConflictData,
    DuplicatePolicy,
    Member,
    RecordState,
    ResolutionError,
    visible,
)
from conflicts.duplicates import NEAR_REASON, Candidate, near_group
from journal import Dot, JournalStorage, Kind, NewEntry, VectorClock
from journal.entry import utc_text
from journal.payloads import (
    DuplicateConflict,
    DuplicateResolution,
    Linked,
    Merged,
    new_entry,
    variant,
)
from replicator.config.load import ModuleConfig
from replicator.sync.record import CycleReport

SUGGESTION_FIELD = "(suggestion)"
DECISIONS = ("link", "clone", "skip")


def near_matches(
    journal: JournalStorage, module: ModuleConfig, rids: Sequence[str], report: CycleReport
) -> list[NewEntry]:
    """Suggestion conflicts for the near groups the records ``rids`` (a batch) belong to.

    One batched lookup of the batch's near keys; only groups of two or more are read.
    """
    name = module.name
    nears = set()
    for rid in rids:
        state: RecordState | None = journal.record(name, rid)
        if state is not None and state.attention and len(state.linked_sides) == 1:
            near = state.index_near()
            if near is not None:
                nears.add(near)
    if not nears:
        return []
    groups = journal.with_near_keys(name, sorted(nears))
    entries: list[NewEntry] = []
    policy = module.policy.duplicates.value
    for near in sorted(groups):
        members_rids = groups[near]
        if len(members_rids) < 2:
            continue
        journal.preload(name, members_rids)
        candidates: list[Candidate] = []
        linked: list[Candidate] = []  # on both sides already: their keys count, no more
        for rid in members_rids:
            state = journal.record(name, rid)
            if state is not None and state.index_near() == near:
                if len(state.linked_sides) == 1:
                    candidates.append(Candidate(rid, state.linked_sides[0], state.key))
                else:
                    linked.append(Candidate(rid, state.origin, state.key))
        group = near_group(candidates, linked)
        listed = [{"rid": c.rid, "side": c.origin, "key": c.key} for c in group]
        for member in group:
            held = DuplicateConflict(
                field=SUGGESTION_FIELD,
                status="open",
                suggestion=True,
                key=member.key,
                near_key=near,
                candidates=tuple(listed),
                reason=NEAR_REASON,
                policy=policy,
                dots=(),
            )
            entries.append(new_entry(held, name, member.rid))
            report.add(name, member.origin, "held")  # held for a person, as a suggestion
            report.add(name, member.origin, "suggested")
    return entries


def pair_entries(
    journal: JournalStorage,
    module: ModuleConfig,
    incoming: Member,
    existing: Member,
    key: str | None,
    *,
    merge: bool,
    by: str | None = None,
) -> list[NewEntry]:
    """The entries that make ``existing`` part of ``incoming``'s record: a ``link`` (its
    side's id and values: folded in field by field when ``merge``, else replaced by the
    incoming values) and ``merged`` for the record it was."""
    name = module.name
    policy = module.policy
    src = journal.record(name, incoming.rid)
    old = journal.record(name, existing.rid)
    assert src is not None and old is not None
    held = old.sides[existing.origin]
    linked = Linked(id=held.id, policy=policy.duplicates.value, from_=old.rid, key=key, by=by)
    if merge:
        newest = max((s.at for r in old.fields.values() for s in r.siblings), default=None)
        # field by field: a value fills a gap in the incoming record, and only two
        # different values are a conflict
        mine, _ = visible(src, policy)
        values = {k: v for k, v in held.values.items() if v is not None}
        linked = attrs.evolve(
            linked,
            modified=utc_text(newest) if newest is not None else None,
            fill=tuple(sorted(k for k in values if mine.get(k) is None)),
            empty=tuple(sorted(k for k, v in held.values.items() if v is None)),
        )
        dot = Dot(existing.origin, src.clock.get(existing.origin) + 1)
        link = new_entry(
            linked, name, src.rid, existing.origin, dot=dot, context=VectorClock(), fields=values
        )
    else:
        link = new_entry(linked, name, src.rid, existing.origin, fields=dict(held.values))
    merged = Merged(into=src.rid, policy=policy.duplicates.value, key=key, by=by)
    return [link, new_entry(merged, name, old.rid, existing.origin)]


# -- a person's decision ---------------------------------------------------------------------


def resolve_duplicate(
    journal: JournalStorage,
    module: ModuleConfig,
    row: dict[str, Any],
    value: str | None,
    *,
    by: str = "person",
) -> NewEntry:
    """Journal a person's ``link`` / ``link:RID`` / ``clone`` / ``skip`` on a duplicate
    conflict; returns the resolution of that conflict.

    A suggestion is settled as a group (clone and skip reach every member still held by
    it; link both records it pairs); an exact duplicate group, member by member (link:
    both records it pairs).
    """
    cid, name = row["id"], row["module"]
    held = ConflictData.of(row["data"]).conflict
    if not isinstance(held, DuplicateConflict):
        raise ResolutionError(f"conflict {cid} is not a duplicate group: --take or --value")
    suggestion = held.suggestion
    decision, _, partner_rid = (value or "").partition(":")
    if decision not in DECISIONS or (partner_rid and decision != "link"):
        raise ResolutionError(
            f"conflict {cid} is a duplicate group: resolve it with --value link (the same "
            "record: pair them; link:RID picks one of several), --value clone (different "
            "records: create each on the other side) or --value skip (leave it unsynced)"
        )
    base = DuplicateResolution(conflict=cid, by=by, decision=decision, suggestion=suggestion)
    if decision != "link":
        rows = _group_rows(journal, row, held) if suggestion else [row]
        entries = [new_entry(attrs.evolve(base, conflict=r["id"]), name, r["rid"]) for r in rows]
        journal.append(entries)
        return entries[0]
    mine = _member(journal, name, row["rid"])
    if mine is None:
        raise ResolutionError(f"conflict {cid}: record {row['rid']} is no longer on one side")
    partner = _partner(journal, name, cid, mine, held.candidates, partner_rid)
    policy = module.policy
    incoming, existing = (partner, mine) if partner.origin == policy.incoming else (mine, partner)
    entries = [new_entry(attrs.evolve(base, with_=partner.rid), name, mine.rid)]
    for other in journal.conflicts(status="open", module=name, rid=partner.rid):
        if variant(Kind.CONFLICT, other["data"]) is DuplicateConflict:
            paired = attrs.evolve(base, conflict=other["id"], with_=mine.rid)
            entries.append(new_entry(paired, name, partner.rid))
    merge = policy.duplicates is not DuplicatePolicy.OVERWRITE
    key = held.near_key if suggestion else held.key
    entries += pair_entries(journal, module, incoming, existing, key, merge=merge, by="person")
    with journal.transaction():
        journal.append(entries)
    return entries[0]


def _group_rows(
    journal: JournalStorage, row: dict[str, Any], held: DuplicateConflict
) -> list[dict[str, Any]]:
    """The open conflicts of the suggestion ``row`` (``held``) belongs to: ``row`` first."""
    near = held.near_key
    rows = [row]
    for candidate in held.candidates:
        if candidate["rid"] == row["rid"]:
            continue
        for other in journal.conflicts(status="open", module=row["module"], rid=candidate["rid"]):
            theirs = ConflictData.of(other["data"]).conflict
            if (
                isinstance(theirs, DuplicateConflict)
                and theirs.suggestion
                and theirs.near_key == near
            ):
                rows.append(other)
    return rows


def _member(journal: JournalStorage, module: str, rid: str) -> Member | None:
    """``rid`` as a group member, if it is still held on one side alone."""
    state: RecordState | None = journal.record(module, rid)
    if state is None or state.status not in (HELD, ACTIVE) or len(state.linked_sides) != 1:
        return None
    return Member(rid, state.linked_sides[0])


def _partner(
    journal: JournalStorage,
    module: str,
    cid: int,
    mine: Member,
    candidates: Sequence[Mapping[str, Any]],
    wanted: str,
) -> Member:
    """The candidate on another side that a ``link`` pairs with (``wanted``, or the one)."""
    others = [c["rid"] for c in candidates if c["rid"] != mine.rid and c["side"] != mine.origin]
    if wanted and wanted not in others:
        raise ResolutionError(
            f"conflict {cid}: {wanted} is not a candidate on another side "
            f"(candidates: {', '.join(others) or 'none'})"
        )
    free = [m for rid in ([wanted] if wanted else others) if (m := _member(journal, module, rid))]
    free = [m for m in free if m.origin != mine.origin]
    if not free:
        raise ResolutionError(
            f"conflict {cid}: no candidate on another side is still unpaired "
            f"({', '.join(others) or 'none'}); resolve it with --value clone or --value skip"
        )
    if len(free) > 1:
        raise ResolutionError(
            f"conflict {cid}: several candidates on another side; say which with "
            f"--value link:RID (one of {', '.join(m.rid for m in free)})"
        )
    return free[0]


__all__ = ["SUGGESTION_FIELD", "near_matches", "pair_entries", "resolve_duplicate"]
