"""Clone names: ``duplicates = "clone"`` on a side that refuses a second record of a name.

Books refuses a second contact or item with a name it holds ("already exists"), as does a
SQLite table with a UNIQUE name column, so a clone sent under its own name could never be
made there.  Before a batch of writes goes to a side, each write whose name (the module's
first match field) that side already holds for another record, or that an earlier write
of the batch takes, is sent under the name the module's ``clone_name`` rule gives instead
(:func:`conflicts.duplicates.clone_name`; by default ``"{name} ({side} {id})"``: the side
the record came from and its id there), made unique by a counter if need be.

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

from conflicts import DuplicatePolicy, RecordState
from conflicts.duplicates import clone_name, exact_key
from conflicts.merge import SideWrite
from journal import Journal
from journal.entry import from_wire
from replicator.config import ModuleConfig

Batch = list[tuple[RecordState, SideWrite, bool]]


def name_field(module: ModuleConfig) -> str | None:
    """The field a clone is renamed in: the module's first match field (None: no rule)."""
    if module.policy.duplicates is not DuplicatePolicy.CLONE or not module.match_fields:
        return None
    return module.match_fields[0]


class HeldNames:
    """The values of one field that each side holds, per record, for one module.

    Built from every record once (the engine makes one a cycle: ``cycle``), then kept
    current by folding in the records of the entries appended since.
    """

    def __init__(self, journal: Journal, module: str, field: str, *, cycle: object = None) -> None:
        self.journal = journal
        self.module = module
        self.field = field
        self.cycle = cycle
        self._upto = -1
        self._rids: dict[tuple[str, str], set[str]] = {}  # (side, name) -> rids holding it
        self._names: dict[str, dict[str, str]] = {}  # rid -> {side: its name there}

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
        sides = state.raw["s"] if state is not None else {}
        for side in set(self._names.get(rid, ())) - set(sides):
            self.take(side, None, rid)
        for side, held in sides.items():
            name = None
            if held["id"] is not None and not held["del"] and self.field in held["v"]:
                name = exact_key(from_wire(held["v"][self.field]))
            self.take(side, name, rid)

    def take(self, side: str, name: str | None, rid: str) -> None:
        """Record that ``rid`` holds ``name`` on ``side`` (None: no name there)."""
        mine = self._names.setdefault(rid, {})
        old = mine.pop(side, None)
        if old is not None:
            holders = self._rids.get((side, old))
            if holders is not None:
                holders.discard(rid)
                if not holders:
                    del self._rids[(side, old)]
        if name is not None:
            mine[side] = name
            self._rids.setdefault((side, name), set()).add(rid)
        elif not mine:
            del self._names[rid]

    def others(self, side: str, name: str, rid: str) -> list[str]:
        """The records other than ``rid`` that hold ``name`` on ``side``, sorted."""
        return sorted(self._rids.get((side, name), set()) - {rid})


def rename_clones(
    names: HeldNames, module: ModuleConfig, side: str, batch: Batch
) -> dict[str, tuple[SideWrite, dict[str, Any]]]:
    """The writes of ``batch`` to send under another name, by rid: each write and the
    ``renamed`` meta to journal with it (field, from, to, rule, reason)."""
    field = names.field
    names.refresh()
    out: dict[str, tuple[SideWrite, dict[str, Any]]] = {}
    for state, write, _ in batch:
        if field not in write.values:
            continue
        name = exact_key(from_wire(write.values[field]))
        if name is None:
            continue
        rid = state.rid
        holders = names.others(side, name, rid)
        if not holders:
            names.take(side, name, rid)  # a later write of the batch must not take it too
            continue
        origin = state.origin
        held = state.held(origin)
        origin_id = held["id"] if held is not None and held["id"] is not None else rid
        new = clone_name(
            module.clone_name,
            name=name,
            side=origin,
            id=str(origin_id),
            taken=lambda text, rid=rid: bool(names.others(side, text, rid)),  # type: ignore[misc]
        )
        names.take(side, new, rid)
        renamed = attrs.evolve(write, values={**write.values, field: new})
        out[rid] = (
            renamed,
            {
                "field": field,
                "from": name,
                "to": new,
                "rule": module.clone_name,
                "reason": f"{side} holds {name!r} already (record {holders[0]}): "
                f"duplicates = clone keeps both, this one as {new!r}",
            },
        )
    return out


__all__ = ["HeldNames", "name_field", "rename_clones"]
