from journal.clock import Dot, VectorClock


def test_a_clock_covers_the_dots_up_to_its_counter():
    """A clock with crm=3 covers crm dots 1..3 and nothing of another side."""
    clock = VectorClock.of(crm=3)
    assert clock.covers(Dot("crm", 3))
    assert not clock.covers(Dot("crm", 4))
    assert not clock.covers(Dot("books", 1))


def test_merge_takes_the_pointwise_maximum():
    """Merging clocks keeps the largest counter of every side."""
    merged = VectorClock.of(crm=3, books=1).merge(VectorClock.of(books=5))
    assert merged.as_dict() == {"crm": 3, "books": 5}


def test_clocks_order_causally_and_detect_concurrency():
    """<= is causal order; clocks that each saw something new are concurrent."""
    a, b = VectorClock.of(crm=1), VectorClock.of(crm=1, books=1)
    assert a <= b and a < b and not b <= a
    c = VectorClock.of(crm=2)
    assert b.concurrent(c) and c.concurrent(b)
    assert not a.concurrent(b)


def test_clocks_are_values_with_a_canonical_form():
    """Zero counters vanish and construction order does not matter."""
    assert VectorClock({"b": 1, "a": 2, "c": 0}) == VectorClock.of(a=2, b=1)
    assert hash(VectorClock({"b": 1, "a": 2})) == hash(VectorClock({"a": 2, "b": 1}))
    assert VectorClock.from_json(VectorClock.of(x=4).to_json()) == VectorClock.of(x=4)


def test_next_dot_and_add_advance_one_side():
    """next_dot is one past the side's counter, and add records it."""
    clock = VectorClock.of(crm=2)
    dot = clock.next_dot("crm")
    assert dot == Dot("crm", 3)
    assert clock.add(dot).get("crm") == 3
    assert clock.add(Dot("crm", 1)) is clock
