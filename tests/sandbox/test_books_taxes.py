"""Books v3 taxes and currencies: the settings endpoints, line taxes, line discounts and a
document's totals and currency."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from replicator.sandbox import AdminError
from replicator.sandbox.books_schema import BooksSchema
from replicator.sandbox.store import Store
from tests.sandbox.zoho import Zoho


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def tax_id(zoho: Zoho, name: str) -> str:
    taxes = zoho.books("GET", "/settings/taxes").json()["taxes"]
    return next(t["tax_id"] for t in taxes if t["tax_name"] == name)


@pytest.fixture
def customer(zoho):
    body = {"contact_name": unique("Taxed customer")}
    return zoho.books("POST", "/contacts", json=body).json()["contact"]


def invoice(zoho, customer, lines, **header):
    body = {"customer_id": customer["contact_id"], "line_items": lines, **header}
    return zoho.books("POST", "/invoices", json=body)


def test_an_org_lists_its_seeded_taxes(zoho):
    """GET /settings/taxes lists VAT 20 % (the default), Reduced 5 % and Zero 0 %."""
    answer = zoho.books("GET", "/settings/taxes").json()
    assert answer["code"] == 0 and answer["message"] == "success"
    taxes = {t["tax_name"]: t for t in answer["taxes"]}
    assert taxes["VAT"]["tax_percentage"] == 20 and taxes["VAT"]["is_default_tax"] is True
    assert taxes["Reduced"]["tax_percentage"] == 5 and taxes["Zero"]["tax_percentage"] == 0
    assert {t["tax_type"] for t in answer["taxes"]} == {"tax"}
    assert answer["page_context"]["has_more_page"] is False


def test_one_tax_is_fetched_by_id_and_an_unknown_one_is_404(zoho):
    """GET /settings/taxes/{id} answers the tax; an unknown id is 404 code 1002."""
    vat = tax_id(zoho, "VAT")
    answer = zoho.books("GET", f"/settings/taxes/{vat}").json()
    assert answer["tax"]["tax_name"] == "VAT" and answer["tax"]["tax_id"] == vat
    missing = zoho.books("GET", "/settings/taxes/1")
    assert missing.status_code == 404 and missing.json()["code"] == 1002


def test_a_tax_added_by_the_admin_api_is_listed(sandbox, zoho):
    """An admin-added tax appears in the list with its exact percentage (trailing zeros
    do not count as places)."""
    name = unique("City")[:20]
    made = sandbox.admin.add_books_tax(name, "8.8750")
    listed = {t["tax_name"]: t for t in zoho.books("GET", "/settings/taxes").json()["taxes"]}
    assert listed[name]["tax_id"] == made["tax_id"]
    assert Decimal(str(listed[name]["tax_percentage"])) == Decimal("8.875")


def test_bad_admin_taxes_are_refused_with_the_reason(sandbox):
    """A percentage over 100 or with 4 places, a missing name and a duplicate name are
    refused."""
    with pytest.raises(AdminError, match="tax_percentage"):
        sandbox.admin.add_books_tax(unique("Big"), 101)
    with pytest.raises(AdminError, match="at most 3 places"):
        sandbox.admin.add_books_tax(unique("Fine"), "1.2345")
    with pytest.raises(AdminError, match="tax_name"):
        sandbox.admin.add_books_tax("", 1)
    with pytest.raises(AdminError, match="tax_name"):
        sandbox.admin.add_books_tax("vat", 1)


def test_a_tax_is_created_through_the_api(zoho):
    """POST /settings/taxes makes a tax (201); a duplicate name is 1001, a bad value code 4."""
    name = unique("Levy")[:20]
    made = zoho.books("POST", "/settings/taxes", json={"tax_name": name, "tax_percentage": 7})
    assert made.status_code == 201 and made.json()["tax"]["tax_percentage"] == 7
    again = zoho.books("POST", "/settings/taxes", json={"tax_name": name, "tax_percentage": 7})
    assert again.status_code == 400 and again.json()["code"] == 1001
    bad = zoho.books("POST", "/settings/taxes", json={"tax_name": "X", "tax_percentage": "x"})
    assert bad.json() == {"code": 4, "message": "Invalid value passed for tax_percentage"}


def test_each_org_has_its_own_taxes(fresh):
    """A second organisation starts with the default taxes under ids of its own."""
    box = fresh()
    other = box.admin.add_organization("Second Org")["organization_id"]
    client = Zoho(box.credentials)
    try:
        first = client.books("GET", "/settings/taxes").json()["taxes"]
        second = client.books("GET", "/settings/taxes", org=other).json()["taxes"]
        assert [t["tax_name"] for t in second] == ["VAT", "Reduced", "Zero"]
        assert not {t["tax_id"] for t in first} & {t["tax_id"] for t in second}
        stranger = client.books(
            "POST",
            "/settings/taxes",
            org=other,
            json={"tax_name": "Only here", "tax_percentage": 3},
        )
        assert stranger.status_code == 201
        names = [t["tax_name"] for t in client.books("GET", "/settings/taxes").json()["taxes"]]
        assert "Only here" not in names
    finally:
        client.close()


def test_lines_are_taxed_and_the_totals_include_the_tax(zoho, customer):
    """Each line's tax is on its amount after discount; taxes, tax_total and total follow."""
    made = invoice(
        zoho,
        customer,
        [
            {"name": "Hours", "rate": 19.99, "quantity": 3, "tax_id": tax_id(zoho, "VAT")},
            {
                "name": "Books",
                "rate": 7.5,
                "quantity": 1,
                "discount": "10%",
                "tax_id": tax_id(zoho, "Reduced"),
            },
            {"name": "Untaxed", "rate": 5},
        ],
        shipping_charge=2,
    )
    assert made.status_code == 201, made.text
    doc = made.json()["invoice"]
    vat, reduced, untaxed = doc["line_items"]
    assert (vat["tax_name"], vat["tax_percentage"], vat["item_total"]) == ("VAT", 20, 59.97)
    assert reduced["discount"] == "10.00%" and reduced["discount_amount"] == 0.75
    assert reduced["item_total"] == 6.75 and reduced["tax_name"] == "Reduced"
    assert (untaxed["tax_id"], untaxed["tax_percentage"]) == ("", 0)
    # 59.97 x 20 % = 11.994 -> 11.99; 6.75 x 5 % = 0.3375 -> 0.34
    assert doc["taxes"] == [
        {"tax_name": "VAT", "tax_amount": 11.99},
        {"tax_name": "Reduced", "tax_amount": 0.34},
    ]
    assert (doc["sub_total"], doc["tax_total"], doc["total"]) == (71.72, 12.33, 86.05)


def test_tax_is_rounded_half_up_on_each_line(zoho, customer):
    """Two lines of 0.13 at 20 % are taxed 0.03 each (0.06), not 0.05 on their sum; 2.50
    at 5 % is 0.13 (half up)."""
    vat = tax_id(zoho, "VAT")
    lines = [{"name": "A", "rate": 0.13, "tax_id": vat}, {"name": "B", "rate": 0.13, "tax_id": vat}]
    doc = invoice(zoho, customer, lines).json()["invoice"]
    assert doc["tax_total"] == 0.06 and doc["total"] == 0.32
    half = [{"name": "C", "rate": 2.5, "tax_id": tax_id(zoho, "Reduced")}]
    assert invoice(zoho, customer, half).json()["invoice"]["tax_total"] == 0.13


def test_an_unknown_tax_id_is_400_code_4(zoho, customer):
    """A line naming a tax the org lacks is refused naming tax_id."""
    answer = invoice(zoho, customer, [{"name": "X", "rate": 1, "tax_id": "999"}])
    assert answer.status_code == 400
    assert answer.json() == {"code": 4, "message": "Invalid value passed for tax_id"}
    boolean = invoice(zoho, customer, [{"name": "X", "rate": 1, "tax_id": True}])
    assert boolean.status_code == 400


def test_a_document_discount_before_tax_lowers_the_taxable_amounts(zoho, customer):
    """A document discount before tax (the default) shrinks each line's taxable amount in
    proportion; after tax it only comes off the total; more than the sub-total is 400."""
    lines = [
        {"name": "Taxed", "rate": 100, "tax_id": tax_id(zoho, "VAT")},
        {"name": "Free", "rate": 100},
    ]
    before = invoice(zoho, customer, lines, discount=50).json()["invoice"]
    # 50 off 200 leaves 75 % of each line: VAT on 75.00 is 15.00
    assert (before["tax_total"], before["total"], before["is_discount_before_tax"]) == (
        15,
        165,
        True,
    )
    after = invoice(zoho, customer, lines, discount=50, is_discount_before_tax=False)
    assert (after.json()["invoice"]["tax_total"], after.json()["invoice"]["total"]) == (20, 170)
    too_much = invoice(zoho, customer, lines, discount=201)
    assert too_much.json() == {"code": 4, "message": "Invalid value passed for discount"}
    flag = invoice(zoho, customer, lines, is_discount_before_tax="yes")
    assert flag.json()["message"] == "Invalid value passed for is_discount_before_tax"


def test_an_items_tax_is_the_default_of_its_lines(zoho, customer):
    """An item shows its tax; a line of it naming no tax takes it, one naming "" has none;
    an unknown tax is refused and "" takes the item's tax off."""
    vat = tax_id(zoho, "VAT")
    made = zoho.books("POST", "/items", json={"name": unique("Taxed"), "rate": 10, "tax_id": vat})
    item = made.json()["item"]
    assert (item["tax_id"], item["tax_name"], item["tax_percentage"]) == (vat, "VAT", 20)
    lines = [{"item_id": item["item_id"]}, {"item_id": item["item_id"], "tax_id": ""}]
    doc = invoice(zoho, customer, lines).json()["invoice"]
    assert [li["tax_id"] for li in doc["line_items"]] == [vat, ""]
    assert doc["tax_total"] == 2
    bad = zoho.books("POST", "/items", json={"name": unique("Bad tax"), "rate": 1, "tax_id": "9"})
    assert bad.json() == {"code": 4, "message": "Invalid value passed for tax_id"}
    cleared = zoho.books("PUT", f"/items/{item['item_id']}", json={"tax_id": ""}).json()["item"]
    assert (cleared["tax_id"], cleared["tax_percentage"]) == ("", 0)


@pytest.mark.parametrize(
    ("discount", "shown", "amount", "item_total"),
    [
        (5, 5, 5, 25),
        ("5", 5, 5, 25),
        ("12.5%", "12.50%", 3.75, 26.25),
        ("10.00%", "10.00%", 3, 27),
        ("100%", "100.00%", 30, 0),
        (None, 0, 0, 30),
    ],
)
def test_a_line_discount_is_an_amount_or_a_percentage(
    zoho, customer, discount, shown, amount, item_total
):
    """A discount takes an amount or a percentage of quantity x rate off the line."""
    line = {"name": "D", "rate": 10, "quantity": 3, "discount": discount}
    doc = invoice(zoho, customer, [line]).json()["invoice"]
    (out,) = doc["line_items"]
    assert (out["discount"], out["discount_amount"], out["item_total"]) == (
        shown,
        amount,
        item_total,
    )
    assert doc["discount_type"] == ("item_level" if discount else "entity_level")


@pytest.mark.parametrize("discount", ["-5", -1, "110%", "abc%", "ten", "5%%", True, [5], 10.01])
def test_a_bad_line_discount_is_400_code_4(zoho, customer, discount):
    """A negative, non-numeric, over-100 % or over-the-line's-amount discount is refused
    naming discount."""
    answer = invoice(zoho, customer, [{"name": "D", "rate": 10, "discount": discount}])
    assert answer.status_code == 400
    assert answer.json() == {"code": 4, "message": "Invalid value passed for discount"}


def test_an_edited_line_keeps_its_tax_and_percentage_discount(zoho, customer):
    """A PUT naming a line by id with a new quantity keeps its tax and percentage discount
    and recomputes the totals; tax_id "" takes the tax off."""
    vat = tax_id(zoho, "VAT")
    line = {"name": "P", "rate": 10, "quantity": 1, "discount": "10%", "tax_id": vat}
    doc = invoice(zoho, customer, [line]).json()["invoice"]
    line_id = doc["line_items"][0]["line_item_id"]
    path = f"/invoices/{doc['invoice_id']}"
    more = zoho.books("PUT", path, json={"line_items": [{"line_item_id": line_id, "quantity": 2}]})
    (edited,) = more.json()["invoice"]["line_items"]
    assert edited["tax_id"] == vat and edited["discount_amount"] == 2
    assert more.json()["invoice"]["total"] == 21.6  # 18 + 20 %
    off = zoho.books("PUT", path, json={"line_items": [{"line_item_id": line_id, "tax_id": ""}]})
    assert off.json()["invoice"]["tax_total"] == 0 and off.json()["invoice"]["taxes"] == []


@pytest.mark.parametrize("resource", ["estimates", "salesorders", "invoices", "purchaseorders"])
def test_every_document_type_is_taxed(zoho, resource):
    """Estimates, sales orders, invoices and purchase orders all add their lines' tax."""
    vendor = resource == "purchaseorders"
    party = zoho.books(
        "POST",
        "/contacts",
        json={"contact_name": unique("Party"), "contact_type": "vendor" if vendor else "customer"},
    ).json()["contact"]["contact_id"]
    body = {
        "vendor_id" if vendor else "customer_id": party,
        "line_items": [{"name": "L", "rate": 100, "tax_id": tax_id(zoho, "VAT")}],
    }
    made = zoho.books("POST", f"/{resource}", json=body)
    assert made.status_code == 201, made.text
    doc = made.json()[resource[:-1]]
    assert (doc["sub_total"], doc["tax_total"], doc["total"]) == (100, 20, 120)


def test_an_amount_books_cannot_hold_is_400_not_500(zoho, customer):
    """quantity x rate past 16 digits is refused naming the field, never a server error."""
    line = {"name": "Huge", "rate": 999_999_999_999_999, "quantity": 999_999_999_999_999}
    answer = invoice(zoho, customer, [line])
    assert answer.status_code == 400 and answer.json()["code"] == 4


# -- currencies ------------------------------------------------------------------------------


def test_currencies_are_listed_with_the_base_one_flagged(zoho):
    """GET /settings/currencies lists the org's currencies; one is the base currency."""
    currencies = zoho.books("GET", "/settings/currencies").json()["currencies"]
    codes = {c["currency_code"]: c for c in currencies}
    assert {"USD", "EUR", "GBP", "INR"} <= set(codes)
    assert codes["USD"]["is_base_currency"] is True and codes["EUR"]["is_base_currency"] is False
    assert codes["EUR"]["currency_name"] == "EUR- Euro" and codes["EUR"]["currency_symbol"] == "€"
    others = zoho.books(
        "GET", "/settings/currencies", params={"filter_by": "Currencies.ExcludeBaseCurrency"}
    ).json()["currencies"]
    assert "USD" not in {c["currency_code"] for c in others} and len(others) == len(codes) - 1
    one = zoho.books("GET", f"/settings/currencies/{codes['GBP']['currency_id']}").json()
    assert one["currency"]["currency_code"] == "GBP"
    assert zoho.books("GET", "/settings/currencies/1").status_code == 404
    bad = zoho.books("GET", "/settings/currencies", params={"filter_by": "Nope"})
    assert bad.status_code == 400 and bad.json()["code"] == 2


def test_a_document_takes_an_org_currency_by_code_or_id(zoho, customer):
    """currency_code or currency_id picks one of the org's currencies; others are refused."""
    lines = [{"name": "FX", "rate": 10}]
    by_code = invoice(zoho, customer, lines, currency_code="EUR", exchange_rate=1.08)
    doc = by_code.json()["invoice"]
    assert (doc["currency_code"], doc["currency_symbol"], doc["exchange_rate"]) == (
        "EUR",
        "€",
        1.08,
    )
    gbp = next(
        c["currency_id"]
        for c in zoho.books("GET", "/settings/currencies").json()["currencies"]
        if c["currency_code"] == "GBP"
    )
    by_id = invoice(zoho, customer, lines, currency_id=gbp).json()["invoice"]
    assert by_id["currency_code"] == "GBP" and by_id["currency_id"] == gbp
    unknown = invoice(zoho, customer, lines, currency_code="JPY")
    assert unknown.json() == {"code": 4, "message": "Invalid value passed for currency_code"}
    assert invoice(zoho, customer, lines, currency_id="42").status_code == 400
    assert invoice(zoho, customer, lines, exchange_rate=0).status_code == 400
    moved = zoho.books(
        "PUT", f"/invoices/{by_id['invoice_id']}", json={"currency_code": "EUR"}
    ).json()["invoice"]
    assert moved["currency_code"] == "EUR"


def test_a_document_defaults_to_its_customers_currency(zoho):
    """With no currency given, a document takes its customer's currency."""
    gbp = next(
        c["currency_id"]
        for c in zoho.books("GET", "/settings/currencies").json()["currencies"]
        if c["currency_code"] == "GBP"
    )
    british = zoho.books(
        "POST", "/contacts", json={"contact_name": unique("Brit"), "currency_id": gbp}
    ).json()["contact"]
    doc = invoice(zoho, british, [{"name": "Tea", "rate": 3}]).json()["invoice"]
    assert doc["currency_code"] == "GBP" and doc["exchange_rate"] == 1


def test_purchase_order_lines_take_no_discount(zoho):
    """A purchase order line's discount is ignored (the spec's PO lines have none)."""
    vendor = zoho.books(
        "POST", "/contacts", json={"contact_name": unique("Supplier"), "contact_type": "vendor"}
    ).json()["contact"]
    line = {"name": "Bolts", "rate": 10, "quantity": 2, "discount": "50%"}
    made = zoho.books(
        "POST", "/purchaseorders", json={"vendor_id": vendor["contact_id"], "line_items": [line]}
    )
    order = made.json()["purchaseorder"]
    (out,) = order["line_items"]
    assert out["item_total"] == 20 and order["total"] == 20
    assert "discount" not in out and "discount_amount" not in out


def test_the_base_currency_follows_the_org_and_new_documents_take_it(fresh):
    """After the org's base currency becomes EUR, the list flags EUR as base and a new
    customer's document is in EUR."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        box.admin.set_books_currency("EUR")
        currencies = client.books("GET", "/settings/currencies").json()["currencies"]
        assert [c["currency_code"] for c in currencies if c["is_base_currency"]] == ["EUR"]
        contact = client.books("POST", "/contacts", json={"contact_name": "Euro Ltd"}).json()
        body = {"customer_id": contact["contact"]["contact_id"], "line_items": [{"name": "X"}]}
        doc = client.books("POST", "/invoices", json=body).json()["invoice"]
        assert doc["currency_code"] == "EUR"
    finally:
        client.close()


def test_the_demo_invoice_has_a_tax_and_a_discount(zoho):
    """The demo seed's Books invoice: 10 x 75.00 less 10 %, plus 20 % VAT = 810.00."""
    listed = zoho.books("GET", "/invoices", params={"customer_name": "Duff Beverages"}).json()
    (summary,) = listed["invoices"]
    doc = zoho.books("GET", f"/invoices/{summary['invoice_id']}").json()["invoice"]
    (line,) = doc["line_items"]
    assert (line["discount"], line["discount_amount"], line["tax_name"]) == ("10.00%", 75, "VAT")
    assert (doc["sub_total"], doc["tax_total"], doc["total"], doc["status"]) == (
        675,
        135,
        810,
        "sent",
    )


def test_an_org_stored_before_taxes_existed_gets_the_defaults(tmp_path):
    """An organisation whose store holds no taxes gets VAT, Reduced and Zero on first use."""
    store = Store(tmp_path / "sandbox.db")
    try:
        schema = BooksSchema(store)
        org = schema.default_org()
        store.execute("DELETE FROM kv WHERE key = ?", (f"books.{org}.taxes",))
        assert [t["tax_name"] for t in schema.taxes(org)] == ["VAT", "Reduced", "Zero"]
        assert schema.taxes(org) == schema.taxes(org)  # made once, then kept
    finally:
        store.close()
