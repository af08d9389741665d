"""The Zoho Books tables the connector serves, and how a Books record becomes columns.

:data:`TABLES` holds one :class:`Table` per endpoint: its path, id key, one-record key, how
its changes are found (:data:`SORTED` by ``last_modified_time`` descending, :data:`FILTERED`
by the ``last_modified_time`` filter, or :data:`SCANNED`: read whole every time), its
standard fields with their types, and the list filters a ``view`` may name.
:data:`ALIASES` are tables that are contacts of one type; :data:`PERSONS` is served by
:mod:`.books_persons`.  :func:`flatten` turns a record into columns (custom fields, address
parts, the primary contact person's fields).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from replicator.connectors.zoho.cursors import parse_time, zoho_time

PERSONS = "contactpersons"  # contact persons as a table of their own: see books_persons
MODIFIED = "last_modified_time"
# a contact's columns that belong to its primary contact person
PERSON_COLUMNS = ("first_name", "last_name", "email", "phone", "mobile")
# objects whose parts map as columns of their own (``billing_address.city``)
OBJECTS = ("billing_address", "shipping_address")
SORTED, FILTERED, SCANNED = "sorted", "filtered", "scanned"


@attrs.frozen
class Table:
    """One Books endpoint: its path, id key, one-record key and how changes are found."""

    path: str
    id: str
    one: str
    feed: str
    fields: Mapping[str, str] = attrs.field(factory=dict)  # standard fields -> type
    views: tuple[str, ...] = ()


_TIMES = {"created_time": "datetime", "last_modified_time": "datetime"}
_DOCUMENT = {
    "customer_id": "text",
    "customer_name": "text",
    "status": "text",
    "date": "date",
    "reference_number": "text",
    "currency_id": "text",
    "currency_code": "text",
    "exchange_rate": "decimal",
    "discount": "decimal",
    "sub_total": "decimal",
    "total": "decimal",
    "line_items": "array",
    "salesperson_id": "text",
    "salesperson_name": "text",
    "notes": "text",
    "terms": "text",
    "billing_address": "object",
    "shipping_address": "object",
    "custom_fields": "array",
    **_TIMES,
}
# a document's deal (CRM potential) and its sales person by email (books_sales: the column
# Books reads and writes is salesperson_name), as deal triggers set them
_DEAL = {"zcrm_potential_id": "text", "zcrm_potential_name": "text", "salesperson": "text"}
TABLES: dict[str, Table] = {
    "contacts": Table(
        "contacts",
        "contact_id",
        "contact",
        SORTED,
        {
            "contact_name": "text",
            "company_name": "text",
            "contact_type": "text",
            "customer_sub_type": "text",
            "status": "text",
            "email": "text",
            "phone": "text",
            "mobile": "text",
            "website": "text",
            "first_name": "text",
            "last_name": "text",
            "currency_id": "text",
            "currency_code": "text",
            "payment_terms": "integer",
            "payment_terms_label": "text",
            "credit_limit": "decimal",
            "notes": "text",
            "billing_address": "object",
            "shipping_address": "object",
            "contact_persons": "array",
            "is_linked_with_zohocrm": "boolean",
            "outstanding_receivable_amount": "decimal",
            **_TIMES,
        },
        (
            "customer",
            "vendor",
            "Status.All",
            "Status.Active",
            "Status.Inactive",
            "Status.Duplicate",
            "Status.Crm",
        ),
    ),
    "items": Table(
        "items",
        "item_id",
        "item",
        SCANNED,
        {
            "name": "text",
            "sku": "text",
            "rate": "decimal",
            "description": "text",
            "product_type": "text",
            "status": "text",
            "unit": "text",
            "tax_id": "text",
            "tax_name": "text",
            "tax_percentage": "decimal",
            **_TIMES,
        },
        ("Status.All", "Status.Active", "Status.Inactive"),
    ),
    "invoices": Table(
        "invoices",
        "invoice_id",
        "invoice",
        FILTERED,
        {
            "invoice_number": "text",
            "due_date": "date",
            "balance": "decimal",
            **_DEAL,
            **_DOCUMENT,
        },
        ("Status.Sent", "Status.Draft", "Status.OverDue", "Status.Paid", "Status.Void"),
    ),
    "estimates": Table(
        "estimates",
        "estimate_id",
        "estimate",
        SCANNED,
        {
            "estimate_number": "text",
            "expiry_date": "date",
            **_DEAL,
            **_DOCUMENT,
        },
        ("Status.Sent", "Status.Draft", "Status.Accepted", "Status.Declined", "Status.Expired"),
    ),
    "salesorders": Table(
        "salesorders",
        "salesorder_id",
        "salesorder",
        FILTERED,
        {
            "salesorder_number": "text",
            "shipment_date": "date",
            "zcrm_potential_id": "text",
            "zcrm_potential_name": "text",
            **_DOCUMENT,
        },
        ("Status.All", "Status.Open", "Status.Draft", "Status.Invoiced", "Status.Void"),
    ),
    "purchaseorders": Table(
        "purchaseorders",
        "purchaseorder_id",
        "purchaseorder",
        FILTERED,
        {
            "purchaseorder_number": "text",
            "vendor_id": "text",
            "vendor_name": "text",
            "delivery_date": "date",
            **{k: v for k, v in _DOCUMENT.items() if not k.startswith("customer")},
        },
        ("Status.All", "Status.Draft", "Status.Open", "Status.Billed", "Status.Cancelled"),
    ),
}
ALIASES = {"customers": ("contacts", "customer"), "vendors": ("contacts", "vendor")}
NUMBERS = frozenset({"decimal", "integer"})


def books_time(text: str) -> str:
    """A cursor text in the form Books' ``last_modified_time`` filter takes."""
    moment = parse_time(text) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A Books record with its custom fields as ``cf_<name>`` columns and, for a whole
    contact, its primary contact person's fields as columns (as list answers show them)."""
    flat = {k: v for k, v in record.items() if k != "custom_fields"}
    persons = record.get("contact_persons")
    if isinstance(persons, list):
        primary = primary_person(persons) or {}
        for key in PERSON_COLUMNS:
            flat.setdefault(key, primary.get(key, ""))
    for key in [k for k in flat if k.startswith("cf_") and k.endswith("_unformatted")]:
        flat[key.removesuffix("_unformatted")] = flat.pop(key)
    for key in OBJECTS:  # billing_address.city and the like
        if isinstance(record.get(key), dict):
            for part, value in record[key].items():
                flat[f"{key}.{part}"] = value
    for field in record.get("custom_fields") or []:
        if isinstance(field, dict) and field.get("api_name"):
            name = str(field["api_name"])
            flat[name if name.startswith("cf_") else f"cf_{name}"] = field.get("value")
    return flat


def primary_person(persons: list[Any]) -> dict[str, Any] | None:
    people = [p for p in persons if isinstance(p, dict)]
    return next((p for p in people if p.get("is_primary_contact")), people[0] if people else None)


def time_text(record: Mapping[str, Any]) -> str | None:
    moment = parse_time(record.get(MODIFIED))
    return zoho_time(moment) if moment is not None else None


def to_number(text: str) -> Any:
    try:
        return Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return text


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, Decimal | float):
        return "decimal"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "text"


__all__ = [
    "ALIASES",
    "FILTERED",
    "MODIFIED",
    "NUMBERS",
    "OBJECTS",
    "PERSONS",
    "PERSON_COLUMNS",
    "SCANNED",
    "SORTED",
    "TABLES",
    "Table",
    "books_time",
    "flatten",
    "kind",
    "primary_person",
    "time_text",
    "to_number",
]
