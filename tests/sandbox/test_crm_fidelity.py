"""CRM metadata fidelity: fields, modules and custom views carry every property Zoho's CRM
v8 OpenAPI files (fields.json, modules.json, custom_views.json) mark required, each with
the JSON type the files give; a line-item subform is described as Zoho describes it.

The tables below are facts read once from those files (property name -> JSON type); the
tests need no copy of the files.  Where the files type an object that only exists for a
feature the field does not use, Zoho sends null: :data:`NULL_WHEN_UNUSED`.
"""

from __future__ import annotations

from typing import Any

import pytest

STRING = (str,)
STRING_OR_NULL = (str, type(None))
BOOLEAN = (bool,)
BOOLEAN_OR_NULL = (bool, type(None))
INTEGER = (int,)
INTEGER_OR_NULL = (int, type(None))
ARRAY = (list,)
OBJECT = (dict,)
OBJECT_OR_NULL = (dict, type(None))

FIELD = {
    "allowed_modules": ARRAY,
    "customizable_properties": ARRAY,
    "file_upolad_optionlist": ARRAY,
    "layout_associations": ARRAY,
    "pick_list_values": ARRAY,
    "profiles": ARRAY,
    "_update_existing_records": BOOLEAN,
    "available_in_user_layout": BOOLEAN,
    "blueprint_supported": BOOLEAN,
    "businesscard_supported": BOOLEAN,
    "custom_field": BOOLEAN,
    "display_field": BOOLEAN,
    "enable_colour_code": BOOLEAN,
    "field_read_only": BOOLEAN,
    "filterable": BOOLEAN,
    "mass_update": BOOLEAN,
    "number_separator": BOOLEAN,
    "pick_list_values_sorted_lexically": BOOLEAN,
    "read_only": BOOLEAN,
    "searchable": BOOLEAN,
    "separator": BOOLEAN,
    "sortable": BOOLEAN,
    "static_field": BOOLEAN,
    "system_mandatory": BOOLEAN,
    "virtual_field": BOOLEAN,
    "visible": BOOLEAN,
    "webhook": BOOLEAN,
    "colour_code_enabled_by_system": BOOLEAN_OR_NULL,
    "hipaa_compliance_enabled": BOOLEAN_OR_NULL,
    "category": INTEGER,
    "display_type": INTEGER,
    "length": INTEGER,
    "show_type": INTEGER,
    "ui_type": INTEGER,
    "decimal_place": INTEGER_OR_NULL,
    "associated_module": OBJECT,
    "association_details": OBJECT,
    "autonumber": OBJECT,
    "convert_mapping": OBJECT,
    "crypt": OBJECT,
    "email_parser": OBJECT,
    "external": OBJECT,
    "hipaa_compliance": OBJECT,
    "history_tracking": OBJECT,
    "multiuserlookup": OBJECT,
    "operation_type": OBJECT,
    "refer_from_field": OBJECT,
    "sharing_properties": OBJECT,
    "sub_module": OBJECT,
    "textarea": OBJECT,
    "tooltip": OBJECT,
    "view_type": OBJECT,
    "auto_number": OBJECT_OR_NULL,
    "common.picklist": OBJECT_OR_NULL,
    "currency": OBJECT_OR_NULL,
    "formula": OBJECT_OR_NULL,
    "lookup": OBJECT_OR_NULL,
    "multi_module_lookup": OBJECT_OR_NULL,
    "multiselectlookup": OBJECT_OR_NULL,
    "rollup_summary": OBJECT_OR_NULL,
    "subform": OBJECT_OR_NULL,
    "unique": OBJECT_OR_NULL,
    "api_name": STRING,
    "column_name": STRING,
    "created_source": STRING,
    "data_type": STRING,
    "display_label": STRING,
    "field_label": STRING,
    "id": STRING,
    "json_type": STRING,
    "quick_sequence_number": STRING,
    "type": STRING,
    "additional_column": STRING_OR_NULL,
    "created_time": STRING_OR_NULL,
    "modified_time": STRING_OR_NULL,
}
PICKLIST_VALUE = {
    "sequence_number": INTEGER,
    "actual_value": STRING,
    "display_value": STRING,
    "id": STRING,
    "type": STRING,
    "colour_code": STRING_OR_NULL,
}
MODULE = {
    "$field_states": ARRAY,
    "$on_demand_properties": ARRAY,
    "$properties": ARRAY,
    "arguments": ARRAY,
    "business_card_fields": ARRAY,
    "default_mapping_fields": ARRAY,
    "fields": ARRAY,
    "layout_associations": ARRAY,
    "layouts": ARRAY,
    "profiles": ARRAY,
    "related_lists": ARRAY,
    "search_layout_fields": ARRAY,
    "api_supported": BOOLEAN,
    "chart_view": BOOLEAN,
    "chart_view_supported": BOOLEAN,
    "common.search_supported": BOOLEAN,
    "convertable": BOOLEAN,
    "creatable": BOOLEAN,
    "deletable": BOOLEAN,
    "editable": BOOLEAN,
    "emailTemplate_support": BOOLEAN,
    "email_parser_supported": BOOLEAN,
    "feeds_required": BOOLEAN,
    "filter_supported": BOOLEAN,
    "inventory_template_supported": BOOLEAN,
    "isBlueprintSupported": BOOLEAN,
    "presence_sub_menu": BOOLEAN,
    "quick_create": BOOLEAN,
    "recycle_bin_on_delete": BOOLEAN,
    "scoring_supported": BOOLEAN,
    "show_as_tab": BOOLEAN,
    "track_current_data": BOOLEAN,
    "triggers_supported": BOOLEAN,
    "viewable": BOOLEAN,
    "visible": BOOLEAN,
    "webform_supported": BOOLEAN,
    "filter_status": BOOLEAN_OR_NULL,
    "kanban_view": BOOLEAN_OR_NULL,
    "kanban_view_supported": BOOLEAN_OR_NULL,
    "zia_view": BOOLEAN_OR_NULL,
    "business_card_field_limit": INTEGER,
    "profile_count": INTEGER,
    "sequence_number": INTEGER,
    "visibility": INTEGER,
    "per_page": INTEGER_OR_NULL,
    "custom_view": OBJECT,
    "lookup_field_properties": OBJECT,
    "modified_by": OBJECT,
    "related_list_properties": OBJECT,
    "display_field": OBJECT_OR_NULL,
    "parent_module": OBJECT_OR_NULL,
    "generated_type": STRING,
    "id": STRING,
    "module_name": STRING,
    "activity_badge": STRING_OR_NULL,
    "api_name": STRING_OR_NULL,
    "description": STRING_OR_NULL,
    "modified_time": STRING_OR_NULL,
    "plural_label": STRING_OR_NULL,
    "singular_label": STRING_OR_NULL,
    "web_link": STRING_OR_NULL,
}
VIEW = {
    "fields": ARRAY,
    "shared_to": ARRAY,
    "default": BOOLEAN,
    "offline": BOOLEAN,
    "system_defined": BOOLEAN,
    "locked": BOOLEAN_OR_NULL,
    "favorite": INTEGER_OR_NULL,
    "created_by": OBJECT,
    "criteria": OBJECT,
    "modified_by": OBJECT,
    "module": OBJECT,
    "sort_by": OBJECT,
    "access_type": STRING,
    "category": STRING,
    "display_value": STRING,
    "id": STRING,
    "name": STRING,
    "created_time": STRING_OR_NULL,
    "last_accessed_time": STRING_OR_NULL,
    "modified_time": STRING_OR_NULL,
    "sort_order": STRING_OR_NULL,
    "system_name": STRING_OR_NULL,
}

# objects typed non-null in the files that Zoho itself sends as null when the feature is
# not in use (no tooltip, not encrypted, no history tracking, a view with no criteria ...)
NULL_WHEN_UNUSED = {
    "association_details",
    "autonumber",
    "criteria",
    "crypt",
    "external",
    "history_tracking",
    "multiuserlookup",
    "refer_from_field",
    "sharing_properties",
    "sort_by",
    "sub_module",
    "textarea",
    "tooltip",
}
MODULES = [
    "Accounts",
    "Contacts",
    "Vendors",
    "Products",
    "Deals",
    "Quotes",
    "Sales_Orders",
    "Invoices",
    "Purchase_Orders",
]
SUBFORMS = {
    "Quotes": "Quoted_Items",
    "Sales_Orders": "Ordered_Items",
    "Invoices": "Invoiced_Items",
    "Purchase_Orders": "Purchase_Items",
}


def mismatches(answer: dict[str, Any], expected: dict[str, tuple[type, ...]]) -> list[str]:
    """The required properties ``answer`` lacks or carries with another JSON type."""
    wrong = []
    for key, types in expected.items():
        if key not in answer:
            wrong.append(f"{key} missing")
            continue
        value = answer[key]
        if value is None and key in NULL_WHEN_UNUSED:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wrong.append(f"{key} is {type(value).__name__}")
    return wrong


def fields_of(zoho, module: str) -> list[dict[str, Any]]:
    answer = zoho.crm("GET", "/settings/fields", params={"module": module})
    assert answer.status_code == 200
    return list(answer.json()["fields"])


@pytest.mark.parametrize("module", MODULES + list(SUBFORMS.values()))
def test_every_field_carries_the_required_properties(zoho, module):
    """Each field of the module (and each picklist value) has every required property."""
    for field in fields_of(zoho, module):
        assert mismatches(field, FIELD) == [], field["api_name"]
        for value in field["pick_list_values"]:
            assert mismatches(value, PICKLIST_VALUE) == [], field["api_name"]


def test_every_module_carries_the_required_properties(zoho):
    """The module list and each module's detail (with its fields) have every required
    property."""
    listed = zoho.crm("GET", "/settings/modules").json()["modules"]
    assert [m["api_name"] for m in listed] == MODULES
    for module in listed:
        assert mismatches(module, MODULE) == [], module["api_name"]
        detail = zoho.crm("GET", f"/settings/modules/{module['api_name']}").json()["modules"][0]
        assert mismatches(detail, MODULE) == [], module["api_name"]
        assert mismatches(detail["custom_view"], VIEW) == [], module["api_name"]
        assert {f["api_name"] for f in detail["fields"]} == {
            f["api_name"] for f in fields_of(zoho, module["api_name"])
        }


@pytest.mark.parametrize("module", MODULES)
def test_every_custom_view_carries_the_required_properties(zoho, module):
    """Each view in the list, and each view fetched alone, has every required property."""
    views = zoho.crm("GET", "/settings/custom_views", params={"module": module}).json()
    for view in views["custom_views"]:
        assert mismatches(view, VIEW) == [], view["name"]
        alone = zoho.crm(
            "GET", f"/settings/custom_views/{view['id']}", params={"module": module}
        ).json()["custom_views"][0]
        assert mismatches(alone, VIEW) == [], view["name"]
        assert all(f["id"] and f["api_name"] for f in alone["fields"])


def test_a_view_criterion_names_its_field_by_api_name_and_id(zoho):
    """A predefined view's criterion gives its field as {api_name, id}, the field's id."""
    views = zoho.crm("GET", "/settings/custom_views", params={"module": "Deals"}).json()
    mine = next(v for v in views["custom_views"] if v["system_name"] == "MYVIEWS")
    owner = next(f for f in fields_of(zoho, "Deals") if f["api_name"] == "Owner")
    assert mine["criteria"]["field"] == {"api_name": "Owner", "id": owner["id"]}


@pytest.mark.parametrize(("module", "subform"), sorted(SUBFORMS.items()))
def test_a_subform_field_names_its_module_as_zohos_sdk_reads_it(zoho, module, subform):
    """The line-item field's associated_module and subform give the subform's module name
    and id; that module's fields are listed by GET /settings/fields?module=<subform>."""
    field = next(f for f in fields_of(zoho, module) if f["api_name"] == subform)
    associated = field["associated_module"]
    assert associated["module"] == subform and associated["api_name"] == subform
    assert associated["id"] and field["subform"] == {"module": subform, "id": associated["id"]}
    rows = {f["api_name"]: f for f in fields_of(zoho, associated["module"])}
    assert {
        "Product_Name",
        "Quantity",
        "List_Price",
        "Discount",
        "Tax",
        "Product_Description",
        "Total",
        "Net_Total",
        "line_tax",
    } <= set(rows)
    product = rows["Product_Name"]
    assert product["data_type"] == "lookup" and product["system_mandatory"] is True
    assert product["lookup"]["module"]["api_name"] == "Products"
    assert product["lookup"]["module"]["id"]
    assert rows["line_tax"]["data_type"] == "linetax"
    assert rows["line_tax"]["json_type"] == "jsonarray"
    assert rows["Tax"]["read_only"] and rows["Net_Total"]["read_only"]
    assert rows["Quantity"]["data_type"] == "double"
    assert rows["Parent_Id"]["lookup"]["module"]["api_name"] == module


def test_a_subform_is_not_a_module_of_records(zoho):
    """The subform's module has fields but no records of its own and no module entry."""
    assert zoho.crm("GET", "/Quoted_Items", params={"fields": "Quantity"}).status_code == 400
    detail = zoho.crm("GET", "/settings/modules/Quoted_Items")
    assert detail.status_code == 400 and detail.json()["code"] == "INVALID_MODULE"


@pytest.mark.parametrize("module", sorted(SUBFORMS))
def test_transactions_have_terms_and_a_currency(zoho, module):
    """Each transaction module has Terms_and_Conditions (textarea), Currency (a picklist of
    the org's currencies) and Exchange_Rate."""
    fields = {f["api_name"]: f for f in fields_of(zoho, module)}
    assert fields["Terms_and_Conditions"]["data_type"] == "textarea"
    currencies = [v["actual_value"] for v in fields["Currency"]["pick_list_values"]]
    assert fields["Currency"]["data_type"] == "picklist" and "USD" in currencies
    assert fields["Exchange_Rate"]["data_type"] == "double"


def test_a_lookup_names_its_module_by_api_name_and_id(zoho):
    """A lookup field's lookup.module carries the target module's api_name and id."""
    modules = {
        m["api_name"]: m["id"] for m in zoho.crm("GET", "/settings/modules").json()["modules"]
    }
    account = next(f for f in fields_of(zoho, "Contacts") if f["api_name"] == "Account_Name")
    assert account["lookup"]["module"] == {"api_name": "Accounts", "id": modules["Accounts"]}


@pytest.mark.parametrize("module", sorted(SUBFORMS))
def test_the_keys_seed_gives_transactions_their_unique_key_field(zoho, module):
    """The demo (through the keys seed) has a unique Replicator_Id on each transaction
    module, as on the masters."""
    key = next(f for f in fields_of(zoho, module) if f["api_name"] == "Replicator_Id")
    assert key["unique"] is not None and key["data_type"] == "text"
