"""The Books connector's ``contactpersons`` table, written: creates, updates, and never
overwriting an unread change, against the fake Books v3 with contact persons
(:mod:`.fake_persons`)."""

from __future__ import annotations

import json

import pytest

from replicator.connectors.base import Write
from tests.connectors.zoho.fake_persons import (
    PERSONS,
    FakePersons,
    calls,
    connect,
    people,
    pull_all,
)
from tests.connectors.zoho.fakes import FakeClock


@pytest.fixture
def fake(clock: FakeClock) -> FakePersons:
    return FakePersons(clock)


# -- writing ---------------------------------------------------------------------------


def test_a_create_posts_the_person_under_its_contact(fake: FakePersons, clock: FakeClock) -> None:
    """POST /contacts/contactpersons with contact_id; the answer's list of one gives the id."""
    acme = fake.add_contact("Acme")
    [outcome] = connect(fake, clock).push(
        PERSONS, [Write("k1", None, {"contact_id": acme, **people(1), "is_primary_contact": False})]
    )
    assert outcome.ok
    assert fake.person(outcome.id)["email"] == "a1@x.example"
    [post] = calls(fake, "POST")
    sent = json.loads(post.content)
    assert sent["contact_id"] == acme and "is_primary_contact" not in sent
    assert post.url.path == "/books/v3/contacts/contactpersons"


def test_a_create_needs_an_existing_contact_and_a_first_name(
    fake: FakePersons, clock: FakeClock
) -> None:
    """No contact_id, an unknown contact or a blank first_name: an error, nothing sent."""
    acme = fake.add_contact("Acme")
    outcomes = connect(fake, clock).push(
        PERSONS,
        [
            Write("a", None, people(1)),
            Write("b", None, {"contact_id": "460000000000404", **people(2)}),
            Write("c", None, {"contact_id": acme, "first_name": " ", "email": "c@x.example"}),
            Write("d", None, {"contact_id": acme, **people(4)}),
        ],
    )
    assert [o.ok for o in outcomes] == [False, False, False, True]
    assert "needs contact_id" in outcomes[0].error
    assert "no contact 460000000000404" in outcomes[1].error
    assert "first_name is required" in outcomes[2].error
    assert len(calls(fake, "POST")) == 1


def test_a_create_repeated_with_its_key_makes_one_person(
    fake: FakePersons, clock: FakeClock
) -> None:
    """The same key again updates the person made for it."""
    acme = fake.add_contact("Acme")
    connector = connect(fake, clock)
    [first] = connector.push(PERSONS, [Write("k", None, {"contact_id": acme, **people(1)})])
    [again] = connector.push(
        PERSONS, [Write("k", None, {"contact_id": acme, **people(1, department="Ops")})]
    )
    assert again.ok and again.id == first.id
    assert [p["department"] for p in fake.persons(acme)] == ["Ops"]


def test_a_create_retried_after_a_crash_adopts_the_person_it_made(
    fake: FakePersons, clock: FakeClock
) -> None:
    """A POST that made the person but answered 500 is retried; a new process finds the
    person by first name, last name and email instead of making a second."""
    acme = fake.add_contact("Acme")
    fake.fail_next_create = True
    write = Write("k", None, {"contact_id": acme, **people(1)})
    [failed] = connect(fake, clock).push(PERSONS, [write])
    assert not failed.ok and failed.retry
    fresh = connect(fake, clock)
    pull_all(fresh, None)
    [again] = fresh.push(PERSONS, [write])
    assert again.ok and len(fake.persons(acme)) == 1
    assert again.id == fake.persons(acme)[0]["contact_person_id"]
    assert len(calls(fake, "POST")) == 1


def test_a_person_made_for_another_key_is_not_adopted(fake: FakePersons, clock: FakeClock) -> None:
    """Two creates with the same names and email but different keys make two persons."""
    acme = fake.add_contact("Acme")
    outcomes = connect(fake, clock).push(
        PERSONS,
        [Write(k, None, {"contact_id": acme, **people(1)}) for k in ("k1", "k2")],
    )
    assert all(o.ok for o in outcomes) and outcomes[0].id != outcomes[1].id
    assert len(fake.persons(acme)) == 2


def test_an_update_sends_its_contact_and_every_field(fake: FakePersons, clock: FakeClock) -> None:
    """PUT /contacts/contactpersons/{id} carries contact_id and the current fields (Books
    requires contact_id and first_name), the written ones changed."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1, phone="555"))
    connector = connect(fake, clock)
    pull_all(connector, None)
    [outcome] = connector.push(PERSONS, [Write("r", ann, {"department": "Ops"})])
    assert outcome.ok and outcome.id == ann
    [put] = calls(fake, "PUT")
    assert put.url.path == f"/books/v3/contacts/contactpersons/{ann}"
    sent = json.loads(put.content)
    assert sent["contact_id"] == acme and sent["first_name"] == "Ann1"
    assert sent["phone"] == "555" and sent["department"] == "Ops"
    assert fake.person(ann)["department"] == "Ops"


def test_a_person_does_not_move_between_contacts(fake: FakePersons, clock: FakeClock) -> None:
    """A write naming another contact_id is refused, clearly, and nothing is sent."""
    acme, bolt = fake.add_contact("Acme"), fake.add_contact("Bolt")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    pull_all(connector, None)
    [outcome] = connector.push(PERSONS, [Write("r", ann, {"contact_id": bolt})])
    assert not outcome.ok and not outcome.retry
    assert "does not move between contacts" in outcome.error
    assert acme in outcome.error and bolt in outcome.error
    assert calls(fake, "PUT") == []
    [same] = connector.push(PERSONS, [Write("r", ann, {"contact_id": acme, "last_name": "X"})])
    assert same.ok and fake.person(ann)["last_name"] == "X"


def test_a_person_changed_since_read_is_not_overwritten(
    fake: FakePersons, clock: FakeClock
) -> None:
    """An edit not yet pulled leaves the person alone, to retry; after a pull it is written."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(5)
    fake.edit_person(ann, department="Theirs")
    [outcome] = connector.push(PERSONS, [Write("r", ann, {"department": "Ours"})])
    assert not outcome.ok and outcome.retry and ann in outcome.error
    assert fake.person(ann)["department"] == "Theirs"
    pull_all(connector, cursor)
    [outcome] = connector.push(PERSONS, [Write("r", ann, {"department": "Ours"})])
    assert outcome.ok and fake.person(ann)["department"] == "Ours"


def test_a_new_process_writes_persons_unchanged_since_the_watermark(
    fake: FakePersons, clock: FakeClock
) -> None:
    """After a restart, a person not read since (its contact unchanged since the cursor) is
    written; one not read whose contact changed after the last pull waits for the next."""
    acme, cole = fake.add_contact("Acme"), fake.add_contact("Cole")
    ann, dee = fake.add_person(acme, **people(1)), fake.add_person(cole, **people(4))
    clock.advance(50)
    fake.add_person(fake.add_contact("Bolt"), **people(3))  # the watermark's contact
    clock.advance(5)
    _, cursor = pull_all(connect(fake, clock), None)
    restarted = connect(fake, clock, overlap=1)
    fake.requests.clear()
    pull_all(restarted, cursor)
    assert len(calls(fake, contains="/contactpersons")) == 1  # the watermark's second only
    clock.advance(5)
    fake.edit_person(dee, department="Theirs")
    outcomes = restarted.push(
        PERSONS, [Write("r1", ann, {"department": "A"}), Write("r2", dee, {"department": "D"})]
    )
    assert outcomes[0].ok and fake.person(ann)["department"] == "A"
    assert outcomes[1].retry and fake.person(dee)["department"] == "Theirs"


def test_own_writes_are_not_pulled_back(fake: FakePersons, clock: FakeClock) -> None:
    """After our create and update, a pull returns only another program's change."""
    acme = fake.add_contact("Acme")
    ours, theirs = fake.add_person(acme, **people(1)), fake.add_person(acme, **people(2))
    connector = connect(fake, clock)
    clock.advance(5)
    _, cursor = pull_all(connector, None)
    clock.advance(5)
    outcomes = connector.push(
        PERSONS,
        [
            Write("u", ours, {"department": "Ours"}),
            Write("c", None, {"contact_id": acme, **people(3)}),
        ],
    )
    assert all(o.ok for o in outcomes)
    clock.advance(5)
    fake.edit_person(theirs, department="Theirs")
    changes, _ = pull_all(connector, cursor)
    assert [c.id for c in changes] == [theirs]


def test_an_update_of_a_person_under_no_contact_is_an_error(
    fake: FakePersons, clock: FakeClock
) -> None:
    """A person no contact holds any more: the error names the id and the table."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    fake.remove_person(ann)
    [outcome] = connect(fake, clock).push(PERSONS, [Write("r", ann, {"department": "x"})])
    assert not outcome.ok and not outcome.retry
    assert ann in outcome.error and "contactpersons" in outcome.error


def test_a_refused_write_reports_books_code_and_message(
    fake: FakePersons, clock: FakeClock
) -> None:
    """Books' refusal becomes the write's error; the batch goes on."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    pull_all(connector, None)
    outcomes = connector.push(
        PERSONS,
        [Write("bad", ann, {"first_name": None}), Write("ok", ann, {"department": "D"})],
    )
    assert [o.ok for o in outcomes] == [False, True]
    assert "first_name is required" in outcomes[0].error


def test_an_edit_that_kept_every_value_still_holds_a_write_back(
    fake: FakePersons, clock: FakeClock
) -> None:
    """A person has no time: an edit after our read shows in its contact's time, and the
    write waits for the next pull even when no value changed."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(5)
    fake.edit_person(ann, department="")  # the value it had
    [outcome] = connector.push(PERSONS, [Write("r", ann, {"department": "Ours"})])
    assert outcome.retry and fake.person(ann)["department"] == ""
    pull_all(connector, cursor)
    [outcome] = connector.push(PERSONS, [Write("r", ann, {"department": "Ours"})])
    assert outcome.ok


def test_our_own_writes_do_not_hold_back_the_next_batch(
    fake: FakePersons, clock: FakeClock
) -> None:
    """Writes under a contact move its time; a later batch still writes its persons."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    pull_all(connector, None)
    clock.advance(5)
    [made] = connector.push(PERSONS, [Write("k", None, {"contact_id": acme, **people(2)})])
    clock.advance(5)
    [edit] = connector.push(PERSONS, [Write("u", ann, {"department": "Ops"})])
    [again] = connector.push(PERSONS, [Write("v", made.id, {"department": "Ops"})])
    assert made.ok and edit.ok and again.ok
    assert [p["department"] for p in fake.persons(acme)] == ["Ops", "Ops"]


def test_a_batch_looks_for_unknown_persons_with_one_walk(
    fake: FakePersons, clock: FakeClock
) -> None:
    """Persons whose contact is not known are looked for by one walk per batch, not one
    each; the contact_id of a lookup read whole is its id."""
    acme = fake.add_contact("Acme")
    ann, bob = fake.add_person(acme, **people(1)), fake.add_person(acme, **people(2))
    gone = [fake.add_person(acme, **people(n)) for n in (3, 4)]
    for id in gone:
        fake.remove_person(id)
    clock.advance(5)
    fake.requests.clear()
    outcomes = connect(fake, clock).push(
        PERSONS,
        [Write(f"r{n}", id, {"department": "x"}) for n, id in enumerate(gone)]
        + [Write("c", None, {"contact_id": {"id": acme, "name": "Acme"}, **people(5)})],
    )
    assert [o.ok for o in outcomes] == [False, False, True]
    listings = [r for r in calls(fake) if r.url.path == "/books/v3/contacts"]
    assert len(listings) == 1
    assert {ann, bob} < {p["contact_person_id"] for p in fake.persons(acme)}
