"""CRM v8 metadata: modules, fields (with custom ones), custom views, org and users."""

from __future__ import annotations

import uuid

MODULES = {
    "Accounts",
    "Contacts",
    "Vendors",
    "Products",
    "Deals",
    "Quotes",
    "Sales_Orders",
    "Invoices",
    "Purchase_Orders",
}


def test_modules_lists_the_nine_modules(zoho):
    """/settings/modules lists every emulated module as API-supported."""
    modules = zoho.crm("GET", "/settings/modules").json()["modules"]
    assert {m["api_name"] for m in modules} == MODULES
    assert all(m["api_supported"] for m in modules)
    one = zoho.crm("GET", "/settings/modules/Deals").json()["modules"][0]
    assert one["singular_label"] == "Deal"


def test_fields_describe_types_lengths_and_picklists(zoho):
    """/settings/fields gives api_name, data_type, length, picklist values, custom flag."""
    fields = {
        f["api_name"]: f
        for f in zoho.crm("GET", "/settings/fields", params={"module": "Deals"}).json()["fields"]
    }
    assert fields["Deal_Name"]["data_type"] == "text" and fields["Deal_Name"]["length"] == 120
    assert fields["Deal_Name"]["system_mandatory"] is True
    stages = [v["actual_value"] for v in fields["Stage"]["pick_list_values"]]
    assert "Closed Won" in stages
    assert fields["Account_Name"]["lookup"]["module"]["api_name"] == "Accounts"
    assert fields["Source_Campaign"]["custom_field"] is True
    assert fields["Amount"]["data_type"] == "currency"


def test_demo_seed_adds_the_integration_custom_fields(zoho):
    """The demo has Products.Product_Type (Goods/Services) and Accounts.Payment_Terms."""
    products = {
        f["api_name"]: f
        for f in zoho.crm("GET", "/settings/fields", params={"module": "Products"}).json()["fields"]
    }
    values = [v["actual_value"] for v in products["Product_Type"]["pick_list_values"]]
    assert {"Goods", "Services"} <= set(values) and products["Product_Type"]["custom_field"]
    accounts = {
        f["api_name"]: f
        for f in zoho.crm("GET", "/settings/fields", params={"module": "Accounts"}).json()["fields"]
    }
    assert accounts["Payment_Terms"]["data_type"] == "integer"


def test_admin_and_api_can_add_custom_fields(sandbox, zoho):
    """A field added by the admin API or POST /settings/fields is listed and writable."""
    label = f"Tier {uuid.uuid4().hex[:6]}"
    added = sandbox.admin.add_crm_field(
        "Accounts", label, "picklist", pick_list_values=["Gold", "Silver"]
    )
    posted = zoho.crm(
        "POST",
        "/settings/fields",
        params={"module": "Accounts"},
        json={"fields": [{"field_label": f"Score {uuid.uuid4().hex[:6]}", "data_type": "integer"}]},
    )
    assert posted.status_code == 201
    new_id = posted.json()["fields"][0]["details"]["id"]
    one = zoho.crm("GET", f"/settings/fields/{new_id}", params={"module": "Accounts"})
    score = one.json()["fields"][0]["api_name"]
    record = zoho.crm(
        "POST",
        "/Accounts",
        json={"data": [{"Account_Name": "Custom Co", added["api_name"]: "Gold", score: 7}]},
    )
    record_id = record.json()["data"][0]["details"]["id"]
    stored = zoho.crm("GET", f"/Accounts/{record_id}").json()["data"][0]
    assert stored[added["api_name"]] == "Gold" and stored[score] == 7
    bad = zoho.crm(
        "POST",
        "/Accounts",
        json={"data": [{"Account_Name": "Custom Co", added["api_name"]: "Bronze"}]},
    )
    assert bad.json()["data"][0]["code"] == "INVALID_DATA"


def test_fields_needs_a_known_module(zoho):
    """No module is 400 REQUIRED_PARAM_MISSING; an unknown one 400 INVALID_MODULE."""
    assert zoho.crm("GET", "/settings/fields").json()["code"] == "REQUIRED_PARAM_MISSING"
    unknown = zoho.crm("GET", "/settings/fields", params={"module": "Nope"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "INVALID_MODULE"


def test_custom_views_list_and_detail(zoho):
    """Views list the predefined All/My/Recently Created/Modified; one view has criteria."""
    body = zoho.crm("GET", "/settings/custom_views", params={"module": "Accounts"}).json()
    names = [v["name"] for v in body["custom_views"]]
    assert names[:4] == [
        "All Accounts",
        "My Accounts",
        "Recently Created Accounts",
        "Recently Modified Accounts",
    ]
    assert body["info"]["default"] == body["custom_views"][0]["id"]
    recent = body["custom_views"][2]["id"]
    detail = zoho.crm(
        "GET", f"/settings/custom_views/{recent}", params={"module": "Accounts"}
    ).json()["custom_views"][0]
    assert detail["criteria"]["field"]["api_name"] == "Created_Time"
    assert (
        zoho.crm("GET", "/settings/custom_views/1", params={"module": "Accounts"}).status_code
        == 204
    )


def test_recently_created_view_uses_the_clock(fresh):
    """A record created 10 days ago is not in Recently Created; a new one is."""
    from tests.sandbox.zoho import Zoho

    box = fresh()
    client = Zoho(box.credentials)
    box.admin.crm_create("Accounts", {"Account_Name": "Old"})
    box.admin.advance_clock(10 * 86_400)
    client._token = None
    client.crm("POST", "/Accounts", json={"data": [{"Account_Name": "New"}]})
    views = client.crm("GET", "/settings/custom_views", params={"module": "Accounts"}).json()
    recent = next(
        v["id"] for v in views["custom_views"] if v["name"] == "Recently Created Accounts"
    )
    listed = client.crm("GET", "/Accounts", params={"fields": "Account_Name", "cvid": recent})
    assert [r["Account_Name"] for r in listed.json()["data"]] == ["New"]


def test_org_and_users(zoho):
    """/org describes the organisation; /users?type=CurrentUser is the token's user."""
    org = zoho.crm("GET", "/org").json()["org"][0]
    assert org["company_name"] and org["iso_code"] == "USD"
    me = zoho.crm("GET", "/users", params={"type": "CurrentUser"}).json()["users"]
    assert [u["full_name"] for u in me] == ["Sandbox Admin"]
