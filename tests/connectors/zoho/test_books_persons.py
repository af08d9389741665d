"""The Books connector's ``contactpersons`` table, read: pulls, get, search, schema and
views, against the fake Books v3 with contact persons (:mod:`.fake_persons`)."""

from __future__ import annotations

import pytest

from replicator.connectors.base import SideModule
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


# -- reading ---------------------------------------------------------------------------


def test_a_first_pull_lists_every_customers_persons_with_their_contact(
    fake: FakePersons, clock: FakeClock
) -> None:
    """Since None, each customer's persons come with contact_id; vendors' do not."""
    acme, bolt = fake.add_contact("Acme"), fake.add_contact("Bolt")
    ann = fake.add_person(acme, **people(1, department="Sales"))
    bob = fake.add_person(acme, **people(2))
    cy = fake.add_person(bolt, **people(3))
    fake.add_person(fake.add_contact("Parts Co", "vendor"), **people(4))
    changes, _ = pull_all(connect(fake, clock), None)
    seen = {c.id: dict(c.values) for c in changes}
    assert set(seen) == {ann, bob, cy}
    assert seen[ann] == {"contact_id": acme, **people(1), "department": "Sales"}
    assert seen[cy]["contact_id"] == bolt
    assert all(c.modified is not None and c.modified.tzinfo is not None for c in changes)


def test_contacts_without_a_person_cost_no_persons_call(
    fake: FakePersons, clock: FakeClock
) -> None:
    """A list answer showing no primary person skips the contact: one call per contact
    with persons, plus the contacts list."""
    for n in range(5):
        fake.add_contact(f"Empty {n}")
    busy = fake.add_contact("Busy")
    fake.add_person(busy, **people(1))
    fake.requests.clear()
    pull_all(connect(fake, clock), None)
    assert [r.url.path for r in calls(fake, contains="contactpersons")] == [
        f"/books/v3/contacts/{busy}/contactpersons"
    ]
    [listing] = calls(fake, contains="/contacts")[:1]
    assert listing.url.params["contact_type"] == "customer"
    assert listing.url.params["sort_column"] == "last_modified_time"


def test_an_incremental_pull_reads_only_contacts_changed_since(
    fake: FakePersons, clock: FakeClock
) -> None:
    """Only the contact whose person changed is read again; only that person comes."""
    acme, bolt = fake.add_contact("Acme"), fake.add_contact("Bolt")
    ann = fake.add_person(acme, **people(1))
    fake.add_person(acme, **people(2))
    fake.add_person(bolt, **people(3))
    connector = connect(fake, clock, overlap=60)
    clock.advance(5)
    _, cursor = pull_all(connector, None)
    clock.advance(3600)
    fake.edit_person(ann, department="Legal")
    fake.requests.clear()
    changes, after = pull_all(connector, cursor)
    assert [(c.id, c.values["department"]) for c in changes] == [(ann, "Legal")]
    assert [r.url.path for r in calls(fake, contains="contactpersons")] == [
        f"/books/v3/contacts/{acme}/contactpersons"
    ]
    assert after > cursor


def test_persons_gone_from_a_contact_come_as_deletions(fake: FakePersons, clock: FakeClock) -> None:
    """A person deleted elsewhere, and the persons of a deleted contact, come deleted."""
    acme, bolt = fake.add_contact("Acme"), fake.add_contact("Bolt")
    ann, bob = fake.add_person(acme, **people(1)), fake.add_person(acme, **people(2))
    cy = fake.add_person(bolt, **people(3))
    connector = connect(fake, clock)
    clock.advance(5)
    _, cursor = pull_all(connector, None)
    clock.advance(5)
    fake.remove_person(ann)
    changes, cursor = pull_all(connector, cursor)
    assert [(c.id, c.deleted, dict(c.values)) for c in changes] == [(ann, True, {})]
    assert bob not in [c.id for c in changes]
    # a contact deleted between its listing and its persons read: its persons are gone
    clock.advance(5)
    fake.edit_person(cy, department="x")
    fake.vanish = bolt
    changes, _ = pull_all(connector, cursor)
    assert [(c.id, c.deleted) for c in changes] == [(cy, True)]


def test_pages_hold_at_most_page_size_and_the_last_moves_the_cursor(
    fake: FakePersons, clock: FakeClock
) -> None:
    """Eleven persons in pages of four: only the last page carries the new cursor."""
    acme = fake.add_contact("Acme")
    for n in range(11):
        fake.add_person(acme, **people(n))
    clock.advance(5)
    pages = list(connect(fake, clock).pull(PERSONS, None, page_size=4))
    assert [len(p.changes) for p in pages] == [4, 4, 3]
    assert pages[0].cursor == pages[1].cursor < pages[2].cursor


def test_a_pull_resumed_after_a_page_delivers_the_rest_of_its_contact(
    fake: FakePersons, clock: FakeClock
) -> None:
    """A page handed over is known; a contact counts as read only with its last person, so
    resuming from the page's cursor reads that contact again and brings the rest."""
    acme = fake.add_contact("Acme")
    ids = [fake.add_person(acme, **people(n)) for n in range(5)]
    clock.advance(5)
    connector = connect(fake, clock)
    first = next(iter(connector.pull(PERSONS, None, page_size=2)))
    changes, cursor = pull_all(connector, first.cursor, page_size=2)
    assert sorted(c.id for c in [*first.changes, *changes]) == sorted(ids)
    again, _ = pull_all(connector, cursor)
    assert again == []


def test_a_contact_read_in_the_second_it_changed_is_read_again(
    fake: FakePersons, clock: FakeClock
) -> None:
    """A read in the very second of a change may miss a later edit in it: the next pull
    reads that contact again; once read after its second, it costs nothing more."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    _, cursor = pull_all(connector, None)  # same second as the change
    fake.edit_person(ann, department="Late")  # still that second
    clock.advance(1)
    fake.requests.clear()
    changes, cursor = pull_all(connector, cursor)
    assert [c.values["department"] for c in changes] == ["Late"]
    clock.advance(1)
    fake.requests.clear()
    assert pull_all(connector, cursor)[0] == []
    assert calls(fake, contains="contactpersons") == []


def test_a_view_picks_the_contacts_whose_persons_sync(fake: FakePersons, clock: FakeClock) -> None:
    """view=vendor reads vendors' persons; a query string passes list filters."""
    fake.add_person(fake.add_contact("Acme"), **people(1))
    parts = fake.add_person(fake.add_contact("Parts", "vendor"), **people(2))
    vendors = SideModule("p", "contactpersons", columns=("first_name",), view="vendor")
    changes, _ = pull_all(connect(fake, clock), None, module=vendors)
    assert [c.id for c in changes] == [parts]
    active = SideModule("p", "contactpersons", view="filter_by=Status.Active")
    fake.requests.clear()
    pull_all(connect(fake, clock), None, module=active)
    listing = calls(fake, contains="/contacts")[0]
    assert listing.url.params["filter_by"] == "Status.Active"
    assert listing.url.params["contact_type"] == "customer"


def test_schema_and_views(fake: FakePersons, clock: FakeClock) -> None:
    """schema names every person column with a type, at no cost; views are list filters."""
    connector = connect(fake, clock)
    schema = connector.schema(PERSONS)
    assert schema["contact_id"] == "text" and schema["is_primary_contact"] == "boolean"
    assert {
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "designation",
        "department",
        "salutation",
    } <= set(schema)
    assert "customer" in connector.views(PERSONS) and "Status.Active" in connector.views(PERSONS)
    assert fake.requests == []


def test_get_reads_the_parent_it_remembers_or_finds_it(fake: FakePersons, clock: FakeClock) -> None:
    """get needs the person's contact: remembered from a pull, else found by one walk;
    an id under no contact is None."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    change = connector.get(PERSONS, ann)  # unknown: the walk finds it
    assert change is not None and change.values["email"] == "a1@x.example"
    assert change.values["contact_id"] == acme
    fake.requests.clear()
    assert connector.get(PERSONS, ann) is not None
    assert [r.url.path for r in fake.requests] == [f"/books/v3/contacts/{acme}"]
    fake.remove_person(ann)
    assert connector.get(PERSONS, ann) is None
    assert connector.get(PERSONS, "460000000099999") is None


def test_search_matches_the_match_columns_ignoring_case(
    fake: FakePersons, clock: FakeClock
) -> None:
    """search finds persons by the match columns only."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1, email="Ann@Acme.example"))
    fake.add_person(acme, **people(2, department="acme"))
    found = connect(fake, clock).search(PERSONS, "ann@acme")
    assert [c.id for c in found] == [ann]


def test_reads_change_nothing_a_pull_reports(fake: FakePersons, clock: FakeClock) -> None:
    """get and search before a first pull do not hide persons from it."""
    acme = fake.add_contact("Acme")
    ann = fake.add_person(acme, **people(1))
    connector = connect(fake, clock)
    connector.get(PERSONS, ann)
    connector.search(PERSONS, "a1@")
    changes, _ = pull_all(connector, None)
    assert [c.id for c in changes] == [ann]
