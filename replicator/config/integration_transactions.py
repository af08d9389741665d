"""The transaction modules of the Zoho Books <-> CRM integration: documents with their lines.

``[integration.transactions]`` turns on Books estimates <-> CRM Quotes, sales orders <->
Sales_Orders, invoices <-> Invoices and purchase orders <-> Purchase_Orders (the contract
of issue 12, section 6); :func:`transaction_modules` makes their generic ``[modules.*]``
tables for the first Books side (a second Books organisation gets none, as in Zoho's
integration).  Shape and defaults::

    [integration.transactions]         # alone: all four document types, as below
    sync = "both_ways"                 # both_ways | from_crm | to_crm, for every type
    currency = false                   # true: map CRM Currency <-> Books currency_code
                                       # (CRM has a Currency field only with multi-currency)
    # taxes sharing one percentage: the one a write picks, per side, by percentage
    taxes = { books = { "20" = "Standard Rate" }, crm = { "20" = "VAT" } }

    [integration.transactions.invoices]  # naming one type or more turns on only those
    sync = "from_crm"                  # this type's own direction
    currency = true
    exclude = ["terms"]                # default fields not to sync
    [integration.transactions.invoices.fields]  # more fields, as for masters
    po = { crm = "PO_Number", books = "cf_po" }

``deals`` here is refused with a pointer to ``[integration.deals]`` (deal automation,
:mod:`replicator.config.integration_deals`), which adds to each trigger's document module
the Books-only fields ``deal``, ``deal_name`` and ``salesperson``.  The masters a
document names must sync too: customers and items (for lines) always, vendors for purchase
orders; each refusal is one line.

What each type makes (module name: Books table <-> CRM module, canonical fields as
CRM / Books):

- ``estimates``: ``estimates`` <-> ``Quotes``; ``expiry_date`` Valid_Till / expiry_date;
  status in Quote_Stage;
- ``salesorders``: ``salesorders`` <-> ``Sales_Orders``; ``shipment_date`` Due_Date /
  shipment_date;
- ``invoices``: ``invoices`` <-> ``Invoices``; ``date`` Invoice_Date / date, ``due_date``
  Due_Date / due_date;
- ``purchaseorders``: ``purchaseorders`` <-> ``Purchase_Orders``; ``date`` PO_Date / date,
  ``delivery_date`` Due_Date / delivery_date; the party is ``vendor`` (Vendor_Name /
  vendor_id, a lookup into ``vendors``) instead of ``customer``.

Every type also has ``customer`` (Account_Name, or Contact_Name when customers sync CRM
Contacts / customer_id; a lookup into ``customers``), ``subject`` (Subject /
reference_number), ``notes`` (Description / notes), ``terms`` (Terms_and_Conditions /
terms), ``status`` (a picklist: Books' statuses are the canonical values, CRM spells each
title-cased with spaces, ``partially_paid`` <-> ``Partially Paid``), ``lines`` (type
``lines``: the CRM subform, Quoted_Items, Ordered_Items, Invoiced_Items or Purchase_Items
/ line_items, each line's ``item`` a lookup into ``items``) and the two totals, each read
on its own side only and never written (``total_books`` = Books total, ``total_crm`` =
CRM Grand_Total, listed in ``totals``: a difference is flagged, not fixed).

Each module has ``lookup_missing = "fetch"`` (a customer, vendor or item not synced yet is
read first), ``conflicts = "prefer:<Books side>"``, no duplicate matching, and a ``lock``:
Books owns a document; a CRM edit reaches Books only while it is a draft there, except a
status change to the values in ``passes`` (void for invoices and sales orders, cancelled
for purchase orders, accepted or declined for estimates).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from journal.entry import canonical_decimal
from replicator.config.check import fail, refuse_unknown
from replicator.config.integration_deals import DEAL_FIELDS, DEALS, deal_fields
from replicator.config.integration_modules import DIRECTIONS, choose, fields_of

TRANSACTIONS = "transactions"
DOCUMENT_TYPES = ("estimates", "salesorders", "invoices", "purchaseorders")
# the field naming each document's party (a customer's or a vendor's rid)
DOCUMENT_PARTIES = {
    "estimates": "customer",
    "salesorders": "customer",
    "invoices": "customer",
    "purchaseorders": "vendor",
}
ELSEWHERE = (DEALS,)  # known, so that it gets its own message
# the keys each table reads (check.refuse_unknown refuses any other)
TYPE_KEYS = {"sync", "currency", "exclude", "fields"}  # [integration.transactions.TYPE]
TOP_KEYS = {"sync", "currency", "taxes", *DOCUMENT_TYPES, *ELSEWHERE}  # [integration.transactions]
# fields a document cannot go without: the lock reads status, CRM requires Subject, and
# the party and lines are what a document is
KEPT = ("customer", "vendor", "subject", "status", "lines")


# (CRM module, CRM lines subform, CRM status field, Books statuses, statuses passing the lock,
#  date fields as (canonical, CRM, Books))
DOCUMENTS: dict[str, tuple[str, str, str, tuple[str, ...], tuple[str, ...], list[Any]]] = {
    "estimates": (
        "Quotes",
        "Quoted_Items",
        "Quote_Stage",
        ("draft", "sent", "accepted", "declined", "expired", "invoiced"),
        ("accepted", "declined"),
        [("expiry_date", "Valid_Till", "expiry_date")],
    ),
    "salesorders": (
        "Sales_Orders",
        "Ordered_Items",
        "Status",
        ("draft", "open", "void", "invoiced"),
        ("void",),
        [("shipment_date", "Due_Date", "shipment_date")],
    ),
    "invoices": (
        "Invoices",
        "Invoiced_Items",
        "Status",
        ("draft", "sent", "overdue", "partially_paid", "paid", "void"),
        ("void",),
        [("date", "Invoice_Date", "date"), ("due_date", "Due_Date", "due_date")],
    ),
    "purchaseorders": (
        "Purchase_Orders",
        "Purchase_Items",
        "Status",
        ("draft", "open", "billed", "cancelled"),
        ("cancelled",),
        [("date", "PO_Date", "date"), ("delivery_date", "Due_Date", "delivery_date")],
    ),
}
OPEN = ("draft",)  # while Books holds one of these, CRM edits reach Books
_PERCENT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def crm_status(status: str) -> str:
    """A Books status as CRM spells it: ``partially_paid`` -> ``Partially Paid``."""
    return " ".join(word.capitalize() for word in status.split("_"))


def status_values(document: str) -> dict[str, str]:
    """The CRM status picklist of a document type: CRM value -> Books status."""
    return {crm_status(s): s for s in DOCUMENTS[document][3]}


def transaction_modules(
    path: Path,
    raw: Any,
    *,
    crm: str,
    books: str,
    masters: Mapping[str, Any],
    customer_module: str | None,
    deals: Collection[str] = (),
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, dict[str, str]]]:
    """The modules ``[integration.transactions]`` makes, each with its document type, and
    the tax names to give each side's options (side -> percentage -> tax name).

    ``masters`` is the ``[integration]`` table (which masters sync); ``customer_module``
    is the customers' CRM module choice (``contacts``: documents name a CRM Contact);
    ``deals`` the document types a deal trigger makes (they get the deal fields)."""
    where = f"integration.{TRANSACTIONS}"
    if not isinstance(raw, dict):
        raise fail(path, where, "must be a table")
    refuse_unknown(path, where, raw, TOP_KEYS)
    for key in ELSEWHERE:
        if key in raw:
            raise fail(
                path,
                f"{where}.{key}",
                "deal automation is set up in its own table, [integration.deals] "
                '(quote = "created", invoice = true)',
            )
    named = [t for t in DOCUMENT_TYPES if t in raw]
    wanted = named or list(DOCUMENT_TYPES)
    needs = ["customers", "items"]
    for document in wanted:
        for master in [*needs, *(["vendors"] if document == "purchaseorders" else [])]:
            if master not in masters:
                raise fail(
                    path,
                    f"{where}.{document}" if named else where,
                    f"{document} need {master} to sync: add [integration.{master}]",
                )
    taxes = _taxes(path, raw.get("taxes", {}), f"{where}.taxes", crm=crm, books=books)
    made = []
    for document in wanted:
        spec = raw.get(document, {})
        if not isinstance(spec, dict):
            raise fail(path, f"{where}.{document}", "must be a table")
        refuse_unknown(path, f"{where}.{document}", spec, TYPE_KEYS)
        options = {k: raw[k] for k in ("sync", "currency") if k in raw} | spec
        made.append(
            (
                document,
                _document(
                    path,
                    f"{where}.{document}" if document in raw else where,
                    document,
                    options,
                    crm=crm,
                    books=books,
                    customer_field="Contact_Name" if customer_module == "contacts" else None,
                    deals=document in deals,
                ),
            )
        )
    return made, taxes


def _taxes(path: Path, raw: Any, where: str, *, crm: str, books: str) -> dict[str, dict[str, str]]:
    """``taxes``: per side (``books`` / ``crm``), percentage -> the tax name to write."""
    if not isinstance(raw, dict):
        raise fail(path, where, 'must be a table such as { books = { "20" = "VAT" } }')
    refuse_unknown(path, where, raw, {"books", "crm"})
    out: dict[str, dict[str, str]] = {}
    for alias, names in raw.items():
        side = books if alias == "books" else crm
        if not isinstance(names, dict):
            raise fail(path, f"{where}.{alias}", 'must map percentages to names: { "20" = "VAT" }')
        mapped: dict[str, str] = {}
        for percent, name in names.items():
            if _PERCENT.fullmatch(str(percent)) is None:
                raise fail(
                    path,
                    f"{where}.{alias}.{percent}",
                    "must be a percentage in plain digits, such as 20 or 7.5",
                )
            if not isinstance(name, str) or not name.strip():
                raise fail(
                    path, f"{where}.{alias}.{percent}", f"must be a tax's name, not {name!r}"
                )
            key = canonical_decimal(Decimal(str(percent)))
            if key in mapped:
                raise fail(path, f"{where}.{alias}.{percent}", f"names {key}% twice")
            mapped[key] = name
        if mapped:
            out[side] = mapped
    return out


def _flag(path: Path, raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise fail(path, f"{where}.{key}", f"must be true or false, not {value!r}")
    return value


def _document(
    path: Path,
    where: str,
    document: str,
    spec: Mapping[str, Any],
    *,
    crm: str,
    books: str,
    customer_field: str | None,
    deals: bool = False,
) -> dict[str, Any]:
    """The ``[modules.<document>]`` table of one document type (``deals``: with the deal
    fields a trigger sets)."""
    crm_table, crm_lines, crm_status_field, _, passes, dates = DOCUMENTS[document]
    sync = choose(path, spec, "sync", where, DIRECTIONS, "both_ways")
    # (canonical, CRM field or None, Books column or None, type)
    defaults: list[tuple[str, str | None, str | None, str]] = []
    if document == "purchaseorders":
        defaults.append(("vendor", "Vendor_Name", "vendor_id", "text"))
    else:
        defaults.append(("customer", customer_field or "Account_Name", "customer_id", "text"))
    defaults += [
        ("subject", "Subject", "reference_number", "text"),
        *[(name, crm_field, books_column, "date") for name, crm_field, books_column in dates],
        ("notes", "Description", "notes", "text"),
        ("terms", "Terms_and_Conditions", "terms", "text"),
        ("status", crm_status_field, "status", "picklist"),
        ("lines", crm_lines, "line_items", "lines"),
        ("total_books", None, "total", "decimal"),
        ("total_crm", "Grand_Total", None, "decimal"),
    ]
    if _flag(path, spec, "currency", where):
        defaults.append(("currency", "Currency", "currency_code", "text"))
    exclude = spec.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise fail(path, f"{where}.exclude", f"must be a list of field names, not {exclude!r}")
    names = [d[0] for d in defaults]
    for name in exclude:
        if name in KEPT:
            raise fail(
                path,
                f"{where}.exclude",
                f"{name!r} cannot be left out: a document needs its party, subject, status "
                "and lines",
            )
        if name not in names:
            raise fail(path, f"{where}.exclude", f"{name!r} is not a default field ({names})")
    fields: dict[str, Any] = {}
    for name, crm_field, books_column, kind in defaults:
        if name in exclude:
            continue
        field: dict[str, Any] = {}
        if crm_field is not None:
            field[crm] = crm_field
        if books_column is not None:
            field[books] = books_column
        field["type"] = kind
        if name == "status":
            field["values"] = {crm: status_values(document)}
        fields[name] = field
    # the user's fields (custom fields, as for masters: crm / books renamed to the sides)
    fields.update(fields_of(path, where, [], {"fields": spec.get("fields", {})}, crm, books))
    if deals:
        for name in DEAL_FIELDS:
            if name in fields:
                raise fail(
                    path,
                    f"{where}.fields.{name}",
                    f"is a field [integration.{DEALS}] sets on {document} "
                    f"({DEAL_FIELDS[name]}): name yours otherwise",
                )
        fields.update(deal_fields(books))
    party = "vendor" if document == "purchaseorders" else "customer"
    body: dict[str, Any] = {}
    if sync == "both_ways":
        body["sync"] = "both_ways"
    else:
        body["sync"] = "one_way"
        body["source"] = crm if sync == "from_crm" else books
    body.update(
        {
            "conflicts": f"prefer:{books}",
            crm: {"table": crm_table, "modified": "Modified_Time"},
            books: {"table": document, "modified": "last_modified_time"},
            "fields": fields,
            "lookups": {party: f"{party}s", "lines.item": "items"},
            "lookup_missing": "fetch",
            "lock": {"side": books, "field": "status", "open": list(OPEN), "passes": list(passes)},
        }
    )
    totals = [t for t in ("total_books", "total_crm") if t in fields]
    if len(totals) == 2:
        body["totals"] = totals
    return body


__all__ = [
    "DOCUMENTS",
    "DOCUMENT_PARTIES",
    "DOCUMENT_TYPES",
    "TRANSACTIONS",
    "crm_status",
    "status_values",
    "transaction_modules",
]
