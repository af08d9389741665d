"""Input Zoho refuses (amounts of 1e16 and more, NaN and infinities, due dates past the
calendar, bodies nested too deep) gets each API's validation error, never a 500; a 500 the
sandbox still gives closes its connection cleanly."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.sandbox.zoho import Zoho

# JSON numbers past what the decimal context quantizes (1e26 at two places), their
# negatives, a huge integer, and the non-numbers Python's json writes and reads
BAD = [1e26, 1e30, -1e26, 10**26, 1e16, "1e26", "NaN", "Infinity", "-Infinity", "sNaN"]
BAD_IDS = [
    "1e26",
    "1e30",
    "-1e26",
    "int-1e26",
    "1e16",
    "text-1e26",
    "NaN",
    "Infinity",
    "-Infinity",
    "sNaN",
]
CRM_TRANSACTIONS = {  # module -> its line items
    "Quotes": "Quoted_Items",
    "Sales_Orders": "Ordered_Items",
    "Invoices": "Invoiced_Items",
    "Purchase_Orders": "Purchase_Items",
}
BOOKS_TRANSACTIONS = ("invoices", "estimates", "salesorders", "purchaseorders")


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def crm_id(zoho: Zoho, module: str, record: dict) -> str:
    answer = zoho.crm("POST", f"/{module}", json={"data": [record]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"][0]["details"]["id"])


def crm_refusal(answer: httpx.Response) -> dict:
    """The one record's result of a refused CRM write (HTTP 400, never a 500)."""
    assert answer.status_code == 400, answer.text
    (result,) = answer.json()["data"]
    assert result["code"] == "INVALID_DATA" and result["status"] == "error"
    return result["details"]


def books_refusal(answer: httpx.Response, field: str) -> None:
    """Books' answer to a bad value: HTTP 400, code 4, naming the field."""
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"code": 4, "message": f"Invalid value passed for {field}"}


@pytest.fixture(scope="module")
def crm_parties(session_zoho: Zoho) -> dict[str, str]:
    """A product for line items and a vendor for purchase orders."""
    return {
        "product": crm_id(session_zoho, "Products", {"Product_Name": unique("Amount product")}),
        "vendor": crm_id(session_zoho, "Vendors", {"Vendor_Name": unique("Amount vendor")}),
    }


def crm_transaction(module: str, parties: dict[str, str], **line: object) -> dict:
    record = {
        "Subject": unique("Amounts"),
        CRM_TRANSACTIONS[module]: [
            {"Product_Name": {"id": parties["product"]}, "Quantity": 1, **line}
        ],
    }
    if module == "Purchase_Orders":
        record["Vendor_Name"] = {"id": parties["vendor"]}
    return record


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_a_crm_record_with_an_amount_zoho_cannot_hold_is_invalid_data(zoho, value):
    """Creating or updating an account with such an Annual_Revenue is INVALID_DATA on it."""
    created = zoho.crm(
        "POST",
        "/Accounts",
        json={"data": [{"Account_Name": unique("Huge"), "Annual_Revenue": value}]},
    )
    assert crm_refusal(created) == {
        "api_name": "Annual_Revenue",
        "json_path": "$.data[0].Annual_Revenue",
        "expected_data_type": "currency",
    }
    record_id = crm_id(zoho, "Accounts", {"Account_Name": unique("Fine")})
    updated = zoho.crm(
        "PUT", "/Accounts", json={"data": [{"id": record_id, "Annual_Revenue": value}]}
    )
    assert crm_refusal(updated)["api_name"] == "Annual_Revenue"
    products = zoho.crm(
        "POST", "/Products", json={"data": [{"Product_Name": unique("Huge"), "Unit_Price": value}]}
    )
    assert crm_refusal(products)["api_name"] == "Unit_Price"


def test_the_largest_amount_the_crm_holds_is_stored(zoho):
    """Sixteen digits before the point are accepted and read back."""
    record_id = crm_id(
        zoho, "Accounts", {"Account_Name": unique("Big"), "Annual_Revenue": 1234567890123.45}
    )
    record = zoho.crm("GET", f"/Accounts/{record_id}").json()["data"][0]
    assert record["Annual_Revenue"] == 1234567890123.45


@pytest.mark.parametrize("module", sorted(CRM_TRANSACTIONS))
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_a_crm_transaction_with_such_an_amount_is_invalid_data(zoho, crm_parties, module, value):
    """A line's List_Price, or the document's Adjustment, of that size: INVALID_DATA."""
    items = CRM_TRANSACTIONS[module]
    line = zoho.crm(
        "POST",
        f"/{module}",
        json={"data": [crm_transaction(module, crm_parties, List_Price=value)]},
    )
    assert crm_refusal(line) == {
        "api_name": "List_Price",
        "json_path": f"$.data[0].{items}[0].List_Price",
        "expected_data_type": "double",
    }
    header = zoho.crm(
        "POST",
        f"/{module}",
        json={"data": [{**crm_transaction(module, crm_parties), "Adjustment": value}]},
    )
    assert crm_refusal(header)["api_name"] == "Adjustment"


@pytest.mark.parametrize("module", sorted(CRM_TRANSACTIONS))
def test_crm_totals_too_large_to_hold_refuse_the_record(zoho, crm_parties, module):
    """Quantity and price each fine, their product too large: the line's Total is refused."""
    items = CRM_TRANSACTIONS[module]
    answer = zoho.crm(
        "POST",
        f"/{module}",
        json={"data": [crm_transaction(module, crm_parties, Quantity=1e15, List_Price=1e15)]},
    )
    assert crm_refusal(answer) == {
        "api_name": "Total",
        "json_path": f"$.data[0].{items}[0].Total",
        "expected_data_type": "double",
    }
    record_id = crm_id(zoho, module, crm_transaction(module, crm_parties, List_Price=5e15))
    grand = zoho.crm(
        "PUT", f"/{module}/{record_id}", json={"data": [{"Adjustment": 9e15, "Tax": 9e15}]}
    )
    assert crm_refusal(grand) == {
        "api_name": "Grand_Total",
        "json_path": "$.data[0].Grand_Total",
        "expected_data_type": "double",
    }


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_a_deal_with_such_an_amount_is_invalid_data(zoho, value):
    """A deal's Amount of that size is INVALID_DATA on Amount."""
    answer = zoho.crm(
        "POST",
        "/Deals",
        json={"data": [{"Deal_Name": unique("Huge"), "Stage": "Qualification", "Amount": value}]},
    )
    assert crm_refusal(answer)["api_name"] == "Amount"


def test_a_deal_whose_expected_revenue_overflows_is_refused(zoho):
    """Amount and Probability each fine, Expected_Revenue too large: refused, naming it."""
    answer = zoho.crm(
        "POST",
        "/Deals",
        json={
            "data": [
                {
                    "Deal_Name": unique("Huge"),
                    "Stage": "Qualification",
                    "Amount": 9e15,
                    "Probability": 2_000_000_000,
                }
            ]
        },
    )
    assert crm_refusal(answer)["api_name"] == "Expected_Revenue"


@pytest.mark.parametrize("value", ["9" * 5000, "9" * 20, 2**63])
def test_crm_integers_too_long_are_invalid_data(zoho, value):
    """A whole number beyond a long integer (or of thousands of digits) is INVALID_DATA."""
    answer = zoho.crm(
        "POST",
        "/Deals",
        json={
            "data": [{"Deal_Name": unique("Huge"), "Stage": "Qualification", "Probability": value}]
        },
    )
    assert crm_refusal(answer)["api_name"] == "Probability"


@pytest.fixture(scope="module")
def books_parties(session_zoho: Zoho) -> dict[str, str]:
    """A customer, a vendor and an item of the default organisation."""

    def made(resource: str, body: dict) -> dict:
        answer = session_zoho.books("POST", f"/{resource}", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    return {
        "customer_id": made("contacts", {"contact_name": unique("Amount customer")})["contact"][
            "contact_id"
        ],
        "vendor_id": made(
            "contacts", {"contact_name": unique("Amount vendor"), "contact_type": "vendor"}
        )["contact"]["contact_id"],
        "item_id": made("items", {"name": unique("Amount item"), "rate": 1})["item"]["item_id"],
    }


def books_transaction(resource: str, parties: dict[str, str], **line: object) -> dict:
    party = "vendor_id" if resource == "purchaseorders" else "customer_id"
    return {party: parties[party], "line_items": [{"item_id": parties["item_id"], **line}]}


@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_a_books_item_or_contact_with_such_an_amount_is_400_code_4(zoho, books_parties, value):
    """An item's rate (create and update) and a contact's credit limit are refused."""
    books_refusal(
        zoho.books("POST", "/items", json={"name": unique("Huge"), "rate": value}), "rate"
    )
    books_refusal(
        zoho.books("PUT", f"/items/{books_parties['item_id']}", json={"rate": value}), "rate"
    )
    books_refusal(
        zoho.books(
            "POST", "/contacts", json={"contact_name": unique("Huge"), "credit_limit": value}
        ),
        "credit_limit",
    )
    books_refusal(
        zoho.books(
            "PUT", f"/contacts/{books_parties['customer_id']}", json={"credit_limit": value}
        ),
        "credit_limit",
    )


@pytest.mark.parametrize("resource", BOOKS_TRANSACTIONS)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_a_books_transaction_with_such_an_amount_is_400_code_4(
    zoho, books_parties, resource, value
):
    """A line's rate or quantity, or the document's adjustment, of that size is refused."""
    for key in ("rate", "quantity"):
        answer = zoho.books(
            "POST", f"/{resource}", json=books_transaction(resource, books_parties, **{key: value})
        )
        books_refusal(answer, key)
    body = {**books_transaction(resource, books_parties), "adjustment": value}
    books_refusal(zoho.books("POST", f"/{resource}", json=body), "adjustment")


@pytest.mark.parametrize("resource", BOOKS_TRANSACTIONS)
def test_books_totals_too_large_to_hold_are_400_code_4(zoho, books_parties, resource):
    """Rate and quantity each fine, their product too large: the line's total is refused,
    and so is a document total past the limit."""
    line = books_transaction(resource, books_parties, rate=1e15, quantity=1e15)
    books_refusal(zoho.books("POST", f"/{resource}", json=line), "item_total")
    body = books_transaction(resource, books_parties, rate=9e15)
    books_refusal(zoho.books("POST", f"/{resource}", json={**body, "adjustment": 9e15}), "total")


@pytest.mark.parametrize("api", ["crm", "books"])
def test_a_500_closes_the_kept_alive_connection_and_the_next_request_succeeds(
    fresh, monkeypatch, api
):
    """An unexpected error answers 500 with Connection: close; the client's next request on
    the same pool goes through."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        assert client.token()  # the connection is now open and kept alive
        broken = box.state.crm if api == "crm" else box.state.books

        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug in the sandbox")

        monkeypatch.setattr(broken, "get", fail)
        if api == "crm":
            answer = client.crm("GET", "/Accounts/1")
            assert answer.json()["code"] == "INTERNAL_ERROR"
        else:
            answer = client.books("GET", "/items/1")
            assert answer.json()["code"] == 1000
        assert answer.status_code == 500
        assert answer.headers["connection"] == "close"
        monkeypatch.undo()
        after = (
            client.crm("GET", "/Accounts", params={"fields": "Account_Name"})
            if api == "crm"
            else client.books("GET", "/items")
        )
        assert after.status_code in (200, 204)
    finally:
        client.close()


def test_an_invoice_due_past_the_calendar_is_400_not_500(zoho, books_parties):
    """Payment terms (or a date) putting the due date past year 9999 refuse the invoice."""
    contact = zoho.books(
        "POST", "/contacts", json={"contact_name": unique("Patient"), "payment_terms": 10**12}
    )
    assert contact.status_code == 201, contact.text
    customer = contact.json()["contact"]["contact_id"]
    line = [{"item_id": books_parties["item_id"]}]
    far = zoho.books("POST", "/invoices", json={"customer_id": customer, "line_items": line})
    books_refusal(far, "due_date")
    late = zoho.books(
        "POST",
        "/invoices",
        json={
            "customer_id": books_parties["customer_id"],
            "line_items": line,
            "date": "9999-12-31",
        },
    )
    assert late.status_code == 201, late.text  # due the same day: still in the calendar


def test_a_view_of_more_days_than_the_calendar_has_lists_everything(sandbox, zoho):
    """${LASTnDAYS} with n past the calendar's start matches every record, not a 500."""
    name = unique("Old")
    made = crm_id(zoho, "Accounts", {"Account_Name": name})
    view = sandbox.admin.add_crm_view(
        "Accounts",
        unique("Forever"),
        {
            "group_operator": "and",
            "group": [
                {
                    "comparator": "equal",
                    "field": {"api_name": "Created_Time"},
                    "value": "${LAST99999999999DAYS}",
                },
                {"comparator": "equal", "field": {"api_name": "Account_Name"}, "value": name},
            ],
        },
    )
    listed = zoho.crm("GET", "/Accounts", params={"fields": "Account_Name", "cvid": view["id"]})
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["data"]] == [made]


def test_an_upsert_keyed_by_a_number_past_64_bits_matches_its_text(zoho):
    """A duplicate-check value too large for SQLite is compared as text, not a 500."""
    code = 10**30
    body = {
        "data": [{"Product_Name": unique("Coded"), "Product_Code": code}],
        "duplicate_check_fields": ["Product_Code"],
    }
    first = zoho.crm("POST", "/Products/upsert", json=body)
    assert first.status_code == 201, first.text
    again = zoho.crm("POST", "/Products/upsert", json=body)
    assert again.status_code == 200, again.text
    assert again.json()["data"][0]["details"]["id"] == first.json()["data"][0]["details"]["id"]


DEEP = b"[" * 100_000 + b"]" * 100_000  # past the JSON decoder's own recursion limit
NESTED = b'{"data": [{"Account_Name": "x", "Description": ' + b"[" * 200 + b"]" * 200 + b"}]}"


@pytest.mark.parametrize("body", [DEEP, NESTED], ids=["100000-deep", "200-deep-inside"])
def test_a_body_nested_too_deep_is_each_apis_400(sandbox, zoho, body):
    """CRM, Books (JSON and the JSONString form) and the admin API refuse it with 400."""
    json_type = {"content-type": "application/json"}
    crm = zoho.crm("POST", "/Accounts", content=body, headers=json_type)
    assert crm.status_code == 400 and crm.json()["code"] == "INVALID_DATA"
    books = zoho.books("POST", "/items", content=body, headers=json_type)
    assert books.status_code == 400 and books.json()["code"] == 4
    form = zoho.books("POST", "/items", data={"JSONString": body.decode()})
    assert form.status_code == 400 and form.json()["code"] == 4
    admin = httpx.post(f"{sandbox.url}/__admin__/clock", content=body, timeout=10)
    assert admin.status_code == 400 and admin.json()["error"] == "bad_json"
