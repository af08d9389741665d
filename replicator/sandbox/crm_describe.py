"""The CRM's metadata answers: a field, a module and a custom view as Zoho v8 describes them.

Zoho's OpenAPI files (fields.json, modules.json, custom_views.json) mark about 75
properties of a field, 60 of a module and 22 of a custom view required; every answer here
carries all of them, with the JSON type the files give.  Where the files type an object
that only exists for a feature a field does not use (a tooltip, encryption, an external
field, history tracking, a multi-user lookup, an auto-number, ...) the value is ``null``,
as Zoho itself sends it; objects that always make sense (``operation_type``,
``view_type``, ``email_parser``, ``hipaa_compliance``) are always there.

A subform field (``Quoted_Items``) names its own module in ``associated_module``
(``{api_name, module, id}``) and in ``subform`` (``{module, id}``): Zoho's SDKs read
``associated_module.module`` to fetch the subform's fields, which is how they type a line
item's ``Product_Name`` as a product.
"""

from __future__ import annotations

from typing import Any

from .crm_schema import ADMIN, BASE_MODULES, ID_BASE, JSON_TYPES, Field, Module

PROFILE = {"name": "Administrator", "id": str(ID_BASE + 26011)}
LAYOUT_BASE = ID_BASE + 91_000  # a module's one layout, "Standard"

# Zoho's ui_type per data type (the web UI's widget), for the types the sandbox has
UI_TYPES = {
    "text": 1,
    "textarea": 3,
    "email": 25,
    "phone": 33,
    "website": 21,
    "integer": 32,
    "bigint": 32,
    "double": 38,
    "currency": 36,
    "percent": 39,
    "boolean": 301,
    "date": 24,
    "datetime": 333,
    "picklist": 2,
    "multiselectpicklist": 100,
    "lookup": 4,
    "ownerlookup": 8,
    "subform": 911,
    "linetax": 917,
}
# the length Zoho gives a field of each type when nothing else says
DEFAULT_LENGTHS = {
    "integer": 9,
    "bigint": 18,
    "double": 16,
    "currency": 16,
    "percent": 5,
    "boolean": 5,
    "date": 20,
    "datetime": 120,
    "picklist": 120,
    "multiselectpicklist": 2000,
    "lookup": 120,
    "ownerlookup": 120,
    "subform": 50,
    "linetax": 16,
}
_SEARCHABLE = ("text", "email", "phone", "website", "picklist")
_NUMBERS = ("integer", "bigint", "double", "currency", "percent")


def layout(module: Module) -> dict[str, str]:
    return {
        "api_name": "Standard",
        "name": "Standard",
        "id": str(LAYOUT_BASE + module.sequence),
    }


def minified(module: Module) -> dict[str, str]:
    return {"api_name": module.api_name, "id": module.id}


def _picklist(field: Field) -> list[dict[str, Any]]:
    return [
        {
            "display_value": value,
            "actual_value": value,
            "reference_value": value,
            "sys_ref_name": value,
            "id": str(int(field.id) + 100 + index),
            "sequence_number": index + 1,
            "type": "used",
            "colour_code": None,
            "show_value": True,
        }
        | _stage(field, value)
        for index, value in enumerate(field.picklist)
    ]


# a stage's forecast, by its outcome: won (probability 100), lost (0) or still open
_FORECASTS = {
    100: ("Closed Won", "Closed", ID_BASE + 95_002),
    0: ("Closed Lost", "Omitted", ID_BASE + 95_003),
}
_OPEN = ("Open", "Pipeline", ID_BASE + 95_001)


def _stage(field: Field, value: str) -> dict[str, Any]:
    """What a deal stage's picklist value says besides its name: its ``probability``,
    ``forecast_type`` (``Closed Won`` / ``Closed Lost`` / ``Open``) and
    ``forecast_category``; nothing for other picklists."""
    chance = field.probability(value)
    if chance is None:
        return {}
    kind, category, category_id = _FORECASTS.get(chance, _OPEN)
    return {
        "probability": chance,
        "forecast_type": kind,
        "forecast_category": {"name": category, "id": str(category_id)},
    }


def describe_field(
    module: Module, field: Field, index: int, subform: Module | None = None
) -> dict[str, Any]:
    """``field`` of ``module`` (``index``: its place in the module), as ``GET
    /settings/fields`` gives it; ``subform``: the module a subform field holds."""
    kind = field.data_type
    writable = not field.read_only
    out: dict[str, Any] = {
        "id": field.id,
        "api_name": field.api_name,
        "field_label": field.label,
        "display_label": field.label,
        "column_name": field.api_name.upper(),
        "data_type": kind,
        "json_type": JSON_TYPES.get(kind, "string"),
        "type": "used",
        "ui_type": UI_TYPES.get(kind, 1),
        "display_type": -1,
        "show_type": 7,
        "category": 0,
        "quick_sequence_number": str(index + 1),
        "length": field.length or DEFAULT_LENGTHS.get(kind, 255),
        "decimal_place": field.decimal_place,
        "custom_field": field.custom,
        "created_source": "crm" if field.custom else "default",
        "created_time": None,
        "modified_time": None,
        "system_mandatory": field.mandatory and not field.custom,
        "read_only": field.read_only,
        "field_read_only": field.read_only,
        "virtual_field": False,
        "static_field": False,
        "visible": True,
        "available_in_user_layout": True,
        "display_field": field.api_name == module.name_field,
        "separator": False,
        "webhook": kind not in ("subform", "linetax"),
        "blueprint_supported": writable and kind not in ("subform", "linetax"),
        "businesscard_supported": kind not in ("subform", "linetax", "textarea"),
        "mass_update": writable and kind not in ("subform", "linetax", "textarea"),
        "sortable": kind not in ("subform", "textarea", "linetax"),
        "filterable": kind not in ("subform", "linetax"),
        "searchable": kind in _SEARCHABLE,
        "number_separator": kind in _NUMBERS,
        "enable_colour_code": False,
        "colour_code_enabled_by_system": False,
        "pick_list_values_sorted_lexically": False,
        "_update_existing_records": False,
        "hipaa_compliance_enabled": False,
        "hipaa_compliance": {"restricted": False, "restricted_in_export": False},
        "operation_type": {
            "web_create": writable,
            "web_update": writable,
            "api_create": writable,
            "api_update": writable,
        },
        "view_type": {
            "view": True,
            "edit": writable,
            "create": writable,
            "quick_create": field.mandatory,
        },
        "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
        "customizable_properties": ["tooltip", "profiles", "view_type", "required"]
        if not field.read_only
        else ["tooltip", "profiles"],
        "profiles": [
            {**PROFILE, "permission_type": "read_write" if writable else "read_only"},
        ],
        "layout_associations": [layout(module)],
        "associated_module": minified(module),
        "allowed_modules": [],
        "file_upolad_optionlist": [],
        "convert_mapping": {},
        "unique": {"casesensitive": "false"} if field.unique else None,
        "pick_list_values": _picklist(field),
        "currency": {"rounding_option": "normal", "precision": field.decimal_place or 2}
        if kind == "currency"
        else None,
        "textarea": {"type": "large" if (field.length or 0) > 2000 else "small"}
        if kind == "textarea"
        else None,
        "lookup": None,
        "subform": None,
        # objects of features no sandbox field uses: Zoho sends null for them
        "formula": None,
        "rollup_summary": None,
        "multi_module_lookup": None,
        "multiselectlookup": None,
        "multiuserlookup": None,
        "auto_number": None,
        "autonumber": None,
        "common.picklist": None,
        "additional_column": None,
        "sub_module": None,
        "refer_from_field": None,
        "association_details": None,
        "external": None,
        "crypt": None,
        "tooltip": None,
        "history_tracking": None,
        "sharing_properties": None,
    }
    if field.lookup:
        target = BASE_MODULES.get(field.lookup)
        out["lookup"] = {
            "module": {"api_name": field.lookup, "id": target.id if target else None},
            "api_name": field.api_name,
            "display_label": field.label,
            "id": field.id,
            "query_details": {},
            "revalidate_filter_during_edit": False,
            "show_fields": [],
        }
    if subform is not None:
        out["associated_module"] = {**minified(subform), "module": subform.api_name}
        out["subform"] = {"module": subform.api_name, "id": subform.id}
    return out


def describe_module(
    module: Module,
    *,
    fields: list[dict[str, Any]],
    default_view: dict[str, Any],
) -> dict[str, Any]:
    """``module`` as ``GET /settings/modules`` gives it; ``fields`` (empty in the list,
    every field in ``/settings/modules/{api_name}``) and its default view, described."""
    name_field = next((f for f in module.fields if f.api_name == module.name_field), None)
    return {
        "id": module.id,
        "api_name": module.api_name,
        "module_name": module.api_name,
        "singular_label": module.singular,
        "plural_label": module.plural,
        "description": None,
        "api_supported": True,
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "visible": True,
        "visibility": 1,
        "convertable": False,
        "show_as_tab": True,
        "presence_sub_menu": False,
        "generated_type": "default",
        "sequence_number": module.sequence,
        "recycle_bin_on_delete": True,
        "triggers_supported": True,
        "filter_supported": True,
        "filter_status": True,
        "feeds_required": False,
        "quick_create": True,
        "inventory_template_supported": module.line_items is not None,
        "isBlueprintSupported": True,
        "emailTemplate_support": True,
        "email_parser_supported": False,
        "webform_supported": False,
        "scoring_supported": False,
        "chart_view": False,
        "chart_view_supported": True,
        "kanban_view": False,
        "kanban_view_supported": True,
        "zia_view": False,
        "track_current_data": False,
        "common.search_supported": True,
        "activity_badge": None,
        "web_link": None,
        "parent_module": None,
        "modified_time": None,
        "modified_by": {"name": ADMIN.full_name, "id": ADMIN.id},
        "profile_count": 1,
        "profiles": [dict(PROFILE)],
        "per_page": 200,
        "arguments": [],
        "business_card_field_limit": 5,
        "business_card_fields": [module.name_field],
        "search_layout_fields": [module.name_field],
        "$field_states": [],
        "$properties": [],
        "$on_demand_properties": [],
        "display_field": None
        if name_field is None
        else {"api_name": name_field.api_name, "id": name_field.id},
        "lookup_field_properties": {"fields": [{"api_name": module.name_field}]},
        "related_list_properties": {
            "sort_by": None,
            "sort_order": None,
            "fields": [module.name_field],
        },
        "related_lists": [],
        "default_mapping_fields": [],
        "layouts": [layout(module)],
        "layout_associations": [layout(module)],
        "custom_view": default_view,
        "fields": fields,
    }


def _criteria(module: Module, criteria: Any) -> Any:
    """A view's criteria with each field's id, as Zoho gives them."""
    if not isinstance(criteria, dict):
        return criteria
    if "group" in criteria:
        return {**criteria, "group": [_criteria(module, c) for c in criteria["group"] or []]}
    field = criteria.get("field")
    if isinstance(field, dict) and "api_name" in field:
        known = next((f for f in module.fields if f.api_name == field["api_name"]), None)
        field = {**field, "id": known.id if known else None}
        return {**criteria, "field": field}
    return criteria


def describe_view(module: Module, view: dict[str, Any]) -> dict[str, Any]:
    """A custom view as ``GET /settings/custom_views`` gives it (the list and one view
    carry the same properties)."""
    shown = ("Owner", module.name_field, "Created_Time", "Modified_Time")
    who = {"name": ADMIN.full_name, "id": ADMIN.id}
    return {
        "id": view["id"],
        "name": view["name"],
        "display_value": view["display_value"],
        "system_name": view["system_name"],
        "system_defined": view["system_defined"],
        "default": view["default"],
        "module": {**view["module"], "name": module.api_name},
        "category": "public_views" if view["system_defined"] else "created_by_me",
        "access_type": "public",
        "favorite": None,
        "offline": False,
        "locked": False,
        "created_by": who,
        "modified_by": who,
        "created_time": None,
        "modified_time": None,
        "last_accessed_time": None,
        "criteria": _criteria(module, view["criteria"]),
        "fields": [
            {"api_name": f.api_name, "id": f.id, "_pin": False}
            for f in module.fields
            if f.api_name in shown
        ],
        "shared_to": [],
        "sort_by": None,
        "sort_order": None,
    }


__all__ = ["describe_field", "describe_module", "describe_view", "layout", "minified"]
