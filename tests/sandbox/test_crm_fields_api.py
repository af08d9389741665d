"""The CRM fields API as setup uses it: ``POST /settings/fields`` creates custom fields,
``PATCH``/``PUT /settings/fields[/{id}]`` adds picklist values."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.sandbox.zoho import Zoho


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def field(zoho, module: str, wanted: str) -> dict:
    answer = zoho.crm("GET", f"/settings/fields/{wanted}", params={"module": module})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["fields"][0])


def values(described: dict) -> list[str]:
    return [v["actual_value"] for v in described["pick_list_values"]]


def test_a_unique_text_field_is_created_with_its_api_name_from_its_label(fresh):
    """POST {field_label "Replicator Id", text, length, unique}: 201 SUCCESS with the new
    id; the field is Replicator_Id, unique, of that length, and holds unique values."""
    box = fresh()
    zoho = Zoho(box.credentials)
    spec = {
        "field_label": "Replicator Id",
        "data_type": "text",
        "length": 64,
        "unique": {"casesensitive": "false"},
    }
    answer = zoho.crm(
        "POST", "/settings/fields", params={"module": "Quotes"}, json={"fields": [spec]}
    )
    assert answer.status_code == 201
    (result,) = answer.json()["fields"]
    assert (result["code"], result["status"]) == ("SUCCESS", "success")
    made = field(zoho, "Quotes", result["details"]["id"])
    assert (made["api_name"], made["field_label"], made["length"]) == (
        "Replicator_Id",
        "Replicator Id",
        64,
    )
    assert made["unique"] is not None and made["custom_field"] is True
    product = zoho.crm("POST", "/Products", json={"data": [{"Product_Name": "P"}]})
    line = {"Product_Name": {"id": product.json()["data"][0]["details"]["id"]}}
    first = {"Subject": "A", "Quoted_Items": [line], "Replicator_Id": "r-1"}
    assert zoho.crm("POST", "/Quotes", json={"data": [first]}).status_code == 201
    again = zoho.crm("POST", "/Quotes", json={"data": [{**first, "Subject": "B"}]})
    assert again.json()["data"][0]["code"] == "DUPLICATE_DATA"
    zoho.close()


def test_a_picklist_field_takes_its_values_as_objects(zoho):
    """pick_list_values given as {display_value, actual_value} objects become its values."""
    label = unique("Channel")
    spec = {
        "field_label": label,
        "data_type": "picklist",
        "pick_list_values": [
            {"display_value": "Web", "actual_value": "Web"},
            {"display_value": "Shop", "actual_value": "Shop"},
        ],
    }
    answer = zoho.crm(
        "POST", "/settings/fields", params={"module": "Invoices"}, json={"fields": [spec]}
    )
    assert answer.status_code == 201, answer.text
    made = field(zoho, "Invoices", answer.json()["fields"][0]["details"]["id"])
    assert values(made) == ["Web", "Shop"] and made["api_name"] == label.replace(" ", "_")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"field_label": "X1", "data_type": "hologram"}, "data_type must be one of"),
        ({"field_label": "X2", "data_type": "text", "length": 9999}, "length of a text"),
        ({"field_label": "X3", "data_type": "text", "length": "long"}, "length of a text"),
        ({"data_type": "text"}, "field_label is required"),
        ({"field_label": "Subject", "data_type": "text"}, "already has a field Subject"),
        ({"field_label": "X4", "data_type": "picklist"}, "needs pick_list_values"),
        ({"field_label": "X5", "data_type": "picklist", "pick_list_values": "a"}, "is a list"),
        ({"field_label": "X6", "data_type": "picklist", "pick_list_values": [{}]}, "a text or"),
    ],
    ids=[
        "type",
        "too-long",
        "length-text",
        "no-label",
        "taken",
        "no-values",
        "values-text",
        "value-object",
    ],
)
def test_a_bad_field_is_invalid_data_with_the_reason(zoho, spec, reason):
    """A field the CRM cannot make is refused (400) at its index, saying why."""
    answer = zoho.crm(
        "POST", "/settings/fields", params={"module": "Quotes"}, json={"fields": [spec]}
    )
    assert answer.status_code == 400
    (result,) = answer.json()["fields"]
    assert result["code"] == "INVALID_DATA" and result["details"]["json_path"] == "$.fields[0]"
    assert reason in result["details"]["reason"]


def test_patching_a_picklist_adds_values_a_record_may_then_take(zoho):
    """PATCH /settings/fields/{id} with new pick_list_values appends them (ids, sequence
    numbers); values it had are not repeated; a quote may then use a new one."""
    stage = field(zoho, "Quotes", "Quote_Stage")
    before = values(stage)
    new = unique("Accepted")
    body = {
        "fields": [{"pick_list_values": [{"display_value": new, "actual_value": new}, "Draft"]}]
    }
    answer = zoho.crm(
        "PATCH", f"/settings/fields/{stage['id']}", params={"module": "Quotes"}, json=body
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["fields"][0] == {
        "code": "SUCCESS",
        "details": {"id": stage["id"]},
        "message": "field updated successfully",
        "status": "success",
    }
    after = field(zoho, "Quotes", "Quote_Stage")
    assert values(after) == [*before, new]
    added = after["pick_list_values"][-1]
    assert added["id"] and added["sequence_number"] == len(before) + 1
    product = zoho.crm("POST", "/Products", json={"data": [{"Product_Name": unique("P")}]})
    line = {"Product_Name": {"id": product.json()["data"][0]["details"]["id"]}}
    record = {"Subject": unique("Q"), "Quoted_Items": [line], "Quote_Stage": new}
    assert zoho.crm("POST", "/Quotes", json={"data": [record]}).status_code == 201


def test_put_on_the_fields_list_adds_values_to_each_field_named_by_id(zoho):
    """PUT /settings/fields?module=X with [{id, pick_list_values}] updates each field."""
    status = field(zoho, "Invoices", "Status")
    new = unique("Partially Paid")
    body = {"fields": [{"id": status["id"], "pick_list_values": [new]}]}
    answer = zoho.crm("PUT", "/settings/fields", params={"module": "Invoices"}, json=body)
    assert answer.status_code == 200, answer.text
    assert values(field(zoho, "Invoices", "Status"))[-1] == new


@pytest.mark.parametrize(
    ("target", "spec", "reason"),
    [
        ("Subject", {"pick_list_values": ["x"]}, "not a picklist"),
        ("4876876000000000001", {"pick_list_values": ["x"]}, "has no field"),
        ("Quote_Stage", {"field_label": "Renamed"}, "only pick_list_values"),
        ("Quote_Stage", {"pick_list_values": [""]}, "a text or"),
    ],
    ids=["text-field", "unknown-field", "other-change", "empty-value"],
)
def test_a_picklist_change_the_sandbox_cannot_make_is_refused(zoho, target, spec, reason):
    """Values for a non-picklist, an unknown field, other changes or an empty value: 400
    INVALID_DATA with the reason, and the field unchanged."""
    before = field(zoho, "Quotes", "Quote_Stage")
    answer = zoho.crm(
        "PATCH", f"/settings/fields/{target}", params={"module": "Quotes"}, json={"fields": [spec]}
    )
    assert answer.status_code == 400
    result = answer.json()["fields"][0]
    assert result["code"] == "INVALID_DATA" and reason in result["details"]["reason"]
    assert field(zoho, "Quotes", "Quote_Stage") == before


def test_a_fields_request_without_fields_is_mandatory_not_found(zoho):
    """A PATCH without a fields list is 400 MANDATORY_NOT_FOUND on fields."""
    answer = zoho.crm("PATCH", "/settings/fields/Quote_Stage", params={"module": "Quotes"}, json={})
    assert answer.status_code == 400 and answer.json()["code"] == "MANDATORY_NOT_FOUND"


def test_the_same_picklist_value_added_at_once_is_added_once(zoho):
    """Eight PATCHes adding one new value at the same time leave it in the picklist once."""
    stage = field(zoho, "Sales_Orders", "Status")
    new = unique("Open")
    body = {"fields": [{"pick_list_values": [new]}]}
    path = f"/settings/fields/{stage['id']}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: zoho.crm("PATCH", path, params={"module": "Sales_Orders"}, json=body),
                range(8),
            )
        )
    assert all(a.status_code == 200 for a in answers)
    assert values(field(zoho, "Sales_Orders", "Status")).count(new) == 1


def test_one_field_label_posted_at_once_makes_one_field(zoho):
    """Eight POSTs of one new label at the same time: one SUCCESS, seven refusals."""
    body = {"fields": [{"field_label": unique("Race"), "data_type": "text"}]}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: zoho.crm(
                    "POST", "/settings/fields", params={"module": "Purchase_Orders"}, json=body
                ),
                range(8),
            )
        )
    assert sorted(a.status_code for a in answers) == [201] + [400] * 7
