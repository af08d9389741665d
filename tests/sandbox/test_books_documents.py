"""Books v3 documents (estimates, sales orders, invoices, purchase orders): status
endpoints, edits by status, and custom fields with upserts."""

from __future__ import annotations

import uuid

import pytest

from tests.sandbox.zoho import Zoho

DOCUMENTS = ["estimates", "salesorders", "invoices", "purchaseorders"]
KEY = "cf_replicator_id"


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def party_body(zoho: Zoho, resource: str) -> dict[str, str]:
    """The party field of a new document of ``resource``, naming a new contact."""
    vendor = resource == "purchaseorders"
    contact = zoho.books(
        "POST",
        "/contacts",
        json={"contact_name": unique("Party"), "contact_type": "vendor" if vendor else "customer"},
    ).json()["contact"]
    return {("vendor_id" if vendor else "customer_id"): contact["contact_id"]}


def make(zoho: Zoho, resource: str, **extra: object) -> dict[str, object]:
    body = {**party_body(zoho, resource), "line_items": [{"name": "Line", "rate": 10}], **extra}
    answer = zoho.books("POST", f"/{resource}", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()[resource[:-1]])


def move(zoho: Zoho, resource: str, doc: dict[str, object], action: str):
    return zoho.books("POST", f"/{resource}/{doc[resource[:-1] + '_id']}/status/{action}")


@pytest.mark.parametrize(
    ("resource", "path", "action", "reason"),
    [
        ("invoices", ["sent"], "sent", "already sent"),
        ("invoices", ["void"], "void", "already void"),
        ("invoices", [], "draft", "already draft"),
        ("invoices", ["sent"], "draft", "cannot be marked as draft while it is sent"),
        ("estimates", [], "accepted", "cannot be marked as accepted while it is draft"),
        ("estimates", [], "declined", "cannot be marked as declined while it is draft"),
        ("estimates", ["sent", "accepted"], "accepted", "already accepted"),
        ("estimates", ["sent"], "sent", "already sent"),
        ("salesorders", ["open"], "open", "already open"),
        ("salesorders", ["void"], "void", "already void"),
        ("purchaseorders", [], "billed", "cannot be marked as billed while it is draft"),
        ("purchaseorders", ["cancelled"], "cancelled", "already cancelled"),
        ("purchaseorders", ["cancelled"], "billed", "while it is cancelled"),
    ],
)
def test_an_invalid_status_move_is_refused_with_the_reason(zoho, resource, path, action, reason):
    """A move the current status does not allow is 400 code 4 naming both statuses."""
    doc = make(zoho, resource)
    for step in path:
        assert move(zoho, resource, doc, step).json()["code"] == 0
    refused = move(zoho, resource, doc, action)
    assert refused.status_code == 400 and refused.json()["code"] == 4
    assert reason in refused.json()["message"]


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        ("estimates", ["sent", "accepted", "declined", "accepted"]),
        ("invoices", ["sent", "void", "draft", "void"]),
        ("salesorders", ["open", "void", "open"]),
        ("purchaseorders", ["open", "cancelled", "open", "billed"]),
    ],
)
def test_the_status_moves_books_allows_go_through(zoho, resource, path):
    """Each allowed move answers code 0 and the document reads the new status."""
    doc = make(zoho, resource)
    for step in path:
        assert move(zoho, resource, doc, step).json()["code"] == 0
        got = zoho.books("GET", f"/{resource}/{doc[resource[:-1] + '_id']}").json()
        assert got[resource[:-1]]["status"] == step


def test_a_paid_invoice_can_be_voided(sandbox, zoho):
    """Voiding a paid invoice is allowed (Books unassociates its payments)."""
    doc = make(zoho, "invoices")
    sandbox.admin.books_update("invoices", str(doc["invoice_id"]), {"status": "paid"})
    assert move(zoho, "invoices", doc, "void").json()["code"] == 0


def test_a_status_move_bumps_last_modified_time(fresh):
    """A status endpoint changes the document's last_modified_time."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        doc = make(client, "invoices")
        box.admin.advance_clock(90)
        assert move(client, "invoices", doc, "sent").json()["code"] == 0
        after = client.books("GET", f"/invoices/{doc['invoice_id']}").json()["invoice"]
        assert after["last_modified_time"] > doc["last_modified_time"]
        since = client.books(
            "GET", "/invoices", params={"last_modified_time": doc["last_modified_time"]}
        ).json()["invoices"]
        assert [i["invoice_id"] for i in since] == [doc["invoice_id"]]
    finally:
        client.close()


def test_a_sent_invoice_can_be_edited_and_stays_sent(zoho):
    """A PUT of a sent invoice changes its lines and totals; its status stays sent."""
    doc = make(zoho, "invoices")
    move(zoho, "invoices", doc, "sent")
    edited = zoho.books(
        "PUT",
        f"/invoices/{doc['invoice_id']}",
        json={"line_items": [{"name": "More", "rate": 25}], "notes": "edited"},
    )
    assert edited.status_code == 200, edited.text
    invoice = edited.json()["invoice"]
    assert (invoice["status"], invoice["total"], invoice["notes"]) == ("sent", 25, "edited")


@pytest.mark.parametrize(
    ("resource", "stop", "reopen"),
    [
        ("invoices", "void", "draft"),
        ("salesorders", "void", "open"),
        ("purchaseorders", "cancelled", "open"),
    ],
)
def test_a_void_or_cancelled_document_takes_no_edit_until_reopened(zoho, resource, stop, reopen):
    """A PUT of a void / cancelled document is 400; after its status moves back it works."""
    doc = make(zoho, resource)
    move(zoho, resource, doc, stop)
    path = f"/{resource}/{doc[resource[:-1] + '_id']}"
    refused = zoho.books("PUT", path, json={"notes": "too late"})
    assert refused.status_code == 400 and refused.json()["code"] == 4
    assert stop in refused.json()["message"]
    move(zoho, resource, doc, reopen)
    assert zoho.books("PUT", path, json={"notes": "now"}).status_code == 200


# -- custom fields and upserts ---------------------------------------------------------------


@pytest.mark.parametrize("resource", DOCUMENTS)
def test_a_document_upserts_by_its_unique_custom_field(zoho, resource):
    """PUT /{documents} with X-Unique-Identifier-* and X-Upsert creates (201) then updates
    (200) the same document, which reads cf_replicator_id in custom_fields and on top."""
    key = uuid.uuid4().hex
    headers = {"X-Unique-Identifier-Key": KEY, "X-Unique-Identifier-Value": key}
    body = {**party_body(zoho, resource), "line_items": [{"name": "Up", "rate": 3}]}
    absent = zoho.books("PUT", f"/{resource}", headers=headers, json=body)
    assert absent.status_code == 404
    upsert = headers | {"X-Upsert": "true"}
    created = zoho.books("PUT", f"/{resource}", headers=upsert, json=body)
    assert created.status_code == 201, created.text
    doc = created.json()[resource[:-1]]
    assert doc[KEY] == key
    assert {"api_name": KEY, "value": key}.items() <= doc["custom_fields"][0].items()
    changed = {**body, "line_items": [{"name": "Up", "rate": 4}]}
    updated = zoho.books("PUT", f"/{resource}", headers=upsert, json=changed)
    assert updated.status_code == 200, updated.text
    again = updated.json()[resource[:-1]]
    id_field = resource[:-1] + "_id"
    assert again[id_field] == doc[id_field] and again["total"] == 4
    listed = zoho.books("GET", f"/{resource}").json()[resource]
    assert next(d for d in listed if d[id_field] == doc[id_field])[KEY] == key


@pytest.mark.parametrize("resource", DOCUMENTS)
def test_a_documents_custom_field_value_is_unique(zoho, resource):
    """A second document with the same cf_replicator_id is 400 code 1001."""
    key = uuid.uuid4().hex
    fields = [{"api_name": KEY, "value": key}]
    first = make(zoho, resource, custom_fields=fields)
    assert first[KEY] == key
    body = {**party_body(zoho, resource), "line_items": [{"name": "L", "rate": 1}]}
    clash = zoho.books("POST", f"/{resource}", json={**body, "custom_fields": fields})
    assert clash.status_code == 400 and clash.json()["code"] == 1001


def test_a_void_invoice_refuses_an_upsert_update(zoho):
    """An upsert that finds a void invoice is refused like a PUT by id."""
    key = uuid.uuid4().hex
    doc = make(zoho, "invoices", custom_fields=[{"api_name": KEY, "value": key}])
    move(zoho, "invoices", doc, "void")
    headers = {"X-Unique-Identifier-Key": KEY, "X-Unique-Identifier-Value": key}
    answer = zoho.books("PUT", "/invoices", headers=headers, json={"notes": "x"})
    assert answer.status_code == 400 and answer.json()["code"] == 4


# -- list pages ------------------------------------------------------------------------------


def test_a_list_by_time_renders_only_its_page_and_agrees_with_the_filtered_path(fresh):
    """A list sorted by modification time with no other filter renders one page of
    records, and answers what the general (filtering) path answers."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        party = party_body(client, "invoices")
        for n in range(7):
            body = {**party, "line_items": [{"name": f"L{n}", "rate": n + 1}]}
            client.books("POST", "/invoices", json=body)
            box.admin.advance_clock(1)
        books = box.state.books
        rendered: list[str] = []
        real = books.render

        def counting(org, resource, row, **kw):
            rendered.append(row.id)
            return real(org, resource, row, **kw)

        books.render = counting  # type: ignore[method-assign]
        params = {"sort_column": "last_modified_time", "sort_order": "D", "per_page": 3}
        fast = [
            client.books("GET", "/invoices", params=params | {"page": p}).json() for p in (1, 3)
        ]
        assert len(rendered) == 4  # 3 on page 1, 1 on page 3: never all 7
        slow = [
            client.books(
                "GET", "/invoices", params=params | {"page": p, "reference_number_contains": ""}
            ).json()
            for p in (1, 3)
        ]
        assert [a["invoices"] for a in fast] == [b["invoices"] for b in slow]
        assert [a["page_context"]["has_more_page"] for a in fast] == [True, False]
        assert [i["total"] for i in fast[0]["invoices"]] == [7, 6, 5]
    finally:
        client.close()


def test_a_contacts_money_is_its_own_documents_in_a_page_and_alone(fresh):
    """A customer's outstanding receivables are its sent invoices' totals (a draft owes
    nothing), and it has transactions once it has any document, the same in a page of the
    list (which reads only the page's contacts' documents) and read alone; a customer
    without documents owes nothing."""
    box = fresh()
    zoho = Zoho(box.credentials)
    invoice = make(zoho, "invoices")
    customer = str(invoice["customer_id"])
    body = {"customer_id": customer, "line_items": [{"name": "Line", "rate": 5}]}
    assert zoho.books("POST", "/invoices", json=body).status_code == 201  # a draft
    assert move(zoho, "invoices", invoice, "sent").status_code == 200
    idle = zoho.books("POST", "/contacts", json={"contact_name": unique("Idle")}).json()
    idle_id = idle["contact"]["contact_id"]
    params = {"contact_type": "customer", "sort_column": "last_modified_time", "sort_order": "D"}
    listed = {
        c["contact_id"]: c["outstanding_receivable_amount"]
        for c in zoho.books("GET", "/contacts", params=params).json()["contacts"]
    }
    assert listed == {customer: invoice["total"], idle_id: 0.0}
    alone = zoho.books("GET", f"/contacts/{customer}").json()["contact"]
    assert (alone["outstanding_receivable_amount"], alone["has_transaction"]) == (
        invoice["total"],
        True,
    )
    other = zoho.books("GET", f"/contacts/{idle_id}").json()["contact"]
    assert (other["outstanding_receivable_amount"], other["has_transaction"]) == (0.0, False)
    zoho.close()
