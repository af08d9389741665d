"""The Books side's shape: organisations, resources, currencies, taxes and custom fields.

Seven resources are served under ``/books/v3/``: contacts, items, estimates, salesorders,
invoices, purchaseorders and expenses.  :data:`RESOURCES` says, for each, its id field, the wrapper
key of one record, its document number and prefix, what a create requires, the statuses
and status endpoints it has (with the HTTP status those endpoints answer, 200 or 201 as the
spec says), how it sorts by default, and whether its list takes ``last_modified_time``.

Custom fields belong to an organisation and a resource.  Each has a ``customfield_id``, an
``api_name`` (``cf_...``), a ``label``, a ``data_type``, an ``index`` and may be unique
(``is_unique``): a unique one can key an upsert (``X-Unique-Identifier-Key``).  Input names
a field by ``api_name``, ``customfield_id``, ``index`` or ``label``; output lists them under
``custom_fields`` and repeats each as a top-level ``cf_...`` key, as Books does.

Every organisation has the sandbox's four currencies (:data:`CURRENCIES`, one of them its
base currency) and its own taxes: a new organisation starts with ``VAT`` 20 % (the
default tax), ``Reduced`` 5 % and ``Zero`` 0 %; more are added through the API or the
admin API.  Only simple taxes (``tax_type`` ``tax``) are served: compound taxes and tax
groups would change how a document's tax is computed, which the sandbox does not model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from .amounts import AmountError, parse
from .crm_schema import USERS as CRM_USERS
from .store import Store

ID_BASE = 536_000_000_000_000
CURRENCIES = {
    "536000000000097": ("USD", "$"),
    "536000000000099": ("EUR", "€"),
    "536000000000101": ("GBP", "£"),
    "536000000000103": ("INR", "₹"),
}
BASE_CURRENCY = "536000000000097"
CURRENCY_NAMES = {"USD": "US Dollar", "EUR": "Euro", "GBP": "Pound Sterling", "INR": "Indian Rupee"}
DEFAULT_TAXES = (("VAT", "20", True), ("Reduced", "5", False), ("Zero", "0", False))
TAX_NAME_MAX = 50
CF_TYPES = (
    "text",
    "multiline",
    "email",
    "url",
    "phone",
    "number",
    "decimal",
    "amount",
    "percent",
    "date",
    "check_box",
    "dropdown",
)


class TaxSpecError(ValueError):
    """A tax the organisation cannot have: ``field`` is the key at fault."""

    def __init__(self, field: str, wanted: str, *, duplicate: bool = False) -> None:
        super().__init__(f"{field} must be {wanted}")
        self.field, self.duplicate = field, duplicate


@attrs.frozen
class Resource:
    path: str  # URL segment: "contacts"
    singular: str  # wrapper key of one record: "contact"
    id_field: str  # "contact_id"
    label: str  # for messages: "contact"
    report_name: str
    number_field: str | None = None
    number_prefix: str | None = None
    party: str | None = None  # "customer_id" or "vendor_id"
    requires_items: bool = False
    modified_filter: bool = False
    statuses: Mapping[str, tuple[frozenset[str], str, str]] = attrs.field(factory=dict)
    status_http: int = 200
    # statuses in which the document cannot be edited (PUT) until a status endpoint moves
    # it out: void and cancelled documents, as in the Books UI (no Edit, only "Convert to
    # Draft" / "Convert to Open"); every other status may be edited, a sent invoice too
    frozen: frozenset[str] = frozenset()
    # whether its lines take a ``discount`` (the spec's purchase order lines have none)
    line_discounts: bool = True
    default_sort: tuple[str, str] = ("created_time", "D")
    sort_columns: tuple[str, ...] = ("created_time", "last_modified_time")
    messages: Mapping[str, str] = attrs.field(factory=dict)


def _status(from_: str, to: str, message: str) -> tuple[frozenset[str], str, str]:
    return frozenset(from_.split()), to, message


RESOURCES: dict[str, Resource] = {
    "contacts": Resource(
        "contacts",
        "contact",
        "contact_id",
        "contact",
        "Contacts",
        default_sort=("contact_name", "A"),
        sort_columns=(
            "contact_name",
            "first_name",
            "last_name",
            "email",
            "created_time",
            "last_modified_time",
            "outstanding_receivable_amount",
        ),
        messages={
            "create": "The contact has been created",
            "update": "Contact has been updated successfully",
            "delete": "The contact has been deleted.",
            "missing": "Contact does not exist.",
        },
    ),
    "items": Resource(
        "items",
        "item",
        "item_id",
        "item",
        "Items",
        default_sort=("name", "A"),
        sort_columns=("name", "rate", "tax_name", "created_time", "last_modified_time"),
        messages={
            "create": "The item has been added.",
            "update": "Item details have been saved.",
            "delete": "The item has been deleted.",
            "missing": "Item does not exist.",
        },
    ),
    "estimates": Resource(
        "estimates",
        "estimate",
        "estimate_id",
        "estimate",
        "Estimates",
        number_field="estimate_number",
        number_prefix="EST-",
        party="customer_id",
        requires_items=True,
        statuses={
            "sent": _status("draft", "sent", "Estimate status has been changed to Sent"),
            # the spec: "Mark a sent estimate as accepted" / "... as declined"
            "accepted": _status(
                "sent declined expired",
                "accepted",
                "Estimate status has been changed to Accepted.",
            ),
            "declined": _status(
                "sent accepted expired",
                "declined",
                "Estimate status has been changed to Declined.",
            ),
        },
        sort_columns=(
            "customer_name",
            "estimate_number",
            "date",
            "total",
            "created_time",
            "last_modified_time",
        ),
        messages={
            "create": "The estimate has been created",
            "update": "Estimate information has been updated.",
            "delete": "The estimate has been deleted.",
            "missing": "Estimate does not exist.",
        },
    ),
    "salesorders": Resource(
        "salesorders",
        "salesorder",
        "salesorder_id",
        "sales order",
        "Sales Orders",
        number_field="salesorder_number",
        number_prefix="SO-",
        party="customer_id",
        modified_filter=True,
        status_http=201,
        frozen=frozenset({"void"}),
        statuses={
            "open": _status("draft void", "open", "Sales order status has been changed to Open."),
            "void": _status("draft open", "void", "Sales order status has been changed to Void."),
        },
        sort_columns=(
            "customer_name",
            "salesorder_number",
            "shipment_date",
            "date",
            "total",
            "created_time",
            "last_modified_time",
        ),
        messages={
            "create": "Sales Order Created Successfully.",
            "update": "Sales Order Updated Successfully.",
            "delete": "Sales Order Deleted Successfully.",
            "missing": "Sales Order does not exist.",
        },
    ),
    "invoices": Resource(
        "invoices",
        "invoice",
        "invoice_id",
        "invoice",
        "Invoices",
        number_field="invoice_number",
        number_prefix="INV-",
        party="customer_id",
        requires_items=True,
        modified_filter=True,
        frozen=frozenset({"void"}),
        statuses={
            "sent": _status("draft", "sent", "Invoice status has been changed to Sent."),
            # any status but void: voiding a paid invoice unassociates its payments (the
            # spec: "Upon voiding, the payments and credits ... will be unassociated")
            "void": _status(
                "draft sent viewed overdue unpaid partially_paid paid",
                "void",
                "Invoice status has been changed to Void.",
            ),
            "draft": _status("void", "draft", "Status of invoice changed from void to draft"),
        },
        sort_columns=(
            "customer_name",
            "invoice_number",
            "date",
            "due_date",
            "total",
            "balance",
            "created_time",
            "last_modified_time",
        ),
        messages={
            "create": "The invoice has been created.",
            "update": "Invoice information has been updated.",
            "delete": "The invoice has been deleted.",
            "missing": "Invoice does not exist.",
        },
    ),
    "purchaseorders": Resource(
        "purchaseorders",
        "purchaseorder",
        "purchaseorder_id",
        "purchase order",
        "Purchase Orders",
        number_field="purchaseorder_number",
        number_prefix="PO-",
        party="vendor_id",
        requires_items=True,
        modified_filter=True,
        status_http=201,
        frozen=frozenset({"cancelled"}),
        line_discounts=False,
        statuses={
            "open": _status(
                "draft cancelled", "open", "The purchase order has been marked as open."
            ),
            "billed": _status("open", "billed", "The purchase order has been marked as billed."),
            "cancelled": _status(
                "draft open", "cancelled", "The purchase order has been cancelled."
            ),
        },
        sort_columns=(
            "vendor_name",
            "purchaseorder_number",
            "date",
            "delivery_date",
            "total",
            "created_time",
            "last_modified_time",
        ),
        messages={
            "create": "Purchase Order has been added.",
            "update": "Purchase Order has been updated.",
            "delete": "The purchase order has been deleted.",
            "missing": "Purchase Order does not exist.",
        },
    ),
    "expenses": Resource(
        "expenses",
        "expense",
        "expense_id",
        "expense",
        "Expenses",
        default_sort=("date", "D"),
        sort_columns=(
            "date",
            "account_name",
            "total",
            "customer_name",
            "reference_number",
            "created_time",
            "last_modified_time",
        ),
        messages={
            "create": "The expense has been recorded.",
            "update": "The expense has been updated.",
            "delete": "The expense has been deleted.",
            "missing": "Expense does not exist.",
        },
    ),
}

# the expense accounts of every organisation's chart of accounts (an expense names one by
# ``account_id`` or ``account_name``); the sandbox has no other accounts
EXPENSE_ACCOUNTS = {
    str(ID_BASE + 401 + i): name
    for i, name in enumerate(
        (
            "Advertising And Marketing",
            "Automobile Expense",
            "Consultant Expense",
            "Meals and Entertainment",
            "Office Supplies",
            "Other Expenses",
            "Telephone Expense",
            "Travel Expense",
        )
    )
}
# the Books users of every organisation: the sandbox CRM's users, by email (the same
# people use both apps), the first the organisation's admin and the current user
BOOKS_USERS = tuple(
    {
        "user_id": str(ID_BASE + 901 + i),
        "role_id": str(ID_BASE + 951 + (0 if i == 0 else 1)),
        "name": crm_user.full_name,
        "email": crm_user.email,
        "user_role": "admin" if i == 0 else "staff",
        "status": "active",
        "is_current_user": i == 0,
        "user_type": "zoho",
    }
    for i, crm_user in enumerate(CRM_USERS)
)


@attrs.frozen
class CustomField:
    customfield_id: str
    api_name: str
    label: str
    data_type: str
    index: int
    is_unique: bool = False
    is_mandatory: bool = False
    values: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "customfield_id": self.customfield_id,
            "api_name": self.api_name,
            "label": self.label,
            "data_type": self.data_type,
            "index": self.index,
            "is_unique": self.is_unique,
            "is_mandatory": self.is_mandatory,
            "values": list(self.values),
        }


class BooksSchema:
    """Organisations and custom fields, kept in the store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # -- organisations ----------------------------------------------------------------------

    def organizations(self) -> list[dict[str, Any]]:
        orgs = self._store.kv_get("books.orgs")
        if orgs is None:
            with self._store.transaction():
                orgs = [self._new_org("Sandbox Trading Ltd", default=True)]
                self._store.kv_set("books.orgs", orgs)
        return list(orgs)

    def _new_org(self, name: str, *, default: bool = False) -> dict[str, Any]:
        number = self._store.next_value("books.org", start=1)
        code, symbol = CURRENCIES[BASE_CURRENCY]
        org_id = str(800_000_000 + number)
        self._seed_taxes(org_id)
        return {
            "organization_id": org_id,
            "name": name,
            "contact_name": "Sandbox Admin",
            "email": "admin@sandbox.example",
            "is_default_org": default,
            "plan_type": 130,
            "plan_name": "PROFESSIONAL",
            "plan_period": "Monthly",
            "language_code": "en",
            "fiscal_year_start_month": 0,
            "time_zone": "UTC",
            "is_org_active": True,
            "currency_id": BASE_CURRENCY,
            "currency_code": code,
            "currency_symbol": symbol,
            "currency_format": "###,##0.00",
            "price_precision": 2,
        }

    def add_organization(self, name: str) -> dict[str, Any]:
        with self._store.transaction():
            orgs = self.organizations()
            org = self._new_org(name)
            orgs.append(org)
            self._store.kv_set("books.orgs", orgs)
        return org

    def organization(self, org_id: str) -> dict[str, Any] | None:
        return next((o for o in self.organizations() if o["organization_id"] == org_id), None)

    def default_org(self) -> str:
        return str(self.organizations()[0]["organization_id"])

    def set_currency(self, org_id: str, currency_code: str) -> dict[str, Any]:
        """Make ``currency_code`` the organisation's base currency; ``KeyError`` for an
        unknown org, ``ValueError`` for a currency the sandbox does not have."""
        currency_id = next((i for i, (c, _) in CURRENCIES.items() if c == currency_code), None)
        if currency_id is None:
            codes = ", ".join(c for c, _ in CURRENCIES.values())
            raise ValueError(f"currency_code must be one of {codes}, not {currency_code!r}")
        with self._store.transaction():
            orgs = self.organizations()
            org = next((o for o in orgs if o["organization_id"] == org_id), None)
            if org is None:
                raise KeyError(org_id)
            org.update(
                currency_id=currency_id,
                currency_code=currency_code,
                currency_symbol=CURRENCIES[currency_id][1],
            )
            self._store.kv_set("books.orgs", orgs)
        return dict(org)

    def base_currency(self, org_id: str) -> str:
        """The ``currency_id`` of the organisation's base currency."""
        org = self.organization(org_id)
        return str(org["currency_id"]) if org else BASE_CURRENCY

    # -- currencies --------------------------------------------------------------------------

    def currencies(self, org_id: str) -> list[dict[str, Any]]:
        """The organisation's currencies as ``GET /settings/currencies`` lists them."""
        base = self.base_currency(org_id)
        return [self._currency(i, base) for i in CURRENCIES]

    def currency(self, org_id: str, currency_id: str) -> dict[str, Any] | None:
        if currency_id not in CURRENCIES:
            return None
        return self._currency(currency_id, self.base_currency(org_id))

    def currency_id(self, code: str) -> str | None:
        """The ``currency_id`` of the currency with ISO ``code``, if the sandbox has it."""
        return next((i for i, (c, _) in CURRENCIES.items() if c == code), None)

    @staticmethod
    def _currency(currency_id: str, base: str) -> dict[str, Any]:
        code, symbol = CURRENCIES[currency_id]
        return {
            "currency_id": currency_id,
            "currency_code": code,
            "currency_name": f"{code}- {CURRENCY_NAMES[code]}",
            "currency_symbol": symbol,
            "price_precision": 2,
            "currency_format": "1,234,567.89",
            "is_base_currency": currency_id == base,
            # the sandbox keeps no exchange rates: documents carry the rate they are given
            "exchange_rate": 1.0 if currency_id == base else 0.0,
            "effective_date": "",
        }

    # -- taxes -------------------------------------------------------------------------------

    def _seed_taxes(self, org_id: str) -> None:
        if self._store.kv_get(f"books.{org_id}.taxes") is None:
            self._store.kv_set(
                f"books.{org_id}.taxes",
                [
                    self._new_tax(name, Decimal(percentage), default)
                    for name, percentage, default in DEFAULT_TAXES
                ],
            )

    def _new_tax(self, name: str, percentage: Decimal, default: bool) -> dict[str, Any]:
        return {
            "tax_id": str(ID_BASE + self._store.next_value("books.id", start=10_001)),
            "tax_name": name,
            "tax_percentage": format(percentage.normalize(), "f"),  # 20.50 -> "20.5"
            "tax_type": "tax",
            "is_default_tax": default,
        }

    def taxes(self, org_id: str) -> list[dict[str, Any]]:
        """The organisation's taxes, stored form (``tax_percentage`` is decimal text);
        an organisation made before taxes existed gets the default ones on first use."""
        stored = self._store.kv_get(f"books.{org_id}.taxes")
        if stored is None:
            with self._store.transaction():
                self._seed_taxes(org_id)
                stored = self._store.kv_get(f"books.{org_id}.taxes")
        return list(stored)

    def tax(self, org_id: str, tax_id: str) -> dict[str, Any] | None:
        return next((t for t in self.taxes(org_id) if t["tax_id"] == tax_id), None)

    def add_tax(self, org_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A new simple tax of the organisation; :class:`TaxSpecError` names the bad key."""
        name = spec.get("tax_name")
        if not isinstance(name, str) or not name.strip() or len(name) > TAX_NAME_MAX:
            raise TaxSpecError("tax_name", f"a text of 1 to {TAX_NAME_MAX} characters")
        try:
            percentage = parse(spec.get("tax_percentage"))
        except AmountError:
            percentage = Decimal(-1)
        if not 0 <= percentage <= 100 or int(percentage.normalize().as_tuple().exponent) < -3:
            raise TaxSpecError("tax_percentage", "a number from 0 to 100, at most 3 places")
        if spec.get("tax_type", "tax") != "tax":
            raise TaxSpecError("tax_type", "tax (the sandbox has no compound taxes)")
        default = spec.get("is_default_tax", False)
        if not isinstance(default, bool):
            raise TaxSpecError("is_default_tax", "true or false")
        with self._store.transaction():
            taxes = self.taxes(org_id)
            if any(t["tax_name"].lower() == name.strip().lower() for t in taxes):
                raise TaxSpecError("tax_name", "a name no other tax has", duplicate=True)
            if default:
                taxes = [dict(t, is_default_tax=False) for t in taxes]
            tax = self._new_tax(name.strip(), percentage, default)
            self._store.kv_set(f"books.{org_id}.taxes", [*taxes, tax])
        return tax

    # -- custom fields ---------------------------------------------------------------------

    def custom_fields(self, org: str, resource: str) -> list[CustomField]:
        specs = self._store.kv_get(f"books.{org}.customfields", {}).get(resource, [])
        return [CustomField(**{**s, "values": tuple(s["values"])}) for s in specs]

    def add_custom_field(self, org: str, resource: str, spec: Mapping[str, Any]) -> CustomField:
        """A new custom field of ``resource``; ``ValueError`` says what is wrong."""
        if resource not in RESOURCES:
            raise ValueError(f"no resource {resource!r}; one of {', '.join(RESOURCES)}")
        label = str(spec.get("label") or "").strip()
        if not label:
            raise ValueError("label is required")
        api_name = str(spec.get("api_name") or "cf_" + re.sub(r"\W+", "_", label.lower()))
        if not re.fullmatch(r"cf_[a-z0-9_]+", api_name):
            raise ValueError(f"api_name must look like cf_name, not {api_name!r}")
        data_type = str(spec.get("data_type", "text"))
        if data_type not in CF_TYPES:
            raise ValueError(f"data_type must be one of {', '.join(CF_TYPES)}")
        values = tuple(str(v) for v in spec.get("values", ()))
        if data_type == "dropdown" and not values:
            raise ValueError("a dropdown needs values")
        with self._store.transaction():
            existing = self.custom_fields(org, resource)
            if any(f.api_name == api_name or f.label == label for f in existing):
                raise ValueError(f"{resource} already has a custom field {api_name}")
            field = CustomField(
                str(ID_BASE + self._store.next_value("books.id", start=10_001)),
                api_name,
                label,
                data_type,
                len(existing) + 1,
                bool(spec.get("is_unique", False)),
                bool(spec.get("is_mandatory", False)),
                values,
            )
            stored = self._store.kv_get(f"books.{org}.customfields", {})
            stored.setdefault(resource, []).append(attrs.asdict(field))
            self._store.kv_set(f"books.{org}.customfields", stored)
        return field


def payment_terms_label(days: int) -> str:
    return "Due on Receipt" if days == 0 else f"Net {days}"


__all__ = [
    "BASE_CURRENCY",
    "BooksSchema",
    "CF_TYPES",
    "CURRENCIES",
    "CURRENCY_NAMES",
    "CustomField",
    "BOOKS_USERS",
    "EXPENSE_ACCOUNTS",
    "ID_BASE",
    "RESOURCES",
    "Resource",
    "TaxSpecError",
    "payment_terms_label",
]
