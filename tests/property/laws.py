"""The laws of DESIGN section 8, stated over a :class:`~tests.property.world.World`.

Each ``check_*`` function raises an ``AssertionError`` that says what broke and where.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflicts import ACTIVE, MERGED, RecordState, visible
from conflicts.merge import side_values
from conflicts.policy import DuplicatePolicy
from journal import Kind, dumps, verify
from journal.entry import from_wire
from journal.store import cursor_order
from tests.property.world import COLUMNS, MODULE, World
from tests.strategies import FIELDS, SIDES, valid_value


def same(a: Any, b: Any) -> bool:
    """Canonical equality, whatever form a value is kept in: its journal encoding."""
    return dumps(a) == dumps(b)


def check_cursors_forward(
    before: Mapping[tuple[str, str], Any], after: Mapping[tuple[str, str], Any]
) -> None:
    """No cursor disappears or moves back."""
    for key, value in before.items():
        assert key in after, f"cursor {key} vanished"
        assert cursor_order(after[key]) >= cursor_order(value), (
            f"cursor {key} went back from {value!r} to {after[key]!r}"
        )


def check_cursor_log(log: Sequence[Mapping[tuple[str, str], Any]]) -> None:
    """From each cycle to the next, no cursor moved back or disappeared."""
    for before, after in zip(log, log[1:], strict=False):
        check_cursors_forward(before, after)


def check_verifies(w: World) -> None:
    """The hash chain holds and a replay of the entries gives the live state."""
    result = verify(w.journal)
    assert result.ok, result.problem


def links(w: World) -> dict[tuple[str, str], tuple[str, str]]:
    """(side, side id) -> (rid, status)."""
    return w.journal.module_links(MODULE)


def check_links_one_to_one(w: World) -> None:
    """A record has at most one row per side, and each row belongs to one record."""
    per_record: dict[tuple[str, str], list[str]] = {}
    for (side, sid), (rid, _status) in links(w).items():
        per_record.setdefault((rid, side), []).append(sid)
    twice = {k: v for k, v in per_record.items() if len(v) > 1}
    assert not twice, f"records linked to several rows of one side: {twice}"
    for state in w.records():
        if state.status == MERGED:
            continue  # its row now belongs to the record it was merged into
        for side, held in state.sides.items():
            if held.id is not None:
                found = w.journal.rid_for(MODULE, side, held.id)
                assert found == state.rid, (
                    f"{state.rid} holds {side} row {held.id}, but the link names {found}"
                )


def check_no_orphans(w: World) -> None:
    """Every row on every side belongs to a record of the journal (no stray duplicates)."""
    linked = links(w)
    for side in SIDES:
        for id, row in w.sides[side].rows().items():
            assert (side, id) in linked, (
                f"{side} row {id} {row} belongs to no record: a duplicate the journal lost"
            )


def check_each_key_once_per_side(w: World) -> None:
    """No duplicate made by the engine: under a policy that pairs (or skips) records with
    one match key, each key another program put on at most one row per side, never renamed,
    deleted or raced (see :class:`~tests.property.world.World`), is held by at most one row
    on each side, counted in the sides' own tables."""
    if w.module.policy.duplicates is DuplicatePolicy.CLONE:
        return  # clone keeps both rows and copies each to the other side, on purpose
    for side in SIDES:
        rows: dict[str, list[str]] = {}
        for id, row in w.sides[side].rows().items():
            key = w.key(side, row)
            if key is not None:
                rows.setdefault(key, []).append(id)
        for key, ids in sorted(rows.items()):
            made = [w.inserted[(s, key)] for s in SIDES]
            # another program made two rows with this key on one side: not the engine's
            assert len(ids) < 2 or key in w.loose_keys or max(made) > 1, (
                f"{side} holds {len(ids)} rows with match key {key!r} (ids {ids}); another "
                f"program made {made} on {list(SIDES)}: "
                "the engine created a duplicate the duplicate policy would have paired"
            )


def _open_fields(state: RecordState) -> set[str]:
    return {name for name, info in state.conflicts.items() if info.get("open")}


def visible_values(w: World, state: RecordState) -> dict[str, Any]:
    values, _ = visible(state, w.module.policy)
    return values


def _nothing_readable(state: RecordState, poisoned: Mapping[tuple[str, str, str], Any]) -> bool:
    """A record with no value to send: every field its one row holds is poisoned (a row
    with nothing readable waits, its read errors journaled, until another program fixes it)."""
    if state.raw["f"] or len(state.sides) != 1:
        return False
    ((side, held),) = state.sides.items()
    return held.id is not None and all(
        (side, held.id, field) in poisoned for field in COLUMNS[side]
    )


def check_converged(w: World) -> None:
    """Both sides hold the visible values of every active record that no side deleted."""
    rows = w.snapshot()
    targets = w.module.policy.targets
    poisoned = w.poisoned()
    for state in w.records():
        if state.status != ACTIVE:
            continue
        values = visible_values(w, state)
        held_open = _open_fields(state)
        deleted = any(h.deleted for h in state.sides.values())
        for side in targets:
            held = state.sides.get(side)
            if held is None or held.id is None:
                assert deleted or _nothing_readable(state, poisoned), (
                    f"{state.rid} never reached {side}: {state}"
                )
                continue
            if held.deleted:
                continue
            row = rows[side].get(held.id)
            assert row is not None, (
                f"{state.rid}: its {side} row {held.id} is gone but the journal has no tombstone"
            )
            got = w.canonical(side, row)
            # a clone renamed on this side (clone_name) holds its other name there
            raw = state.held(side)
            for name, value in side_values(values, raw.get("a") if raw else None).items():
                if name in held_open or (side, held.id, name) in poisoned:
                    continue  # a person settles it; another program's poison stays its own
                assert name in got and same(got[name], value), (
                    f"{state.rid}.{name}: {side} row {held.id} holds {got.get(name)!r}, "
                    f"the record shows {value!r}"
                )


def check_journal_knows_the_sides(w: World) -> None:
    """After a full cycle the journal's view of each linked row is what the row holds."""
    rows = w.snapshot()
    for state in w.records():
        for side, held in state.sides.items():
            if held.id is None or held.deleted or state.status != ACTIVE:
                continue
            row = rows[side].get(held.id)
            assert row is not None, (
                f"{state.rid}: the journal thinks {side} row {held.id} exists; it does not"
            )
            got = w.canonical(side, row)
            for name, value in got.items():
                if value is None and name not in held.values:
                    continue  # a field the record had no value for yet (its source poisoned)
                assert name in held.values and same(held.values[name], value), (
                    f"{state.rid}: {side} row {held.id} holds {name}={value!r}, "
                    f"the journal thinks {held.values.get(name, '(nothing)')!r}"
                )


def check_idempotent(w: World) -> None:
    """A cycle right after a completed one appends no entry and writes nothing."""
    seq, writes, data = w.journal.last_seq, w.writes(), w.snapshot()
    w.cycle()
    new = list(w.journal.read(since=seq))
    assert not new, f"a second cycle appended {[(e.kind, e.rid, e.fields, e.meta) for e in new]}"
    assert w.writes() == writes, "a second cycle wrote to a side"
    assert w.snapshot() == data, "a second cycle changed a side's data"


def check_no_echo(w: World) -> None:
    """Every ``observed`` entry comes from an edit another program made after the last
    time the journal observed that row: never from our own writes coming back."""
    last_seen: dict[tuple[str, str], int] = {}
    for entry in w.entries(Kind.OBSERVED):
        key = (entry.side, entry.meta["id"])
        absent = entry.meta.get("absent", ())
        if all(v is None and k in absent for k, v in entry.fields.items()):
            # only that the row has no value in fields the journal never saw it hold (a
            # record created with no value there: its source's was a poison): no write of
            # ours came back, and the reducer takes no value from it
            continue
        since = last_seen.get(key, 0)
        cause = [
            e
            for e in w.external
            if (e.side, e.id) == key and e.op != "delete" and e.seq >= since and e.seq < entry.seq
        ]
        assert cause, (
            f"entry {entry.seq} observed {entry.fields} on {key} with no edit there since "
            f"entry {since}: our own write came back"
        )
        last_seen[key] = entry.seq


_MISSING = object()


def check_no_lost_update(w: World) -> None:
    """Every observed value is the final value on both sides, a conflict sibling, or
    replaced by a later write that had seen it."""
    states = {s.rid: s for s in w.records()}
    conflict_dots: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for entry in w.entries(Kind.CONFLICT):
        for sib in entry.meta.get("siblings", []):
            conflict_dots.setdefault((entry.rid, entry.meta["field"]), set()).add(tuple(sib["dot"]))
    writes = [e for e in w.entries(Kind.OBSERVED, Kind.LINK, Kind.RESOLUTION) if e.dot is not None]
    rows = w.snapshot()
    poisoned = w.poisoned()
    for entry in w.entries(Kind.OBSERVED):
        state = states[entry.rid]
        if state.status != ACTIVE or any(h.deleted for h in state.sides.values()):
            continue
        for name, value in entry.fields.items():
            if value is None and name in entry.meta.get("absent", ()):
                continue  # a field the side never held, read empty: no value (filled)
            if any((s, h.id, name) in poisoned for s, h in state.sides.items()):
                continue  # another program wrote over it with a poison: not the engine's loss
            finals = []
            for side in SIDES:
                held = state.sides.get(side)
                if held is None or held.id is None or held.id not in rows[side]:
                    finals.append(_MISSING)
                else:
                    got = w.canonical(side, rows[side][held.id]).get(name)
                    # a clone renamed on this side (clone_name) holds its other name there
                    raw = state.held(side) or {}
                    shown, other = raw.get("a", {}).get(name, (_MISSING, _MISSING))
                    if other is not _MISSING and same(from_wire(shown), value):
                        got = value if same(got, from_wire(other)) else got
                    finals.append(got)
            if all(f is not _MISSING and same(f, value) for f in finals):
                continue
            if (entry.dot.side, entry.dot.counter) in conflict_dots.get((entry.rid, name), ()):
                continue
            later = [
                e
                for e in writes
                if e.rid == entry.rid
                and e.seq > entry.seq
                and name in e.fields
                and (
                    (e.context is not None and e.context.covers(entry.dot))
                    # the link policy: a duplicate's value fills a gap (no value)
                    or (value is None and name in e.meta.get("fill", ()))
                )
            ]
            assert later, (
                f"entry {entry.seq} ({entry.side} {entry.dot}) set {entry.rid}.{name}={value!r};"
                f" the sides hold {finals}, no conflict lists it and no later write saw it"
            )


def check_deletes_stay(w: World) -> None:
    """A row deleted on one side is never re-created there, and its partner stays."""
    deleted_ext = {(e.side, e.id) for e in w.external if e.op == "delete"}
    applied = w.entries(Kind.APPLIED)
    rows = w.snapshot()
    for tomb in w.entries(Kind.TOMBSTONE):
        later = [
            a for a in applied if a.rid == tomb.rid and a.side == tomb.side and a.seq > tomb.seq
        ]
        assert not later, f"{tomb.rid} was written to {tomb.side} after its delete: {later}"
        state = w.journal.record(MODULE, tomb.rid)
        assert state is not None
        held = state.sides[tomb.side]
        assert held.deleted
        assert w.journal.links(MODULE, tomb.rid)[tomb.side] == (held.id, "deleted")
        for side, other in state.sides.items():
            if side == tomb.side or other.id is None or (side, other.id) in deleted_ext:
                continue
            assert other.id in rows[side], (
                f"{tomb.rid}: deleted on {tomb.side}, and its {side} row {other.id} went too"
            )


def check_no_lost_record(w: World) -> None:
    """Every row another program made and kept reached the other side (unless its record
    was held, skipped or deleted there), through the record it belongs to."""
    rows = w.snapshot()
    targets = w.module.policy.targets
    poisoned = w.poisoned()
    for e in w.external:
        if e.op != "insert" or e.id not in rows[e.side]:
            continue
        rid = w.journal.rid_for(MODULE, e.side, e.id)
        assert rid is not None, f"{e.side} row {e.id} never reached the journal"
        state = w.journal.record(MODULE, rid)
        assert state is not None
        if state.status != ACTIVE or _nothing_readable(state, poisoned):
            continue
        for side in targets:
            held = state.sides.get(side)
            assert held is not None and held.id is not None, (
                f"{e.side} row {e.id} ({rid}) never reached {side}"
            )
            assert (
                held.deleted
                or held.id in rows[side]
                or (side, held.id) in {(x.side, x.id) for x in w.external if x.op == "delete"}
            ), f"{rid}: its {side} row {held.id} is gone, and nobody deleted it"


def check_no_poison_spreads(w: World) -> None:
    """A poison stays where another program wrote it: no journal entry holds a value a valid
    edit could not have made (a poison, a guess at one, a float), and no side's row holds
    one outside the fields the world poisoned."""
    for entry in w.journal.read(module=MODULE):
        for name, value in entry.fields.items():
            shown = from_wire(value)
            assert name not in FIELDS or valid_value(name, shown), (
                f"entry {entry.seq} ({entry.kind} {entry.rid} on {entry.side}) holds "
                f"{name}={shown!r}: read from a poison, or a guess at one"
            )
    poisoned = w.poisoned()
    for side in SIDES:
        for id, row in w.sides[side].rows().items():
            values, errors = w.module.fields.to_canonical(side, row)
            for err in errors:
                assert (side, id, err.field) in poisoned, (
                    f"{side} row {id} holds {err.field}={err.value!r}, which no sync can read "
                    "and nobody put there"
                )
            for name, value in values.items():
                assert valid_value(name, value), (
                    f"{side} row {id} holds {name}={value!r}: read from a poison, or a guess"
                )


def check_poison_journaled(w: World) -> None:
    """Every poison in place since before the last completed full cycle is an error entry
    naming its record, side and field (journaled after the poison was written)."""
    errors = w.entries(Kind.ERROR)
    # a row read as a record of its own, then folded into its duplicate: the error entry
    # names the record the row was when it was read
    folded: dict[str, set[str]] = {}
    for entry in w.entries(Kind.MERGED):
        into = entry.meta.get("into")
        if entry.rid is not None and isinstance(into, str):
            folded.setdefault(into, set()).add(entry.rid)
    for (side, id, field), poisoned in w.poisoned().items():
        if w.full_cycles <= poisoned.full_cycles:
            continue  # no complete read of the side since
        rid = w.journal.rid_for(MODULE, side, id)
        named = {rid, *folded.get(rid or "", ())}
        found = [
            e
            for e in errors
            if e.seq > poisoned.seq
            and e.side == side
            and e.rid in named
            and e.meta.get("field") == field
            and e.meta.get("reason")
        ]
        assert found, (
            f"{side} row {id} ({rid}) holds a poison in {field} ({poisoned.value!r}) since "
            f"entry {poisoned.seq}; no error entry names it"
        )


def pairing(w: World) -> list[tuple[Any, ...]]:
    """Which rows ended up paired, named by the ``tag`` each seeded row carries (engine-made
    rows are ``new``), with each record's status and the values each side holds: a
    description of the outcome that does not depend on ids or arrival order."""
    rows = w.snapshot()
    out = []
    for state in w.records():
        sides = []
        for side in SIDES:
            held = state.sides.get(side)
            if held is None or held.id is None or state.status == MERGED:
                sides.append((side, None, None))
                continue
            row = rows[side].get(held.id, {})
            got = w.canonical(side, row)
            # a clone renamed on this side holds a name made of its origin's id: which
            # records were renamed counts, not the ids in their names
            for name, (shown, other) in (state.held(side) or {}).get("a", {}).items():
                if name in got and same(got[name], from_wire(other)):
                    got[name] = f"(clone of {from_wire(shown)!r})"
            values = tuple(sorted((k, dumps(v)) for k, v in got.items()))
            sides.append((side, row.get("tag", "new"), values))
        tag = None
        if state.status == MERGED:  # the seeded row that was folded into another record
            held = state.sides[state.origin]
            tag = rows[state.origin].get(held.id or "", {}).get("tag")
        out.append((state.status, tag, tuple(sides)))
    return sorted(out, key=repr)
