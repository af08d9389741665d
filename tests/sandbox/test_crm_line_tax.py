"""CRM line taxes: the org's taxes (``GET /org/taxes``), rows naming them in ``line_tax``,
and the amounts the CRM computes from them, each rounded half up to 2 places."""

from __future__ import annotations

import uuid

import pytest

from replicator.sandbox.admin_client import AdminError


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def product(zoho, price: float = 10) -> str:
    answer = zoho.crm(
        "POST",
        "/Products",
        json={"data": [{"Product_Name": unique("Taxed"), "Unit_Price": price}]},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"][0]["details"]["id"])


def quote(zoho, *rows, expect=201, **header):
    answer = zoho.crm(
        "POST",
        "/Quotes",
        json={"data": [{"Subject": unique("Q"), "Quoted_Items": list(rows), **header}]},
    )
    assert answer.status_code == expect, answer.text
    return answer.json()["data"][0]


def read(zoho, record_id: str, module: str = "Quotes") -> dict:
    answer = zoho.crm("GET", f"/{module}/{record_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"][0])


def taxes(zoho) -> dict[str, dict]:
    answer = zoho.crm("GET", "/org/taxes")
    assert answer.status_code == 200
    return {t["name"]: t for t in answer.json()["org_taxes"]["taxes"]}


def test_the_org_has_its_taxes_with_ids_labels_and_percentages(zoho):
    """GET /org/taxes lists VAT 20, Reduced 5 and Zero 0, each with id, display_label and
    sequence_number."""
    known = taxes(zoho)
    assert {n: known[n]["value"] for n in ("VAT", "Reduced", "Zero")} == {
        "VAT": 20,
        "Reduced": 5,
        "Zero": 0,
    }
    vat = known["VAT"]
    assert vat["id"].isdigit() and vat["display_label"] == "VAT - 20 %"
    assert vat["sequence_number"] == 1


def test_the_admin_api_adds_a_tax_and_refuses_bad_ones(sandbox, zoho):
    """An added tax is listed; a duplicate name, a value out of 0-100 or not a number is
    refused."""
    name = unique("GST")
    added = sandbox.admin.add_crm_tax(name, "12.5")
    assert added["value"] == 12.5 and added["display_label"] == f"{name} - 12.5 %"
    assert taxes(zoho)[name]["id"] == added["id"]
    for bad_name, value in ((name, 3), (unique("Big"), 101), (unique("Nan"), "abc"), ("", 1)):
        with pytest.raises(AdminError):
            sandbox.admin.add_crm_tax(bad_name, value)


def test_a_rows_tax_is_its_percentage_of_the_amount_after_discount(zoho):
    """Tax named by name and percentage: Tax = 20 % of (qty x price - discount), Net_Total,
    Sub_Total and Grand_Total follow; rows read back with each tax's id and value."""
    item = product(zoho)
    made = quote(
        zoho,
        {
            "Product_Name": {"id": item},
            "Quantity": 3,
            "List_Price": 10,
            "Discount": 5,
            "line_tax": [{"name": "VAT", "percentage": 20}],
        },
        {"Product_Name": {"id": item}, "Quantity": 1, "List_Price": 7},
        Adjustment=1,
    )
    record = read(zoho, made["details"]["id"])
    first, second = record["Quoted_Items"]
    assert (first["Total"], first["Total_After_Discount"], first["Tax"]) == (30, 25, 5)
    assert first["Net_Total"] == 30
    vat = taxes(zoho)["VAT"]
    assert first["line_tax"] == [{"id": vat["id"], "name": "VAT", "percentage": 20, "value": 5}]
    assert (second["Tax"], second["Net_Total"], second["line_tax"]) == (0, 7, [])
    assert record["Sub_Total"] == 37 and record["Grand_Total"] == 38


def test_tax_amounts_round_half_up_to_two_places(zoho):
    """5 % of 2.50 is 0.125, stored 0.13; 5 % of 10.05 is 0.5025, stored 0.5; the totals
    add the rounded amounts."""
    item = product(zoho)
    reduced = {"name": "Reduced"}
    made = quote(
        zoho,
        {"Product_Name": {"id": item}, "Quantity": 1, "List_Price": 2.5, "line_tax": [reduced]},
        {"Product_Name": {"id": item}, "Quantity": 3, "List_Price": 3.35, "line_tax": [reduced]},
    )
    first, second = read(zoho, made["details"]["id"])["Quoted_Items"]
    assert (first["Tax"], first["Net_Total"]) == (0.13, 2.63)
    assert (second["Total"], second["Tax"], second["Net_Total"]) == (10.05, 0.5, 10.55)
    assert read(zoho, made["details"]["id"])["Grand_Total"] == 13.18


def test_a_tax_named_by_id_and_two_taxes_on_one_row(zoho):
    """line_tax may name a tax by id; two taxes on a row add up in its Tax."""
    item = product(zoho)
    known = taxes(zoho)
    made = quote(
        zoho,
        {
            "Product_Name": {"id": item},
            "List_Price": 100,
            "line_tax": [{"id": known["VAT"]["id"]}, {"name": "reduced"}],
        },
    )
    row = read(zoho, made["details"]["id"])["Quoted_Items"][0]
    assert [t["name"] for t in row["line_tax"]] == ["VAT", "Reduced"]
    assert [t["value"] for t in row["line_tax"]] == [20, 5]
    assert (row["Tax"], row["Net_Total"]) == (25, 125)


@pytest.mark.parametrize(
    ("line_tax", "path"),
    [
        ([{"name": "Sales Tax 7", "percentage": 7}], "line_tax[0]"),
        ([{"id": "4876876000000000001"}], "line_tax[0]"),
        ([{"name": "VAT", "percentage": 7}], "line_tax[0].percentage"),
        ([{"percentage": 20}], "line_tax[0].name"),
        ([{"name": "VAT"}, {"name": "VAT"}], "line_tax[1]"),
        ({"name": "VAT"}, "line_tax"),
    ],
    ids=["unknown-name", "unknown-id", "wrong-percentage", "no-name", "twice", "not-a-list"],
)
def test_a_tax_the_org_does_not_have_is_invalid_data_on_line_tax(zoho, line_tax, path):
    """An unknown tax, a percentage not the tax's, a nameless, repeated or malformed entry:
    the record is refused naming line_tax and the entry's path."""
    item = product(zoho)
    refused = quote(
        zoho,
        {"Product_Name": {"id": item}, "List_Price": 1},
        {"Product_Name": {"id": item}, "List_Price": 1, "line_tax": line_tax},
        expect=400,
    )
    assert refused["code"] in ("INVALID_DATA", "MANDATORY_NOT_FOUND")
    assert refused["details"]["api_name"] == "line_tax"
    assert refused["details"]["json_path"] == f"$.data[0].Quoted_Items[1].{path}"


def test_a_rows_tax_is_computed_never_taken_from_the_input(zoho):
    """A Tax given on a row is ignored: the row's Tax comes from its line_tax alone."""
    item = product(zoho)
    made = quote(zoho, {"Product_Name": {"id": item}, "List_Price": 10, "Tax": 3})
    row = read(zoho, made["details"]["id"])["Quoted_Items"][0]
    assert (row["Tax"], row["Net_Total"]) == (0, 10)


def test_an_update_keeps_a_rows_taxes_and_recomputes_them(zoho):
    """Changing a row's quantity recomputes its kept tax; line_tax [] removes the tax."""
    item = product(zoho)
    made = quote(
        zoho, {"Product_Name": {"id": item}, "List_Price": 10, "line_tax": [{"name": "VAT"}]}
    )
    record_id = made["details"]["id"]
    row = read(zoho, record_id)["Quoted_Items"][0]
    update = {"Quoted_Items": [{"id": row["id"], "Quantity": 2}]}
    assert zoho.crm("PUT", f"/Quotes/{record_id}", json={"data": [update]}).status_code == 200
    row = read(zoho, record_id)["Quoted_Items"][0]
    assert (row["Tax"], row["line_tax"][0]["value"], row["Net_Total"]) == (4, 4, 24)
    update = {"Quoted_Items": [{"id": row["id"], "line_tax": []}]}
    assert zoho.crm("PUT", f"/Quotes/{record_id}", json={"data": [update]}).status_code == 200
    record = read(zoho, record_id)
    assert record["Quoted_Items"][0]["Tax"] == 0 and record["Grand_Total"] == 20


@pytest.mark.parametrize(
    ("module", "items", "party"),
    [
        ("Sales_Orders", "Ordered_Items", {}),
        ("Invoices", "Invoiced_Items", {}),
        ("Purchase_Orders", "Purchase_Items", {"Vendor_Name": None}),
    ],
)
def test_every_transaction_module_takes_line_taxes(zoho, module, items, party):
    """Sales orders, invoices and purchase orders compute line taxes as quotes do."""
    if party:
        vendor = zoho.crm("POST", "/Vendors", json={"data": [{"Vendor_Name": unique("V")}]})
        party = {"Vendor_Name": {"id": vendor.json()["data"][0]["details"]["id"]}}
    item = product(zoho)
    row = {"Product_Name": {"id": item}, "List_Price": 50, "line_tax": [{"name": "VAT"}]}
    answer = zoho.crm(
        "POST", f"/{module}", json={"data": [{"Subject": unique("D"), items: [row], **party}]}
    )
    assert answer.status_code == 201, answer.text
    record = read(zoho, answer.json()["data"][0]["details"]["id"], module)
    assert record[items][0]["Tax"] == 10 and record["Grand_Total"] == 60


def test_a_new_transaction_is_in_the_home_currency_unless_given(zoho):
    """Without Currency a quote is in the org's currency at rate 1; another enabled
    currency is kept; one the org lacks is INVALID_DATA on Currency."""
    item = product(zoho)
    line = {"Product_Name": {"id": item}, "List_Price": 1}
    home = read(zoho, quote(zoho, line)["details"]["id"])
    assert (home["Currency"], home["Exchange_Rate"]) == ("USD", 1)
    euro = read(zoho, quote(zoho, line, Currency="EUR", Exchange_Rate=0.9)["details"]["id"])
    assert (euro["Currency"], euro["Exchange_Rate"]) == ("EUR", 0.9)
    refused = quote(zoho, line, Currency="XYZ", expect=400)
    assert refused["details"]["api_name"] == "Currency"


def test_terms_and_conditions_are_kept(zoho):
    """Terms_and_Conditions (a textarea) reads back as written."""
    item = product(zoho)
    terms = "Net 30.\nGoods remain ours until paid."
    made = quote(zoho, {"Product_Name": {"id": item}}, Terms_and_Conditions=terms)
    assert read(zoho, made["details"]["id"])["Terms_and_Conditions"] == terms


def test_a_row_whose_taxed_total_is_too_large_to_hold_is_refused(zoho):
    """Price and tax each fine, their sum over 16 digits: the record is refused naming the
    row's Net_Total."""
    item = product(zoho)
    refused = quote(
        zoho,
        {"Product_Name": {"id": item}, "List_Price": 9e15, "line_tax": [{"name": "VAT"}]},
        expect=400,
    )
    assert refused["details"]["api_name"] == "Net_Total"
    assert refused["details"]["json_path"] == "$.data[0].Quoted_Items[0].Net_Total"
