"""A per-field multi-value register: the values of concurrent writes stay side by side.

Each sibling carries the dot of the write that made it.  A write with causal context ``c``
replaces every sibling whose dot ``c`` covers; siblings it does not cover were concurrent
and stay.  Merging two registers is a union of dots minus what the other side has seen and
dropped, so merge is commutative, associative and idempotent (a state-based CRDT).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from journal.clock import Dot, VectorClock
from journal.entry import dumps


@attrs.frozen(order=False)
class Sibling:
    """One concurrent value of a field: who wrote it (``dot``), what, and when (side time)."""

    dot: Dot
    value: Any
    at: dt.datetime

    def to_json(self) -> list[Any]:
        return [self.dot.side, self.dot.counter, self.value, self.at]

    @classmethod
    def from_json(cls, data: list[Any]) -> Sibling:
        side, counter, value, at = data
        return cls(Dot(side, counter), value, at)


def _sorted(siblings: Iterable[Sibling]) -> tuple[Sibling, ...]:
    return tuple(sorted(siblings, key=lambda s: (s.dot.side, s.dot.counter)))


def same_value(a: Any, b: Any) -> bool:
    """Canonical equality: ``Decimal('1.50') == Decimal('1.5')`` but ``1 != True``."""
    if type(a) is not type(b):
        return False
    return bool(a == b) if not isinstance(a, (dict, list)) else dumps(a) == dumps(b)


@attrs.frozen
class Register:
    siblings: tuple[Sibling, ...] = attrs.field(default=(), converter=_sorted)
    clock: VectorClock = attrs.field(factory=VectorClock)

    @classmethod
    def delta(cls, dot: Dot, value: Any, at: dt.datetime, context: VectorClock) -> Register:
        """The state of one write: its sibling, and everything its writer had seen."""
        return cls((Sibling(dot, value, at),), context.add(dot))

    def write(self, dot: Dot, value: Any, at: dt.datetime, context: VectorClock) -> Register:
        return self.merge(Register.delta(dot, value, at, context))

    def merge(self, other: Register) -> Register:
        if other.clock == VectorClock() and not other.siblings:
            return self
        mine = {s.dot: s for s in self.siblings}
        theirs = {s.dot: s for s in other.siblings}
        kept = [s for d, s in mine.items() if d in theirs or not other.clock.covers(d)]
        kept += [s for d, s in theirs.items() if d not in mine and not self.clock.covers(d)]
        return Register(kept, self.clock.merge(other.clock))

    @property
    def dots(self) -> tuple[Dot, ...]:
        return tuple(s.dot for s in self.siblings)

    def values(self) -> list[Any]:
        """The distinct values among the siblings, in sibling order."""
        out: list[Any] = []
        for s in self.siblings:
            if not any(same_value(s.value, v) for v in out):
                out.append(s.value)
        return out

    @property
    def in_conflict(self) -> bool:
        return len(self.values()) > 1

    def to_json(self) -> list[Any]:
        return [[s.to_json() for s in self.siblings], self.clock.to_json()]

    @classmethod
    def from_json(cls, data: list[Any]) -> Register:
        siblings, clock = data
        return cls(tuple(Sibling.from_json(s) for s in siblings), VectorClock.from_json(clock))


__all__ = ["Register", "Sibling", "same_value"]
