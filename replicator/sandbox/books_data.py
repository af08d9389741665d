"""Books records: validation, storage and the shapes the API returns.

One module, over 600 lines, on purpose: the validation rules of every Books resource are
one table read against the spec side by side; split, a rule and its resource part.

Each organisation's records are stored per resource.  Writes are validated as Books does:
required fields (``contact_name``; an item's ``name`` of at most 100 characters and its
``rate``; a transaction's ``customer_id`` / ``vendor_id`` naming a contact of the right type,
and its ``line_items``), enumerations (``contact_type`` customer|vendor,
``customer_sub_type`` business|individual, ``product_type`` goods|service|digital_service),
currencies, taxes (an item's or a line's ``tax_id``), custom fields, and uniqueness:
contact display names (switchable), item names, SKUs, document numbers and unique custom
field values.  Problems answer HTTP 400 with
code 4 ``Invalid value passed for <field>``; duplicates code 1001; a missing record 404
code 1002.  Keys Books does not take on input are ignored, as Books ignores them, including
a contact's top-level ``email`` / ``phone`` (in the spec those belong to contact persons;
reads show the primary contact person's).

Transactions get their number (``INV-00001``...), dates (``date`` today, an invoice's
``due_date`` from the payment terms), a currency (``currency_id`` or ``currency_code``, one
of the organisation's; else the party's) and ``exchange_rate``, line totals, taxes and
discounts (:mod:`replicator.sandbox.books_lines`: a line's ``tax_id`` names one of the
organisation's taxes, by default its item's; its ``discount`` is an amount or ``"10%"``),
``sub_total``,
``tax_total``, ``taxes``, ``total`` and an invoice's ``balance``; a sent invoice past its
due date reads as ``overdue``, a sent estimate past its expiry date as ``expired``.  A
customer's document takes the customer's billing and shipping addresses unless it is
given its own.  Expenses have no lines: an expense account, an amount, a date, an
optional customer and the CRM deal fields.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

from .amounts import AmountError, rounded
from .books_lines import DiscountError, cents, discount_amount, discount_spec, totals
from .books_schema import (
    CURRENCIES,
    EXPENSE_ACCOUNTS,
    ID_BASE,
    RESOURCES,
    BooksSchema,
    CustomField,
    Resource,
    payment_terms_label,
)
from .clock import Clock, books_time, parse_date
from .errors import BOOKS_CODES, BooksError
from .settings import Settings
from .store import Row, Store

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ADDRESS_KEYS = (
    "attention",
    "address",
    "street2",
    "state_code",
    "city",
    "state",
    "zip",
    "country",
    "fax",
    "phone",
)
PERSON_KEYS = (
    "salutation",
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "designation",
    "department",
    "skype",
)
CONTACT_TEXT = {
    "contact_name": 200,
    "company_name": 200,
    "website": 255,
    "notes": 5000,
    "language_code": 10,
    "facebook": 100,
    "twitter": 100,
    "contact_number": 200,
    "payment_terms_label": 200,
}
ITEM_TEXT = {
    "name": 100,
    "description": 2000,
    "sku": 100,
    "unit": 100,
    "purchase_description": 2000,
}
TXN_TEXT = {
    "reference_number": 100,
    "notes": 5000,
    "terms": 10000,
    "salesperson_name": 200,
    "zcrm_potential_id": 40,
    "zcrm_potential_name": 200,
}
EXPENSE_TEXT = {
    "description": 2000,
    "reference_number": 100,
    "zcrm_potential_id": 40,
    "zcrm_potential_name": 200,
}
TXN_DATES = ("date", "due_date", "expiry_date", "shipment_date", "delivery_date")
NO_TAX = {"tax_id": "", "tax_name": "", "tax_type": "tax", "tax_percentage": 0.0}


def bad(field: str) -> BooksError:
    return BooksError(400, BOOKS_CODES["invalid_body"], f"Invalid value passed for {field}")


def amount(value: Any, field: str) -> float:
    """An amount given or computed for ``field``; one Books cannot hold (too large, not a
    finite number) is the 400 a bad value of ``field`` gets."""
    try:
        return rounded(value)
    except AmountError:
        raise bad(field) from None


def _text(body: Mapping[str, Any], limits: Mapping[str, int], data: dict[str, Any]) -> None:
    for key, limit in limits.items():
        if key not in body:
            continue
        value = body[key]
        if value is None:
            data[key] = ""
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or len(value) > limit:
            raise bad(key)
        data[key] = value


def _choice(
    body: Mapping[str, Any], key: str, allowed: tuple[str, ...], data: dict[str, Any]
) -> None:
    if key in body:
        if body[key] not in allowed:
            raise bad(key)
        data[key] = body[key]


class BooksData:
    """Records of every Books organisation in the sandbox."""

    def __init__(
        self, store: Store, schema: BooksSchema, clock: Clock, settings: Callable[[], Settings]
    ) -> None:
        self.store, self.schema, self.clock = store, schema, clock
        self._settings = settings

    # -- plumbing ----------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(ID_BASE + self.store.next_value("books.id", start=10_001))

    def rows(self, org: str, resource: str) -> list[Row]:
        return self.store.rows("books", org, resource)

    def get(self, org: str, resource: Resource, record_id: str) -> Row:
        row = self.store.get("books", org, resource.path, record_id)
        if row is None:
            raise BooksError(404, BOOKS_CODES["not_found"], resource.messages["missing"])
        return row

    def _today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock.now(), self._settings().tz).date()

    def _save(self, org: str, resource: Resource, data: dict[str, Any], old: Row | None) -> Row:
        now = self.clock.now()
        row = Row(
            old.id if old else self.new_id(),
            data,
            old.created if old else now,
            now,
            "api",
            "api",
            0,
        )
        return self.store.put("books", org, resource.path, row)

    # -- custom fields ---------------------------------------------------------------------

    def _custom(
        self, org: str, resource: Resource, given: Any, old: Mapping[str, Any]
    ) -> dict[str, Any]:
        fields = self.schema.custom_fields(org, resource.path)
        values = dict(old)
        if given is None:
            return values
        if not isinstance(given, list):
            raise bad("custom_fields")
        for entry in given:
            if not isinstance(entry, dict):
                raise bad("custom_fields")
            field = next(
                (
                    f
                    for f in fields
                    if any(
                        str(entry.get(k)) == str(getattr(f, k))
                        for k in ("api_name", "customfield_id", "index", "label")
                        if entry.get(k) is not None
                    )
                ),
                None,
            )
            if field is None:
                raise bad("custom_fields")
            values[field.api_name] = _cf_value(field, entry.get("value"))
        return values

    def _check_unique_custom(
        self, org: str, resource: Resource, data: Mapping[str, Any], record_id: str | None
    ) -> None:
        for field in self.schema.custom_fields(org, resource.path):
            value = data["custom"].get(field.api_name)
            if field.is_mandatory and value in (None, ""):
                raise bad(field.api_name)
            if not field.is_unique or value in (None, ""):
                continue
            if self._taken(org, resource.path, f"$.custom.{field.api_name}", value, record_id):
                raise BooksError(
                    400,
                    BOOKS_CODES["exists"],
                    f"The value of {field.label} already exists. Please enter a unique value.",
                )

    def _taken(self, org: str, resource: str, path: str, value: Any, record_id: str | None) -> bool:
        """Whether another record of ``resource`` holds ``value`` at ``path``."""
        return any(
            row.id != record_id for row in self.store.find("books", org, resource, path, value)
        )

    def find_by_custom(self, org: str, resource: Resource, api_name: str, value: str) -> Row | None:
        field = next(
            (f for f in self.schema.custom_fields(org, resource.path) if f.api_name == api_name),
            None,
        )
        if field is None or not field.is_unique:
            raise BooksError(
                400,
                BOOKS_CODES["invalid_param"],
                "Invalid value passed for X-Unique-Identifier-Key",
            )
        found = self.store.find("books", org, resource.path, f"$.custom.{api_name}", value)
        return found[0] if found else None

    # -- normalising writes ------------------------------------------------------------------

    def normalize(
        self, org: str, resource: Resource, body: Mapping[str, Any], old: Row | None
    ) -> dict[str, Any]:
        data: dict[str, Any] = dict(old.data) if old else {"custom": {}, "status": "active"}
        data["custom"] = self._custom(org, resource, body.get("custom_fields"), data["custom"])
        if resource.path == "contacts":
            self._contact(org, body, data, old)
        elif resource.path == "items":
            self._item(org, body, data, old)
        elif resource.path == "expenses":
            self._expense(org, body, data, old)
        else:
            self._transaction(org, resource, body, data, old)
        self._check_unique_custom(org, resource, data, old.id if old else None)
        return data

    def _contact(
        self, org: str, body: Mapping[str, Any], data: dict[str, Any], old: Row | None
    ) -> None:
        _text(body, CONTACT_TEXT, data)
        if not str(data.get("contact_name") or "").strip():
            raise bad("contact_name")
        _choice(body, "contact_type", ("customer", "vendor"), data)
        data.setdefault("contact_type", "customer")
        _choice(body, "customer_sub_type", ("business", "individual"), data)
        data.setdefault("customer_sub_type", "business")
        if "currency_id" in body:
            if str(body["currency_id"]) not in CURRENCIES:
                raise bad("currency_id")
            data["currency_id"] = str(body["currency_id"])
        data.setdefault("currency_id", self.schema.base_currency(org))
        if "payment_terms" in body:
            terms = body["payment_terms"]
            if isinstance(terms, bool) or not isinstance(terms, int) or terms < 0:
                raise bad("payment_terms")
            data["payment_terms"] = terms
            if "payment_terms_label" not in body:
                data["payment_terms_label"] = payment_terms_label(terms)
        data.setdefault("payment_terms", 0)
        data.setdefault("payment_terms_label", payment_terms_label(data["payment_terms"]))
        if "credit_limit" in body:
            data["credit_limit"] = amount(body["credit_limit"] or 0, "credit_limit")
        for key in ("billing_address", "shipping_address"):
            if key in body:
                data[key] = self._address(key, body[key], (data.get(key) or {}))
        if "contact_persons" in body:
            data["contact_persons"] = self._persons(
                body["contact_persons"], data.get("contact_persons") or []
            )
        data.setdefault("contact_persons", [])
        if self._settings().unique_contact_names and self._taken(
            org, "contacts", "$.contact_name", data["contact_name"], old.id if old else None
        ):
            raise BooksError(
                400,
                BOOKS_CODES["exists"],
                f'The contact "{data["contact_name"]}" already exists. '
                "Please specify a different name.",
            )

    def _address(self, key: str, given: Any, old: Mapping[str, Any]) -> dict[str, Any]:
        if given is None:
            return {}
        if not isinstance(given, dict):
            raise bad(key)
        address = {k: old.get(k, "") for k in ADDRESS_KEYS}
        for k in ADDRESS_KEYS:
            if k in given:
                value = given[k]
                if value is not None and not isinstance(value, str | int):
                    raise bad(f"{key}.{k}")
                address[k] = "" if value is None else str(value)
        address["address_id"] = old.get("address_id") or self.new_id()
        return address

    def _persons(self, given: Any, old: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not isinstance(given, list):
            raise bad("contact_persons")
        by_id = {p["contact_person_id"]: p for p in old}
        persons = []
        for entry in given:
            if not isinstance(entry, dict):
                raise bad("contact_persons")
            person_id = str(entry.get("contact_person_id") or "")
            if person_id and person_id not in by_id:
                raise bad("contact_person_id")
            persons.append(self.person(entry, by_id.get(person_id)))
        primaries = [p for p in persons if p["is_primary_contact"]]
        for p in persons:
            p["is_primary_contact"] = False
        if persons:
            (primaries[0] if primaries else persons[0])["is_primary_contact"] = True
        return persons

    def person(self, entry: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
        person: dict[str, Any] = dict(old) if old else {k: "" for k in PERSON_KEYS}
        for key in PERSON_KEYS:
            if key in entry:
                value = entry[key]
                if value is not None and not isinstance(value, str):
                    raise bad(key)
                person[key] = value or ""
        if person["email"] and not _EMAIL.fullmatch(person["email"]):
            raise bad("email")
        person["is_primary_contact"] = bool(
            entry.get("is_primary_contact", person.get("is_primary_contact", False))
        )
        person["enable_portal"] = bool(
            entry.get("enable_portal", person.get("enable_portal", False))
        )
        person["contact_person_id"] = person.get("contact_person_id") or self.new_id()
        return person

    def _item(
        self, org: str, body: Mapping[str, Any], data: dict[str, Any], old: Row | None
    ) -> None:
        _text(body, ITEM_TEXT, data)
        if not str(data.get("name") or "").strip():
            raise bad("name")
        for key in ("rate", "purchase_rate"):
            if key in body:
                data[key] = amount(body[key], key)
        if "rate" not in data:
            raise bad("rate")
        _choice(body, "product_type", ("goods", "service", "digital_service"), data)
        data.setdefault("product_type", "goods")
        _choice(body, "item_type", ("sales", "purchases", "sales_and_purchases", "inventory"), data)
        data.setdefault("item_type", "sales")
        if "tax_id" in body:  # the tax a line of this item takes unless it names one
            data["tax_id"] = self._line_tax(org, body["tax_id"])["tax_id"]
        record_id = old.id if old else None
        if self._taken(org, "items", "$.name", data["name"], record_id):
            raise BooksError(
                400, BOOKS_CODES["exists"], f'The item "{data["name"]}" already exists.'
            )
        if data.get("sku") and self._taken(org, "items", "$.sku", data["sku"], record_id):
            raise BooksError(400, BOOKS_CODES["exists"], f'The SKU "{data["sku"]}" already exists.')

    def _expense(
        self, org: str, body: Mapping[str, Any], data: dict[str, Any], old: Row | None
    ) -> None:
        """An expense: an expense account (``account_id``, or ``account_name`` naming one of
        :data:`EXPENSE_ACCOUNTS`), an ``amount`` above zero (2 places), a ``date`` (today
        by default), and optionally a customer it is billable to and the CRM deal it
        belongs to (``zcrm_potential_id`` / ``zcrm_potential_name``)."""
        data.pop("status", None)  # an expense's status follows from its customer (render)
        _text(body, EXPENSE_TEXT, data)
        if body.get("account_id") not in (None, ""):
            if str(body["account_id"]) not in EXPENSE_ACCOUNTS:
                raise bad("account_id")
            data["account_id"] = str(body["account_id"])
        elif body.get("account_name") not in (None, ""):
            wanted = str(body["account_name"]).strip().lower()
            found = next((i for i, n in EXPENSE_ACCOUNTS.items() if n.lower() == wanted), None)
            if found is None:
                raise bad("account_name")
            data["account_id"] = found
        if not data.get("account_id"):
            raise bad("account_id")
        if "amount" in body:
            data["amount"] = amount(body["amount"], "amount")
            if data["amount"] <= 0:
                raise bad("amount")
        if "amount" not in data:
            raise bad("amount")
        if "date" in body:
            try:
                data["date"] = parse_date(str(body["date"])).isoformat() if body["date"] else ""
            except ValueError:
                raise bad("date") from None
        if not data.get("date"):
            data["date"] = self._today().isoformat()
        if "customer_id" in body:
            if body["customer_id"] in (None, ""):
                data["customer_id"] = ""
            else:
                contact = self.store.get("books", org, "contacts", str(body["customer_id"]))
                if contact is None or contact.data["contact_type"] != "customer":
                    raise bad("customer_id")
                data["customer_id"] = contact.id
        data.setdefault("customer_id", "")
        self._document_currency(org, body, data, "customer_id")

    def _transaction(
        self,
        org: str,
        resource: Resource,
        body: Mapping[str, Any],
        data: dict[str, Any],
        old: Row | None,
    ) -> None:
        party = resource.party or "customer_id"
        _text(body, TXN_TEXT, data)
        if party in body or old is None:
            contact = self.store.get("books", org, "contacts", str(body.get(party) or ""))
            wanted = "vendor" if party == "vendor_id" else "customer"
            if contact is None or contact.data["contact_type"] != wanted:
                raise bad(party)
            data[party] = contact.id
        number_field = resource.number_field or ""
        if body.get(number_field):
            number = str(body[number_field])
            if self._taken(
                org, resource.path, f"$.{number_field}", number, old.id if old else None
            ):
                raise BooksError(
                    400,
                    BOOKS_CODES["exists"],
                    f"{resource.label.capitalize()} number {number} already exists.",
                )
            data[number_field] = number
        elif old is None:
            n = self.store.next_value(f"books.{org}.{resource.path}.number")
            data[number_field] = f"{resource.number_prefix}{n:05d}"
        for key in TXN_DATES:
            if key in body:
                try:
                    data[key] = parse_date(str(body[key])).isoformat() if body[key] else ""
                except ValueError:
                    raise bad(key) from None
        if not data.get("date"):
            data["date"] = self._today().isoformat()
        if party == "customer_id":
            self._document_addresses(org, body, data, old)
        if resource.path == "invoices" and not data.get("due_date"):
            contact = self.store.get("books", org, "contacts", data[party])
            terms = contact.data.get("payment_terms", 0) if contact else 0
            try:
                due = dt.date.fromisoformat(data["date"]) + dt.timedelta(days=terms)
            except OverflowError:  # terms or date past the calendar's end (year 9999)
                raise bad("due_date") from None
            data["due_date"] = due.isoformat()
        for key in ("shipping_charge", "adjustment", "discount"):
            if key in body:
                data[key] = amount(body[key] or 0, key)
            data.setdefault(key, 0.0)
        if "line_items" in body:
            data["line_items"] = self._lines(
                org, resource, body["line_items"], data.get("line_items") or []
            )
        data.setdefault("line_items", [])
        if resource.requires_items and not data["line_items"]:
            raise bad("line_items")
        if old is None:
            data["status"] = "draft"
        self._document_currency(org, body, data, party)
        if "is_discount_before_tax" in body:
            if not isinstance(body["is_discount_before_tax"], bool):
                raise bad("is_discount_before_tax")
            data["is_discount_before_tax"] = body["is_discount_before_tax"]
        data.setdefault("is_discount_before_tax", True)
        try:
            money = totals(
                data["line_items"],
                shipping=data["shipping_charge"],
                adjustment=data["adjustment"],
                discount=data["discount"],
                before_tax=data["is_discount_before_tax"],
            )
        except DiscountError:  # more than the sub-total, before tax
            raise bad("discount") from None
        except AmountError:  # a sum past what Books holds
            raise bad("total") from None
        data["sub_total"] = amount(money.sub_total, "sub_total")
        data["tax_total"] = amount(money.tax_total, "tax_total")
        data["total"] = amount(money.total, "total")
        data["taxes"] = [
            {"tax_name": name, "tax_amount": amount(value, "tax_total")}
            for name, value in money.taxes
        ]

    def _document_addresses(
        self, org: str, body: Mapping[str, Any], data: dict[str, Any], old: Row | None
    ) -> None:
        """A customer document's ``billing_address`` / ``shipping_address``: as given, else
        (a new document, or a new customer) the customer's."""
        new_party = old is None or old.data.get("customer_id") != data["customer_id"]
        contact = self.store.get("books", org, "contacts", data["customer_id"])
        for key in ("billing_address", "shipping_address"):
            if body.get(key):
                data[key] = self._address(key, body[key], data.get(key) or {})
                data[key].pop("address_id", None)
            elif new_party or key in body:
                theirs = (contact.data.get(key) if contact else None) or {}
                data[key] = {k: theirs[k] for k in ADDRESS_KEYS if theirs.get(k)}

    def _document_currency(
        self, org: str, body: Mapping[str, Any], data: dict[str, Any], party: str
    ) -> None:
        """A document's ``currency_id`` (given by id or by code, one of the organisation's
        currencies; else the party's currency on create) and ``exchange_rate``."""
        if body.get("currency_id") not in (None, ""):
            if self.schema.currency(org, str(body["currency_id"])) is None:
                raise bad("currency_id")
            data["currency_id"] = str(body["currency_id"])
        elif body.get("currency_code") not in (None, ""):
            found = self.schema.currency_id(str(body["currency_code"]))
            if found is None:
                raise bad("currency_code")
            data["currency_id"] = found
        if not data.get("currency_id"):
            contact = self.store.get("books", org, "contacts", data[party])
            data["currency_id"] = (
                contact.data.get("currency_id") if contact else None
            ) or self.schema.base_currency(org)
        if body.get("exchange_rate") not in (None, ""):
            try:
                rate = rounded(body["exchange_rate"], 6)
            except AmountError:
                raise bad("exchange_rate") from None
            if rate <= 0:
                raise bad("exchange_rate")
            data["exchange_rate"] = rate
        data.setdefault("exchange_rate", 1.0)

    def _lines(
        self, org: str, resource: Resource, given: Any, old: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if not isinstance(given, list):
            raise bad("line_items")
        by_id = {li["line_item_id"]: li for li in old}
        lines = []
        for order, entry in enumerate(given, 1):
            if not isinstance(entry, dict):
                raise bad("line_items")
            line = dict(by_id.get(str(entry.get("line_item_id") or ""), {}))
            if entry.get("item_id"):
                item = self.store.get("books", org, "items", str(entry["item_id"]))
                if item is None:
                    raise bad("item_id")
                line["item_id"] = item.id
                line.setdefault("name", item.data["name"])
                line.setdefault("description", item.data.get("description", ""))
                line.setdefault("rate", item.data["rate"])
                line.setdefault("unit", item.data.get("unit", ""))
                if "tax_id" not in entry and "tax_id" not in line:
                    line |= self._line_tax(org, item.data.get("tax_id"))
            for key in ("name", "description", "unit"):
                if key in entry:
                    line[key] = str(entry[key] or "")
            if not line.get("name"):  # no item and no name: nothing says what the line is
                raise BooksError(
                    400,
                    BOOKS_CODES["invalid_body"],
                    f"Invalid value passed for line_items: line {order} has no item_id and no name",
                )
            for key, default in (("rate", 0), ("quantity", 1)):
                if key in entry:
                    line[key] = amount(entry[key] if entry[key] is not None else default, key)
                line.setdefault(key, float(default))
            if "discount" in entry and resource.line_discounts:  # else ignored, as Books does
                try:
                    spec = discount_spec(entry["discount"])
                except DiscountError:
                    raise bad("discount") from None
                line["discount"] = spec if isinstance(spec, str) else amount(spec, "discount")
            line.setdefault("discount", 0.0)
            if "tax_id" in entry:
                line |= self._line_tax(org, entry["tax_id"])
            line.setdefault("item_id", "")
            line = {**NO_TAX, **line}
            line["item_order"] = order
            line["line_item_id"] = line.get("line_item_id") or self.new_id()
            try:
                gross = Decimal(str(line["rate"])) * Decimal(str(line["quantity"]))
                off = discount_amount(line["discount"], gross)
                if off > 0 and off > gross:  # a discount beyond the line's amount
                    raise bad("discount")
                line["discount_amount"] = amount(off, "discount")
                line["item_total"] = amount(cents(gross - off), "item_total")
                if not resource.line_discounts:
                    del line["discount"], line["discount_amount"]
            except AmountError:
                raise bad("item_total") from None
            lines.append(line)
        return lines

    def _line_tax(self, org: str, tax_id: Any) -> dict[str, Any]:
        """A line's tax fields for ``tax_id`` (none for ``None`` or ``""``)."""
        if tax_id is None or tax_id == "":
            return dict(NO_TAX)
        tax = None if isinstance(tax_id, bool) else self.schema.tax(org, str(tax_id))
        if tax is None:
            raise bad("tax_id")
        return {
            "tax_id": tax["tax_id"],
            "tax_name": tax["tax_name"],
            "tax_type": tax["tax_type"],
            "tax_percentage": float(tax["tax_percentage"]),
        }

    # -- operations --------------------------------------------------------------------------

    def create(self, org: str, resource: Resource, body: Mapping[str, Any]) -> Row:
        with self.store.transaction():
            return self._save(org, resource, self.normalize(org, resource, body, None), None)

    def update(self, org: str, resource: Resource, record_id: str, body: Mapping[str, Any]) -> Row:
        with self.store.transaction():
            old = self.get(org, resource, record_id)
            if old.data.get("status") in resource.frozen:
                raise BooksError(
                    400,
                    BOOKS_CODES["invalid_body"],
                    f"The {resource.label} is {old.data['status']}: change its status "
                    "before editing it.",
                )
            return self._save(org, resource, self.normalize(org, resource, body, old), old)

    def touch(self, org: str, resource: Resource, row: Row, data: dict[str, Any]) -> Row:
        """Store changed ``data`` for ``row`` (status changes, contact persons)."""
        return self._save(org, resource, data, row)

    def delete(self, org: str, resource: Resource, record_id: str) -> None:
        self.get(org, resource, record_id)
        self.store.remove("books", org, resource.path, record_id)

    def set_status(self, org: str, resource: Resource, record_id: str, action: str) -> str:
        allowed, target, message = resource.statuses[action]
        with self.store.transaction():
            row = self.get(org, resource, record_id)
            current = self.display_status(resource, row.data)
            if current == target:
                raise BooksError(
                    400,
                    BOOKS_CODES["invalid_body"],
                    f"The {resource.label} is already {current}.",
                )
            if row.data["status"] not in allowed and current not in allowed:
                raise BooksError(
                    400,
                    BOOKS_CODES["invalid_body"],
                    f"The {resource.label} cannot be marked as {action} while it is {current}.",
                )
            self.touch(org, resource, row, {**row.data, "status": target})
        return message

    def display_status(self, resource: Resource, data: Mapping[str, Any]) -> str:
        status = str(data.get("status", ""))
        today = self._today().isoformat()
        if (
            resource.path == "invoices"
            and status == "sent"
            and data.get("due_date", "")
            and (data["due_date"] < today)
        ):
            return "overdue"
        if (
            resource.path == "estimates"
            and status == "sent"
            and data.get("expiry_date")
            and (data["expiry_date"] < today)
        ):
            return "expired"
        return status

    # -- reading -----------------------------------------------------------------------------

    def contact_money(
        self, org: str, contacts: Collection[str] | None = None
    ) -> dict[str, tuple[bool, float]]:
        """Per contact: whether it has transactions, and its outstanding receivables;
        ``contacts``: of those only (their documents found by an index of the party, so a
        page of contacts costs its own documents, not every document of the organisation)."""
        out: dict[str, tuple[bool, float]] = {}
        for name, resource in RESOURCES.items():
            if resource.party is None:
                continue
            if contacts is None:
                rows = self.rows(org, name)
            else:
                rows = self.store.find_any("books", org, name, f"$.{resource.party}", contacts)
            for row in rows:
                party = row.data.get(resource.party, "")
                has, owed = out.get(party, (False, 0.0))
                if name == "invoices" and row.data["status"] not in ("draft", "void"):
                    owed += row.data["total"]
                out[party] = (True, owed)
        return out

    def render(
        self,
        org: str,
        resource: Resource,
        row: Row,
        *,
        full: bool,
        money: Mapping[str, tuple[bool, float]] | None = None,
    ) -> dict[str, Any]:
        tz = self._settings().tz
        data = row.data
        out: dict[str, Any] = {resource.id_field: row.id}
        if resource.path == "contacts":
            out |= self._render_contact(org, row, full, money)
        elif resource.path == "items":
            keys = (
                "name",
                "status",
                "description",
                "rate",
                "unit",
                "sku",
                "product_type",
                "item_type",
                "purchase_rate",
                "purchase_description",
            )
            out |= {k: data.get(k, "" if k not in ("rate", "purchase_rate") else 0.0) for k in keys}
            out |= self._line_tax(org, data.get("tax_id"))
            out["zcrm_product_id"] = data.get("zcrm_product_id", "")
            out["is_linked_with_zohocrm"] = bool(data.get("zcrm_product_id"))
        elif resource.path == "expenses":
            out |= self._render_expense(org, data)
        else:
            out |= self._render_transaction(org, resource, data, full)
        fields = self.schema.custom_fields(org, resource.path)
        out["custom_fields"] = [
            {
                "customfield_id": f.customfield_id,
                "index": f.index,
                "label": f.label,
                "api_name": f.api_name,
                "data_type": f.data_type,
                "value": data["custom"][f.api_name],
            }
            for f in fields
            if data["custom"].get(f.api_name) not in (None, "")
        ]
        for f in fields:
            out[f.api_name] = data["custom"].get(f.api_name, "")
        out["created_time"] = books_time(row.created, tz)
        out["last_modified_time"] = books_time(row.modified, tz)
        return out

    def _render_contact(
        self, org: str, row: Row, full: bool, money: Mapping[str, tuple[bool, float]] | None
    ) -> dict[str, Any]:
        data = row.data
        has, owed = (money if money is not None else self.contact_money(org, [row.id])).get(
            row.id, (False, 0.0)
        )
        code, symbol = CURRENCIES.get(data["currency_id"], ("USD", "$"))
        persons = data.get("contact_persons") or []
        primary = next((p for p in persons if p["is_primary_contact"]), None)
        zcrm = {
            k: data.get(k, "") for k in ("zcrm_account_id", "zcrm_contact_id", "zcrm_vendor_id")
        }
        out: dict[str, Any] = {
            "contact_name": data["contact_name"],
            "company_name": data.get("company_name", ""),
            "contact_type": data["contact_type"],
            "customer_sub_type": data["customer_sub_type"]
            if data["contact_type"] == "customer"
            else "",
            "status": data["status"],
            "website": data.get("website", ""),
            "payment_terms": data["payment_terms"],
            "payment_terms_label": data["payment_terms_label"],
            "currency_id": data["currency_id"],
            "currency_code": code,
            "outstanding_receivable_amount": owed,
            "unused_credits_receivable_amount": 0.0,
            "is_linked_with_zohocrm": any(zcrm.values()),
            **zcrm,
        }
        if full:
            out |= {
                "has_transaction": has,
                "credit_limit": data.get("credit_limit", 0.0),
                "currency_symbol": symbol,
                "is_portal_enabled": False,
                "language_code": data.get("language_code", "en"),
                "primary_contact_id": primary["contact_person_id"] if primary else "",
                "facebook": data.get("facebook", ""),
                "twitter": data.get("twitter", ""),
                "notes": data.get("notes", ""),
                "billing_address": data.get("billing_address") or {},
                "shipping_address": data.get("shipping_address") or {},
                "contact_persons": [dict(p) for p in persons],
            }
        else:
            out |= {
                k: (primary or {}).get(k, "")
                for k in ("first_name", "last_name", "email", "phone", "mobile")
            }
        return out

    def _render_transaction(
        self, org: str, resource: Resource, data: Mapping[str, Any], full: bool
    ) -> dict[str, Any]:
        party = resource.party or "customer_id"
        contact = self.store.get("books", org, "contacts", data[party])
        name_key = "vendor_name" if party == "vendor_id" else "customer_name"
        currency_id = data.get("currency_id") or self.schema.base_currency(org)
        out: dict[str, Any] = {
            resource.number_field or "number": data[resource.number_field or "number"],
            party: data[party],
            name_key: contact.data["contact_name"] if contact else "",
            "status": self.display_status(resource, data),
            "reference_number": data.get("reference_number", ""),
            "date": data["date"],
            "currency_id": currency_id,
            "currency_code": CURRENCIES[currency_id][0],
            "currency_symbol": CURRENCIES[currency_id][1],
            "exchange_rate": data.get("exchange_rate", 1.0),
            "price_precision": 2,
            "sub_total": data["sub_total"],
            "tax_total": data.get("tax_total", 0.0),
            "total": data["total"],
            "salesperson_name": data.get("salesperson_name", ""),
        }
        for key in TXN_DATES[1:]:
            if key in data:
                out[key] = data[key]
        if resource.path == "invoices":
            out["balance"] = 0.0 if data["status"] == "void" else data["total"]
        if resource.path in ("estimates", "salesorders", "invoices"):
            out["zcrm_potential_id"] = data.get("zcrm_potential_id", "")
            out["zcrm_potential_name"] = data.get("zcrm_potential_name", "")
        if full:
            out |= {
                "line_items": [self._render_line(resource, li) for li in data["line_items"]],
                "taxes": [dict(t) for t in data.get("taxes") or []],
                "discount": data["discount"],
                "discount_type": "item_level"
                if any(li.get("discount") for li in data["line_items"])
                else "entity_level",
                "is_discount_before_tax": data.get("is_discount_before_tax", True),
                "is_inclusive_tax": False,
                "shipping_charge": data["shipping_charge"],
                "adjustment": data["adjustment"],
                "notes": data.get("notes", ""),
                "terms": data.get("terms", ""),
            }
            if party == "customer_id":
                out["billing_address"] = dict(data.get("billing_address") or {})
                out["shipping_address"] = dict(data.get("shipping_address") or {})
        return out

    def _render_expense(self, org: str, data: Mapping[str, Any]) -> dict[str, Any]:
        customer = data.get("customer_id", "")
        contact = self.store.get("books", org, "contacts", customer) if customer else None
        currency_id = data.get("currency_id") or self.schema.base_currency(org)
        return {
            "date": data["date"],
            "account_id": data["account_id"],
            "account_name": EXPENSE_ACCOUNTS[data["account_id"]],
            "paid_through_account_name": "Petty Cash",
            "description": data.get("description", ""),
            "reference_number": data.get("reference_number", ""),
            "amount": data["amount"],
            "sub_total": data["amount"],
            "total": data["amount"],
            "currency_id": currency_id,
            "currency_code": CURRENCIES[currency_id][0],
            "exchange_rate": data.get("exchange_rate", 1.0),
            "customer_id": customer,
            "customer_name": contact.data["contact_name"] if contact else "",
            "is_billable": bool(customer),
            "status": "unbilled" if customer else "nonbillable",
            "zcrm_potential_id": data.get("zcrm_potential_id", ""),
            "zcrm_potential_name": data.get("zcrm_potential_name", ""),
        }

    @staticmethod
    def _render_line(resource: Resource, line: Mapping[str, Any]) -> dict[str, Any]:
        """A stored line as Books shows it (a line stored before taxes and percentage
        discounts existed has no tax, and its discount is an amount)."""
        if not resource.line_discounts:
            return {**NO_TAX, **{k: v for k, v in line.items() if not k.startswith("discount")}}
        return {**NO_TAX, "discount_amount": line.get("discount", 0.0), **line}


def _cf_value(field: CustomField, value: Any) -> Any:
    if value is None or value == "":
        return ""
    kind = field.data_type
    try:
        if kind == "number":
            if isinstance(value, bool) or not re.fullmatch(r"[+-]?\d+", str(value)):
                raise ValueError
            return int(value)
        if kind in ("decimal", "amount", "percent"):
            return amount(value, field.api_name)
        if kind == "check_box":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "date":
            return parse_date(str(value)).isoformat()
        if kind == "dropdown" and str(value) not in field.values:
            raise ValueError
        if kind == "email" and not _EMAIL.fullmatch(str(value)):
            raise ValueError
        if isinstance(value, dict | list | bool):
            raise ValueError
        return str(value)
    except (ValueError, BooksError):
        raise bad(field.api_name) from None


__all__ = [
    "ADDRESS_KEYS",
    "BooksData",
    "PERSON_KEYS",
    "amount",
    "bad",
]
