"""A per-field multi-value register: the values of concurrent writes stay side by side.

Each sibling carries the dot of the write that made it, and the register keeps a clock of
its own: every dot it has seen (its writes' dots and their writers' contexts).  A write with
causal context ``c`` replaces every sibling whose dot ``c`` covers; siblings it does not
cover were concurrent and stay.  Merging two registers keeps a sibling of one unless the
other has seen its dot and dropped it, and the clocks merge pointwise, so merge is
commutative, associative and idempotent (a state-based CRDT whose deltas are the writes):
the register a field reaches does not depend on the order its writes are delivered in, nor
on a write delivered twice.  Without the register's clock a write delivered after one that
superseded it would come back as a sibling.

This module holds the one implementation, on the form a record's stored state keeps
(:mod:`conflicts.state`; plain JSON, cheap to decode, change in place and encode):
``[siblings, clock]``, a sibling ``[side, counter, value, at]`` (a wire value, ``at`` as UTC
ISO text), the clock ``{side: counter}``.  :class:`Register` is the value API (frozen,
canonical values, datetimes); its :meth:`Register.merge` runs the same :func:`merge_registers`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

from journal.clock import Dot, VectorClock
from journal.entry import dumps, from_wire

Clock = dict[str, int]
Stored = list[Any]  # [siblings, clock]; a sibling [side, counter, value, at]


# -- clocks as plain dicts (the hot path; VectorClock is the value API) --------------------


def merge_clock(into: Clock, other: Clock) -> Clock:
    """Pointwise maximum, in place."""
    for side, n in other.items():
        if n > into.get(side, 0):
            into[side] = n
    return into


# -- the register as stored -----------------------------------------------------------------


def _dot_order(sibling: list[Any]) -> tuple[str, int]:
    return (sibling[0], sibling[1])


def write_clock(side: str, counter: int, context: Clock) -> Clock:
    """The clock of a write: everything its writer had seen, and the write itself."""
    clock = dict(context)
    if counter > clock.get(side, 0):
        clock[side] = counter
    return clock


def register_delta(side: str, counter: int, value: Any, at: Any, context: Clock) -> Stored:
    """The register of one write: its sibling, and everything its writer had seen."""
    return [[[side, counter, value, at]], write_clock(side, counter, context)]


def merge_registers(mine: Stored | None, theirs: Stored) -> Stored:
    """The register that has seen both: a sibling stays unless the other register saw its
    dot and no longer holds it.  Only a sibling's dot (its first two items) is read."""
    if mine is None:
        return theirs
    siblings, clock = mine
    other, other_clock = theirs
    # a register's clock covers its own siblings: a sibling the other's clock does not
    # cover is new to it, and one it covers stays only if the other holds it too
    kept = [s for s in siblings if s[1] > other_clock.get(s[0], 0) or _holds(other, s)]
    kept += [s for s in other if s[1] > clock.get(s[0], 0)]
    if len(kept) > 1:
        kept.sort(key=_dot_order)
    return [kept, merge_clock(dict(clock), other_clock)]


def _holds(siblings: list[list[Any]], sibling: list[Any]) -> bool:
    return any(s[1] == sibling[1] and s[0] == sibling[0] for s in siblings)


def write_register(
    reg: Stored | None, side: str, counter: int, value: Any, at: str, seen: Clock
) -> Stored:
    """The register after a write (``seen``: its :func:`write_clock`): the siblings the
    write had seen are replaced by its value; a write the register has seen already
    (delivered twice, or superseded by a write delivered before it) adds nothing.

    Exactly ``merge_registers(reg, [[[side, counter, value, at]], seen])`` (a law checks
    it), computed without building the delta: the reducer runs it for every field of every
    change, so it is the hot path.  ``seen`` may become the register's clock as it is, so
    one write's clock is computed once for all its fields, and clocks are never changed in
    place."""
    if reg is None:
        return [[[side, counter, value, at]], seen]
    siblings, clock = reg
    kept = [s for s in siblings if s[1] > seen.get(s[0], 0) or (s[1] == counter and s[0] == side)]
    if counter > clock.get(side, 0):
        kept.append([side, counter, value, at])
        if len(kept) > 1:
            kept.sort(key=_dot_order)
    # usually the write had seen all the register had (a side changed what it last read)
    for name, n in clock.items():
        if n > seen.get(name, 0):
            return [kept, merge_clock(dict(clock), seen)]
    return [kept, seen]


def register_dots(reg: Stored) -> list[list[Any]]:
    """The dots of a register's siblings, as ``[side, counter]`` pairs in sibling order."""
    return [[s[0], s[1]] for s in reg[0]]


def sibling_clock(reg: Stored) -> Clock:
    """The dots of a register's siblings, as a clock (what a side showing the register's
    value has seen of it; the register's own clock may have seen more)."""
    clock: Clock = {}
    for s in reg[0]:
        if s[1] > clock.get(s[0], 0):
            clock[s[0]] = s[1]
    return clock


def as_register(reg: Stored) -> Register:
    """The value-API register of a stored one (canonical values, datetimes)."""
    siblings, clock = reg
    return Register(
        tuple(
            Sibling(Dot(s[0], s[1]), from_wire(s[2]), dt.datetime.fromisoformat(s[3]))
            for s in siblings
        ),
        VectorClock(clock),
    )


# -- the value API ----------------------------------------------------------------------------


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
        # the stored form's merge, carrying each Sibling where the stored form has its value
        kept, clock = merge_registers(self._dotted(), other._dotted())
        return Register(tuple(s[2] for s in kept), VectorClock(clock))

    def _dotted(self) -> Stored:
        return [[[s.dot.side, s.dot.counter, s] for s in self.siblings], self.clock.as_dict()]

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


__all__ = [
    "Clock",
    "Register",
    "Sibling",
    "Stored",
    "as_register",
    "merge_clock",
    "merge_registers",
    "register_delta",
    "register_dots",
    "same_value",
    "sibling_clock",
    "write_clock",
    "write_register",
]
