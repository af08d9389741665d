"""A sync's plan: the journal entries of a run, told as what it did to each side.

Pure: entries in, a :class:`Plan` out; nothing here reads a side or the journal.  The dry
run (:mod:`~replicator.sync.dryrun`) runs the real engine against scratch copies and hands
the entries that run appended to :func:`build_plan`; the same function over the entries
of the real sync that follows gives the plan it carried out, and :func:`compare` says
where two plans differ (nothing, when the dry run told the truth).

The seven groups, each a tuple of rows (plain JSON values, wire form, so ``--json`` prints
them as they are):

- ``creates``: a record written to a side that did not hold it (module, side, rid, values);
- ``links``: a record paired with an existing one on a side by a duplicate decision (the
  side's id, the record it was, the policy and match key: the rule that paired them);
- ``overwrites``: an update of a record a side holds, field by field (old -> new);
- ``skips``: a duplicate left alone, and why;
- ``held``: a duplicate group or near match held for a person (the candidates and why);
- ``conflicts``: concurrent values of one field, which value wins and why (or held);
- ``refused``: what would not be written or read: conversion errors, missing key fields,
  a lock, a twin outside the view, a side's refusal.

A row names no time and no id a side assigns to a create, so the plans of a dry run and
of the real sync after it compare equal row by row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any

import attrs

from journal import Entry, Kind
from journal.entry import same_wire, to_wire
from journal.payloads import (
    Applied,
    DuplicateConflict,
    Failure,
    Linked,
    Skipped,
    ValueConflict,
    payload_of,
    value_or,
)

GROUPS = ("creates", "links", "overwrites", "skips", "held", "conflicts", "refused")
BOTH = "both"  # the side of a row about a record rather than one side (a field conflict)

Row = Mapping[str, Any]


@attrs.frozen
class Plan:
    """What a sync does, by group (:data:`GROUPS`), each row naming its module and side."""

    groups: Mapping[str, tuple[Row, ...]] = attrs.field(factory=dict)

    def rows(self, group: str) -> tuple[Row, ...]:
        return self.groups.get(group, ())

    def counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """module -> side -> group -> rows, every group present (0 when none)."""
        found: dict[str, dict[str, dict[str, int]]] = {}
        for group in GROUPS:
            for row in self.rows(group):
                sides = found.setdefault(row["module"], {})
                by_group = sides.setdefault(row["side"], dict.fromkeys(GROUPS, 0))
                by_group[group] += 1
        return found

    def total(self, group: str, *, side: str | None = None, module: str | None = None) -> int:
        return sum(
            1
            for row in self.rows(group)
            if (side is None or row["side"] == side) and (module is None or row["module"] == module)
        )

    def creates_per_side(self) -> dict[str, int]:
        """side -> records the sync creates there (every module)."""
        return dict(Counter(row["side"] for row in self.rows("creates")))

    @property
    def empty(self) -> bool:
        return not any(self.rows(group) for group in GROUPS)

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.counts(),
            **{group: [dict(row) for row in self.rows(group)] for group in GROUPS},
        }


def _wire(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_wire(v) for k, v in sorted(values.items())}


History = Callable[[Set[tuple[str, str]]], Iterable[Entry]]


def build_plan(entries: Iterable[Entry], *, first: int, history: History | None = None) -> Plan:
    """The plan of the run whose entries start at seq ``first``.

    The ``old`` of an overwrite is what the side held before: the run's own entries and
    those before ``first``, which ``entries`` may begin with (in seq order) or
    ``history`` gives: asked once with the (module, record) pairs the run updates, it
    answers their entries (only those before ``first`` are used)."""
    groups: dict[str, list[Row]] = {group: [] for group in GROUPS}
    held: dict[tuple[str, str, str], dict[str, Any]] = {}
    created: set[tuple[str, str, str]] = set()
    entries = list(entries)
    # each entry's payload decoded once (observations need none)
    payloads = [
        None
        if e.kind is Kind.OBSERVED or e.rid is None or e.module.startswith("@")
        else payload_of(e)
        for e in entries
    ]
    # what a side held is followed only where the run updates it: a first sync of many
    # records updates few, and converting every observation's values would cost more
    # than the rest of the plan
    updated = {
        (e.module, e.rid, e.side)
        for e, p in zip(entries, payloads, strict=True)
        if e.seq >= first and isinstance(p, Applied) and not value_or(p.create, False)
    }
    if history is not None and updated:
        prior = [
            e
            for e in history({(m, rid) for m, rid, _ in updated if rid is not None})
            if e.seq < first
        ]
        entries = [*prior, *entries]
        payloads = [*([None] * len(prior)), *payloads]

    def fold(entry: Entry) -> dict[str, Any]:
        assert entry.rid is not None and entry.side is not None
        key = (entry.module, entry.rid, entry.side)
        if key not in updated:
            return {}
        have = held.setdefault(key, {})
        before = dict(have)
        have.update(_wire(entry.fields))
        return before

    for entry, decoded in zip(entries, payloads, strict=True):
        if entry.module.startswith("@") or entry.rid is None:
            continue  # the run's own entries (settings, markers), batch intents, cursors
        kind = entry.kind
        if entry.seq < first:
            if kind in (Kind.OBSERVED, Kind.APPLIED, Kind.LINK) and entry.side is not None:
                fold(entry)
            continue
        where = {"module": entry.module, "side": entry.side or BOTH, "rid": entry.rid}
        if kind is Kind.OBSERVED and entry.side is not None:
            fold(entry)
            continue
        payload = decoded if decoded is not None else payload_of(entry)
        if isinstance(payload, Applied) and entry.side is not None:
            before = fold(entry)
            if value_or(payload.create, False):
                created.add((entry.module, entry.rid, entry.side))
                groups["creates"].append({**where, "values": _wire(entry.fields)})
                continue
            changes = {
                field: {"old": before.get(field), "new": new}
                for field, new in _wire(entry.fields).items()
                if field not in before or not same_wire(before[field], new)
            }
            mine = (entry.module, entry.rid, entry.side) in created
            groups["overwrites"].append(
                {**where, "id": None if mine else payload.id, "changes": changes}
            )
        elif isinstance(payload, Linked) and entry.side is not None:
            fold(entry)
            rule = payload.by or f"duplicates = {payload.policy}: the same match key"
            groups["links"].append(
                {
                    **where,
                    "id": payload.id,
                    "with": payload.from_,
                    "policy": payload.policy,
                    "key": payload.key,
                    "rule": rule,
                }
            )
        elif isinstance(payload, Skipped):
            groups["skips"].append({**where, "key": payload.key, "reason": payload.reason})
        elif isinstance(payload, DuplicateConflict):
            side = next(
                (c.get("side") for c in payload.candidates if c.get("rid") == entry.rid), None
            )
            groups["held"].append(
                {
                    **where,
                    "side": side or where["side"],
                    "key": payload.key,
                    "near_key": payload.near_key,
                    "suggestion": payload.suggestion,
                    "candidates": [dict(c) for c in payload.candidates],
                    "reason": payload.reason,
                }
            )
        elif isinstance(payload, ValueConflict):
            winner = payload.winner
            groups["conflicts"].append(
                {
                    **where,
                    "field": payload.field,
                    "policy": payload.policy,
                    "values": [
                        {"side": s.get("side"), "value": to_wire(s.get("value"))}
                        for s in payload.siblings
                    ],
                    "winner": None if winner is None else dict(to_wire(dict(winner))),
                    "held": winner is None,
                    "reason": payload.reason,
                }
            )
        elif isinstance(payload, Failure):
            groups["refused"].append(
                {
                    **where,
                    "stage": payload.stage,
                    "field": payload.field,
                    "value": to_wire(value_or(payload.value, None)),
                    "reason": payload.reason,
                }
            )
    return Plan({group: tuple(rows) for group, rows in groups.items()})


def _text(row: Row) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def compare(a: Plan, b: Plan) -> list[str]:
    """Where plan ``a`` and plan ``b`` differ, one line per row found in only one of
    them (as many times as it is missing); empty when they are the same plan."""
    found: list[str] = []
    for group in GROUPS:
        left = Counter(_text(row) for row in a.rows(group))
        right = Counter(_text(row) for row in b.rows(group))
        for text in sorted((left - right).elements()):
            found.append(f"{group}: only in the first: {text}")
        for text in sorted((right - left).elements()):
            found.append(f"{group}: only in the second: {text}")
    return found


__all__ = ["BOTH", "GROUPS", "History", "Plan", "Row", "build_plan", "compare"]
