"""Record merge: from a record's state and its module's policy to a plan of writes.

Pure: a function of its arguments.  For every field the visible value is the single value
of its register, or the conflict policy's choice among concurrent siblings (or nothing, when
a person must choose).  Each side the direction allows is sent what it does not hold yet.
"""

from __future__ import annotations

from typing import Any

import attrs

from conflicts.policy import ModulePolicy
from conflicts.register import Register, same_value
from conflicts.state import ACTIVE, RecordState, dot_list
from journal.clock import VectorClock


@attrs.frozen
class FieldConflict:
    """Concurrent values of one field, and what the policy made of them."""

    field: str
    register: Register
    winner: Any  # the winning value (None with held=True)
    winner_side: str | None
    reason: str
    held: bool

    def to_meta(self, policy: str) -> dict[str, Any]:
        return {
            "field": self.field,
            "status": "open" if self.held else "resolved",
            "policy": policy,
            "siblings": [
                {"side": s.dot.side, "dot": list(s.dot.to_json()), "value": s.value, "at": s.at}
                for s in self.register.siblings
            ],
            "dots": dot_list(self.register.dots),
            "winner": None if self.held else {"side": self.winner_side, "value": self.winner},
            "reason": self.reason,
        }


@attrs.frozen
class SideWrite:
    """What to send to one side: all values (create) or the changed ones (update)."""

    side: str
    id: str | None  # None: create
    values: dict[str, Any]
    context: VectorClock  # the clock the side holds once the write is applied


@attrs.frozen
class Plan:
    rid: str
    writes: tuple[SideWrite, ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.writes and not self.conflicts


def visible(state: RecordState, policy: ModulePolicy) -> tuple[dict[str, Any], list[FieldConflict]]:
    """The value each field shows, and the fields in conflict (new or already journaled)."""
    chooser = policy.effective_conflicts
    values: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for name in sorted(state.fields):
        reg = state.fields[name]
        distinct = reg.values()
        if len(distinct) == 1:
            values[name] = distinct[0]
            continue
        if not distinct:
            continue
        decision = chooser.choose(reg.siblings, policy.sides)
        if decision.winner is None:
            conflicts.append(FieldConflict(name, reg, None, None, decision.reason, True))
        else:
            values[name] = decision.winner.value
            conflicts.append(
                FieldConflict(
                    name,
                    reg,
                    decision.winner.value,
                    decision.winner.dot.side,
                    decision.reason,
                    False,
                )
            )
    return values, conflicts


def plan(state: RecordState, policy: ModulePolicy) -> Plan:
    """The writes that bring every target side to the visible values of the record."""
    if state.status != ACTIVE:
        return Plan(state.rid)
    values, conflicts = visible(state, policy)
    held_fields = {c.field for c in conflicts if c.held}
    new_conflicts = tuple(
        c
        for c in conflicts
        if state.conflicts.get(c.field, {}).get("dots") != dot_list(c.register.dots)
    )
    writes: list[SideWrite] = []
    for side in policy.targets:
        held = state.sides.get(side)
        if held is not None and held.deleted:
            continue  # a delete is never undone by re-creating the record
        if held is None or held.id is None:
            if not values:
                continue
            diff = dict(values)
            side_id = None
        else:
            diff = {
                k: v
                for k, v in values.items()
                if k not in held.values or not same_value(held.values[k], v)
            }
            side_id = held.id
            if not diff:
                continue
        # once applied, the side has seen every sibling of the fields it now shows
        context = held.clock if held is not None else VectorClock()
        for name, reg in state.fields.items():
            if name not in held_fields:
                context = context.merge(reg.clock)
        writes.append(SideWrite(side, side_id, diff, context))
    return Plan(state.rid, tuple(writes), new_conflicts)


__all__ = ["FieldConflict", "Plan", "SideWrite", "plan", "visible"]
