"""CRM v8 record writes: insert, update, upsert, delete, lookups, line items."""

from __future__ import annotations

import re
import uuid

import pytest


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def insert(zoho, module, *records, expect=201):
    response = zoho.crm("POST", f"/{module}", json={"data": list(records)})
    assert response.status_code == expect, response.text
    return response.json()["data"]


def get(zoho, module, record_id):
    response = zoho.crm("GET", f"/{module}/{record_id}")
    assert response.status_code == 200, response.text
    return response.json()["data"][0]


def test_insert_returns_ids_and_system_times(zoho):
    """An insert answers 201 with SUCCESS, a 19-digit id and second-precision times."""
    result = insert(zoho, "Accounts", {"Account_Name": unique("Insert Co")})[0]
    assert result["code"] == "SUCCESS" and result["status"] == "success"
    assert result["message"] == "record added"
    details = result["details"]
    assert re.fullmatch(r"\d{19}", details["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", details["Created_Time"])
    assert details["Created_By"]["name"] == "Sandbox Admin"


def test_record_reads_back_with_owner_and_nulls(zoho):
    """A fetched record has every field, unset ones null, and Owner as {id, name, email}."""
    name = unique("Readback")
    record_id = insert(zoho, "Accounts", {"Account_Name": name, "Employees": 12})[0]["details"][
        "id"
    ]
    record = get(zoho, "Accounts", record_id)
    assert record["Account_Name"] == name and record["Employees"] == 12
    assert record["Website"] is None
    assert set(record["Owner"]) == {"id", "name", "email"}
    assert record["Modified_Time"] == record["Created_Time"]


def test_missing_mandatory_field_is_reported_with_its_path(zoho):
    """A contact without Last_Name is MANDATORY_NOT_FOUND at $.data[0].Last_Name (400)."""
    result = insert(zoho, "Contacts", {"First_Name": "No"}, expect=400)[0]
    assert result["code"] == "MANDATORY_NOT_FOUND" and result["status"] == "error"
    assert result["details"] == {"api_name": "Last_Name", "json_path": "$.data[0].Last_Name"}


def test_mixed_batch_is_207_in_input_order(zoho):
    """One bad record among good ones: 207, results in input order, the good ones made."""
    results = insert(
        zoho,
        "Vendors",
        {"Vendor_Name": unique("V1")},
        {"Email": "x@y.z"},
        {"Vendor_Name": unique("V3")},
        expect=207,
    )
    assert [r["status"] for r in results] == ["success", "error", "success"]
    assert results[1]["details"]["json_path"] == "$.data[1].Vendor_Name"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"Last_Name": "X", "Email": "not-an-email"}, "Email"),
        ({"Last_Name": "X", "Salutation": "Sir"}, "Salutation"),
        ({"Last_Name": "X", "Account_Name": {"id": "4876876000000999999"}}, "Account_Name"),
        ({"Last_Name": "X" * 81}, "Last_Name"),
        ({"Last_Name": "X", "Date_of_Birth": "27/11/2026"}, "Date_of_Birth"),
        ({"Last_Name": "X", "Email_Opt_Out": "yes"}, "Email_Opt_Out"),
    ],
)
def test_invalid_values_are_invalid_data_naming_the_field(zoho, record, field):
    """Bad email, picklist value, lookup, length, date or boolean: INVALID_DATA on it."""
    result = insert(zoho, "Contacts", record, expect=400)[0]
    assert result["code"] == "INVALID_DATA"
    assert result["details"]["api_name"] == field


def test_more_than_100_records_is_refused(zoho):
    """A write of 101 records is 400 LIMIT_EXCEEDED."""
    records = [{"Account_Name": f"Bulk {i}"} for i in range(101)]
    response = zoho.crm("POST", "/Accounts", json={"data": records})
    assert response.status_code == 400 and response.json()["code"] == "LIMIT_EXCEEDED"


def test_body_without_data_is_refused(zoho):
    """A write body with no data key is 400 MANDATORY_NOT_FOUND on $.data."""
    response = zoho.crm("POST", "/Accounts", json={"records": []})
    assert response.status_code == 400
    assert response.json()["details"] == {"api_name": "data", "json_path": "$.data"}


def test_unknown_module_is_invalid_module(zoho):
    """An unknown module name is 400 INVALID_MODULE."""
    response = zoho.crm("GET", "/Widgets", params={"fields": "Name"})
    assert response.status_code == 400 and response.json()["code"] == "INVALID_MODULE"


def test_update_changes_fields_and_modified_time(sandbox, zoho):
    """A PUT answers 200 'record updated' and moves Modified_Time forward."""
    record_id = insert(zoho, "Accounts", {"Account_Name": unique("Upd")})[0]["details"]["id"]
    before = get(zoho, "Accounts", record_id)
    sandbox.admin.advance_clock(5)
    response = zoho.crm("PUT", "/Accounts", json={"data": [{"id": record_id, "Phone": "123"}]})
    assert response.status_code == 200
    assert response.json()["data"][0]["message"] == "record updated"
    after = get(zoho, "Accounts", record_id)
    assert after["Phone"] == "123" and after["Modified_Time"] > before["Modified_Time"]
    assert after["Account_Name"] == before["Account_Name"]


def test_update_by_path_and_unknown_id(zoho):
    """PUT /{module}/{id} updates that record; an unknown id is INVALID_DATA."""
    record_id = insert(zoho, "Accounts", {"Account_Name": unique("Path")})[0]["details"]["id"]
    ok = zoho.crm("PUT", f"/Accounts/{record_id}", json={"data": [{"Fax": "99"}]})
    assert ok.status_code == 200 and get(zoho, "Accounts", record_id)["Fax"] == "99"
    bad = zoho.crm("PUT", "/Accounts", json={"data": [{"id": "4876876000000000001", "Fax": "1"}]})
    assert bad.status_code == 400 and bad.json()["data"][0]["code"] == "INVALID_DATA"


def test_clearing_a_mandatory_field_is_refused(zoho):
    """Setting Account_Name to null on update is MANDATORY_NOT_FOUND."""
    record_id = insert(zoho, "Accounts", {"Account_Name": unique("Keep")})[0]["details"]["id"]
    response = zoho.crm(
        "PUT", "/Accounts", json={"data": [{"id": record_id, "Account_Name": None}]}
    )
    assert response.json()["data"][0]["code"] == "MANDATORY_NOT_FOUND"


def test_if_unmodified_since_refuses_a_stale_update(sandbox, zoho):
    """An update conditioned on an older time than the record's is 412 ALREADY_MODIFIED."""
    created = insert(zoho, "Accounts", {"Account_Name": unique("Stale")})[0]["details"]
    sandbox.admin.advance_clock(10)
    sandbox.admin.crm_update("Accounts", created["id"], Phone="555")
    response = zoho.crm(
        "PUT",
        "/Accounts",
        json={"data": [{"id": created["id"], "Fax": "1"}]},
        headers={"If-Unmodified-Since": created["Modified_Time"]},
    )
    assert response.status_code == 412
    assert response.json()["data"][0]["code"] == "ALREADY_MODIFIED"


def test_upsert_inserts_then_updates_by_email(zoho):
    """Upsert on Contacts matches by Email: first an insert (201), then an update (200)."""
    email = f"{uuid.uuid4().hex[:8]}@upsert.example"
    first = zoho.crm(
        "POST", "/Contacts/upsert", json={"data": [{"Last_Name": "One", "Email": email}]}
    )
    assert first.status_code == 201
    assert first.json()["data"][0]["action"] == "insert"
    second = zoho.crm(
        "POST",
        "/Contacts/upsert",
        json={
            "data": [{"Last_Name": "Two", "Email": email.upper()}],
            "duplicate_check_fields": ["Email"],
        },
    )
    assert second.status_code == 200
    result = second.json()["data"][0]
    assert result["action"] == "update" and result["duplicate_field"] == "Email"
    assert result["details"]["id"] == first.json()["data"][0]["details"]["id"]
    assert get(zoho, "Contacts", result["details"]["id"])["Last_Name"] == "Two"


def test_upsert_rejects_unknown_duplicate_check_field(zoho):
    """duplicate_check_fields naming no field is 400 INVALID_DATA."""
    response = zoho.crm(
        "POST",
        "/Accounts/upsert",
        json={"data": [{"Account_Name": "X"}], "duplicate_check_fields": ["Nope"]},
    )
    assert response.status_code == 400
    assert response.json()["details"]["api_name"] == "duplicate_check_fields"


def test_unique_custom_field_refuses_duplicates(sandbox, zoho):
    """A second record with a unique field's value is DUPLICATE_DATA naming the first."""
    sandbox.admin.add_crm_field(
        "Vendors", "Books Ref", "text", unique=True, api_name=f"Books_Ref_{uuid.uuid4().hex[:6]}"
    )
    field = next(
        f["api_name"]
        for f in zoho.crm("GET", "/settings/fields", params={"module": "Vendors"}).json()["fields"]
        if f["api_name"].startswith("Books_Ref") and f["unique"]
    )
    first = insert(zoho, "Vendors", {"Vendor_Name": unique("U1"), field: "B-1"})[0]
    second = insert(zoho, "Vendors", {"Vendor_Name": unique("U2"), field: "b-1"}, expect=400)[0]
    assert second["code"] == "DUPLICATE_DATA"
    assert second["details"]["duplicate_record"]["id"] == first["details"]["id"]


def test_lookup_goes_in_as_id_and_comes_out_with_name(zoho):
    """A contact's Account_Name is {id} on input and {id, name} on output."""
    name = unique("Lookup Co")
    account = insert(zoho, "Accounts", {"Account_Name": name})[0]["details"]["id"]
    contact = insert(zoho, "Contacts", {"Last_Name": "L", "Account_Name": {"id": account}})[0]
    record = get(zoho, "Contacts", contact["details"]["id"])
    assert record["Account_Name"] == {"id": account, "name": name}
    assert record["Full_Name"] == "L"


def test_deal_probability_follows_its_stage(zoho):
    """A deal's Probability and Expected_Revenue come from its Stage unless given."""
    deal = insert(
        zoho, "Deals", {"Deal_Name": unique("Deal"), "Stage": "Negotiation/Review", "Amount": 1000}
    )[0]["details"]["id"]
    record = get(zoho, "Deals", deal)
    assert record["Probability"] == 90 and record["Expected_Revenue"] == 900.0
    missing = insert(zoho, "Deals", {"Deal_Name": unique("No stage")}, expect=400)[0]
    assert missing["details"]["api_name"] == "Stage"


def test_line_items_are_computed_and_shown_only_on_get(zoho):
    """Quote line items get totals; GET by id shows them, the list does not."""
    product = insert(zoho, "Products", {"Product_Name": unique("Thing"), "Unit_Price": 10})[0][
        "details"
    ]["id"]
    quote = insert(
        zoho,
        "Quotes",
        {
            "Subject": unique("Q"),
            "Quoted_Items": [
                {"Product_Name": {"id": product}, "Quantity": 3},
                {"Product_Name": {"id": product}, "Quantity": 1, "List_Price": 5, "Discount": 1},
            ],
        },
    )[0]["details"]["id"]
    record = get(zoho, "Quotes", quote)
    lines = record["Quoted_Items"]
    assert [line["Total"] for line in lines] == [30.0, 5.0]
    assert lines[1]["Net_Total"] == 4.0 and record["Grand_Total"] == 34.0
    assert lines[0]["Product_Name"]["name"].startswith("Thing")
    listed = zoho.crm("GET", "/Quotes", params={"fields": "Subject,Quoted_Items"}).json()
    assert all("Quoted_Items" not in r for r in listed["data"])
    first, second = lines
    zoho.crm(
        "PUT",
        f"/Quotes/{quote}",
        json={
            "data": [
                {
                    "Quoted_Items": [
                        {"id": first["id"], "Quantity": 5},
                        {"id": second["id"], "_delete": None},
                    ]
                }
            ]
        },
    )
    after = get(zoho, "Quotes", quote)["Quoted_Items"]
    assert [(line["id"], line["Total"]) for line in after] == [(first["id"], 50.0)]


def test_line_item_needs_a_product(zoho):
    """A line item without Product_Name is MANDATORY_NOT_FOUND at its path."""
    result = insert(
        zoho, "Quotes", {"Subject": "Q", "Quoted_Items": [{"Quantity": 1}]}, expect=400
    )[0]
    assert result["details"]["json_path"] == "$.data[0].Quoted_Items[0].Product_Name"


def test_delete_moves_records_to_the_deleted_feed(sandbox, zoho):
    """DELETE ?ids= answers per id; deleted records appear in /deleted as recycle."""
    ids = [
        r["details"]["id"]
        for r in insert(
            zoho, "Products", {"Product_Name": unique("Gone1")}, {"Product_Name": unique("Gone2")}
        )
    ]
    response = zoho.crm("DELETE", "/Products", params={"ids": ",".join(ids + ["123"])})
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["data"]] == ["success", "success", "error"]
    assert zoho.crm("GET", f"/Products/{ids[0]}").status_code == 204
    feed = zoho.crm("GET", "/Products/deleted", params={"type": "recycle"}).json()
    entry = next(d for d in feed["data"] if d["id"] == ids[0])
    assert entry["type"] == "recycle" and entry["display_name"].startswith("Gone1")
    assert entry["deleted_by"]["name"] == "Sandbox Admin"


def test_deleted_feed_honours_if_modified_since_and_purge(fresh):
    """The feed filters by If-Modified-Since; purged entries become permanent."""
    from tests.sandbox.zoho import Zoho

    box = fresh()
    client = Zoho(box.credentials)
    first = box.admin.crm_create("Vendors", {"Vendor_Name": "A"}, {"Vendor_Name": "B"})
    client.crm("DELETE", "/Vendors", params={"ids": first[0]})
    box.admin.advance_clock(60)
    mark = client.crm("GET", "/Vendors/deleted").json()["data"][0]["deleted_time"]
    box.admin.advance_clock(60)
    client.crm("DELETE", f"/Vendors/{first[1]}")
    newer = client.crm("GET", "/Vendors/deleted", headers={"If-Modified-Since": mark}).json()
    assert [d["id"] for d in newer["data"]] == [first[1]]
    box.admin.call("POST", "/crm/recycle-bin/purge")
    assert client.crm("GET", "/Vendors/deleted", params={"type": "recycle"}).status_code == 204
    permanent = client.crm("GET", "/Vendors/deleted", params={"type": "permanent"}).json()
    assert len(permanent["data"]) == 2
    bad = client.crm("GET", "/Vendors/deleted", params={"type": "soft"})
    assert bad.status_code == 400


def test_delete_without_ids_is_refused(zoho):
    """DELETE with no ids is 400 REQUIRED_PARAM_MISSING."""
    response = zoho.crm("DELETE", "/Accounts")
    assert response.status_code == 400 and response.json()["code"] == "REQUIRED_PARAM_MISSING"


def test_wrong_method_and_unknown_path(zoho):
    """PATCH on a record is 405 INVALID_REQUEST_METHOD; an unknown URL 404."""
    assert zoho.crm("PATCH", "/Accounts/1").json()["code"] == "INVALID_REQUEST_METHOD"
    response = zoho.crm("GET", "/Accounts/1/too/deep")
    assert response.status_code == 404 and response.json()["code"] == "INVALID_URL_PATTERN"
