"""Books transaction documents: lines, status, reference, currency and custom fields,
against the fake Books v3 (documents served as the spec and the sandbox do)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from replicator.connectors.base import SideModule, Write
from replicator.connectors.zoho.books import from_options
from replicator.errors import ConfigError
from tests.connectors.zoho.conftest import books_connector
from tests.connectors.zoho.fakes import FakeBooksDocuments, FakeClock

INVOICES = SideModule(
    "invoices",
    "invoices",
    columns=("customer_id", "reference_number", "status", "line_items", "currency_code"),
)
ESTIMATES = SideModule("estimates", "estimates", columns=("customer_id", "status", "line_items"))
PURCHASES = SideModule("purchaseorders", "purchaseorders", columns=("vendor_id", "line_items"))


@pytest.fixture
def books(clock: FakeClock) -> FakeBooksDocuments:
    return FakeBooksDocuments(clock)


def calls(fake: FakeBooksDocuments) -> list[tuple[str, str]]:
    """The API calls made, as (method, path below /books/v3)."""
    return [
        (r.method, r.url.path.removeprefix("/books/v3"))
        for r in fake.requests
        if r.url.path.startswith("/books/v3")
    ]


def pull_all(connector, module=INVOICES, since=None):
    pages = list(connector.pull(module, since))
    return [c for p in pages for c in p.changes], pages[-1].cursor


def line(**values: Any) -> dict[str, Any]:
    return {"item": "7001", "description": "Bolt", "quantity": "2", "rate": "10.00", **values}


def body_of(request: httpx.Request) -> dict[str, Any]:
    return json.loads(request.content, parse_float=Decimal)


def test_lines_read_in_the_neutral_side_form(books: FakeBooksDocuments, clock: FakeClock) -> None:
    """item_id ('' -> None), description, quantity, rate, a percentage discount as its exact
    amount, the tax percentage (None when the line has no tax_id), and the name of a line
    with no item only (an item's line shows the item's name)."""
    lines = [
        {
            "line_item_id": "1",
            "item_id": "7001",
            "name": "Bolt",
            "description": "Steel bolt",
            "quantity": Decimal("3"),
            "rate": Decimal("3.33"),
            "discount": "10%",
            "tax_id": "9001",
            "tax_percentage": Decimal("20"),
        },
        {
            "line_item_id": "2",
            "item_id": "",
            "name": "Fitting",
            "description": "",
            "quantity": 1,
            "rate": Decimal("50.00"),
            "discount": Decimal("5.50"),
            "tax_id": "",
            "tax_percentage": 0,
        },
        {"item_id": "7002", "quantity": 4, "rate": 25, "discount": "12.50%", "tax_id": ""},
    ]
    books.insert("invoices", {"customer_id": "1", "line_items": lines})
    [change], _ = pull_all(books_connector(books, clock))
    assert change.values["line_items"] == [
        {
            "item": "7001",
            "description": "Steel bolt",
            "quantity": Decimal("3"),
            "rate": Decimal("3.33"),
            "discount": Decimal("0.999"),
            "tax": Decimal("20"),
        },
        {
            "item": None,
            "name": "Fitting",
            "description": "",
            "quantity": 1,
            "rate": Decimal("50.00"),
            "discount": Decimal("5.50"),
            "tax": None,
        },
        {
            "item": "7002",
            "description": None,
            "quantity": 4,
            "rate": 25,
            "discount": Decimal("12.5"),
            "tax": None,
        },
    ]
    assert not any(isinstance(v, float) for v in change.values["line_items"][0].values())


def test_lines_are_read_whole_only_for_documents_whose_list_row_changed(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """List answers carry no lines: a document is read whole once when its row changes; a
    later pull that lists it unchanged (the overlap window, or a scanned table) reads no
    record; an edit makes that one record be read again."""
    ids = [books.insert("invoices", {"customer_id": "1", "line_items": [line()]}) for _ in range(3)]
    estimate = books.insert("estimates", {"customer_id": "1", "line_items": [line()]})
    clock.advance(5)
    connector = books_connector(books, clock)
    first, cursor = pull_all(connector)
    estimates, _ = pull_all(connector, ESTIMATES)
    assert len(first) == 3 and len(estimates) == 1
    gets = [p for m, p in calls(books) if m == "GET" and p.count("/") == 2]
    assert sorted(gets) == sorted([*(f"/invoices/{i}" for i in ids), f"/estimates/{estimate}"])
    books.requests.clear()
    clock.advance(5)
    books.update("invoices", ids[1], {"line_items": [line(quantity=Decimal(5))]})
    clock.advance(5)
    changes, _ = pull_all(connector, since=cursor)
    again, _ = pull_all(connector, ESTIMATES)
    assert [c.id for c in changes] == [ids[1]] and again == []
    assert changes[0].values["line_items"][0]["quantity"] == 5
    assert [c for c in calls(books) if c[1].count("/") == 2] == [("GET", f"/invoices/{ids[1]}")]


def test_a_document_read_in_the_second_of_its_change_is_read_whole_again(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """Books' times have whole seconds: an edit later in the very second of the read would
    show the same time, so such a read does not stand for the next pull."""
    id = books.insert("invoices", {"customer_id": "1", "line_items": [line()]})
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector)
    books.records["invoices"][id]["line_items"] = [line(rate=Decimal("11.00"))]  # same second
    clock.advance(5)
    [change], _ = pull_all(connector, since=cursor)
    assert change.values["line_items"][0]["rate"] == Decimal("11.00")


def test_an_edit_in_the_second_of_our_write_is_seen_where_the_list_shows_it(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """Our write's answer stands for the document, but a list row showing other values of
    its columns (a total, a reference) in that same second is read whole again."""
    module = SideModule("invoices", "invoices", columns=("reference_number", "line_items"))
    id = books.insert("invoices", {"customer_id": "1", "reference_number": "A"})
    clock.advance(5)
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector, module)
    [outcome] = connector.push(module, [Write("r", id, {"line_items": [line()]})])
    assert outcome.ok
    books.update("invoices", id, {"reference_number": "B", "line_items": [line(quantity=9)]})
    clock.advance(5)
    [change], _ = pull_all(connector, module, since=cursor)
    assert change.values["reference_number"] == "B"
    assert change.values["line_items"][0]["quantity"] == 9


def test_lines_are_written_whole_with_taxes_found_by_percentage(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """A create sends line_items without line ids (Books replaces the lines): item_id,
    description, quantity, rate, discount as an amount, the tax_id of the tax of that
    percentage ('' for none; the taxes option picks among taxes sharing one), and the
    taxes are read once per connector."""
    connector = books_connector(books, clock, taxes={Decimal(20): "Sales Tax"})
    lines = [
        line(discount="1.50", tax="5"),
        line(item=None, description="Setup", quantity="1", rate="80", tax=None),
        line(tax="20.00", discount=None),
    ]
    [made] = connector.push(
        INVOICES, [Write("r1", None, {"customer_id": "1", "line_items": lines})]
    )
    [again] = connector.push(
        INVOICES, [Write("r2", None, {"customer_id": "1", "line_items": lines})]
    )
    assert made.ok and again.ok
    [put, _] = [r for r in books.requests if r.method == "PUT"]
    assert body_of(put)["line_items"] == [
        {
            "item_id": "7001",
            "description": "Bolt",
            "quantity": 2,
            "rate": Decimal("10.00"),
            "discount": Decimal("1.50"),
            "tax_id": "9002",
        },
        {
            "name": "Setup",
            "description": "Setup",
            "quantity": 1,
            "rate": 80,
            "discount": 0,
            "tax_id": "",
        },
        {
            "item_id": "7001",
            "description": "Bolt",
            "quantity": 2,
            "rate": Decimal("10.00"),
            "discount": 0,
            "tax_id": "9003",
        },
    ]
    assert calls(books).count(("GET", "/settings/taxes")) == 1
    held = connector.get(INVOICES, str(made.id))
    assert held is not None
    assert [(li["item"], li["tax"]) for li in held.values["line_items"]] == [
        ("7001", Decimal(5)),
        (None, None),
        ("7001", Decimal(20)),
    ]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([line(), line(tax="7")], "line 2: no Books tax of 7%"),
        ([line(rate="10.125")], "line 1: rate 10.125 has more than 2 decimal places"),
        ([line(quantity="1.005")], "line 1: quantity 1.005 has more than 2 decimal places"),
        ([line(discount="0.001")], "line 1: discount 0.001 has more than 2 decimal places"),
        ([line(), line(), line(quantity="abc")], "line 3: quantity 'abc' is not a number"),
        ([line(quantity=None)], "line 1: quantity is missing"),
        ([line(tax="20")], "line 1: several Books taxes of 20% (VAT, Sales Tax)"),
        ([line(item=None, description=None)], "line 1: no item, no name and no description"),
    ],
)
def test_a_line_books_cannot_hold_exactly_refuses_the_write(
    books: FakeBooksDocuments, clock: FakeClock, lines: list[dict[str, Any]], reason: str
) -> None:
    """Amounts with more than 2 places, taxes Books has none (or several unnamed) of, and
    malformed lines are refused naming line and field; nothing is written, the batch goes
    on."""
    id = books.insert("invoices", {"customer_id": "1", "line_items": [line()]})
    connector = books_connector(books, clock)
    outcomes = connector.push(
        INVOICES,
        [
            Write("bad", id, {"line_items": lines}),
            Write("good", None, {"customer_id": "1", "line_items": [line()]}),
        ],
    )
    assert not outcomes[0].ok and not outcomes[0].retry and outcomes[1].ok
    assert reason in (outcomes[0].error or "") and id in (outcomes[0].error or "")
    assert [r.url.path for r in books.requests if r.method == "PUT"] == ["/books/v3/invoices"]


def test_a_tax_made_in_books_since_is_found_on_the_next_push(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """A miss reads the taxes again, once per push: a write refused for want of a tax goes
    through once the tax exists, with no restart."""
    connector = books_connector(books, clock)
    write = Write("r", None, {"customer_id": "1", "line_items": [line(tax="7")]})
    refused = connector.push(INVOICES, [write, write])
    assert all("no Books tax of 7%" in (o.error or "") for o in refused)
    assert calls(books).count(("GET", "/settings/taxes")) == 1  # a push reads them once
    assert books.taxes is not None
    books.taxes.append({"tax_id": "9009", "tax_name": "Seven", "tax_percentage": Decimal(7)})
    [made] = connector.push(INVOICES, [write])
    assert made.ok and books.records["invoices"][str(made.id)]["line_items"][0]["tax_id"] == "9009"


def test_purchase_order_lines_take_no_discount(books: FakeBooksDocuments, clock: FakeClock) -> None:
    """Books' purchase order lines have no discount: none is sent for a zero one, and a
    line with one is refused naming it."""
    connector = books_connector(books, clock)
    outcomes = connector.push(
        PURCHASES,
        [
            Write("a", None, {"vendor_id": "2", "line_items": [line(discount="0")]}),
            Write("b", None, {"vendor_id": "2", "line_items": [line(), line(discount="3")]}),
        ],
    )
    assert outcomes[0].ok and "line 2: discount 3" in (outcomes[1].error or "")
    [put] = [r for r in books.requests if r.method == "PUT"]
    assert "discount" not in body_of(put)["line_items"][0]


def test_status_is_written_through_its_endpoint_after_the_other_fields(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """An update of lines and status: PUT the lines, then POST status/sent; the next pull
    knows the list row showing that status as our change: no change, no record read."""
    id = books.insert("invoices", {"customer_id": "1", "line_items": [line()]})
    clock.advance(5)
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector)
    books.requests.clear()
    [outcome] = connector.push(
        INVOICES, [Write("r", id, {"line_items": [line(quantity="3")], "status": "sent"})]
    )
    assert outcome.ok
    assert [c for c in calls(books) if c[1] != "/invoices"] == [
        ("PUT", f"/invoices/{id}"),
        ("POST", f"/invoices/{id}/status/sent"),
    ]
    assert books.records["invoices"][id]["status"] == "sent"
    books.requests.clear()
    clock.advance(5)
    changes, _ = pull_all(connector, since=cursor)
    assert changes == [] and calls(books) == [("GET", "/invoices")]


def test_a_status_change_alone_is_one_status_call(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """A write of status only sends no PUT: one status call each, and the second one is
    not held up as a change since the first (that change was ours)."""
    id = books.insert("salesorders", {"customer_id": "1", "line_items": [line()]})
    orders = SideModule("salesorders", "salesorders", columns=("status", "line_items"))
    clock.advance(5)
    connector = books_connector(books, clock)
    pull_all(connector, orders)
    books.requests.clear()
    [opened] = connector.push(orders, [Write("r", id, {"status": "open"})])
    [voided] = connector.push(orders, [Write("r", id, {"status": "void"})])
    assert opened.ok and voided.ok and books.records["salesorders"][id]["status"] == "void"
    assert [m for m, p in calls(books) if p.startswith(f"/salesorders/{id}")] == ["POST", "POST"]


def test_a_change_after_our_status_change_is_read_whole(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """Our status change is taken as the document's only change up to its time: an edit
    made later, or a status Books shows otherwise (sent, yet overdue), is read whole."""
    ids = [books.insert("invoices", {"customer_id": "1", "line_items": [line()]}) for _ in "ab"]
    clock.advance(5)
    connector = books_connector(books, clock)
    _, cursor = pull_all(connector)
    outcomes = connector.push(INVOICES, [Write(k, k, {"status": "sent"}) for k in ids])
    assert all(o.ok for o in outcomes)
    clock.advance(5)
    books.update("invoices", ids[0], {"line_items": [line(quantity=Decimal(7))]})
    books.records["invoices"][ids[1]]["status"] = "overdue"  # what Books shows past due
    books.requests.clear()
    changes, _ = pull_all(connector, since=cursor)
    assert sorted(c.id for c in changes) == sorted(ids)
    by_id = {c.id: c.values for c in changes}
    assert by_id[ids[0]]["line_items"][0]["quantity"] == 7
    assert by_id[ids[1]]["status"] == "overdue"
    assert sorted(p for m, p in calls(books) if p.count("/") == 2) == sorted(
        f"/invoices/{i}" for i in ids
    )


def test_a_new_document_is_made_draft_then_moved(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """A create with status sent is created (a draft), then marked sent; one with status
    draft makes no status call; a later status change is not held up by ours."""
    connector = books_connector(books, clock)
    sent, draft = connector.push(
        ESTIMATES,
        [
            Write("a", None, {"customer_id": "1", "status": "sent", "line_items": [line()]}),
            Write("b", None, {"customer_id": "1", "status": "draft", "line_items": [line()]}),
        ],
    )
    assert sent.ok and draft.ok
    assert books.records["estimates"][str(sent.id)]["status"] == "sent"
    assert books.records["estimates"][str(draft.id)]["status"] == "draft"
    assert [c for c in calls(books) if c[0] != "GET"] == [
        ("PUT", "/estimates"),
        ("POST", f"/estimates/{sent.id}/status/sent"),
        ("PUT", "/estimates"),
    ]
    put = next(r for r in books.requests if r.method == "PUT")
    assert "status" not in body_of(put)
    clock.advance(5)
    [accepted] = connector.push(ESTIMATES, [Write("a", sent.id, {"status": "accepted"})])
    assert accepted.ok and books.records["estimates"][str(sent.id)]["status"] == "accepted"


@pytest.mark.parametrize(
    ("module", "target", "reason"),
    [
        (INVOICES, "paid", "status paid is set by Books itself (a payment), not through the API"),
        (INVOICES, "overdue", "status overdue is set by Books itself (its due date passing)"),
        (ESTIMATES, "draft", "status draft: Books estimates cannot go back to draft"),
        (ESTIMATES, "invoiced", "status invoiced is set by Books itself (an invoice made from it)"),
        (INVOICES, "shipped", "status 'shipped' is not a status of Books invoices"),
        (INVOICES, None, "status cannot be emptied"),
    ],
)
def test_a_status_no_endpoint_sets_is_refused_with_the_reason(
    books: FakeBooksDocuments,
    clock: FakeClock,
    module: SideModule,
    target: str | None,
    reason: str,
) -> None:
    """Targets other than the endpoint statuses are refused before anything is sent."""
    id = books.insert(module.table, {"customer_id": "1", "line_items": [line()]})
    [outcome] = books_connector(books, clock).push(
        module, [Write("r", id, {"status": target, "line_items": [line(quantity="9")]})]
    )
    assert reason in (outcome.error or "") and not outcome.retry
    assert [c for c in calls(books) if c[0] != "GET"] == []
    assert books.records[module.table][id]["status"] == "draft"


def test_a_status_books_refuses_comes_back_as_its_error(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """The endpoint's refusal is the outcome's error (naming record and status); a target
    the document holds already (a retried write) is no error."""
    id = books.insert("invoices", {"customer_id": "1", "status": "void", "line_items": [line()]})
    clock.advance(5)
    connector = books_connector(books, clock)
    pull_all(connector)
    [refused] = connector.push(INVOICES, [Write("r", id, {"status": "sent"})])
    assert refused.error is not None and not refused.retry
    assert f"invoices record {id}: status sent: HTTP 400 code 4" in refused.error
    assert "cannot be marked as sent while it is void" in refused.error
    [held] = connector.push(INVOICES, [Write("r", id, {"status": "void"})])
    assert held.ok


def test_an_empty_reference_reads_the_document_number(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """reference_number '' reads the document's number; a set one reads as it is."""
    empty = books.insert("invoices", {"customer_id": "1", "reference_number": ""})
    named = books.insert("invoices", {"customer_id": "1", "reference_number": "PO 42"})
    changes, _ = pull_all(books_connector(books, clock))
    by_id = {c.id: c.values["reference_number"] for c in changes}
    assert by_id == {empty: books.records["invoices"][empty]["invoice_number"], named: "PO 42"}
    assert by_id[empty].startswith("INV-")


def test_a_currency_the_organisation_lacks_is_refused_naming_it(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """currency_code is sent as Books' currency_id: the base currency's from the
    organisation, another from /settings/currencies (read once); an unknown code is
    refused naming it and the organisation's codes."""
    connector = books_connector(books, clock)
    base, euro, bad, euro_again = connector.push(
        INVOICES,
        [
            Write(k, None, {"customer_id": "1", "currency_code": code, "line_items": [line()]})
            for k, code in (("a", "USD"), ("b", "EUR"), ("c", "XYZ"), ("d", "EUR"))
        ],
    )
    assert base.ok and euro.ok and euro_again.ok
    assert bad.error is not None and "currency XYZ is not one of the organisation's" in bad.error
    assert "(EUR, USD)" in bad.error
    puts = [body_of(r) for r in books.requests if r.method == "PUT"]
    assert [p["currency_id"] for p in puts] == ["3001", "3002", "3002"]
    assert all("currency_code" not in p for p in puts)
    assert calls(books).count(("GET", "/settings/currencies")) == 1
    assert books.records["invoices"][str(euro.id)]["currency_code"] == "EUR"
    [still] = connector.push(INVOICES, [Write("c", None, {"currency_code": "XYZ"})])
    assert still.error is not None and "XYZ" in still.error
    assert calls(books).count(("GET", "/settings/currencies")) == 2  # a miss reads them again


def test_a_setting_books_cannot_answer_fails_that_record_only(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """When /settings/currencies cannot be read, the write naming a currency fails with
    the reason and the others of the batch go through."""
    books.currencies = None
    connector = books_connector(books, clock)
    failed, made = connector.push(
        INVOICES,
        [
            Write("a", None, {"customer_id": "1", "currency_code": "EUR"}),
            Write("b", None, {"customer_id": "1", "currency_code": "USD"}),
        ],
    )
    assert made.ok and failed.error is not None and not failed.retry
    assert "GET /settings/currencies: HTTP 404" in failed.error
    assert [r.url.path for r in books.requests if r.method == "PUT"] == ["/books/v3/invoices"]


def test_document_custom_fields_are_cf_columns(books: FakeBooksDocuments, clock: FakeClock) -> None:
    """A document's custom fields read as cf_ columns (completed from the whole record,
    as lists lack them) and are written back as custom_fields."""
    module = SideModule("invoices", "invoices", columns=("customer_id", "cf_project"))
    id = books.insert("invoices", {"customer_id": "1"}, {"cf_project": "Apollo"})
    connector = books_connector(books, clock)
    [change], _ = pull_all(connector, module)
    assert change.values == {"customer_id": "1", "cf_project": "Apollo"}
    [outcome] = connector.push(module, [Write("r", id, {"cf_project": "Gemini"})])
    assert outcome.ok and books.custom("invoices", id, "cf_project") == "Gemini"
    put = next(r for r in books.requests if r.method == "PUT")
    assert body_of(put)["custom_fields"] == [{"api_name": "cf_project", "value": "Gemini"}]


def test_lines_given_as_json_text_are_written_too(
    books: FakeBooksDocuments, clock: FakeClock
) -> None:
    """A lines value held as JSON text (a SQLite side's form) is sent as the list."""
    connector = books_connector(books, clock)
    text = json.dumps([line(rate="12.5")])
    [made] = connector.push(INVOICES, [Write("r", None, {"customer_id": "1", "line_items": text})])
    assert made.ok and books.records["invoices"][str(made.id)]["line_items"][0]["rate"] == Decimal(
        "12.5"
    )


def test_the_taxes_option_is_checked_when_the_side_opens(tmp_path) -> None:
    """from_options refuses a taxes key that is not a percentage, naming the option."""
    options = {"organization_id": "1", "credentials": str(tmp_path / "none.json")}
    with pytest.raises(ConfigError, match="taxes.*'VAT' is not a percentage"):
        from_options("books", {**options, "taxes": {"VAT": "20"}}, env={})
