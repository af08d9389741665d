"""Clone names: ``duplicates = "clone"`` on a side that refuses a second record of a name.

Books refuses a second contact or item with a name it holds ("already exists"), as does a
SQLite table with a UNIQUE name column, so a clone sent under its own name could never be
made there.  Before a batch of writes goes to a side, each write of a clone (under the
clone policy, or a record a person settled with ``--value clone``) whose value of a match
field (the name; for items also the SKU, which Books refuses twice too) another record
holds too, on that side or on any other (from where it may come to that side as well), is
sent under the value the module's ``clone_name`` rule gives instead
(:func:`conflicts.duplicates.clone_name`; by default ``"{name} ({side} {id})"``: the side
the record came from and its id there), made unique by a counter if need be.  A record
native to the side keeps its name there; of several copies none is privileged, so which
ones are renamed does not depend on the order they arrive in.

The decision is up front and a function of the journal (which names each side holds,
the batch in rid order), so a re-run after a crash sends the same name again and the
create finds what it made.  The name sent, the rule and why are journaled with the write
(``applied`` meta ``renamed``); the side then holds that name while the record shows its
own (:func:`conflicts.merge.plan`): no conflict, and nothing echoed back to the other side.
Names another program gave the side that the journal has not read yet are not known here:
such a create is refused by the side and journaled as an error, as before.
"""

from __future__ import annotations

from typing import Any

import attrs

from conflicts import MERGED, DuplicatePolicy, RecordState
from conflicts.duplicates import clone_name, exact_key
from conflicts.merge import SideWrite
from journal import JournalStorage
from journal.entry import from_wire
from replicator.config.load import ModuleConfig

Batch = list[tuple[RecordState, SideWrite, bool]]
Held = tuple[str, str]  # (side, field)


def name_fields(module: ModuleConfig) -> tuple[str, ...]:
    """The fields a clone may be renamed in: the module's match fields (a name, and for
    items the SKU, which Books refuses twice as well)."""
    return module.match_fields


def clones(module: ModuleConfig, batch: Batch) -> Batch:
    """The writes of records kept apart from their duplicates: all of them under the clone
    policy, else those of records a person settled with ``--value clone``."""
    if module.policy.duplicates is DuplicatePolicy.CLONE:
        return batch
    return [b for b in batch if b[0].cloned_by_person]


class HeldNames:
    """The values of some fields that each side holds, per record, for one module.

    Built from every record once (the engine makes one a cycle: ``cycle``), then kept
    current by folding in the records of the entries appended since.
    """

    def __init__(
        self, journal: JournalStorage, module: str, fields: tuple[str, ...], *, cycle: object = None
    ) -> None:
        self.journal = journal
        self.module = module
        self.fields = fields
        self.cycle = cycle
        self._upto = -1
        self._rids: dict[tuple[str, str, str], set[str]] = {}  # (side, field, value) -> rids
        self._names: dict[str, dict[Held, str]] = {}  # rid -> {(side, field): its value}

    def refresh(self) -> None:
        journal = self.journal
        if self._upto < 0 or journal.last_seq < self._upto:  # first use, or rolled back
            self._rids, self._names = {}, {}
            self._upto = journal.last_seq
            for _, rid, state in journal.records(self.module):
                self._index(rid, state)
            return
        touched = set()
        for entry in journal.read(since=self._upto, module=self.module):
            if entry.rid is not None:
                touched.add(entry.rid)
            self._upto = entry.seq
        for rid in sorted(touched):
            self._index(rid, journal.record(self.module, rid))

    def _index(self, rid: str, state: RecordState | None) -> None:
        # a record folded into another (a duplicate a person or the policy linked) holds
        # nothing of its own: its rows are the survivor's, which holds their names
        sides = state.held_wires() if state is not None and state.status != MERGED else {}
        for side, field in [k for k in self._names.get(rid, {}) if k[0] not in sides]:
            self.take(side, field, None, rid)
        for side, held in sides.items():
            for field in self.fields:
                value = None
                if held.id is not None and not held.deleted and field in held.wire:
                    value = exact_key(from_wire(held.wire[field]))
                self.take(side, field, value, rid)

    def take(self, side: str, field: str, value: str | None, rid: str) -> None:
        """Record that ``rid`` holds ``value`` in ``field`` on ``side`` (None: nothing)."""
        mine = self._names.setdefault(rid, {})
        old = mine.pop((side, field), None)
        if old is not None:
            holders = self._rids.get((side, field, old))
            if holders is not None:
                holders.discard(rid)
                if not holders:
                    del self._rids[(side, field, old)]
        if value is not None:
            mine[(side, field)] = value
            self._rids.setdefault((side, field, value), set()).add(rid)
        elif not mine:
            del self._names[rid]

    def others(self, side: str, field: str, value: str, rid: str) -> list[str]:
        """The records other than ``rid`` that hold ``value`` in ``field`` on ``side``."""
        return sorted(self._rids.get((side, field, value), set()) - {rid})


def rename_clones(
    names: HeldNames, module: ModuleConfig, side: str, batch: Batch
) -> dict[str, tuple[SideWrite, list[dict[str, Any]]]]:
    """The writes of ``batch`` to send under another name, by rid: each write and the
    ``renamed`` meta to journal with it (per field: field, from, to, rule, reason)."""
    names.refresh()
    out: dict[str, tuple[SideWrite, list[dict[str, Any]]]] = {}
    for state, write, _ in batch:
        rid = state.rid
        values = dict(write.values)
        renames: list[dict[str, Any]] = []
        for field in names.fields:
            if field not in values:
                continue
            value = exact_key(from_wire(values[field]))
            if value is None:
                continue
            # another record holding the value on any side: on this one the name is taken;
            # elsewhere it is a record that may come here too (none of them is privileged,
            # so the outcome does not depend on which arrives first)
            holders = [
                (s, r)
                for s in (side, *sorted(set(module.sides) - {side}))
                for r in names.others(s, field, value, rid)
            ]
            if not holders:
                names.take(side, field, value, rid)  # a later write of the batch must not
                continue
            origin = state.origin
            held = state.held_wire(origin)
            origin_id = held.id if held is not None and held.id is not None else rid

            def taken(text: str, field: str = field, rid: str = rid) -> bool:
                return bool(names.others(side, field, text, rid))

            new = clone_name(
                module.clone_name, name=value, side=origin, id=str(origin_id), taken=taken
            )
            names.take(side, field, new, rid)
            values[field] = new
            renames.append(
                {
                    "field": field,
                    "from": value,
                    "to": new,
                    "rule": module.clone_name,
                    "reason": f"{holders[0][0]} holds {field} {value!r} for record "
                    f"{holders[0][1]} too: duplicates = clone keeps both, this one as {new!r}",
                }
            )
        if renames:
            out[rid] = (attrs.evolve(write, values=values), renames)
    return out


__all__ = ["HeldNames", "clones", "name_fields", "rename_clones"]
