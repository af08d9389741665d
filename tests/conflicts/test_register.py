import datetime as dt
from decimal import Decimal

from conflicts.register import Register, same_value
from journal.clock import Dot, VectorClock

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def test_a_write_that_saw_the_value_replaces_it():
    """A write whose context covers the sibling's dot supersedes it."""
    reg = Register().write(Dot("crm", 1), "a", T0, VectorClock())
    reg = reg.write(Dot("books", 1), "b", T0, VectorClock.of(crm=1))
    assert reg.values() == ["b"]
    assert not reg.in_conflict


def test_concurrent_writes_stay_side_by_side():
    """Writes that did not see each other both stay, as siblings."""
    reg = Register().write(Dot("crm", 1), "a", T0, VectorClock())
    reg = reg.write(Dot("books", 1), "b", T0, VectorClock())
    assert sorted(reg.values()) == ["a", "b"]
    assert reg.in_conflict
    # a later write that saw both settles it
    reg = reg.write(Dot("crm", 2), "c", T0, VectorClock.of(crm=1, books=1))
    assert reg.values() == ["c"]


def test_equal_concurrent_values_are_not_a_conflict():
    """Two sides writing the same value concurrently agree."""
    reg = Register().write(Dot("crm", 1), Decimal("1.50"), T0, VectorClock())
    reg = reg.write(Dot("books", 1), Decimal("1.5"), T0, VectorClock())
    assert len(reg.siblings) == 2 and not reg.in_conflict


def test_merge_keeps_what_the_other_has_not_seen():
    """A replica that saw and dropped a sibling wins over one that still has it."""
    base = Register().write(Dot("crm", 1), "a", T0, VectorClock())
    newer = base.write(Dot("books", 1), "b", T0, VectorClock.of(crm=1))
    assert base.merge(newer) == newer == newer.merge(base)


def test_registers_round_trip_through_json():
    """to_json / from_json preserve siblings and clock."""
    reg = Register().write(Dot("crm", 1), "a", T0, VectorClock())
    reg = reg.write(Dot("books", 2), Decimal("3"), T0, VectorClock.of(books=1))
    assert Register.from_json(reg.to_json()) == reg


def test_canonical_equality_tells_types_apart():
    """1 and True and '1' are different values; 1.50 and 1.5 are one amount."""
    assert same_value(Decimal("1.50"), Decimal("1.5"))
    assert not same_value(1, True)
    assert not same_value("1", 1)
