"""A document's lines: one value, compared and journaled in canonical form, written whole,
each line's item turned into each side's own id."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from replicator.connectors.memory import MemoryConnector
from tests.sync.backends import verify
from tests.sync.documents import Documents, over_both_backends  # noqa: F401 (autouse)


@pytest.fixture
def docs(tmp_path):
    world = Documents(tmp_path)
    yield world
    world.close()


def nut_and_bolt(docs):
    """An item made on each side, synced; returns (books bolt, crm nut) ids."""
    bolt = docs.books.insert("items", {"name": "Bolt"})
    nut = docs.crm.insert("products", {"product_name": "Nut"})
    docs.sync("items")
    return bolt, nut


def test_lines_reach_the_other_side_with_that_sides_item_ids_and_exact_amounts(docs):
    """A CRM invoice's lines go to Books whole, in order, each item as Books' own id,
    amounts as exact plain text; a cycle after it writes nothing."""
    bolt, nut = nut_and_bolt(docs)
    bolt_crm = docs.other_id("items", "books", bolt, "crm")
    lines = [
        {"item": nut, "description": "Nuts", "quantity": "2", "rate": "10.125", "tax": "20"},
        {"item": bolt_crm, "quantity": "1.000001", "rate": "3", "discount": "0.5"},
        {"item": None, "description": "Labour", "quantity": "1", "rate": "0"},
    ]
    crm_id = docs.crm.insert("crm_invoices", {"subject": "Q1", "stage": "Draft", "items": lines})
    docs.sync()
    (books_row,) = docs.books.rows("invoices").values()
    nut_books = docs.other_id("items", "crm", nut, "books")
    assert books_row["line_items"] == [
        {
            "item": nut_books,
            "description": "Nuts",
            "quantity": "2",
            "rate": "10.125",
            "discount": "0",
            "tax": "20",
        },
        {
            "item": bolt,
            "description": None,
            "quantity": "1.000001",
            "rate": "3",
            "discount": "0.5",
            "tax": None,
        },
        {
            "item": None,
            "description": "Labour",
            "quantity": "1",
            "rate": "0",
            "discount": "0",
            "tax": None,
        },
    ]
    rid = docs.rid("invoices", "crm", crm_id)
    held = docs.journal.record("invoices", rid).sides["crm"].values["lines"]
    assert held[0]["item"] == docs.rid("items", "crm", nut)  # the journal holds our record ids
    assert held[1]["quantity"] == Decimal("1.000001")
    before = docs.journal.last_seq
    docs.sync()
    assert docs.journal.last_seq == before  # our write read back is no change
    assert verify(docs.journal).ok


def test_a_books_edit_of_one_line_reaches_crm_whole_and_in_order(docs):
    """Lines are one value: a changed rate on Books rewrites the CRM lines as Books has them."""
    bolt, _ = nut_and_bolt(docs)
    lines = [{"item": bolt, "quantity": "1", "rate": "5"}, {"quantity": "2", "rate": "7"}]
    books_id = docs.books.insert("invoices", {"reference": "INV-1", "status": "draft"})
    docs.books.update("invoices", books_id, {"line_items": lines})
    docs.sync()
    edited = [lines[1], {**lines[0], "rate": "5.25"}]  # reordered and repriced
    docs.books.update("invoices", books_id, {"line_items": edited})
    docs.sync()
    (crm_row,) = docs.crm.rows("crm_invoices").values()
    assert [(line["item"], line["rate"]) for line in crm_row["items"]] == [
        (None, "7"),
        (docs.other_id("items", "books", bolt, "crm"), "5.25"),
    ]


def test_equal_lines_in_other_notation_are_no_change(docs):
    """A side re-reading 2.50 where we wrote 2.5 (or a number for text) is an echo."""
    bolt, _ = nut_and_bolt(docs)
    books_id = docs.books.insert(
        "invoices",
        {"reference": "INV-1", "line_items": [{"item": bolt, "quantity": "2.5", "rate": 1}]},
    )
    docs.sync()
    before = docs.journal.last_seq
    docs.books.update(
        "invoices", books_id, {"line_items": [{"item": bolt, "quantity": "2.50", "rate": "1.0"}]}
    )
    docs.sync()
    assert docs.writes("crm", "crm_invoices")[1:] == []
    assert all(entry.kind != "observed" for entry in docs.journal.read(since=before))


def test_a_line_naming_an_item_not_synced_is_a_read_error_naming_the_line(docs):
    """The item of line 2 was never synced: the read error names the field and the line,
    and the document's other fields still sync."""
    _, nut = nut_and_bolt(docs)
    stray = docs.crm.insert("products", {"product_name": "Stray"})  # items not synced since
    lines = [
        {"item": nut, "quantity": "1", "rate": "1"},
        {"item": stray, "quantity": "1", "rate": "2"},
    ]
    docs.crm.insert("crm_invoices", {"subject": "Q2", "items": lines})
    docs.sync("invoices")
    ((entry, error),) = docs.failures(stage="read")
    assert error.field == "lines" and entry.side == "crm"
    assert f"in line 2 names items record {stray} on crm, which is not synced" in error.reason
    (books_row,) = docs.books.rows("invoices").values()
    assert books_row["reference"] == "Q2" and books_row["line_items"] is None


def test_a_bad_line_is_a_read_error_and_the_rest_of_the_document_syncs(docs):
    """A quantity that is no number: one error for the field naming the line."""
    docs.crm.insert("crm_invoices", {"subject": "Q3", "items": [{"quantity": "1,5", "rate": 1}]})
    docs.sync()
    ((_, error),) = docs.failures(stage="read")
    assert error.field == "lines"
    assert "line 1: quantity '1,5' has a comma" in error.reason
    (books_row,) = docs.books.rows("invoices").values()
    assert books_row["reference"] == "Q3"


def test_with_fetch_an_item_not_synced_yet_is_fetched_before_its_document(tmp_path):
    """lookup_missing = "fetch": a product made since items last synced is read, created
    on Books, and the invoice's line names it there, in one invoices cycle."""
    docs = Documents(tmp_path, lookup_missing="fetch")
    try:
        docs.sync()  # every side pulled once: a fetched item may be created outside its cycle
        late = docs.crm.insert("products", {"product_name": "Late"})
        docs.crm.insert(
            "crm_invoices", {"subject": "Q4", "items": [{"item": late, "quantity": 3, "rate": 1}]}
        )
        docs.sync("invoices")
        late_books = docs.other_id("items", "crm", late, "books")
        (books_row,) = docs.books.rows("invoices").values()
        assert [line["item"] for line in books_row["line_items"]] == [late_books]
        assert docs.failures() == []
    finally:
        docs.close()


def test_a_line_whose_item_is_not_on_the_target_side_waits_naming_the_line(tmp_path):
    """An item Books refused to create: the invoice write is refused for retry, naming the
    line, and goes once the item is there."""
    docs = Documents(tmp_path)
    refuse = [True]

    def no_items(module, write):
        return "items are closed today" if module.table == "items" and refuse[0] else None

    docs.books.reject = no_items
    try:
        nut = docs.crm.insert("products", {"product_name": "Nut"})
        docs.crm.insert(
            "crm_invoices", {"subject": "Q5", "items": [{"item": nut, "quantity": 1, "rate": 1}]}
        )
        docs.sync()
        refused = [p for _, p in docs.failures(stage="write") if "line 1" in p.reason]
        assert refused and refused[0].retry
        assert "field lines: line 1: items record crm:" in refused[0].reason
        assert "has no live record on books yet" in refused[0].reason
        assert docs.books.rows("invoices") == {}
        refuse[0] = False
        docs.skip(hours=1)  # past the refused item's backoff
        docs.sync()
        (books_row,) = docs.books.rows("invoices").values()
        assert books_row["line_items"][0]["item"] == docs.other_id("items", "crm", nut, "books")
    finally:
        docs.close()


def test_lines_held_as_json_text_in_sqlite_sync_exactly(tmp_path):
    """A Books SQLite column of JSON text: read as lines, written back as JSON text, and a
    CRM edit of a line arrives exactly (no float on the way)."""
    docs = Documents(tmp_path, books="sqlite")
    try:
        bolt = docs.books.insert("items", {"name": "Bolt"})
        text = json.dumps([{"item": int(bolt), "quantity": 0.1, "rate": "19.999999", "tax": 7}])
        books_id = docs.books.insert(
            "invoices", {"reference": "INV-9", "status": "draft", "line_items": text}
        )
        docs.sync()
        (crm_id, crm_row) = next(iter(docs.crm.rows("crm_invoices").items()))
        assert crm_row["items"][0]["quantity"] == "0.1"
        assert crm_row["items"][0]["rate"] == "19.999999"
        edited = [{**crm_row["items"][0], "quantity": "0.3000001"}]
        docs.crm.update("crm_invoices", crm_id, {"items": edited})
        docs.sync()
        stored = json.loads(docs.books.rows("invoices")[books_id]["line_items"])
        assert stored == [
            {
                "item": bolt,
                "description": None,
                "quantity": "0.3000001",
                "rate": "19.999999",
                "discount": "0",
                "tax": "7",
            }
        ]
        before = docs.journal.last_seq
        docs.sync()
        assert docs.journal.last_seq == before
        assert verify(docs.journal).ok
    finally:
        docs.close()


def test_lines_are_journaled_in_canonical_wire_form(docs):
    """The observed entry holds each amount as a tagged canonical decimal, order kept."""
    docs.crm.insert(
        "crm_invoices", {"items": [{"quantity": "1.50", "rate": 2}, {"quantity": 3, "rate": 1}]}
    )
    docs.sync("invoices")
    observed = [e for e in docs.journal.read() if e.kind == "observed" and e.module == "invoices"]
    lines = observed[0].fields["lines"]
    assert [line["quantity"] for line in lines] == [Decimal("1.5"), Decimal(3)]
    stored = observed[0].to_json()["fields"]["lines"]  # the entry's JSON, tags kept
    assert stored[0]["quantity"] == {"$decimal": "1.5"}


def test_a_memory_side_holds_the_lines_we_write_as_a_list():
    """The memory side stores what it is given: the list itself (sanity for the fakes)."""
    side = MemoryConnector("x")
    id = side.insert("t", {"items": [{"quantity": "1"}]})
    assert side.rows("t")[id]["items"] == [{"quantity": "1"}]
