"""Books transaction documents (estimates, sales orders, invoices, purchase orders): their
lines, status, reference and currency, as the Books connector reads and writes them.

**Lines.**  A document's ``line_items`` column holds its lines in the neutral side form of
the transactions contract: a list, in document order, of ``{item, description, quantity,
rate, discount, tax}``, and ``name`` on a line without an item (the deals contract,
section 6).  Read: ``item`` is the line's ``item_id`` (``""`` -> None),
``discount`` an amount (a percentage such as ``"10%"`` becomes the exact amount
quantity x rate x 10 / 100), ``tax`` the line's ``tax_percentage`` (None when the line has
no ``tax_id``).  Written whole, without ``line_item_id``, so Books replaces the document's
lines with the list sent: ``item_id``, ``description``, ``quantity``, ``rate``, ``discount``
(an amount) and the ``tax_id`` of the organisation's tax of that percentage
(``GET /settings/taxes``; the side's ``taxes`` option, percentage -> tax name, picks one
when several share a percentage; no tax -> ``tax_id`` ``""``).  A line with no item is
sent with its ``name`` (read back as written), or with no name its description as its
``name`` too (Books needs a name or an item); ``name`` is read and written only for lines
without an item (an item's line shows the item's name, which is the item's).  Refused,
naming the line and field, before anything is sent: an amount with more than 2 decimal
places (Books keeps 2), a tax percentage Books has no tax of, a discount on a purchase
order line (Books' purchase order lines have none).

**Status** is read as Books gives it (``overdue``, ``partially_paid``...) and written
through the status endpoints, after the other fields: :data:`ACTIONS`.  A new document is
made as a draft, then moved; any other target is refused with the reason.  Books moves an
estimate to accepted or declined only once it is sent: from draft the move goes through
``status/sent`` first (:func:`route`); an invoice goes void -> draft through
``status/draft`` and draft or sent -> void through ``status/void``.

**Sales person** (the ``salesperson`` column, an email): :mod:`.books_sales`.

**Reference.**  A document whose ``reference_number`` is empty reads its document number
there (``INV-00001``), so a CRM copy always has a subject.

**Currency.**  ``currency_code`` is written as the ``currency_id`` Books takes; a code that
is not one of the organisation's currencies is refused, naming it.  The base currency's id
comes from the organisation (``GET /organizations/{id}``), the others from
``GET /settings/currencies``.

Taxes and currencies are read once per connector; a write naming one the cache lacks reads
them again, at most once per push (one made in Books since is then found).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import MAX_PREC, Decimal, Inexact, InvalidOperation, Overflow, localcontext
from typing import Any

import attrs

from replicator.config.mapping import to_canonical
from replicator.connectors.base import SideModule
from replicator.connectors.zoho.books_api import PER_PAGE, BooksApi
from replicator.connectors.zoho.books_sales import (
    SALESPERSON,
    SALESPERSON_NAME,
    Salespeople,
    UnknownEmail,
)
from replicator.connectors.zoho.books_tables import Table
from replicator.connectors.zoho.values import Tax, body_of, loads
from replicator.errors import MappingError, ZohoAuthError, ZohoError

LINES = "line_items"
STATUS = "status"
REFERENCE = "reference_number"
CURRENCY = "currency_code"
# the statuses each document type's endpoints set (POST /{table}/{id}/status/{status})
ACTIONS: dict[str, tuple[str, ...]] = {
    "invoices": ("sent", "void", "draft"),
    "estimates": ("sent", "accepted", "declined"),
    "salesorders": ("open", "void"),
    "purchaseorders": ("open", "billed", "cancelled"),
}
DOCUMENTS = frozenset(ACTIONS)
NUMBERS = {
    "invoices": "invoice_number",
    "estimates": "estimate_number",
    "salesorders": "salesorder_number",
    "purchaseorders": "purchaseorder_number",
}
# the statuses Books reaches by itself, and what moves a document there
BY_BOOKS = {
    "paid": "a payment",
    "partially_paid": "a payment",
    "overdue": "its due date passing",
    "expired": "its expiry date passing",
    "invoiced": "an invoice made from it",
}
STATUSES: dict[str, tuple[str, ...]] = {
    "invoices": ("draft", "sent", "overdue", "partially_paid", "paid", "void"),
    "estimates": ("draft", "sent", "accepted", "declined", "expired", "invoiced"),
    "salesorders": ("draft", "open", "void", "invoiced"),
    "purchaseorders": ("draft", "open", "billed", "cancelled"),
}
# statuses Books reaches only through another: (table, target) -> (from, through)
THROUGH: dict[tuple[str, str], tuple[str, str]] = {
    ("estimates", "accepted"): ("draft", "sent"),
    ("estimates", "declined"): ("draft", "sent"),
}
AMOUNTS = ("quantity", "rate", "discount")
PLACES = 2  # Books keeps amounts to 2 decimal places
LINE_KEYS = ("item", "name", "description", *AMOUNTS, "tax")

TaxNames = Mapping[Decimal, str]  # a percentage -> the name of the Books tax it means


class _Refused(ValueError):
    """Why a write cannot be sent, worded to follow the record: ``line 2: no Books tax of
    7%``.  Caught in this module: a refusal leaves it as :attr:`Plan.error`."""


@attrs.frozen
class Plan:
    """A document write made ready: ``values`` for the PUT (the connector's plain
    conversion), ``body`` the keys made here (``line_items``, ``currency_id``), the
    ``status`` to move to after it, or the ``error`` refusing the whole write (``retry``:
    a passing one)."""

    values: Mapping[str, Any] = attrs.field(factory=dict)
    body: Mapping[str, Any] = attrs.field(factory=dict)
    status: str | None = None
    error: str | None = None
    retry: bool = False  # the error passes (Books out of reach): try again next cycle


def read_document(table: Table, record: Mapping[str, Any], values: dict[str, Any]) -> None:
    """A document's columns as the side form has them (in place): lines, reference."""
    if table.path not in DOCUMENTS:
        return
    if LINES in values:
        values[LINES] = read_lines(values[LINES])
    if REFERENCE in values and values[REFERENCE] in (None, ""):
        values[REFERENCE] = record.get(NUMBERS[table.path]) or values[REFERENCE]


def read_lines(raw: Any) -> Any:
    """Books ``line_items`` in the neutral side form; anything not a list as it is (the
    field's conversion says what is wrong with it)."""
    if not isinstance(raw, list):
        return raw
    return [_read_line(line) if isinstance(line, dict) else line for line in raw]


def _read_line(line: Mapping[str, Any]) -> dict[str, Any]:
    quantity, rate = line.get("quantity"), line.get("rate")
    discount = line.get("discount")
    if isinstance(discount, str) and discount.strip().endswith("%"):
        discount = _percent_off(quantity, rate, discount.strip()[:-1]) or discount
    item = str(line["item_id"]) if line.get("item_id") not in (None, "") else None
    out = {
        "item": item,
        "description": line.get("description"),
        "quantity": quantity,
        "rate": rate,
        "discount": discount,
        "tax": line.get("tax_percentage") if line.get("tax_id") not in (None, "") else None,
    }
    if item is None and line.get("name") not in (None, ""):
        out["name"] = line["name"]  # the free text a line with no item is known by
    return out


def route(table: str, current: str | None, target: str) -> list[str]:
    """The status endpoints that move a document of ``table`` from ``current`` (None:
    not known) to ``target``, in order: an estimate in draft goes to accepted through
    sent."""
    through = THROUGH.get((table, target))
    if through is not None and current == through[0]:
        return [through[1], target]
    return [target]


def _percent_off(quantity: Any, rate: Any, percent: str) -> Decimal | None:
    """The exact amount ``percent`` % takes off ``quantity`` x ``rate`` (None: not numbers)."""
    try:
        numbers = [to_canonical("decimal", v) for v in (quantity, rate, percent.strip())]
    except MappingError:
        return None
    if any(n is None for n in numbers):
        return None
    quantity_, rate_, percent_ = numbers
    with localcontext() as exact:  # the product has every digit, or no amount is made
        exact.prec = MAX_PREC
        exact.traps[Inexact] = True
        try:
            return quantity_ * rate_ * percent_ / 100
        except (Inexact, Overflow):
            return None


class Documents:
    """The document part of one Books connector: its taxes and currencies, read on first
    use, and the conversion of a document write (:meth:`plan`)."""

    def __init__(self, api: BooksApi, *, taxes: TaxNames | None = None) -> None:
        self.api = api
        self.tax_names = dict(taxes or {})
        self._taxes: list[Tax] | None = None
        self._currencies: dict[str, str] | None = None  # code -> currency_id
        self._fresh: set[str] = set()  # what this push has read afresh already
        self.salespeople = Salespeople(api)

    def new_batch(self) -> None:
        """A push or pull begins: a miss may read the taxes, currencies or users again,
        once."""
        self._fresh.clear()
        self.salespeople.new_batch()

    # -- a read --------------------------------------------------------------------------

    def wire(self, table: Table, module: SideModule) -> SideModule:
        """The module as Books' records have its columns: ``salesperson`` (an email) is
        read from ``salesperson_name``."""
        if table.path not in DOCUMENTS or SALESPERSON not in module.columns:
            return module
        columns = [SALESPERSON_NAME if c == SALESPERSON else c for c in module.columns]
        return attrs.evolve(module, columns=tuple(dict.fromkeys(columns)))

    def read_salesperson(self, module: SideModule, values: dict[str, Any]) -> None:
        """``salesperson`` from ``salesperson_name`` (in place), for a module that maps it."""
        name = values.get(SALESPERSON_NAME)
        if SALESPERSON_NAME not in module.columns:
            values.pop(SALESPERSON_NAME, None)
        values[SALESPERSON] = self.salespeople.email_of(name)

    # -- a write -------------------------------------------------------------------------

    def plan(self, table: Table, values: Mapping[str, Any], *, creating: bool) -> Plan:
        """The write of ``values`` to a document of ``table``, or why it is refused."""
        made_here = (LINES, STATUS, CURRENCY, SALESPERSON)
        rest = {k: v for k, v in values.items() if k not in made_here}
        body: dict[str, Any] = {}
        try:
            status = self._status(table, values, creating=creating)
            if SALESPERSON in values:
                body[SALESPERSON_NAME] = self.salespeople.name_of(values[SALESPERSON])
            if LINES in values:
                body[LINES] = self._lines(table, values[LINES])
            if values.get(CURRENCY) not in (None, ""):
                body["currency_id"] = self._currency_id(str(values[CURRENCY]))
        except (_Refused, UnknownEmail) as exc:
            return Plan(error=str(exc))
        except ZohoAuthError:
            raise  # the side is out of reach, not this record
        except ZohoError as exc:  # the taxes or currencies could not be read: this record waits
            return Plan(error=str(exc), retry=exc.retryable)
        return Plan(rest, body, status)

    def _status(self, table: Table, values: Mapping[str, Any], *, creating: bool) -> str | None:
        if STATUS not in values:
            return None
        target = values[STATUS]
        actions = ACTIONS[table.path]
        if target in actions:
            return str(target)
        if target == "draft" and creating:
            return None  # Books makes a new document as a draft
        if target in (None, ""):
            raise _Refused("status cannot be emptied: a Books document always has one")
        if target in BY_BOOKS and target in STATUSES[table.path]:
            raise _Refused(
                f"status {target} is set by Books itself ({BY_BOOKS[target]}), not through the API"
            )
        if target == "draft":
            raise _Refused(
                f"status draft: Books {table.path} cannot go back to draft through the API "
                f"(its status endpoints set {', '.join(actions)})"
            )
        raise _Refused(
            f"status {target!r} is not a status of Books {table.path} "
            f"({', '.join(STATUSES[table.path])})"
        )

    def _lines(self, table: Table, given: Any) -> list[dict[str, Any]]:
        if given is None:
            return []
        if isinstance(given, str):
            try:
                given = loads(given)
            except json.JSONDecodeError:
                raise _Refused(
                    f"{LINES}: not a list of lines (JSON text that does not parse)"
                ) from None
        if not isinstance(given, list | tuple):
            raise _Refused(f"{LINES}: not a list of lines, but a {type(given).__name__}")
        return [self._line(table, n, line) for n, line in enumerate(given, start=1)]

    def _line(self, table: Table, n: int, line: Any) -> dict[str, Any]:
        if not isinstance(line, Mapping):
            raise _Refused(f"line {n}: not a line (a mapping of {', '.join(LINE_KEYS)})")
        unknown = sorted(str(k) for k in line if k not in LINE_KEYS)
        if unknown:
            raise _Refused(f"line {n}: unknown key {unknown[0]!r} (keys: {', '.join(LINE_KEYS)})")
        amounts = {key: _amount(n, key, line.get(key)) for key in AMOUNTS}
        if amounts["quantity"] is None:
            raise _Refused(f"line {n}: quantity is missing")
        item = line.get("item")
        name = line.get("name")
        description = line.get("description")
        out: dict[str, Any] = {}
        if item not in (None, ""):
            out["item_id"] = str(item)
        elif name not in (None, ""):
            out["name"] = str(name)
        elif description in (None, ""):
            raise _Refused(f"line {n}: no item, no name and no description (Books needs one)")
        else:
            out["name"] = str(description)
        out["description"] = "" if description is None else str(description)
        out["quantity"] = amounts["quantity"]
        if amounts["rate"] is not None:
            out["rate"] = amounts["rate"]
        discount = amounts["discount"] or Decimal(0)
        if table.path == "purchaseorders":
            if discount:
                raise _Refused(
                    f"line {n}: discount {discount}: Books purchase order lines take no discount"
                )
        else:
            out["discount"] = discount
        out["tax_id"] = self._tax_id(n, line.get("tax"))
        return out

    def _tax_id(self, n: int, given: Any) -> str:
        if given in (None, ""):
            return ""
        try:
            percent = to_canonical("decimal", given)
        except MappingError:
            raise _Refused(f"line {n}: tax {given!r} is not a percentage") from None
        shown = format(percent.normalize(), "f")
        found = [t for t in self._tax_list(again=False) if t.percentage == percent]
        if not found:
            found = [t for t in self._tax_list(again=True) if t.percentage == percent]
        if not found:
            raise _Refused(f"line {n}: no Books tax of {shown}%")
        if len(found) == 1:
            return found[0].id
        named = self.tax_names.get(percent)
        chosen = [t for t in found if named is not None and t.name == named]
        if len(chosen) == 1:
            return chosen[0].id
        names = ", ".join(t.name for t in found)
        if named is not None:
            raise _Refused(
                f"line {n}: the taxes option names {named!r} for {shown}%, but the Books "
                f"taxes of {shown}% are {names}"
            )
        raise _Refused(
            f"line {n}: several Books taxes of {shown}% ({names}): name one in the side's "
            f'taxes option ({shown} = "{found[0].name}")'
        )

    def _currency_id(self, code: str) -> str:
        base_id, base_code = self._base()
        if code == base_code:
            return base_id
        known = self._currency_map(again=False)
        if code not in known:
            known = self._currency_map(again=True)
        if code not in known:
            codes = ", ".join(sorted({base_code, *known}))
            raise _Refused(f"currency {code} is not one of the organisation's currencies ({codes})")
        return known[code]

    # -- what Books holds ----------------------------------------------------------------

    def _base(self) -> tuple[str, str]:
        """The organisation's base currency: (currency_id, currency_code)."""
        organization = self.api.organization()
        return str(organization.get("currency_id") or ""), str(organization["currency_code"])

    def _tax_list(self, *, again: bool) -> list[Tax]:
        if self._taxes is None or (again and "taxes" not in self._fresh):
            self._fresh.add("taxes")
            taxes = []
            for entry in self._settings("taxes"):
                try:
                    percentage = to_canonical("decimal", entry.get("tax_percentage"))
                except MappingError:
                    continue  # not a tax we could match a percentage to
                if entry.get("tax_id") and percentage is not None:
                    name = str(entry.get("tax_name") or "")
                    taxes.append(Tax(str(entry["tax_id"]), name, percentage))
            self._taxes = taxes
        return self._taxes

    def _currency_map(self, *, again: bool) -> dict[str, str]:
        if self._currencies is None or (again and "currencies" not in self._fresh):
            self._fresh.add("currencies")
            self._currencies = {
                str(c["currency_code"]): str(c["currency_id"])
                for c in self._settings("currencies")
                if c.get("currency_code") and c.get("currency_id")
            }
        return self._currencies

    def _settings(self, name: str) -> list[dict[str, Any]]:
        """Every entry of ``GET /settings/{name}`` (``taxes``, ``currencies``), every page."""
        path = f"/settings/{name}"
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = self.api._params({"page": page, "per_page": PER_PAGE})
            response = self.api.client.request("GET", path, kind="get", params=params)
            if response.status_code >= 400:
                raise self.api.client.error(response, f"GET {path}")  # the record says the side
            answer = body_of(response)
            entries = answer.get(name) if isinstance(answer, dict) else None
            entries = [e for e in entries or [] if isinstance(e, dict)]
            found += entries
            context = answer.get("page_context") if isinstance(answer, dict) else None
            more = isinstance(context, dict) and bool(context.get("has_more_page"))
            if not more or not entries:
                return found
            page += 1


def _amount(n: int, key: str, value: Any) -> Decimal | None:
    """A line's amount as Books can hold it: a plain number of at most 2 decimal places."""
    if value in (None, ""):
        return None
    if isinstance(value, float):
        raise _Refused(f"line {n}: {key} {value!r} is a float, not an exact amount")
    try:
        number = to_canonical("decimal", value)
    except MappingError:
        raise _Refused(f"line {n}: {key} {value!r} is not a number") from None
    try:
        exact = number == number.quantize(Decimal(1).scaleb(-PLACES))
    except InvalidOperation:  # too many digits to quantize: not an amount Books holds
        exact = False
    if not exact:
        raise _Refused(
            f"line {n}: {key} {format(number, 'f')} has more than {PLACES} decimal places "
            f"(Books keeps {PLACES}; not rounded)"
        )
    return number


def tax_names(given: Mapping[str, Any]) -> dict[Decimal, str]:
    """The side's ``taxes`` option (percentage text -> Books tax name) by percentage.

    Raises ValueError naming a key that is not a percentage or a name that is not text."""
    names: dict[Decimal, str] = {}
    for key, name in given.items():
        try:
            percent = to_canonical("decimal", str(key))
        except MappingError:
            raise ValueError(f'key {key!r} is not a percentage (e.g. "20")') from None
        if percent is None or not isinstance(name, str) or not name:
            raise ValueError(f"{key} must name a Books tax (text), not {name!r}")
        names[percent] = name
    return names


__all__ = [
    "ACTIONS",
    "DOCUMENTS",
    "LINES",
    "NUMBERS",
    "STATUS",
    "STATUSES",
    "Documents",
    "Plan",
    "Tax",
    "read_document",
    "read_lines",
    "route",
    "tax_names",
]
