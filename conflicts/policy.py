"""Direction, duplicate and conflict policies: values parsed from config, pure decisions.

Every decision is a function of its inputs alone, so the same journal gives the same result
on any machine: ties are broken by side order and then by dot, never by arrival.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

import attrs

from conflicts.errors import PolicyError
from conflicts.register import Sibling

RESOLVER = "resolve"  # the pseudo-side that a person's resolution writes as
TRIGGER = "deal"  # the pseudo-side whose dots a deal trigger's values carry (conflicts.deals)


class Sync(enum.StrEnum):
    BOTH_WAYS = "both_ways"
    ONE_WAY = "one_way"


@attrs.frozen
class Direction:
    """``both_ways``, or ``one_way`` from ``source``: a one-way target is never written back."""

    sync: Sync
    source: str | None = None

    @classmethod
    def parse(cls, sync: str, source: str | None, sides: Sequence[str]) -> Direction:
        try:
            kind = Sync(sync)
        except ValueError:
            raise PolicyError(f"sync must be one of both_ways, one_way (got {sync!r})") from None
        if kind is Sync.ONE_WAY:
            if source is None:
                raise PolicyError('one_way sync needs source = "<side>"')
            if source not in sides:
                raise PolicyError(f"source {source!r} is not one of the sides {list(sides)}")
            return cls(kind, source)
        return cls(kind, None)

    def targets(self, sides: Sequence[str]) -> tuple[str, ...]:
        """The sides this module may write to."""
        if self.sync is Sync.ONE_WAY:
            return tuple(s for s in sides if s != self.source)
        return tuple(sides)

    def __str__(self) -> str:
        return "both_ways" if self.sync is Sync.BOTH_WAYS else f"one_way from {self.source}"


class DuplicatePolicy(enum.StrEnum):
    CLONE = "clone"  # create anyway: both records remain
    OVERWRITE = "overwrite"  # link; the incoming record's values replace the existing one's
    SKIP = "skip"  # leave both alone and say why
    LINK = "link"  # link and merge field by field under the conflict policy

    @classmethod
    def parse(cls, text: str) -> DuplicatePolicy:
        try:
            return cls(text)
        except ValueError:
            choices = ", ".join(p.value for p in cls)
            raise PolicyError(f"duplicates must be one of {choices} (got {text!r})") from None


@attrs.frozen
class Decision:
    """The value a conflict policy let win, and why (``winner`` None: held for a person)."""

    winner: Sibling | None
    reason: str


@attrs.frozen
class ConflictPolicy:
    """``newest``, ``prefer:<side>`` or ``manual``."""

    kind: str
    side: str | None = None

    @classmethod
    def parse(cls, text: str, sides: Sequence[str] = ()) -> ConflictPolicy:
        if text in ("newest", "manual"):
            return cls(text)
        if text.startswith("prefer:"):
            side = text.split(":", 1)[1]
            if sides and side not in sides:
                raise PolicyError(f"prefer:{side}: {side!r} is not one of the sides {list(sides)}")
            return cls("prefer", side)
        raise PolicyError(f"conflicts must be newest, prefer:<side> or manual (got {text!r})")

    def __str__(self) -> str:
        return f"prefer:{self.side}" if self.kind == "prefer" else self.kind

    def choose(self, siblings: Sequence[Sibling], side_order: Sequence[str]) -> Decision:
        """Pick the visible value among concurrent siblings (deterministically)."""

        def rank(s: Sibling) -> int:
            # a person's resolution outranks everything; then the configured side order
            if s.dot.side == RESOLVER:
                return -1
            return side_order.index(s.dot.side) if s.dot.side in side_order else len(side_order)

        def newest(pool: Sequence[Sibling]) -> Sibling:
            return min(pool, key=lambda s: (-s.at.timestamp(), rank(s), s.dot.side, s.dot.counter))

        triggered = [s for s in siblings if s.dot.side == TRIGGER]
        if triggered:
            # a deal trigger decided over every value the record showed: a value concurrent
            # with it was read from a side while the trigger's write was on its way (Books
            # moving an estimate through sent to accepted), or crossed it; the deal changed
            # that field, so its value stands (a person's send stops the next one)
            win = newest(triggered)
            crossed = ", ".join(sorted({s.dot.side for s in siblings if s.dot.side != TRIGGER}))
            return Decision(
                win, f"a deal trigger's value wins over {crossed}'s, changed while it was sent"
            )
        if self.kind == "manual":
            return Decision(None, "manual policy: held on both sides until a person resolves it")
        if self.kind == "prefer":
            preferred = [s for s in siblings if s.dot.side == self.side]
            if preferred:
                win = newest(preferred)
                return Decision(win, f"prefer:{self.side}: the value from {self.side} wins")
            win = newest(siblings)
            return Decision(
                win,
                f"prefer:{self.side}: no value from {self.side}; the newest ({win.dot.side}) wins",
            )
        win = newest(siblings)
        others = [s for s in siblings if s is not win]
        ties = [s for s in others if s.at == win.at]
        if ties:
            why = f"newest: tie at {win.at.isoformat()}; {win.dot.side} comes first in side order"
        else:
            runner = max(others, key=lambda s: s.at) if others else win
            why = (
                f"newest: {win.dot.side} changed it at {win.at.isoformat()}, "
                f"after {runner.dot.side} at {runner.at.isoformat()}"
            )
        return Decision(win, why)


@attrs.frozen
class ModulePolicy:
    """Everything the merge engine needs to know about one module pair."""

    module: str
    sides: tuple[str, ...]  # in order: the side applied first in a two-way cycle comes first
    direction: Direction
    duplicates: DuplicatePolicy = DuplicatePolicy.OVERWRITE
    conflicts: ConflictPolicy = ConflictPolicy("newest")

    @property
    def targets(self) -> tuple[str, ...]:
        return self.direction.targets(self.sides)

    @property
    def incoming(self) -> str:
        """Whose records are the incoming ones when duplicates meet."""
        return self.direction.source or self.sides[0]

    @property
    def effective_conflicts(self) -> ConflictPolicy:
        # a one-way target never wins against its source: the source is the truth
        if self.direction.sync is Sync.ONE_WAY:
            return ConflictPolicy("prefer", self.direction.source)
        return self.conflicts


__all__ = [
    "RESOLVER",
    "TRIGGER",
    "ConflictPolicy",
    "Decision",
    "Direction",
    "DuplicatePolicy",
    "ModulePolicy",
    "Sync",
]
