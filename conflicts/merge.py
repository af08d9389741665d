"""Record merge: from a record's state and its module's policy to a plan of writes.

Pure: a function of its arguments.  For every field the visible value is the single value
of its register, or the conflict policy's choice among concurrent siblings (or nothing, when
a person must choose).  Each side the direction allows is sent what it does not hold yet.
Values are in wire form (see :func:`journal.entry.to_wire`) throughout.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import attrs
import orjson

from conflicts.policy import ModulePolicy
from conflicts.register import Register, as_register, merge_clock, register_dots, sibling_clock
from conflicts.state import ACTIVE, RecordState
from journal.entry import from_wire, same_wire, to_wire
from journal.payloads import ValueConflict, encode


@attrs.frozen
class FieldConflict:
    """Concurrent values of one field, and what the policy made of them."""

    field: str
    register: Register
    winner: Any  # the winning canonical value (None with held=True)
    winner_side: str | None
    reason: str
    held: bool

    def to_payload(self, policy: str) -> ValueConflict:
        """The payload of the conflict's entry."""
        return ValueConflict(
            field=self.field,
            status="open" if self.held else "resolved",
            policy=policy,
            siblings=tuple(
                {"side": s.dot.side, "dot": list(s.dot.to_json()), "value": s.value, "at": s.at}
                for s in self.register.siblings
            ),
            dots=tuple(list(d.to_json()) for d in self.register.dots),
            winner=None if self.held else {"side": self.winner_side, "value": self.winner},
            reason=self.reason,
        )

    def to_meta(self, policy: str) -> dict[str, Any]:
        """The conflict's entry's meta, as stored."""
        return encode(self.to_payload(policy))


@attrs.frozen
class SideWrite:
    """What to send to one side: all values (create) or the changed ones (update)."""

    side: str
    id: str | None  # None: create
    values: dict[str, Any]  # wire form
    context: dict[str, int]  # the clock the side holds once the write is applied


@attrs.frozen
class Plan:
    rid: str
    writes: tuple[SideWrite, ...] = ()
    conflicts: tuple[FieldConflict, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.writes and not self.conflicts


def visible(state: RecordState, policy: ModulePolicy) -> tuple[dict[str, Any], list[FieldConflict]]:
    """The value each field shows (wire form), and the fields in conflict."""
    values: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    registers = state.raw["f"]
    for name in sorted(registers):
        siblings = registers[name][0]
        first = siblings[0][2]
        if len(siblings) == 1 or all(same_wire(s[2], first) for s in siblings[1:]):
            values[name] = first
            continue
        reg = as_register(registers[name])
        decision = policy.effective_conflicts.choose(reg.siblings, policy.sides)
        if decision.winner is None:
            conflicts.append(FieldConflict(name, reg, None, None, decision.reason, True))
        else:
            win = decision.winner
            values[name] = to_wire(win.value)
            conflicts.append(
                FieldConflict(name, reg, win.value, win.dot.side, decision.reason, False)
            )
    return values, conflicts


def plan(state: RecordState, policy: ModulePolicy, *, in_flight: Collection[str] = ()) -> Plan:
    """The writes that bring every target side to the visible values of the record (a
    trigger-made document's target sides are its trigger's ``only`` sides).

    ``in_flight``: sides an update of ours went to with no outcome journaled since (a crash
    between the push and its answer).  What they hold is unknown, so they are sent every
    visible value, not what differs from the values the state last knew there.
    """
    raw = state.raw
    if raw["st"] != ACTIVE:
        return Plan(raw["r"])
    values, conflicts = visible(state, policy)
    held_fields = {c.field for c in conflicts if c.held}
    journaled = raw["x"]
    new_conflicts = tuple(
        c
        for c in conflicts
        if journaled.get(c.field, {}).get("dots") != register_dots(raw["f"][c.field])
    )
    writes: list[SideWrite] = []
    registers = raw["f"]
    only = state.only
    # a document a deal trigger made is written to its ``only`` sides alone (Books: its
    # free-text line is nothing CRM can hold), whatever the module's direction
    targets = policy.targets if only is None else tuple(s for s in policy.sides if s in only)
    for side in targets:
        held = raw["s"].get(side)
        if held is not None and held["del"]:
            continue  # a delete is never undone by re-creating the record
        if held is None or held["id"] is None:
            if not values:
                continue
            diff = dict(values)
            side_id = None
        else:
            # our write may have landed (sides never report it back): the last values known
            # there may be stale, and a diff against them could skip a needed write
            have = {} if side in in_flight else held["v"]
            wanted = side_values(values, held.get("a"))
            if wanted.keys() == have.keys() and _same_json(wanted, have):
                continue  # the side holds it all (a record just created or read there)
            diff = {k: v for k, v in wanted.items() if k not in have or not same_wire(have[k], v)}
            side_id = held["id"]
            if not diff:
                continue
        # once applied, the side has seen every sibling of the fields it now shows
        context = dict(held["c"]) if held is not None else {}
        if not held_fields:
            merge_clock(context, raw["c"])
        else:
            for name, reg in registers.items():
                if name not in held_fields:
                    merge_clock(context, sibling_clock(reg))
        writes.append(SideWrite(side, side_id, diff, context))
    return Plan(raw["r"], tuple(writes), new_conflicts)


def _same_json(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two dicts of wire values are the same JSON, in two C calls: then every value
    is :func:`same_wire` to its twin (False also when orjson cannot say: an integer past
    64 bits; the caller then compares value by value)."""
    try:
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            b, option=orjson.OPT_SORT_KEYS
        )
    except orjson.JSONEncodeError:
        return False


def side_values(values: dict[str, Any], aliases: dict[str, Any] | None) -> dict[str, Any]:
    """The values a side should hold: a clone renamed there keeps its other name while the
    record shows the name it was renamed from (a side-specific value, not a change)."""
    if not aliases:
        return values
    out = dict(values)
    for name, (shown, held) in aliases.items():
        if name in out and same_wire(out[name], shown):
            out[name] = held
    return out


def canonical(values: dict[str, Any]) -> dict[str, Any]:
    """Wire-form values as canonical Python values."""
    return {k: from_wire(v) for k, v in values.items()}


__all__ = ["FieldConflict", "Plan", "SideWrite", "canonical", "plan", "side_values", "visible"]
