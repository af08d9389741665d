"""Laws of the per-field register and the vector clock: a state-based CRDT.

Merge must be commutative, associative and idempotent, so that the state a record reaches
does not depend on the order in which its writes are delivered, and the visible value must
be a function of the siblings alone.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from conflicts import ConflictPolicy, Register
from conflicts.register import merge_registers, register_delta, write_clock, write_register
from journal import Dot, VectorClock, dumps, loads
from journal.entry import to_wire, utc_text
from tests.strategies import (
    ACTORS,
    SIDES,
    canonical_values,
    histories,
    register_families,
    registers,
    vector_clocks,
)

POLICIES = [
    ConflictPolicy("newest"),
    ConflictPolicy("manual"),
    *(ConflictPolicy("prefer", side) for side in SIDES),
]

# -- vector clocks ------------------------------------------------------------------------


@given(vector_clocks(), vector_clocks())
def test_clock_merge_is_commutative(a: VectorClock, b: VectorClock) -> None:
    """a.merge(b) == b.merge(a)."""
    assert a.merge(b) == b.merge(a)


@given(vector_clocks(), vector_clocks(), vector_clocks())
def test_clock_merge_is_associative(a: VectorClock, b: VectorClock, c: VectorClock) -> None:
    """(a.merge(b)).merge(c) == a.merge(b.merge(c))."""
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@given(vector_clocks(), vector_clocks())
def test_clock_merge_is_idempotent(a: VectorClock, b: VectorClock) -> None:
    """Merging a clock already merged in changes nothing."""
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)


@given(vector_clocks(), vector_clocks(), vector_clocks())
def test_clock_merge_is_the_least_upper_bound(
    a: VectorClock, b: VectorClock, c: VectorClock
) -> None:
    """The merge covers both clocks, and any clock covering both covers the merge."""
    m = a.merge(b)
    assert a <= m and b <= m
    if a <= c and b <= c:
        assert m <= c
    assert (a <= b) == (a.merge(b) == b)
    assert a.concurrent(b) == (not a <= b and not b <= a)


@given(vector_clocks(), st.sampled_from(ACTORS))
def test_clock_next_dot_is_new_and_add_covers_it(a: VectorClock, side: str) -> None:
    """The next dot of a side is not covered yet; adding it covers it and grows the clock."""
    dot = a.next_dot(side)
    assert not a.covers(dot)
    b = a.add(dot)
    assert b.covers(dot) and a < b
    assert b.add(dot) == b


@given(vector_clocks())
def test_clock_survives_its_json(a: VectorClock) -> None:
    """A clock read back from its JSON is the clock written."""
    assert VectorClock.from_json(loads(dumps(a.to_json()))) == a


# -- registers ----------------------------------------------------------------------------


@given(register_families(2))
def test_register_merge_is_commutative(family: tuple[Register, ...]) -> None:
    """Merging a with b gives what merging b with a gives."""
    a, b = family
    assert a.merge(b) == b.merge(a)


@given(register_families(3))
def test_register_merge_is_associative(family: tuple[Register, ...]) -> None:
    """The grouping of merges does not matter."""
    a, b, c = family
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@given(register_families(2))
def test_register_merge_is_idempotent(family: tuple[Register, ...]) -> None:
    """A state merged twice, or merged with itself, is the state merged once."""
    a, b = family
    assert a.merge(a) == a
    assert a.merge(b).merge(b) == a.merge(b)
    assert a.merge(Register()) == a == Register().merge(a)


@given(register_families(2))
def test_register_merge_is_an_upper_bound(family: tuple[Register, ...]) -> None:
    """The merge has seen both clocks; each surviving sibling comes from one of the two."""
    a, b = family
    m = a.merge(b)
    assert a.clock <= m.clock and b.clock <= m.clock
    assert set(m.dots) <= set(a.dots) | set(b.dots)
    for sibling in m.siblings:
        assert m.clock.covers(sibling.dot)


@given(histories(), st.randoms(use_true_random=False))
def test_delivery_order_does_not_change_the_register(history, random) -> None:
    """The same set of writes, delivered in any order (and some twice), gives one register."""
    in_order = Register()
    for delta in history.deltas:
        in_order = in_order.merge(delta)
    shuffled = list(history.deltas) + random.sample(
        list(history.deltas), k=len(history.deltas) // 2
    )
    random.shuffle(shuffled)
    any_order = Register()
    for delta in shuffled:
        any_order = any_order.merge(delta)
    assert any_order == in_order
    everything = Register()
    for replica in history.replicas:
        everything = everything.merge(replica)
    assert everything == in_order


@given(histories())
def test_a_write_drops_exactly_the_siblings_its_context_covers(history) -> None:
    """Concurrent writes stay as siblings; a write whose context covers a sibling replaces it."""
    state = Register()
    for delta in history.deltas:
        (new,) = delta.siblings
        before = state
        state = state.merge(delta)
        if before.clock.covers(new.dot):
            continue  # delivered already
        covered = [s for s in before.siblings if delta.clock.covers(s.dot)]
        kept = [s for s in before.siblings if not delta.clock.covers(s.dot)]
        assert new in state.siblings
        assert all(s not in state.siblings for s in covered)
        assert all(s in state.siblings for s in kept)


@given(registers, st.randoms(use_true_random=False), st.sampled_from(POLICIES))
def test_visible_value_depends_on_the_siblings_only(
    reg: Register, random, policy: ConflictPolicy
) -> None:
    """The conflict policy picks the same winner whatever order the siblings come in."""
    if not reg.siblings:
        return
    shuffled = list(reg.siblings)
    random.shuffle(shuffled)
    first = policy.choose(reg.siblings, SIDES)
    again = policy.choose(shuffled, SIDES)
    assert first == again
    if policy.kind != "manual":
        assert first.winner in reg.siblings


@given(registers)
def test_register_survives_the_journal_encoding(reg: Register) -> None:
    """A register written to the journal's canonical JSON and read back is the same."""
    back = Register.from_json(loads(dumps(reg.to_json())))
    assert back == reg
    assert dumps(back.to_json()) == dumps(reg.to_json())


@given(canonical_values)
def test_canonical_values_survive_the_journal_encoding(value) -> None:
    """Every canonical value reads back as itself (same type, same value)."""
    back = loads(dumps({"v": value}))["v"]
    assert type(back) is type(value)
    assert back == value


# -- the register as the reducer keeps it (plain JSON: siblings and a clock of its own) -----


def _fold_live(deltas) -> list | None:
    """Fold writes the way the reducer does (conflicts.register.write_register)."""
    reg = None
    for delta in deltas:
        (s,) = delta.siblings
        seen = write_clock(s.dot.side, s.dot.counter, delta.clock.as_dict())
        reg = write_register(reg, s.dot.side, s.dot.counter, to_wire(s.value), utc_text(s.at), seen)
    return reg


def _live_dots(reg: list | None) -> list[tuple[str, int]]:
    return [(s[0], s[1]) for s in reg[0]] if reg is not None else []


def _causal_shuffle(deltas, random) -> list:
    """The writes in a random order that still delivers each one after every write its
    writer had seen (what the journal's order guarantees)."""
    pending = list(deltas)
    dots = {d.siblings[0].dot for d in pending}
    delivered: set = set()
    out = []
    while pending:
        ready = [
            d
            for d in pending
            if all(
                dot in delivered for dot in dots if d.clock.covers(dot) and dot != d.siblings[0].dot
            )
        ]
        chosen = random.choice(ready)
        pending.remove(chosen)
        delivered.add(chosen.siblings[0].dot)
        out.append(chosen)
    return out


def _value_api(deltas) -> Register:
    reg = Register()
    for delta in deltas:
        reg = reg.merge(delta)
    return reg


@given(histories(), st.randoms(use_true_random=False))
def test_live_register_ignores_the_order_of_causal_delivery(history, random):
    """The reducer's register reaches the same siblings whatever causal order the writes
    come in (and a write delivered again while it stands changes nothing), and they are
    the siblings the value-API register reaches."""
    in_order = _fold_live(history.deltas)
    shuffled = _causal_shuffle(history.deltas, random)
    assert _fold_live(shuffled) == in_order
    standing_dots = set(_live_dots(in_order))
    standing = [
        d for d in shuffled if (d.siblings[0].dot.side, d.siblings[0].dot.counter) in standing_dots
    ]
    if standing:
        assert _fold_live([*shuffled, random.choice(standing)]) == in_order
    value_api = _value_api(history.deltas)
    assert _live_dots(in_order) == [(d.side, d.counter) for d in value_api.dots]


@given(histories(), st.randoms(use_true_random=False))
def test_live_register_ignores_any_order_of_delivery(history, random):
    """The reducer's register reaches one register (siblings and clock) whatever order the
    writes come in, causal or not, some delivered twice; it is the value-API register."""
    in_order = _fold_live(history.deltas)
    shuffled = list(history.deltas) + random.sample(
        list(history.deltas), k=len(history.deltas) // 2
    )
    random.shuffle(shuffled)
    assert _fold_live(shuffled) == in_order
    value_api = _value_api(history.deltas)
    if in_order is None:
        assert value_api == Register()
    else:
        assert _live_dots(in_order) == [(d.side, d.counter) for d in value_api.dots]
        assert VectorClock(in_order[1]) == value_api.clock


@given(
    histories(),
    st.randoms(use_true_random=False),
    st.sampled_from(ACTORS),
    st.integers(1, 8),
    vector_clocks(),
)
def test_a_write_is_the_merge_of_its_delta(history, random, side, counter, context):
    """write_register (the reducer's hot path) gives exactly what merging the write's delta
    gives, on any register a field can reach and for any write, seen before or not."""
    deltas = random.sample(list(history.deltas), k=random.randint(0, len(history.deltas)))
    reg = _fold_live(deltas)
    at = "2024-01-01T00:00:00.000000+00:00"
    args = (side, counter, "v", at, context.as_dict())
    if history.deltas and random.random() < 0.5:  # one of the field's own writes, again
        (s,) = (write := random.choice(history.deltas)).siblings
        args = (s.dot.side, s.dot.counter, to_wire(s.value), at, write.clock.as_dict())
    seen = write_clock(args[0], args[1], args[4])
    assert write_register(reg, *args[:4], seen) == merge_registers(reg, register_delta(*args))


def test_live_register_ignores_any_delivery_order():
    """Two writes, the second made by a side that had seen the first, delivered the other
    way round, give the same register as in order."""
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    first = Register.delta(Dot("books", 1), "a", at, VectorClock())
    second = Register.delta(Dot("crm", 1), "b", at, VectorClock.of(books=1))
    assert first.merge(second) == second.merge(first)  # the value API holds the law
    assert _fold_live([second, first]) == _fold_live([first, second])
    assert _live_dots(_fold_live([second, first])) == [("crm", 1)]
