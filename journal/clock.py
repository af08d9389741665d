"""Vector clocks and dots: the causal bookkeeping of every record.

A :class:`Dot` names one observed change: the side that made it and that side's counter for
the record.  A :class:`VectorClock` is the set of dots a replica has seen, kept compactly as
the largest counter per side (dots of one side are always contiguous here, because the
journal numbers them in order).  Both are frozen values; every method returns a new value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs


@attrs.frozen(order=True)
class Dot:
    """One change: ``side`` made its ``counter``-th change to a record."""

    side: str
    counter: int

    def to_json(self) -> list[str | int]:
        return [self.side, self.counter]

    @classmethod
    def from_json(cls, value: list[str | int] | tuple[str, int]) -> Dot:
        side, counter = value
        return cls(str(side), int(counter))


def _freeze(counters: Mapping[str, int] | Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    items = counters.items() if isinstance(counters, Mapping) else counters
    return tuple(sorted((side, int(n)) for side, n in items if int(n) > 0))


@attrs.frozen
class VectorClock:
    """The largest counter seen per side; a dot is covered when its counter is at most that."""

    counters: tuple[tuple[str, int], ...] = attrs.field(default=(), converter=_freeze)

    @classmethod
    def of(cls, **counters: int) -> VectorClock:
        return cls(counters)

    def get(self, side: str) -> int:
        for name, n in self.counters:
            if name == side:
                return n
        return 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.counters)

    def covers(self, dot: Dot) -> bool:
        return dot.counter <= self.get(dot.side)

    def add(self, dot: Dot) -> VectorClock:
        """This clock with ``dot`` seen."""
        if self.covers(dot):
            return self
        counters = self.as_dict()
        counters[dot.side] = dot.counter
        return VectorClock(counters)

    def next_dot(self, side: str) -> Dot:
        return Dot(side, self.get(side) + 1)

    def merge(self, other: VectorClock) -> VectorClock:
        """The least clock covering both (pointwise maximum)."""
        if not other.counters:
            return self
        if not self.counters:
            return other
        counters = self.as_dict()
        for side, n in other.counters:
            if n > counters.get(side, 0):
                counters[side] = n
        return VectorClock(counters)

    def __le__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return all(n <= other.get(side) for side, n in self.counters)

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return other <= self

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return self <= other and self != other

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return other < self

    def concurrent(self, other: VectorClock) -> bool:
        return not (self <= other) and not (other <= self)

    def to_json(self) -> dict[str, int]:
        return dict(self.counters)

    @classmethod
    def from_json(cls, value: Mapping[str, int] | None) -> VectorClock:
        return cls(value or {})


__all__ = ["Dot", "VectorClock"]
