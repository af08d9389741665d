"""Books v3 for deal automation: the status moves a trigger makes, addresses and sales
person of a new document, free-text lines, deal fields and filters, users and expenses."""

from __future__ import annotations

import uuid

import pytest

from replicator.sandbox.books_schema import EXPENSE_ACCOUNTS
from replicator.sandbox.crm_schema import USERS
from tests.sandbox.zoho import Zoho

CUSTOMER_DOCUMENTS = ["estimates", "salesorders", "invoices"]
DEAL = "4876876000000999001"


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def create(zoho: Zoho, resource: str, body: dict[str, object]) -> dict[str, object]:
    answer = zoho.books("POST", f"/{resource}", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()[resource[:-1]])


def get(zoho: Zoho, resource: str, record_id: object) -> dict[str, object]:
    answer = zoho.books("GET", f"/{resource}/{record_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()[resource[:-1]])


@pytest.fixture
def customer(zoho):
    """A customer with a billing and a shipping address."""
    return create(
        zoho,
        "contacts",
        {
            "contact_name": unique("Customer"),
            "billing_address": {"address": "1 Main St", "city": "Leeds", "zip": "LS1"},
            "shipping_address": {"address": "9 Dock Rd", "city": "Hull", "country": "UK"},
        },
    )


def document(zoho: Zoho, resource: str, customer: dict[str, object], **extra: object):
    body = {"customer_id": customer["contact_id"], "line_items": [{"name": "Deal", "rate": 10}]}
    return create(zoho, resource, {**body, **extra})


def move(zoho: Zoho, resource: str, doc: dict[str, object], action: str):
    return zoho.books("POST", f"/{resource}/{doc[resource[:-1] + '_id']}/status/{action}")


# -- status moves -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ([], "sent"),
        (["sent"], "accepted"),
        (["sent"], "declined"),
        (["sent", "accepted"], "declined"),
        (["sent", "declined"], "accepted"),
    ],
)
def test_an_estimate_moves_sent_from_draft_and_accepted_or_declined_once_sent(
    zoho, customer, path, action
):
    """status/sent from draft; accepted and declined from sent, accepted or declined."""
    doc = document(zoho, "estimates", customer)
    for step in [*path, action]:
        answer = move(zoho, "estimates", doc, step)
        assert answer.status_code == 200 and answer.json()["code"] == 0, answer.text
    assert get(zoho, "estimates", doc["estimate_id"])["status"] == action


@pytest.mark.parametrize(
    ("path", "action", "reason"),
    [
        ([], "accepted", "cannot be marked as accepted while it is draft"),
        ([], "declined", "cannot be marked as declined while it is draft"),
        (["sent", "accepted"], "sent", "cannot be marked as sent while it is accepted"),
        (["sent", "declined"], "sent", "cannot be marked as sent while it is declined"),
    ],
)
def test_an_estimate_move_from_a_wrong_status_is_refused_like_books(
    zoho, customer, path, action, reason
):
    """Other estimate moves answer 400 code 4 naming the move and the status."""
    doc = document(zoho, "estimates", customer)
    for step in path:
        assert move(zoho, "estimates", doc, step).json()["code"] == 0
    refused = move(zoho, "estimates", doc, action)
    assert refused.status_code == 400 and refused.json()["code"] == 4
    assert reason in refused.json()["message"]
    assert get(zoho, "estimates", doc["estimate_id"])["status"] == (path or ["draft"])[-1]


@pytest.mark.parametrize(
    "status", ["draft", "sent", "viewed", "overdue", "unpaid", "partially_paid"]
)
def test_an_invoice_is_voided_from_any_unpaid_status_and_drafted_again(
    sandbox, zoho, customer, status
):
    """status/void works from every unpaid status; status/draft brings it back from void."""
    doc = document(zoho, "invoices", customer)
    sandbox.admin.books_update("invoices", str(doc["invoice_id"]), {"status": status})
    assert move(zoho, "invoices", doc, "void").json()["code"] == 0
    voided = get(zoho, "invoices", doc["invoice_id"])
    assert voided["status"] == "void" and voided["balance"] == 0
    assert move(zoho, "invoices", doc, "draft").json()["code"] == 0
    assert get(zoho, "invoices", doc["invoice_id"])["status"] == "draft"


def test_an_invoice_goes_to_draft_only_from_void(zoho, customer):
    """status/draft of a sent invoice is 400 code 4 naming the status."""
    doc = document(zoho, "invoices", customer)
    assert move(zoho, "invoices", doc, "sent").json()["code"] == 0
    refused = move(zoho, "invoices", doc, "draft")
    assert refused.status_code == 400 and refused.json()["code"] == 4
    assert "cannot be marked as draft while it is sent" in refused.json()["message"]


# -- addresses, sales person, lines, deal fields -------------------------------------------------


@pytest.mark.parametrize("resource", CUSTOMER_DOCUMENTS)
def test_a_new_document_without_addresses_takes_its_customers(zoho, customer, resource):
    """A create with no billing/shipping address holds the customer's two addresses."""
    doc = document(zoho, resource, customer)
    assert doc["billing_address"]["address"] == "1 Main St"
    assert doc["billing_address"]["city"] == "Leeds" and doc["billing_address"]["zip"] == "LS1"
    assert doc["shipping_address"]["city"] == "Hull"
    assert doc["shipping_address"]["country"] == "UK"
    again = get(zoho, resource, doc[resource[:-1] + "_id"])
    assert again["billing_address"] == doc["billing_address"]


def test_an_address_given_is_kept_and_the_other_taken_from_the_customer(zoho, customer):
    """A billing address in the create wins; the missing shipping address is the customer's."""
    doc = document(zoho, "invoices", customer, billing_address={"city": "York"})
    assert doc["billing_address"]["city"] == "York"
    assert doc["billing_address"].get("address", "") == ""
    assert doc["shipping_address"]["city"] == "Hull"


def test_an_edit_without_addresses_keeps_the_documents(zoho, customer):
    """A PUT that names neither address leaves the document's addresses as they were."""
    doc = document(zoho, "estimates", customer, billing_address={"city": "York"})
    zoho.books(
        "PUT", f"/contacts/{customer['contact_id']}", json={"billing_address": {"city": "Bath"}}
    )
    edited = zoho.books("PUT", f"/estimates/{doc['estimate_id']}", json={"notes": "n"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["estimate"]["billing_address"]["city"] == "York"


def test_a_new_customer_brings_its_addresses_unless_some_are_given(zoho, customer):
    """A PUT naming another customer and no address takes that customer's addresses."""
    doc = document(zoho, "salesorders", customer, billing_address={"city": "York"})
    other = create(
        zoho,
        "contacts",
        {"contact_name": unique("Other"), "billing_address": {"city": "Wells"}},
    )
    moved = zoho.books(
        "PUT", f"/salesorders/{doc['salesorder_id']}", json={"customer_id": other["contact_id"]}
    ).json()["salesorder"]
    assert moved["billing_address"]["city"] == "Wells" and moved["shipping_address"] == {}
    given = zoho.books(
        "PUT",
        f"/salesorders/{doc['salesorder_id']}",
        json={"customer_id": customer["contact_id"], "shipping_address": {"city": "Ely"}},
    ).json()["salesorder"]
    assert given["billing_address"]["city"] == "Leeds"
    assert given["shipping_address"]["city"] == "Ely"


def test_a_bad_address_is_400_naming_it(zoho, customer):
    """A billing address that is not an object is 400 code 4 naming billing_address."""
    refused = zoho.books(
        "POST",
        "/invoices",
        json={
            "customer_id": customer["contact_id"],
            "billing_address": "1 Main St",
            "line_items": [{"name": "x", "rate": 1}],
        },
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == "Invalid value passed for billing_address"


@pytest.mark.parametrize("resource", CUSTOMER_DOCUMENTS)
def test_salesperson_name_is_kept_and_returned(zoho, customer, resource):
    """salesperson_name given on a create or an edit reads back on the document."""
    doc = document(zoho, resource, customer, salesperson_name="Sam Seller")
    record_id = doc[resource[:-1] + "_id"]
    assert get(zoho, resource, record_id)["salesperson_name"] == "Sam Seller"
    edited = zoho.books(
        "PUT", f"/{resource}/{record_id}", json={"salesperson_name": "Sandbox Admin"}
    )
    assert edited.json()[resource[:-1]]["salesperson_name"] == "Sandbox Admin"


def test_a_line_without_item_keeps_its_name_and_description(zoho, customer):
    """A line with no item_id holds the name, description and rate it is given."""
    doc = document(
        zoho,
        "invoices",
        customer,
        line_items=[{"name": "Big order", "description": "From the deal", "rate": 1200}],
    )
    (line,) = doc["line_items"]
    assert line["item_id"] == "" and line["name"] == "Big order"
    assert line["description"] == "From the deal" and line["item_total"] == 1200
    assert doc["total"] == 1200


@pytest.mark.parametrize("resource", CUSTOMER_DOCUMENTS)
def test_a_line_with_neither_item_nor_name_is_refused(zoho, customer, resource):
    """A line with no item_id and no name is 400 code 4 naming line_items and the line."""
    refused = zoho.books(
        "POST",
        f"/{resource}",
        json={
            "customer_id": customer["contact_id"],
            "line_items": [{"name": "ok", "rate": 1}, {"description": "what?", "rate": 5}],
        },
    )
    assert refused.status_code == 400 and refused.json()["code"] == 4
    assert "line_items: line 2 has no item_id and no name" in refused.json()["message"]


@pytest.mark.parametrize("resource", CUSTOMER_DOCUMENTS)
def test_deal_fields_are_kept_and_filter_the_list(zoho, customer, resource):
    """zcrm_potential_id / _name read back on the document and zcrm_potential_id filters."""
    deal = str(int(DEAL) + CUSTOMER_DOCUMENTS.index(resource))
    doc = document(
        zoho, resource, customer, zcrm_potential_id=deal, zcrm_potential_name="Big order"
    )
    document(zoho, resource, customer)
    key = resource[:-1] + "_id"
    got = get(zoho, resource, doc[key])
    assert got["zcrm_potential_id"] == deal and got["zcrm_potential_name"] == "Big order"
    listed = zoho.books("GET", f"/{resource}", params={"zcrm_potential_id": deal}).json()
    assert [d[key] for d in listed[resource]] == [doc[key]]
    assert listed[resource][0]["zcrm_potential_name"] == "Big order"
    cleared = zoho.books(
        "PUT", f"/{resource}/{doc[key]}", json={"zcrm_potential_id": "", "zcrm_potential_name": ""}
    ).json()[resource[:-1]]
    assert cleared["zcrm_potential_id"] == "" and cleared["zcrm_potential_name"] == ""
    none = zoho.books("GET", f"/{resource}", params={"zcrm_potential_id": deal}).json()
    assert none[resource] == []


# -- users ------------------------------------------------------------------------------------


def test_users_are_the_crm_users_by_email(zoho):
    """GET /users lists one active Books user per CRM user, with the same email."""
    answer = zoho.books("GET", "/users").json()
    assert answer["code"] == 0 and answer["page_context"]["has_more_page"] is False
    users = answer["users"]
    assert [u["email"] for u in users] == [u.email for u in USERS]
    assert [u["name"] for u in users] == [u.full_name for u in USERS]
    assert {u["status"] for u in users} == {"active"}
    assert [u["is_current_user"] for u in users] == [True, False]


def test_one_user_is_read_by_id_and_an_unknown_one_is_404(zoho):
    """GET /users/{id} gives the user with its email_ids; an unknown id is 404 code 1002."""
    listed = zoho.books("GET", "/users").json()["users"]
    one = zoho.books("GET", f"/users/{listed[1]['user_id']}").json()["user"]
    assert one["email"] == listed[1]["email"]
    assert one["email_ids"] == [{"email": listed[1]["email"], "is_selected": True}]
    assert zoho.books("GET", "/users/me").json()["user"]["user_id"] == listed[0]["user_id"]
    missing = zoho.books("GET", "/users/1")
    assert missing.status_code == 404 and missing.json()["code"] == 1002


def test_a_bad_user_filter_is_400(zoho):
    """filter_by other than the spec's values is 400 code 2."""
    answer = zoho.books("GET", "/users", params={"filter_by": "Status.Nope"})
    assert answer.status_code == 400 and answer.json()["code"] == 2
    inactive = zoho.books("GET", "/users", params={"filter_by": "Status.Inactive"}).json()
    assert inactive["users"] == []


# -- expenses ---------------------------------------------------------------------------------


def expense(zoho: Zoho, **body: object) -> dict[str, object]:
    return create(zoho, "expenses", {"account_name": "Travel Expense", "amount": 10, **body})


def test_an_expense_is_created_read_and_updated(zoho, customer):
    """POST, GET and PUT /expenses keep the account, amount, texts, customer and deal."""
    made = expense(
        zoho,
        amount="123.456",
        date="2026-11-02",
        description="Train",
        reference_number="R-1",
        customer_id=customer["contact_id"],
        zcrm_potential_id=DEAL,
        zcrm_potential_name="Big order",
    )
    assert made["account_name"] == "Travel Expense" and made["account_id"]
    assert made["amount"] == 123.46 and made["total"] == 123.46
    assert made["date"] == "2026-11-02" and made["description"] == "Train"
    assert made["reference_number"] == "R-1"
    assert made["customer_id"] == customer["contact_id"]
    assert made["customer_name"] == customer["contact_name"]
    assert made["zcrm_potential_id"] == DEAL and made["zcrm_potential_name"] == "Big order"
    assert made["is_billable"] is True and made["status"] == "unbilled"
    assert get(zoho, "expenses", made["expense_id"]) == made
    office = next(i for i, name in EXPENSE_ACCOUNTS.items() if name == "Office Supplies")
    edited = zoho.books(
        "PUT",
        f"/expenses/{made['expense_id']}",
        json={"account_id": office, "amount": 7.5, "customer_id": ""},
    )
    assert edited.status_code == 200, edited.text
    after = edited.json()["expense"]
    assert after["account_name"] == "Office Supplies" and after["amount"] == 7.5
    assert after["customer_id"] == "" and after["status"] == "nonbillable"
    assert after["description"] == "Train" and after["zcrm_potential_id"] == DEAL
    renamed = zoho.books(
        "PUT", f"/expenses/{made['expense_id']}", json={"account_name": "travel expense"}
    ).json()["expense"]
    assert renamed["account_name"] == "Travel Expense"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"account_name": "Yachts"}, "account_name"),
        ({"account_name": None, "account_id": "1"}, "account_id"),
        ({"account_name": None}, "account_id"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": None}, "amount"),
        ({"date": "2026-13-01"}, "date"),
        ({"customer_id": "1"}, "customer_id"),
        ({"description": ["x"]}, "description"),
    ],
)
def test_a_bad_expense_is_400_code_4_naming_the_field(zoho, body, field):
    """An expense with a bad or missing account, amount, date or customer is refused."""
    payload = {"account_name": "Travel Expense", "amount": 10, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    refused = zoho.books("POST", "/expenses", json=payload)
    assert refused.status_code == 400 and refused.json()["code"] == 4
    assert refused.json()["message"] == f"Invalid value passed for {field}"


def test_a_vendor_is_not_an_expenses_customer(zoho):
    """customer_id naming a vendor is refused."""
    vendor = create(zoho, "contacts", {"contact_name": unique("V"), "contact_type": "vendor"})
    refused = zoho.books(
        "POST",
        "/expenses",
        json={"account_name": "Travel Expense", "amount": 1, "customer_id": vendor["contact_id"]},
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == "Invalid value passed for customer_id"


def test_expenses_list_pages_and_filters_by_customer_and_deal(fresh):
    """GET /expenses pages like other lists and filters customer_id and zcrm_potential_id."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        one = create(client, "contacts", {"contact_name": "One"})["contact_id"]
        two = create(client, "contacts", {"contact_name": "Two"})["contact_id"]
        made = [
            expense(client, customer_id=one, zcrm_potential_id=DEAL),
            expense(client, customer_id=one),
            expense(client, customer_id=two),
        ]
        first = client.books("GET", "/expenses", params={"per_page": 2}).json()
        assert len(first["expenses"]) == 2 and first["page_context"]["has_more_page"] is True
        rest = client.books("GET", "/expenses", params={"per_page": 2, "page": 2}).json()
        assert len(rest["expenses"]) == 1 and rest["page_context"]["has_more_page"] is False
        ids = {e["expense_id"] for e in first["expenses"] + rest["expenses"]}
        assert ids == {e["expense_id"] for e in made}
        by_customer = client.books("GET", "/expenses", params={"customer_id": one}).json()
        assert {e["expense_id"] for e in by_customer["expenses"]} == {
            made[0]["expense_id"],
            made[1]["expense_id"],
        }
        by_deal = client.books("GET", "/expenses", params={"zcrm_potential_id": DEAL}).json()
        assert [e["expense_id"] for e in by_deal["expenses"]] == [made[0]["expense_id"]]
        missing = client.books("GET", "/expenses/1")
        assert missing.status_code == 404 and missing.json()["code"] == 1002
    finally:
        client.close()


def test_the_demo_seed_has_expenses_for_existing_customers(zoho):
    """The demo seed's expenses each name a customer the organisation has."""
    listed = zoho.books("GET", "/expenses", params={"description_contains": "kick-off"}).json()
    (lunch,) = listed["expenses"]
    assert lunch["customer_name"] == "Stark Industries" and lunch["amount"] == 86.5
    for spent in zoho.books("GET", "/expenses").json()["expenses"]:
        if spent["customer_id"]:
            assert get(zoho, "contacts", spent["customer_id"])["contact_type"] == "customer"
