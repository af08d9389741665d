import datetime as dt

import pytest

from conflicts import RecordReducer, plan, visible
from conflicts.policy import ConflictPolicy, Direction, DuplicatePolicy, ModulePolicy
from journal import Dot, Journal, Kind, NewEntry, VectorClock

SIDES = ("crm", "books")
T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def policy(conflicts="newest", sync="both_ways", source=None):
    return ModulePolicy(
        "customers",
        SIDES,
        Direction.parse(sync, source, SIDES),
        DuplicatePolicy.OVERWRITE,
        ConflictPolicy.parse(conflicts, SIDES),
    )


@pytest.fixture
def journal(tmp_path):
    j = Journal(tmp_path / "j.db", RecordReducer())
    yield j
    j.close()


def observe(journal, side, n, context, minutes=0, rid="crm:1", **fields):
    journal.append(
        [
            NewEntry(
                Kind.OBSERVED,
                "customers",
                rid,
                side,
                Dot(side, n),
                context,
                fields,
                {"id": f"{side}-id", "modified": T0 + dt.timedelta(minutes=minutes)},
            )
        ]
    )
    return journal.record("customers", rid)


def applied(journal, side, context, rid="crm:1", **fields):
    context = VectorClock(context)
    journal.append(
        [
            NewEntry(
                Kind.APPLIED,
                "customers",
                rid,
                side,
                context=context,
                fields=fields,
                meta={"id": f"{side}-id"},
            )
        ]
    )
    return journal.record("customers", rid)


def test_a_new_record_is_created_on_the_other_side(journal):
    """A record seen on crm only is planned as a create on books with all its fields."""
    state = observe(journal, "crm", 1, VectorClock(), name="Acme", email="a@x")
    p = plan(state, policy())
    assert [(w.side, w.id, w.values) for w in p.writes] == [
        ("books", None, {"email": "a@x", "name": "Acme"})
    ]


def test_only_changed_fields_are_sent(journal):
    """Once both sides hold the record, an edit sends just the edited field."""
    state = observe(journal, "crm", 1, VectorClock(), name="Acme", email="a@x")
    (write,) = plan(state, policy()).writes
    applied(journal, "books", write.context, name="Acme", email="a@x")
    state = observe(journal, "crm", 2, VectorClock.of(crm=1), email="new@x")
    (write,) = plan(state, policy()).writes
    assert write.side == "books" and write.id == "books-id" and write.values == {"email": "new@x"}


def test_a_synced_record_plans_nothing(journal):
    """After the write is applied, the plan is empty (idempotent re-sync)."""
    state = observe(journal, "crm", 1, VectorClock(), name="Acme")
    (write,) = plan(state, policy()).writes
    state = applied(journal, "books", write.context, name="Acme")
    assert plan(state, policy()).writes == ()


def test_a_side_with_an_update_in_flight_is_sent_every_value_even_those_it_last_held(journal):
    """A side an update went to with no outcome may hold what was sent: a later change back
    to the value it last held is still written there, with every other visible value."""
    state = observe(journal, "crm", 1, VectorClock(), name="Acme", email="a@x")
    (write,) = plan(state, policy()).writes
    applied(journal, "books", write.context, name="Acme", email="a@x")
    # an update of email to b@x went to books; its outcome was lost; crm then sets a@x back
    observe(journal, "crm", 2, VectorClock.of(crm=1), email="b@x")
    state = observe(journal, "crm", 3, VectorClock.of(crm=2), email="a@x")
    assert plan(state, policy()).writes == ()  # diffed against what books last held
    (write,) = plan(state, policy(), in_flight=["books"]).writes
    assert write.side == "books" and write.id == "books-id"
    assert write.values == {"email": "a@x", "name": "Acme"}


def _concurrent(journal, minutes_crm=1, minutes_books=2):
    state = observe(journal, "crm", 1, VectorClock(), name="Acme", email="a@x")
    (write,) = plan(state, policy()).writes
    applied(journal, "books", write.context, name="Acme", email="a@x")
    observe(journal, "crm", 2, VectorClock.of(crm=1), minutes_crm, email="crm@x")
    return observe(journal, "books", 1, VectorClock(write.context), minutes_books, email="books@x")


def test_concurrent_edits_follow_the_conflict_policy(journal):
    """newest lets the later edit win and writes it to the side that lost."""
    state = _concurrent(journal)
    p = plan(state, policy())
    assert [(w.side, w.values) for w in p.writes] == [("crm", {"email": "books@x"})]
    (conflict,) = p.conflicts
    assert conflict.field == "email" and conflict.winner == "books@x" and not conflict.held
    assert "newest" in conflict.reason


def test_manual_conflicts_hold_the_field_on_both_sides(journal):
    """manual: neither side is written the field; the conflict is open."""
    state = _concurrent(journal)
    p = plan(state, policy("manual"))
    assert p.writes == ()
    assert p.conflicts[0].held and p.conflicts[0].to_meta("manual")["status"] == "open"


def test_prefer_policy_overrides_time(journal):
    """prefer:crm writes crm's value to books although books edited later."""
    state = _concurrent(journal)
    p = plan(state, policy("prefer:crm"))
    assert [(w.side, w.values) for w in p.writes] == [("books", {"email": "crm@x"})]


def test_one_way_never_writes_its_source(journal):
    """A one-way target's edits are kept but never sent to the source."""
    state = observe(journal, "crm", 1, VectorClock(), name="Acme")
    one_way = policy(sync="one_way", source="crm")
    (write,) = plan(state, one_way).writes
    applied(journal, "books", write.context, name="Acme")
    state = observe(journal, "books", 1, VectorClock(write.context), name="Acme (edited in books)")
    assert plan(state, one_way).writes == ()


def test_a_deleted_side_is_never_written_again(journal):
    """After a tombstone on books, crm edits do not re-create the books record."""
    state = observe(journal, "crm", 1, VectorClock(), name="Acme")
    (write,) = plan(state, policy()).writes
    applied(journal, "books", write.context, name="Acme")
    journal.append(
        [NewEntry(Kind.TOMBSTONE, "customers", "crm:1", "books", meta={"id": "books-id"})]
    )
    state = observe(journal, "crm", 2, VectorClock.of(crm=1), name="Acme 2")
    assert plan(state, policy()).writes == ()
    assert journal.links("customers", "crm:1")["books"] == ("books-id", "deleted")


def test_visible_values_are_deterministic(journal):
    """visible() gives the same values for the same state."""
    state = _concurrent(journal)
    assert visible(state, policy()) == visible(state, policy())
