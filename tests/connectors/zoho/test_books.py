"""The Zoho Books connector against a fake Books v3 written from the spec."""

from __future__ import annotations

import email.utils
import json

import httpx
import pytest

from replicator.connectors.base import Connector, SideModule, Write
from replicator.connectors.zoho.books import flatten
from tests.connectors.zoho.conftest import books_connector
from tests.connectors.zoho.fakes import FakeBooks, FakeClock

CUSTOMERS = SideModule(
    "customers",
    "customers",
    columns=("contact_name", "email", "cf_region"),
    match=("contact_name",),
)
ITEMS = SideModule("items", "items", columns=("name", "rate", "sku"), match=("name",))


def contact(n: int, **extra) -> dict:
    return {
        "contact_name": f"Customer {n}",
        "email": f"c{n}@example.com",
        "contact_type": "customer",
        **extra,
    }


def pull_all(connector, since, *, module=CUSTOMERS, page_size=1000):
    pages = list(connector.pull(module, since, page_size=page_size))
    return [c for p in pages for c in p.changes], (pages[-1].cursor if pages else since)


def api_calls(fake: FakeBooks, method: str | None = None) -> list[httpx.Request]:
    return [
        r
        for r in fake.requests
        if r.url.path.startswith("/books/v3") and (method is None or r.method == method)
    ]


def test_the_connector_satisfies_the_protocol(books: FakeBooks, clock: FakeClock) -> None:
    """ZohoBooksConnector is a Connector."""
    assert isinstance(books_connector(books, clock), Connector)


def test_every_call_carries_the_organization_id(books: FakeBooks, clock: FakeClock) -> None:
    """Lists, reads and writes all send organization_id."""
    id = books.insert("contacts", contact(1), {"cf_region": "North"})
    connector = books_connector(books, clock)
    pull_all(connector, None)
    connector.get(CUSTOMERS, id)
    connector.push(CUSTOMERS, [Write("k", None, {"contact_name": "New"})])
    assert api_calls(books) and all(
        r.url.params["organization_id"] == books.org for r in api_calls(books)
    )


def test_pages_follow_has_more_page(books: FakeBooks, clock: FakeClock) -> None:
    """page and per_page=200 are walked until page_context.has_more_page is false."""
    for n in range(450):
        books.insert("items", {"name": f"Item {n}", "rate": 1, "sku": f"S{n}"})
    changes, _ = pull_all(books_connector(books, clock), None, module=ITEMS)
    assert len(changes) == 450
    lists = [r for r in api_calls(books, "GET") if r.url.path == "/books/v3/items"]
    assert [(r.url.params["page"], r.url.params["per_page"]) for r in lists] == [
        ("1", "200"),
        ("2", "200"),
        ("3", "200"),
    ]


def test_contacts_are_read_newest_first_and_stop_at_the_watermark(
    books: FakeBooks, clock: FakeClock
) -> None:
    """Incremental contact pulls sort by last_modified_time descending and stop early."""
    ids = [books.insert("contacts", contact(n), {"cf_region": "r"}) for n in range(447)]
    clock.advance(1000)
    ids += [books.insert("contacts", contact(n), {"cf_region": "r"}) for n in range(3)]
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(3600)
    for id in ids[:3]:
        books.update("contacts", id, {"email": "new@example.com"})
    books.requests.clear()
    changes, after = pull_all(connector, cursor)
    assert sorted(c.id for c in changes) == sorted(ids[:3])
    # one page of 200 holds the 3 changes, the overlap window and the first older record
    [listing] = [r for r in api_calls(books) if r.url.path == "/books/v3/contacts"]
    assert listing.url.params["sort_column"] == "last_modified_time"
    assert listing.url.params["sort_order"] == "D"
    assert listing.url.params["contact_type"] == "customer"
    changed_at = books.records["contacts"][ids[0]]["last_modified_time"]
    assert after == changed_at.replace("+0000", "+00:00") > cursor


def test_a_descending_walk_moves_the_cursor_only_at_its_end(
    books: FakeBooks, clock: FakeClock
) -> None:
    """Pages of an unordered or descending walk carry the old cursor; the last the new."""
    for n in range(5):
        books.insert("contacts", contact(n), {"cf_region": "r"})
        clock.advance(1)
    pages = list(books_connector(books, clock).pull(CUSTOMERS, None, page_size=2))
    assert [p.cursor for p in pages[:-1]] == ["1970-01-01T00:00:00+00:00"] * (len(pages) - 1)
    assert pages[-1].cursor == "2026-11-27T10:00:04+00:00" and pages[-1].changes == ()


def test_list_answers_lacking_custom_fields_are_completed_by_get(
    books: FakeBooks, clock: FakeClock
) -> None:
    """Contacts lists omit custom fields: each such record is read whole, once."""
    id = books.insert("contacts", contact(1), {"cf_region": "North"})
    connector = books_connector(books, clock)
    [change], _ = pull_all(connector, None)
    assert change.values == {
        "contact_name": "Customer 1",
        "email": "c1@example.com",
        "cf_region": "North",
    }
    assert [r.url.path for r in api_calls(books)] == [
        "/books/v3/contacts",
        f"/books/v3/contacts/{id}",
    ]


def test_a_column_no_record_has_is_not_fetched_again(books: FakeBooks, clock: FakeClock) -> None:
    """A mapped column missing even from the whole record is not re-read each time."""
    for n in range(3):
        books.insert("contacts", contact(n))
    connector = books_connector(books, clock)
    changes, _ = pull_all(connector, None)
    assert all(c.values["cf_region"] is None for c in changes)
    assert len([r for r in api_calls(books) if r.url.path.count("/") == 4]) == 1


def test_invoices_use_the_last_modified_time_filter(books: FakeBooks, clock: FakeClock) -> None:
    """Invoices are listed with last_modified_time = watermark - overlap, Books-style."""
    module = SideModule("invoices", "invoices", columns=("customer_id", "total"))
    books.insert("invoices", {"customer_id": "1", "total": 10})
    connector = books_connector(books, clock, overlap=60)
    _, cursor = pull_all(connector, None, module=module)
    clock.advance(600)
    new = books.insert("invoices", {"customer_id": "2", "total": 20})
    changes, _ = pull_all(connector, cursor, module=module)
    assert [c.id for c in changes] == [new]
    listing = [r for r in api_calls(books) if r.url.path == "/books/v3/invoices"][-1]
    assert listing.url.params["last_modified_time"] == "2026-11-27T09:59:00+0000"


def test_creates_upsert_by_unique_identifier_one_call_per_record(
    books: FakeBooks, clock: FakeClock
) -> None:
    """Each create is one PUT /contacts with the X-Unique-Identifier headers and X-Upsert."""
    connector = books_connector(books, clock)
    writes = [
        Write(f"crm:{n}", None, {"contact_name": f"C{n}", "cf_region": "West"}) for n in range(3)
    ]
    outcomes = connector.push(CUSTOMERS, writes)
    assert all(o.ok for o in outcomes) and len({o.id for o in outcomes}) == 3
    puts = api_calls(books, "PUT")
    assert len(puts) == 3 and all(r.url.path == "/books/v3/contacts" for r in puts)
    assert [r.headers["x-unique-identifier-value"] for r in puts] == ["crm:0", "crm:1", "crm:2"]
    assert all(r.headers["x-unique-identifier-key"] == "cf_replicator_id" for r in puts)
    assert all(r.headers["x-upsert"] == "true" for r in puts)
    body = json.loads(puts[0].content)
    assert body["contact_type"] == "customer"
    assert {"api_name": "cf_region", "value": "West"} in body["custom_fields"]
    assert {"api_name": "cf_replicator_id", "value": "crm:0"} in body["custom_fields"]
    assert books.custom("contacts", outcomes[0].id, "cf_region") == "West"


def test_a_create_retried_after_a_crash_finds_the_record_it_made(
    books: FakeBooks, clock: FakeClock
) -> None:
    """A new process pushing the same key updates the record the first one made."""
    [first] = books_connector(books, clock).push(
        CUSTOMERS, [Write("k", None, {"contact_name": "A"})]
    )
    [again] = books_connector(books, clock).push(
        CUSTOMERS, [Write("k", None, {"contact_name": "B"})]
    )
    assert again.ok and again.id == first.id
    assert [r["contact_name"] for r in books.records["contacts"].values()] == ["B"]


def test_an_update_of_a_record_changed_since_read_is_left_to_retry(
    books: FakeBooks, clock: FakeClock
) -> None:
    """One listing from the watermark finds the edit; the record is not written."""
    id = books.insert("contacts", contact(1), {"cf_region": "r"})
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(10)
    books.update("contacts", id, {"email": "theirs@example.com"})
    books.requests.clear()
    [outcome] = connector.push(CUSTOMERS, [Write("r", id, {"email": "ours@example.com"})])
    assert outcome.retry and id in outcome.error
    assert [r.method for r in api_calls(books)] == ["GET"]
    assert books.records["contacts"][id]["email"] == "theirs@example.com"
    pull_all(connector, cursor)
    [outcome] = connector.push(CUSTOMERS, [Write("r", id, {"email": "ours@example.com"})])
    assert outcome.ok and books.records["contacts"][id]["email"] == "ours@example.com"


def test_items_are_checked_record_by_record_before_an_update(
    books: FakeBooks, clock: FakeClock
) -> None:
    """Items have no modified order: each update reads its record first."""
    id = books.insert("items", {"name": "Bolt", "rate": 1, "sku": "B1"})
    connector = books_connector(books, clock)
    pull_all(connector, None, module=ITEMS)
    books.update("items", id, {"rate": 2})
    [outcome] = connector.push(ITEMS, [Write("r", id, {"rate": "3.50"})])
    assert outcome.retry
    pull_all(connector, None, module=ITEMS)
    [outcome] = connector.push(ITEMS, [Write("r", id, {"rate": "3.50"})])
    assert outcome.ok and b'"rate": 3.50' in api_calls(books, "PUT")[-1].content


def test_errors_map_to_outcomes_and_the_batch_goes_on(books: FakeBooks, clock: FakeClock) -> None:
    """A refused create and an update of a deleted id get errors; the others apply."""
    gone = books.insert("contacts", contact(1))
    books.delete("contacts", gone)
    outcomes = books_connector(books, clock).push(
        CUSTOMERS,
        [
            Write("a", None, {"contact_name": "Ann"}),
            Write("bad", None, {"contact_name": None}),
            Write("upd", gone, {"email": "x@example.com"}),
            Write("b", None, {"contact_name": "Bob"}),
        ],
    )
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert "contact_name is required" in outcomes[1].error and "code 4" in outcomes[1].error
    assert gone in outcomes[2].error and "customers" in outcomes[2].error


def test_the_limiter_keeps_a_long_sync_clear_of_429(books: FakeBooks, clock: FakeClock) -> None:
    """250 one-record writes against a server enforcing 100 a minute: never refused."""
    connector = books_connector(books, clock)
    outcomes = connector.push(
        CUSTOMERS, [Write(f"k{n}", None, {"contact_name": f"C{n}"}) for n in range(250)]
    )
    assert all(o.ok for o in outcomes)
    assert books.refused == 0
    assert clock.t >= 120  # 250 calls need at least two full minutes
    assert len(api_calls(books, "PUT")) == 250


def test_own_writes_are_not_pulled_back(books: FakeBooks, clock: FakeClock) -> None:
    """After our create and update, a pull returns only another program's change."""
    ours = books.insert("contacts", contact(1), {"cf_region": "r"})
    theirs = books.insert("contacts", contact(2), {"cf_region": "r"})
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector, None)
    clock.advance(5)
    outcomes = connector.push(
        CUSTOMERS,
        [
            Write("u", ours, {"email": "ours@example.com"}),
            Write("c", None, {"contact_name": "New", "email": None, "cf_region": "r"}),
        ],
    )
    assert all(o.ok for o in outcomes)
    clock.advance(5)
    books.update("contacts", theirs, {"email": "theirs@example.com"})
    changes, _ = pull_all(connector, cursor)
    assert [c.id for c in changes] == [theirs]


def test_items_missing_from_a_full_read_come_as_deleted(books: FakeBooks, clock: FakeClock) -> None:
    """Items are read whole each time: one seen before and gone now is a deletion."""
    kept = books.insert("items", {"name": "A", "rate": 1, "sku": "A"})
    gone = books.insert("items", {"name": "B", "rate": 1, "sku": "B"})
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector, None, module=ITEMS)
    clock.advance(5)
    books.delete("items", gone)
    books.update("items", kept, {"rate": 2})
    changes, after = pull_all(connector, cursor, module=ITEMS)
    assert {(c.id, c.deleted) for c in changes} == {(kept, False), (gone, True)}
    assert after > cursor


def test_custom_fields_flatten_to_cf_columns() -> None:
    """custom_fields and top-level cf_ keys become cf_<name> columns; unformatted wins."""
    record = {
        "contact_id": "1",
        "cf_due": "27 Nov 2026",
        "cf_due_unformatted": "2026-11-27",
        "custom_fields": [
            {"api_name": "cf_region", "value": "North"},
            {"api_name": "tier", "value": "gold"},
        ],
    }
    assert flatten(record) == {
        "contact_id": "1",
        "cf_due": "2026-11-27",
        "cf_region": "North",
        "cf_tier": "gold",
    }


def test_schema_has_standard_custom_and_key_fields(books: FakeBooks, clock: FakeClock) -> None:
    """schema: standard fields, a sample record's custom fields, mapped cf_ columns, the key."""
    books.insert("contacts", contact(1), {"cf_vip": "yes"})
    everything = SideModule("customers", "customers")
    schema = books_connector(books, clock).schema(everything)
    assert schema["contact_name"] == "text" and schema["credit_limit"] == "decimal"
    assert {"cf_vip", "cf_replicator_id"} <= set(schema)
    assert "cf_region" in books_connector(books, clock).schema(CUSTOMERS)


def test_schema_of_standard_and_custom_columns_costs_no_request(
    books: FakeBooks, clock: FakeClock
) -> None:
    """A field map of standard and cf_ columns is checked without calling Books (a sync
    checks its map every cycle); an unknown column makes it read a sample record."""
    books.insert("contacts", contact(1), {"cf_vip": "yes"})
    connector = books_connector(books, clock)
    assert {"contact_name", "email", "cf_region"} <= set(connector.schema(CUSTOMERS))
    assert api_calls(books) == []
    odd = SideModule("customers", "customers", columns=("contact_name", "twitter"))
    connector.schema(odd)
    assert len(api_calls(books, "GET")) == 2


def test_views_are_list_filters(books: FakeBooks, clock: FakeClock) -> None:
    """views() offers the filter values; a view is sent as contact_type or filter_by."""
    connector = books_connector(books, clock)
    contacts = SideModule("vendors", "contacts", columns=("contact_name",), view="vendor")
    assert "Status.Active" in connector.views(contacts)
    pull_all(connector, None, module=contacts)
    active = SideModule("items", "items", columns=("name",), view="Status.Active")
    pull_all(connector, None, module=active)
    params = [r.url.params for r in api_calls(books, "GET")]
    assert params[0]["contact_type"] == "vendor" and params[1]["filter_by"] == "Status.Active"


def test_get_and_search(books: FakeBooks, clock: FakeClock) -> None:
    """get reads one record (None when gone); search filters on the match columns."""
    alice = books.insert("contacts", contact(1, contact_name="Alice Smith"), {"cf_region": "r"})
    books.insert("contacts", contact(2, contact_name="Bob"), {"cf_region": "r"})
    connector = books_connector(books, clock)
    assert connector.get(CUSTOMERS, alice).values["contact_name"] == "Alice Smith"
    assert [c.id for c in connector.search(CUSTOMERS, "ALICE")] == [alice]
    books.delete("contacts", alice)
    assert connector.get(CUSTOMERS, alice) is None


def test_an_unknown_table_names_the_choices(books: FakeBooks, clock: FakeClock) -> None:
    """A table Books does not have is refused, listing the ones it has."""
    with pytest.raises(Exception, match="salesorders"):
        pull_all(books_connector(books, clock), None, module=SideModule("x", "bills"))


def test_person_columns_are_written_to_the_primary_contact_person(
    books: FakeBooks, clock: FakeClock
) -> None:
    """email / phone go in contact_persons (Books ignores them at the top level): a create
    makes the primary person; an update names the contact's other persons so Books keeps
    them, and changes the primary one by its id."""
    connector = books_connector(books, clock)
    [made] = connector.push(CUSTOMERS, [Write("k", None, {"contact_name": "P", "email": "a@x.io"})])
    body = json.loads(api_calls(books, "PUT")[-1].content)
    assert "email" not in body
    assert body["contact_persons"] == [{"email": "a@x.io", "is_primary_contact": True}]
    id = books.insert(
        "contacts",
        contact(2, email="old@x.io"),
    )
    books.records["contacts"][id]["contact_persons"] = [
        {"contact_person_id": "p1", "email": "old@x.io", "is_primary_contact": True},
        {"contact_person_id": "p2", "email": "other@x.io", "is_primary_contact": False},
    ]
    pull_all(connector, None)
    [outcome] = connector.push(CUSTOMERS, [Write("r", id, {"email": "new@x.io"})])
    assert outcome.ok
    body = json.loads(api_calls(books, "PUT")[-1].content)
    assert body["contact_persons"] == [
        {"contact_person_id": "p2"},
        {"email": "new@x.io", "is_primary_contact": True, "contact_person_id": "p1"},
    ]
    assert made.ok and books.records["contacts"][id]["email"] == "new@x.io"


def test_a_whole_contact_reads_its_primary_persons_fields_as_columns() -> None:
    """flatten() lifts the primary contact person's email / phone to columns."""
    record = {
        "contact_id": "1",
        "contact_persons": [
            {"email": "b@x.io", "phone": "2", "is_primary_contact": False},
            {"email": "a@x.io", "phone": "1", "is_primary_contact": True},
        ],
    }
    flat = flatten(record)
    assert (flat["email"], flat["phone"], flat["mobile"]) == ("a@x.io", "1", "")
    assert flatten({"contact_id": "1", "email": "top@x.io", "contact_persons": []})["email"] == (
        "top@x.io"
    )


def test_the_cursor_keeps_the_read_time_and_narrows_the_next_walk(
    books: FakeBooks, clock: FakeClock
) -> None:
    """With a Date header the cursor is [watermark, read time]: pages of a walk carry the
    previous cursor, the last the new one, and a walk long after the watermark stops at its
    second next time."""
    handler = books.handler

    def with_date(request: httpx.Request) -> httpx.Response:
        response = handler(request)
        response.headers["Date"] = email.utils.format_datetime(clock.wall(), usegmt=True)
        return response

    books.handler = with_date  # type: ignore[method-assign]
    first = books.insert("contacts", contact(1))  # 10:00:00
    connector = books_connector(books, clock, overlap=120)
    pages = list(connector.pull(CUSTOMERS, None))
    assert [p.cursor for p in pages] == [
        ["1970-01-01T00:00:00+00:00", "1970-01-01T00:00:00+00:00"],
        ["2026-11-27T10:00:00+00:00", "2026-11-27T10:00:00+00:00"],
    ]
    clock.advance(600)
    _, later = pull_all(connector, pages[-1].cursor)
    assert later == ["2026-11-27T10:00:00+00:00", "2026-11-27T10:01:59+00:00"]
    clock.advance(1)
    books.update("contacts", first, {"email": "c1@new.example"})  # 10:10:01
    changes, after = pull_all(connector, later)
    assert [c.id for c in changes] == [first]
    assert after[0] == "2026-11-27T10:10:01+00:00"
    assert connector._start(*later) == "2026-11-27T09:59:59+00:00"
    with pytest.raises(TypeError):
        list(connector.pull(CUSTOMERS, ["a", "b", "c"]))
