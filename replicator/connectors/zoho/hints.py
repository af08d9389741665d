"""Setup hints for Zoho sides: what to create in Zoho's settings, and where, when a side
lacks something the config needs.

The sync checks (:mod:`replicator.sync.checks`) find what a side lacks; for a Zoho side
these say which custom field to make, of which type and on which settings page, as each
product names its pages and field types.  Pure text: nothing here calls Zoho, and nothing
loads the HTTP client.
"""

from __future__ import annotations

# Books' custom fields are made per entity, under Settings > Preferences > <entity>
BOOKS_ENTITIES = {
    "contacts": "Customers and Vendors",
    "items": "Items",
    "invoices": "Invoices",
    "estimates": "Quotes",
    "salesorders": "Sales Orders",
    "purchaseorders": "Purchase Orders",
}
BOOKS_ALIASES = {"customers": "contacts", "vendors": "contacts"}
# the custom field type to make for a canonical type, as each product's settings name it
CRM_FIELD_TYPES = {
    "text": "Single Line",
    "integer": "Number",
    "decimal": "Decimal",
    "date": "Date",
    "datetime": "Date/Time",
    "boolean": "Checkbox",
    "picklist": "Pick List",
    "lines": "Subform",
}
BOOKS_FIELD_TYPES = {
    "text": "Text Box (Single Line)",
    "integer": "Number",
    "decimal": "Decimal",
    "date": "Date",
    "datetime": "Date and Time",
    "boolean": "Checkbox",
    "picklist": "Dropdown",
    "lines": "line items (a standard field of Books documents)",
}
CRM_CURRENCY_PAGE = "CRM Setup > Company Details > Currencies"


def books_entity(table: str) -> str:
    """The Books entity a table is (``customers`` and ``vendors`` are ``contacts``)."""
    return BOOKS_ALIASES.get(table, table)


def place(connector: str, table: str) -> str | None:
    """A table as a person finds it in Zoho, or None for a connector that is not Zoho's."""
    if connector == "zoho_crm":
        return f"Zoho CRM {table}"
    if connector == "zoho_books":
        return f"Zoho Books {books_entity(table)}"
    return None


def missing_field_fix(
    connector: str, table: str, column: str, kind: str, choices: str = ""
) -> str | None:
    """What to create in Zoho for a mapped ``column`` of canonical type ``kind`` that the
    side's ``table`` lacks (``choices``: a picklist's values, already worded), or None for
    a connector that is not Zoho's."""
    if connector == "zoho_crm":
        api_name = column.partition(".")[0]  # Account_Name.name: the lookup field itself
        label = api_name.replace("_", " ")
        also = f" (API name {api_name!r})" if label != api_name else ""
        return (
            f"create a custom field {label!r}{also} of type {CRM_FIELD_TYPES[kind]}{choices} "
            f"in CRM module {table} (Setup > Customization > Modules and Fields)"
        )
    if connector == "zoho_books":
        entity = books_entity(table)
        page = BOOKS_ENTITIES.get(entity, entity)
        where = f"in Books (Settings > Preferences > {page} > Field Customization)"
        if column.startswith("cf_"):
            return (
                f"create a custom field with API name {column!r} of type "
                f"{BOOKS_FIELD_TYPES[kind]}{choices} {where}"
            )
        return (
            f"Books {entity} have no field {column!r}: map a standard field, or create "
            f"a custom field {where} and map its API name (it starts with cf_)"
        )
    return None


__all__ = [
    "BOOKS_ALIASES",
    "BOOKS_ENTITIES",
    "BOOKS_FIELD_TYPES",
    "CRM_CURRENCY_PAGE",
    "CRM_FIELD_TYPES",
    "books_entity",
    "missing_field_fix",
    "place",
]
