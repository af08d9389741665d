"""Books v3: organisations, contacts, contact persons, items, upserts, transactions."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.sandbox.zoho import Zoho


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def create(zoho, resource, body, expect=201):
    response = zoho.books("POST", f"/{resource}", json=body)
    assert response.status_code == expect, response.text
    return response.json()


@pytest.fixture
def customer(zoho):
    return create(zoho, "contacts", {"contact_name": unique("Customer")})["contact"]


@pytest.fixture
def item(zoho):
    return create(zoho, "items", {"name": unique("Item"), "rate": 10})["item"]


def test_organizations_are_listed_without_an_organization_id(sandbox, zoho):
    """GET /organizations needs no organization_id and lists the sandbox's org."""
    response = zoho.http.get(f"{sandbox.url}/books/v3/organizations", headers=zoho.headers())
    body = response.json()
    assert body["code"] == 0 and body["message"] == "success"
    assert body["organizations"][0]["organization_id"] == sandbox.credentials["organization_id"]


def test_missing_or_unknown_organization_is_an_error(sandbox, zoho):
    """No organization_id is 400 code 2; an unknown one 400 code 6041."""
    missing = zoho.http.get(f"{sandbox.url}/books/v3/contacts", headers=zoho.headers())
    assert missing.status_code == 400
    assert missing.json() == {"code": 2, "message": "Invalid value passed for organization_id"}
    unknown = zoho.books("GET", "/contacts", org="123")
    assert unknown.status_code == 400 and unknown.json()["code"] == 6041


def test_create_and_update_a_contact(zoho):
    """A contact is created (201, code 0) and updated (200), with its fields read back."""
    name = unique("Bowman")
    body = create(
        zoho,
        "contacts",
        {
            "contact_name": name,
            "company_name": "Bowman and Co",
            "contact_type": "customer",
            "customer_sub_type": "business",
            "website": "www.bowman.example",
            "payment_terms": 15,
            "billing_address": {"city": "Pleasanton", "zip": "94588"},
            "contact_persons": [
                {
                    "first_name": "Will",
                    "last_name": "Smith",
                    "email": "will@bowman.example",
                    "phone": "+1-925-921-9201",
                }
            ],
        },
    )
    assert body["code"] == 0 and body["message"] == "The contact has been created"
    contact = body["contact"]
    assert contact["payment_terms_label"] == "Net 15" and contact["status"] == "active"
    assert contact["billing_address"]["city"] == "Pleasanton"
    assert contact["contact_persons"][0]["is_primary_contact"] is True
    assert contact["is_linked_with_zohocrm"] is False
    updated = zoho.books(
        "PUT", f"/contacts/{contact['contact_id']}", json={"website": "www.new.example"}
    ).json()
    assert updated["message"] == "Contact has been updated successfully"
    assert updated["contact"]["website"] == "www.new.example"
    assert updated["contact"]["contact_name"] == name
    listed = zoho.books("GET", "/contacts", params={"contact_name": name}).json()["contacts"]
    assert listed[0]["email"] == "will@bowman.example"


@pytest.mark.parametrize(
    "body",
    [
        {"company_name": "no display name"},
        {"contact_name": "X", "contact_type": "partner"},
        {"contact_name": "X", "customer_sub_type": "corporate"},
        {"contact_name": "X", "payment_terms": "soon"},
        {"contact_name": "X", "currency_id": "1"},
        {"contact_name": "X", "contact_persons": [{"first_name": "A", "email": "nope"}]},
    ],
)
def test_invalid_contacts_are_400_code_4(zoho, body):
    """Missing contact_name and bad enumerations or values are 400 with code 4."""
    response = zoho.books("POST", "/contacts", json=body)
    assert response.status_code == 400 and response.json()["code"] == 4


def test_duplicate_display_name_is_refused(zoho, customer):
    """A second contact with the same display name is 400 code 1001."""
    response = zoho.books("POST", "/contacts", json={"contact_name": customer["contact_name"]})
    assert response.status_code == 400 and response.json()["code"] == 1001


def test_unknown_contact_is_404_code_1002(zoho):
    """GET of an unknown contact is 404 with code 1002."""
    response = zoho.books("GET", "/contacts/1")
    assert response.status_code == 404
    assert response.json() == {"code": 1002, "message": "Contact does not exist."}


def test_list_pages_with_has_more_page_and_sorts_by_modification(fresh):
    """per_page pages the list with has_more_page; last_modified_time D puts the latest
    first."""
    box = fresh(books_per_minute=1000)
    client = Zoho(box.credentials)
    for i in range(5):
        client.books("POST", "/contacts", json={"contact_name": f"C{i}"})
        box.admin.advance_clock(2)
    first = client.books("GET", "/contacts", params={"per_page": 2}).json()
    assert [c["contact_name"] for c in first["contacts"]] == ["C0", "C1"]
    assert first["page_context"]["has_more_page"] is True
    last = client.books("GET", "/contacts", params={"per_page": 2, "page": 3}).json()
    assert last["page_context"]["has_more_page"] is False and len(last["contacts"]) == 1
    client.books(
        "PUT", f"/contacts/{first['contacts'][0]['contact_id']}", json={"notes": "touched"}
    )
    recent = client.books(
        "GET", "/contacts", params={"sort_column": "last_modified_time", "sort_order": "D"}
    ).json()["contacts"]
    assert recent[0]["contact_name"] == "C0"


def test_bad_list_parameters_are_400_code_2(zoho):
    """per_page over 200 or an unknown sort column is 400 code 2."""
    assert zoho.books("GET", "/contacts", params={"per_page": 201}).json()["code"] == 2
    assert zoho.books("GET", "/contacts", params={"sort_column": "x"}).status_code == 400


def test_filters_by_crm_links_type_and_name(sandbox, zoho):
    """zcrm_account_id, contact_type and name variants filter the list."""
    made = sandbox.admin.books_create(
        "contacts", {"contact_name": unique("Linked"), "zcrm_account_id": "4876876000000333001"}
    )
    assert made["is_linked_with_zohocrm"] is True
    linked = zoho.books(
        "GET", "/contacts", params={"zcrm_account_id": "4876876000000333001"}
    ).json()["contacts"]
    assert [c["contact_id"] for c in linked] == [made["contact_id"]]
    vendors = zoho.books("GET", "/contacts", params={"contact_type": "vendor"}).json()
    assert {c["contact_type"] for c in vendors["contacts"]} == {"vendor"}
    starts = zoho.books("GET", "/contacts", params={"contact_name_startswith": "linked"})
    assert made["contact_id"] in [c["contact_id"] for c in starts.json()["contacts"]]


def test_contact_person_endpoints(zoho, customer):
    """Contact persons are added, listed, updated, made primary and deleted."""
    contact_id = customer["contact_id"]
    first = zoho.books(
        "POST",
        "/contacts/contactpersons",
        json={"contact_id": contact_id, "first_name": "Ann", "email": "ann@x.example"},
    )
    assert first.status_code == 201
    ann = first.json()["contact_person"]
    assert ann["is_primary_contact"] is True
    bob = zoho.books(
        "POST", "/contacts/contactpersons", json={"contact_id": contact_id, "first_name": "Bob"}
    ).json()["contact_person"]
    listed = zoho.books("GET", f"/contacts/{contact_id}/contactpersons").json()
    assert [p["first_name"] for p in listed["contact_persons"]] == ["Ann", "Bob"]
    zoho.books(
        "PUT",
        f"/contacts/contactpersons/{bob['contact_person_id']}",
        json={"contact_id": contact_id, "first_name": "Bobby"},
    )
    zoho.books("POST", f"/contacts/contactpersons/{bob['contact_person_id']}/primary")
    one = zoho.books(
        "GET", f"/contacts/{contact_id}/contactpersons/{bob['contact_person_id']}"
    ).json()["contact_person"]
    assert one["first_name"] == "Bobby" and one["is_primary_contact"] is True
    deleted = zoho.books("DELETE", f"/contacts/contactpersons/{ann['contact_person_id']}")
    assert deleted.json()["message"] == "The contact person has been deleted."
    after = zoho.books("GET", f"/contacts/{contact_id}").json()["contact"]
    assert [p["first_name"] for p in after["contact_persons"]] == ["Bobby"]


def test_items_create_update_and_validate(zoho):
    """Items need name (at most 100) and rate; SKUs are unique; updates save."""
    sku = uuid.uuid4().hex[:10]
    made = create(
        zoho,
        "items",
        {"name": unique("Drive"), "rate": 120, "sku": sku, "product_type": "goods", "unit": "pcs"},
    )
    assert made["message"] == "The item has been added."
    item = made["item"]
    assert item["rate"] == 120.0 and item["status"] == "active"
    updated = zoho.books("PUT", f"/items/{item['item_id']}", json={"rate": 99.5}).json()
    assert updated["item"]["rate"] == 99.5
    assert zoho.books("POST", "/items", json={"name": "X" * 101, "rate": 1}).status_code == 400
    assert zoho.books("POST", "/items", json={"name": unique("No rate")}).status_code == 400
    clash = zoho.books("POST", "/items", json={"name": unique("Other"), "rate": 1, "sku": sku})
    assert clash.status_code == 400 and clash.json()["code"] == 1001
    inactive = zoho.books("POST", f"/items/{item['item_id']}/inactive").json()
    assert inactive["message"] == "The item has been marked as inactive."
    active = zoho.books("GET", "/items", params={"filter_by": "Status.Inactive"}).json()
    assert item["item_id"] in [i["item_id"] for i in active["items"]]


def test_upsert_by_unique_custom_field(zoho):
    """PUT /contacts with X-Unique-Identifier-* creates (X-Upsert) then updates."""
    key = uuid.uuid4().hex
    headers = {"X-Unique-Identifier-Key": "cf_replicator_id", "X-Unique-Identifier-Value": key}
    name = unique("Upserted")
    absent = zoho.books("PUT", "/contacts", headers=headers, json={"contact_name": name})
    assert absent.status_code == 404
    created = zoho.books(
        "PUT", "/contacts", headers=headers | {"X-Upsert": "true"}, json={"contact_name": name}
    )
    assert created.status_code == 201
    contact = created.json()["contact"]
    assert contact["cf_replicator_id"] == key
    assert contact["custom_fields"][0]["api_name"] == "cf_replicator_id"
    updated = zoho.books(
        "PUT",
        "/contacts",
        headers=headers | {"X-Upsert": "true"},
        json={"contact_name": name, "notes": "again"},
    )
    assert updated.status_code == 200
    assert updated.json()["contact"]["contact_id"] == contact["contact_id"]
    clash = zoho.books(
        "POST",
        "/contacts",
        json={
            "contact_name": unique("Clash"),
            "custom_fields": [{"api_name": "cf_replicator_id", "value": key}],
        },
    )
    assert clash.status_code == 400 and clash.json()["code"] == 1001
    not_unique = zoho.books(
        "PUT",
        "/contacts",
        headers={"X-Unique-Identifier-Key": "cf_nope", "X-Unique-Identifier-Value": "1"},
        json={},
    )
    assert not_unique.status_code == 400


def test_item_upsert_and_custom_fields_by_index(sandbox, zoho):
    """Items upsert the same way; custom fields can be named by index or label."""
    label = f"Shelf {uuid.uuid4().hex[:4]}"
    field = sandbox.admin.add_books_field("items", label, "number")
    key = uuid.uuid4().hex
    made = zoho.books(
        "PUT",
        "/items",
        headers={
            "X-Unique-Identifier-Key": "cf_replicator_id",
            "X-Unique-Identifier-Value": key,
            "X-Upsert": "true",
        },
        json={
            "name": unique("Upsert item"),
            "rate": 3,
            "custom_fields": [{"index": field["index"], "value": 4}],
        },
    )
    assert made.status_code == 201
    assert made.json()["item"][field["api_name"]] == 4
    bad = zoho.books(
        "POST",
        "/items",
        json={
            "name": unique("Bad cf"),
            "rate": 1,
            "custom_fields": [{"label": label, "value": "four"}],
        },
    )
    assert bad.status_code == 400


def test_invoice_lifecycle_and_status_endpoints(zoho, customer, item):
    """An invoice is a draft, becomes sent, void, draft again; bad moves are 400."""
    made = create(
        zoho,
        "invoices",
        {
            "customer_id": customer["contact_id"],
            "line_items": [{"item_id": item["item_id"], "quantity": 3}],
        },
    )
    invoice = made["invoice"]
    assert invoice["status"] == "draft" and invoice["invoice_number"].startswith("INV-")
    assert invoice["total"] == 30.0 and invoice["line_items"][0]["name"] == item["name"]
    path = f"/invoices/{invoice['invoice_id']}/status"
    sent = zoho.books("POST", f"{path}/sent")
    assert sent.status_code == 200
    assert sent.json() == {"code": 0, "message": "Invoice status has been changed to Sent."}
    assert zoho.books("POST", f"{path}/draft").status_code == 400
    assert zoho.books("POST", f"{path}/void").json()["code"] == 0
    assert zoho.books("POST", f"{path}/draft").json()["code"] == 0
    assert (
        zoho.books("GET", f"/invoices/{invoice['invoice_id']}").json()["invoice"]["status"]
        == "draft"
    )


def test_transactions_validate_party_and_line_items(zoho, customer, item):
    """Invoices need a known customer and line items; purchase orders a vendor."""
    no_lines = zoho.books("POST", "/invoices", json={"customer_id": customer["contact_id"]})
    assert no_lines.status_code == 400
    no_customer = zoho.books(
        "POST", "/estimates", json={"customer_id": "1", "line_items": [{"name": "x", "rate": 1}]}
    )
    assert no_customer.status_code == 400
    customer_as_vendor = zoho.books(
        "POST",
        "/purchaseorders",
        json={"vendor_id": customer["contact_id"], "line_items": [{"item_id": item["item_id"]}]},
    )
    assert customer_as_vendor.status_code == 400


@pytest.mark.parametrize(
    ("resource", "moves", "http"),
    [
        ("estimates", ["sent", "accepted", "declined"], 200),
        ("salesorders", ["open", "void", "open"], 201),
        ("purchaseorders", ["open", "billed"], 201),
    ],
)
def test_status_endpoints_of_each_transaction(zoho, customer, item, resource, moves, http):
    """Estimates, sales orders and purchase orders move through their statuses."""
    party = customer["contact_id"]
    if resource == "purchaseorders":
        party = create(
            zoho, "contacts", {"contact_name": unique("Vendor"), "contact_type": "vendor"}
        )["contact"]["contact_id"]
    key = "vendor_id" if resource == "purchaseorders" else "customer_id"
    made = create(
        zoho, resource, {key: party, "line_items": [{"item_id": item["item_id"], "quantity": 2}]}
    )
    singular = resource[:-1]
    record_id = made[singular][f"{singular}_id"]
    for move in moves:
        response = zoho.books("POST", f"/{resource}/{record_id}/status/{move}")
        assert response.status_code == http, response.text
        status = zoho.books("GET", f"/{resource}/{record_id}").json()[singular]["status"]
        assert (
            status
            == {
                "sent": "sent",
                "accepted": "accepted",
                "declined": "declined",
                "open": "open",
                "void": "void",
                "billed": "billed",
            }[move]
        )


def test_last_modified_time_filter_on_invoices(fresh):
    """Invoices filter by last_modified_time (strictly after it)."""
    box = fresh()
    client = Zoho(box.credentials)
    contact = client.books("POST", "/contacts", json={"contact_name": "C"}).json()["contact"]
    lines = [{"name": "Work", "rate": 5}]
    old = client.books(
        "POST", "/invoices", json={"customer_id": contact["contact_id"], "line_items": lines}
    ).json()["invoice"]
    box.admin.advance_clock(120)
    new = client.books(
        "POST", "/invoices", json={"customer_id": contact["contact_id"], "line_items": lines}
    ).json()["invoice"]
    since = client.books(
        "GET", "/invoices", params={"last_modified_time": old["last_modified_time"]}
    ).json()["invoices"]
    assert [i["invoice_id"] for i in since] == [new["invoice_id"]]


def test_delete_wrong_method_unknown_path_and_jsonstring(zoho, item):
    """DELETE answers code 0; a wrong method is 405; an unknown path 404 code 5; a
    JSONString form body works like a JSON body."""
    deleted = zoho.books("DELETE", f"/items/{item['item_id']}")
    assert deleted.json() == {"code": 0, "message": "The item has been deleted."}
    assert zoho.books("PATCH", "/items").status_code == 405
    unknown = zoho.books("GET", "/bills")
    assert unknown.status_code == 404 and unknown.json()["code"] == 5
    form = zoho.books(
        "POST", "/items", data={"JSONString": json.dumps({"name": unique("Form item"), "rate": 2})}
    )
    assert form.status_code == 201
    broken = zoho.books(
        "POST", "/items", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["code"] == 4


def test_demo_seed_has_overlapping_records(zoho):
    """The demo Books org shares some customers and items with the demo CRM."""
    names = {c["contact_name"] for c in zoho.books("GET", "/contacts").json()["contacts"]}
    assert {"Acme Ltd", "Globex Corp", "Initech", "Monarch Paper"} <= names
    items = {i["name"]: i for i in zoho.books("GET", "/items").json()["items"]}
    assert items["Widget Pro"]["rate"] == 49.0 and items["Sprocket"]["sku"] == "SPR-1"
