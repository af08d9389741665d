"""The Books connector's ``contactpersons`` table against a fake Books v3 with contact persons.

The fake follows the spec's person endpoints (``POST /contacts/contactpersons`` and ``PUT
/contacts/contactpersons/{id}`` answer ``contact_person`` as a list of one, as the spec
says; ``GET /contacts/{id}/contactpersons`` lists them), moves a contact's
``last_modified_time`` on any change to its persons, and sends a ``Date`` header.
"""

from __future__ import annotations

import email.utils
import itertools
import json
from typing import Any

import httpx
import pytest

from replicator.connectors.base import SideModule, Write
from replicator.connectors.zoho.books import ZohoBooksConnector
from tests.connectors.zoho.conftest import books_connector
from tests.connectors.zoho.fakes import (
    CONTACT_LIST_KEYS,
    FakeBooks,
    FakeClock,
    books_time,
    reply,
)

PERSONS = SideModule(
    "contact_persons",
    "contactpersons",
    columns=("contact_id", "first_name", "last_name", "email", "department"),
    match=("email",),
)
FIELDS = (
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "designation",
    "department",
    "skype",
)


class FakePersons(FakeBooks):
    """FakeBooks whose contacts hold contact persons, served by the spec's endpoints."""

    def __init__(self, clock: FakeClock) -> None:
        keys = CONTACT_LIST_KEYS | {"first_name", "last_name", "mobile"}
        super().__init__(clock, contact_list_keys=keys)
        self.person_ids = itertools.count(460000000090001)
        self.fail_next_create = False  # make the person, then answer 500
        self.vanish: str | None = None  # a contact deleted right after the next listing

    # -- another program ---------------------------------------------------------------

    def add_contact(self, name: str, contact_type: str = "customer") -> str:
        id = self.insert(
            "contacts",
            {"contact_name": name, "contact_type": contact_type, "contact_persons": []},
        )
        self._touch(self.records["contacts"][id])  # lists show its primary person's fields
        return id

    def add_person(self, contact_id: str, **values: Any) -> str:
        contact = self.records["contacts"][contact_id]
        person = {k: "" for k in FIELDS}
        person |= values
        person["contact_person_id"] = str(next(self.person_ids))
        person["is_primary_contact"] = not contact["contact_persons"]
        contact["contact_persons"].append(person)
        self._touch(contact)
        return person["contact_person_id"]

    def edit_person(self, id: str, **values: Any) -> None:
        contact, person = self._owner(id)
        person.update(values)
        self._touch(contact)

    def remove_person(self, id: str) -> None:
        contact, person = self._owner(id)
        contact["contact_persons"].remove(person)
        if person["is_primary_contact"] and contact["contact_persons"]:
            contact["contact_persons"][0]["is_primary_contact"] = True
        self._touch(contact)

    def persons(self, contact_id: str) -> list[dict[str, Any]]:
        return self.records["contacts"][contact_id]["contact_persons"]

    def person(self, id: str) -> dict[str, Any]:
        return self._owner(id)[1]

    def _owner(self, id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for contact in self.records["contacts"].values():
            for person in contact.get("contact_persons", []):
                if person["contact_person_id"] == id:
                    return contact, person
        raise KeyError(id)

    def _touch(self, contact: dict[str, Any]) -> None:
        primary = next((p for p in contact["contact_persons"] if p["is_primary_contact"]), {})
        for key in ("first_name", "last_name", "email", "phone", "mobile"):
            contact[key] = primary.get(key, "")
        contact["last_modified_time"] = books_time(self.clock.wall())

    # -- the API -----------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.removeprefix("/books/v3/").split("/")
        if parts[0] == "contacts" and "contactpersons" in parts:
            self.requests.append(request)
            response = self._persons_api(request, parts)
        else:
            response = super().handler(request)
            if parts == ["contacts"] and self.vanish is not None:
                del self.records["contacts"][self.vanish]
                self.vanish = None
        response.headers["Date"] = email.utils.format_datetime(self.clock.wall(), usegmt=True)
        return response

    def _persons_api(self, request: httpx.Request, parts: list[str]) -> httpx.Response:
        missing = reply(404, {"code": 1002, "message": "Contact person does not exist."})
        if request.method == "GET":  # /contacts/{id}/contactpersons
            contact = self.records["contacts"].get(parts[1])
            if contact is None:
                return reply(404, {"code": 1002, "message": "Contact does not exist."})
            page, per_page = int(request.url.params["page"]), int(request.url.params["per_page"])
            persons = contact["contact_persons"]
            chunk = persons[(page - 1) * per_page : page * per_page]
            context = {"page": page, "has_more_page": page * per_page < len(persons)}
            return reply(200, {"code": 0, "contact_persons": chunk, "page_context": context})
        body = json.loads(request.content)
        if not str(body.get("first_name") or "").strip():
            return reply(400, {"code": 4, "message": "Invalid value passed for first_name"})
        if request.method == "POST":
            if body.get("contact_id") not in self.records["contacts"]:
                return reply(404, {"code": 1002, "message": "Contact does not exist."})
            values = {k: v for k, v in body.items() if k in FIELDS}
            id = self.add_person(body["contact_id"], **values)
            if self.fail_next_create:
                self.fail_next_create = False
                return reply(500, {"code": 500, "message": "internal error"})
            person = {"contact_id": body["contact_id"], **self.person(id)}
            return reply(201, {"code": 0, "contact_person": [person]})
        try:
            contact, person = self._owner(parts[2])
        except KeyError:
            return missing
        if body.get("contact_id") != contact["contact_id"]:
            return reply(400, {"code": 4, "message": "Invalid value passed for contact_id"})
        self.edit_person(parts[2], **{k: v for k, v in body.items() if k in FIELDS})
        return reply(
            200, {"code": 0, "contact_person": [{"contact_id": contact["contact_id"], **person}]}
        )


@pytest.fixture
def fake(clock: FakeClock) -> FakePersons:
    return FakePersons(clock)


def connect(fake: FakePersons, clock: FakeClock, **options: Any) -> ZohoBooksConnector:
    return books_connector(fake, clock, **options)


def pull_all(connector, since, *, module=PERSONS, page_size=1000):
    pages = list(connector.pull(module, since, page_size=page_size))
    return [c for p in pages for c in p.changes], pages[-1].cursor


def calls(fake: FakePersons, method: str = "GET", contains: str = "") -> list[httpx.Request]:
    return [
        r
        for r in fake.requests
        if r.url.path.startswith("/books/v3") and r.method == method and contains in r.url.path
    ]


def people(n: int, **extra: Any) -> dict[str, Any]:
    return {"first_name": f"Ann{n}", "last_name": "Lee", "email": f"a{n}@x.example", **extra}


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
