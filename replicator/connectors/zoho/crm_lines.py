"""Line items of CRM transaction modules: the subforms ``Quoted_Items`` (Quotes),
``Ordered_Items`` (Sales_Orders), ``Invoiced_Items`` (Invoices) and ``Purchase_Items``
(Purchase_Orders) as the neutral *lines* form every side speaks (one list of
``{item, description, quantity, rate, discount, tax}`` per document, in document order).

**Read.**  A row reads as ``item`` <- ``Product_Name.id``, ``description`` <-
``Product_Description`` ("" reads as None), ``quantity`` <- ``Quantity``, ``rate`` <-
``List_Price``, ``discount`` <- ``Discount`` (numbers as the API gives them: int or
Decimal, never float), ``tax`` <- the sum of the ``percentage`` of the row's ``line_tax``
entries (``Line_Tax`` is read too), None when it has none (a percentage that is not a
number is given as it is, for the field map to report).  Row ids, totals and the tax
*amount* are not part of the form, so a list written and read back compares equal.  A
column is a line column by its name (one of the four above), with no metadata call.

Subforms come only with ``GET /{Module}/{id}``.  :class:`CrmLines` remembers, per record,
the lines and row ids it last read or wrote and the ``Modified_Time`` they belong to
(:class:`Held`); a pull reads by id only the listed records whose time is not that one (a
record changed by someone else), and only when a line column is mapped.  After a write the
lines are the ones written, at the time the write answered, with row ids unknown: the echo
costs no call, and the next write reads the record once for its row ids.  (Zoho's times
have whole seconds: as for other fields, an edit in the same second as a read or write is
not told apart.)

**Write.**  A lines value is written whole: the new rows, then the rows the record holds
(their ids from the last read, or a ``GET`` when unknown) with ``"_delete": null``, since
CRM keeps every row a write does not mention.  A new row carries
``Product_Name {id}``, ``Quantity``, ``List_Price``, ``Discount``, ``Product_Description``
and ``line_tax [{percentage, name}]`` naming the organisation's tax of the line's
percentage (``GET /org/taxes``, read once; when several share it, the first of
``tax_names``, else the first listed).  The record's write is refused, naming the line,
for a line with no product, an amount that is not a number or has more than 2 decimal
places (CRM keeps 2: it would round it), or a percentage no CRM tax has; it is held for a
retry when the organisation's taxes cannot be read for now, or when the record changed
before its row ids were read.  New rows go first, so an error CRM gives with a
``json_path`` into the subform names the line (:func:`line_of`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from journal.entry import canonical_decimal
from replicator.config.mapping import to_canonical
from replicator.connectors.base import SideModule, utc_now
from replicator.connectors.zoho.crm_api import CrmApi, Now, not_found
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import Tax, body_of
from replicator.errors import MappingError, ZohoError

# the line-item subform of each transaction module
LINE_ITEMS = {
    "Quotes": "Quoted_Items",
    "Sales_Orders": "Ordered_Items",
    "Invoices": "Invoiced_Items",
    "Purchase_Orders": "Purchase_Items",
}
LINE_COLUMNS = frozenset(LINE_ITEMS.values())
PLACES = 2  # CRM keeps quantities and amounts of a line to 2 decimal places
# the neutral key of each amount, the CRM row's field, and whether a line must have it
AMOUNTS = (
    ("quantity", "Quantity", True),
    ("rate", "List_Price", True),
    ("discount", "Discount", False),
)

_ROW_PATH = re.compile(r"\.(\w+)\[(\d+)\]")  # a subform row in an error's json_path

Lines = list[dict[str, Any]]
RowIds = tuple[str, ...]


@attrs.frozen
class Held:
    """A record's lines as last read or written: the ``Modified_Time`` they belong to, the
    neutral lines of each line column, and each column's row ids (None: unknown, after our
    own write replaced them)."""

    modified: str
    lines: Mapping[str, Lines]
    rows: Mapping[str, RowIds | None]

    def covers(self, modified: str, columns: Iterable[str]) -> bool:
        return self.modified == modified and all(c in self.lines for c in columns)


@attrs.frozen
class Prepared:
    """A write's line columns: the subform rows to send, and the lines they read back as."""

    rows: Mapping[str, list[dict[str, Any]]]
    lines: Mapping[str, Lines]


def line_columns(module: SideModule) -> tuple[str, ...]:
    """The mapped columns of ``module`` that are line-item subforms."""
    return tuple(c for c in module.columns if c in LINE_COLUMNS)


def read_lines(rows: Any) -> Lines | None:
    """The neutral form of a subform's rows (None when the record has no such list)."""
    if not isinstance(rows, list):
        return None
    return [read_line(row) for row in rows if isinstance(row, Mapping)]


def read_line(row: Mapping[str, Any]) -> dict[str, Any]:
    product = row.get("Product_Name")
    item = product.get("id") if isinstance(product, Mapping) else product
    description = row.get("Product_Description")
    return {
        "item": str(item) if item not in (None, "") else None,
        "description": description if description != "" else None,
        "quantity": row.get("Quantity"),
        "rate": row.get("List_Price"),
        "discount": row.get("Discount"),
        "tax": line_percentage(row),
    }


def line_percentage(row: Mapping[str, Any]) -> Any:
    """The sum of a row's tax percentages; None when no tax applies to it; a percentage
    that is not a number as it is (for the field map to report as that line's error)."""
    taxes = row.get("line_tax")
    if taxes is None:
        taxes = row.get("Line_Tax")
    total: Decimal | None = None
    for tax in taxes if isinstance(taxes, list) else ():
        percentage = tax.get("percentage") if isinstance(tax, Mapping) else None
        if percentage in (None, ""):
            continue
        number = _number(percentage)
        if number is None:
            return percentage
        total = number if total is None else total + number
    return total


def _number(value: Any) -> Decimal | None:
    """An exact number from JSON (int, Decimal or decimal text), or None."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        number = Decimal(value)
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def line_of(json_path: Any, values: Mapping[str, Any]) -> str:
    """Where in the lines of ``values`` (a write) an error's ``json_path`` points: `` of
    line 2 in Quoted_Items`` for ``$.data[0].Quoted_Items[1].Product_Name``; "" when it
    is not in a line column.  New rows are sent first, so row N is line N+1."""
    paths = _ROW_PATH.finditer(json_path) if isinstance(json_path, str) else ()
    for found in paths:
        column, index = found[1], int(found[2])
        if column not in LINE_COLUMNS:
            continue
        lines = values.get(column)
        if isinstance(lines, list | tuple) and index < len(lines):
            return f" of line {index + 1} in {column}"
        return f" of a row {column} held before (sent to be deleted)"
    return ""


def row_ids(rows: Any) -> RowIds:
    return tuple(str(r["id"]) for r in rows or () if isinstance(r, Mapping) and r.get("id"))


def parse_taxes(body: Any) -> list[Tax]:
    """The taxes of a ``GET /org/taxes`` answer, in the order given."""
    org = body.get("org_taxes") if isinstance(body, Mapping) else None
    taxes = org.get("taxes") if isinstance(org, Mapping) else None
    found = []
    for tax in taxes if isinstance(taxes, list) else ():
        percentage = _number(tax.get("value")) if isinstance(tax, Mapping) else None
        if percentage is None:  # not a percentage a line could name
            continue
        name = tax.get("name") or tax.get("display_label") or ""
        found.append(Tax(str(tax.get("id") or ""), str(name), percentage))
    return found


def pick_tax(taxes: Sequence[Tax], percentage: Decimal, preferred: Sequence[str]) -> Tax | None:
    """The tax of ``percentage``: when several have it, the first named in ``preferred``."""
    candidates = [t for t in taxes if t.percentage == percentage]
    for name in preferred:
        for tax in candidates:
            if tax.name == name:
                return tax
    return candidates[0] if candidates else None


def _amount(
    line: Mapping[str, Any],
    key: str,
    field: str,
    required: bool,
    n: int,
    places: int | None = PLACES,
) -> Decimal:
    value = line.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"line {n}: no {key} ({field})")
        return Decimal(0)
    if isinstance(value, float):  # a float is already a rounding of what was meant
        raise ValueError(f"line {n}: {key} ({field}) {value!r} is a float, not an exact amount")
    try:
        number = to_canonical("decimal", value, field=key)
    except MappingError as exc:
        raise ValueError(f"line {n}: {key} ({field}) {value!r} {exc.reason}") from None
    exponent = number.normalize().as_tuple().exponent  # an int: the number is finite
    if places is not None and isinstance(exponent, int) and exponent < -places:
        raise ValueError(
            f"line {n}: {key} ({field}) {canonical_decimal(number)} has more than {places} "
            "decimal places, which Zoho CRM would round"
        )
    return number


def new_rows(
    lines: Any, tax_of: Callable[[Decimal], Tax | None]
) -> tuple[list[dict[str, Any]], Lines]:
    """The subform rows to add for a neutral lines value, and the lines they read back as.

    Raises ValueError naming the first line that cannot be written (see the module
    docstring); ``tax_of`` answers the CRM tax of a percentage, or None."""
    if not isinstance(lines, list | tuple):
        raise ValueError(f"not written: lines are a list, not {lines!r:.40}")
    rows: list[dict[str, Any]] = []
    expected: Lines = []
    for n, line in enumerate(lines, 1):
        if not isinstance(line, Mapping):
            raise ValueError(f"line {n}: not a line ({type(line).__name__})")
        item = line.get("item")
        if item in (None, ""):
            raise ValueError(f"line {n}: no product (a CRM line needs one, in Product_Name)")
        quantity, rate, discount = (_amount(line, *spec, n) for spec in AMOUNTS)
        description = line.get("description")
        if description == "":
            description = None
        if description is not None and not isinstance(description, str):
            raise ValueError(f"line {n}: description {description!r} is not text")
        percentage = line.get("tax")
        taxes: list[dict[str, Any]] = []
        read_tax: Decimal | None = None
        if percentage not in (None, ""):
            wanted = _amount(line, "tax", "line_tax", True, n, places=None)
            tax = tax_of(wanted)
            if tax is None:
                raise ValueError(f"line {n}: no CRM tax of {canonical_decimal(wanted)}%")
            taxes.append({"percentage": tax.percentage, "name": tax.name})
            read_tax = tax.percentage
        rows.append(
            {
                "Product_Name": {"id": str(item)},
                "Quantity": quantity,
                "List_Price": rate,
                "Discount": discount,
                "Product_Description": description,
                "line_tax": taxes,
            }
        )
        expected.append(
            {
                "item": str(item),
                "description": description,
                "quantity": quantity,
                "rate": rate,
                "discount": discount,
                "tax": read_tax,
            }
        )
    return rows, expected


class CrmLines(CrmApi):
    """The line items of a CRM side: read by id, held per record, written whole (see the
    module docstring).  ``tax_names`` picks among organisation taxes sharing a percentage."""

    def __init__(
        self,
        side: str,
        *,
        client: ApiClient,
        overlap: float = 300.0,
        now: Now = utc_now,
        tax_names: Sequence[str] = (),
    ) -> None:
        super().__init__(side, client=client, overlap=overlap, now=now)
        self.tax_names = list(tax_names)
        self._held: dict[str, dict[str, Held]] = {}  # table -> record id -> its lines
        self._taxes: list[Tax] | None = None
        self._taxes_failed: ZohoError | None = None  # until the next push: asked once a push

    # -- reading -------------------------------------------------------------------------

    def _values(self, module: SideModule, record: Mapping[str, Any]) -> dict[str, Any]:
        """A record's columns; a line column is read as lines (None when not in ``record``:
        a listing has no subforms)."""
        values = super()._values(module, record)
        for column in line_columns(module):
            values[column] = read_lines(record.get(column))
        return values

    def _field_groups(self, module: SideModule) -> list[list[str]]:
        """As :meth:`CrmApi._field_groups`, without line columns: a listing has no subforms."""
        if not line_columns(module):
            return super()._field_groups(module)
        columns = tuple(c for c in module.columns if c not in LINE_COLUMNS)
        return super()._field_groups(attrs.evolve(module, columns=columns or ("id",)))

    def _fetch(self, module: SideModule, id: str) -> dict[str, Any] | None:
        """One record with its subforms (``GET /{Module}/{id}``); None when it is gone."""
        try:
            response = self._get(f"/{module.table}/{id}", None, None, kind="get")
        except ZohoError as exc:
            if not_found(exc):
                return None
            raise
        data = body_of(response).get("data") or []
        record = data[0] if data and isinstance(data[0], dict) else None
        if record is not None:
            self._hold(module, id, record)
        return record

    def _hold(self, module: SideModule, id: str, record: Mapping[str, Any]) -> Held | None:
        """Remember the lines and row ids of a record read whole."""
        columns = line_columns(module)
        if not columns:
            return None
        _, modified = self._modified(module, record)
        lines = {c: read_lines(record.get(c)) or [] for c in columns}
        held = Held(modified, lines, {c: row_ids(record.get(c)) for c in columns})
        self._held.setdefault(module.table, {})[id] = held
        return held

    def _pull_lines(
        self, module: SideModule, records: list[dict[str, Any]]
    ) -> dict[str, Mapping[str, Lines]]:
        """The lines of listed records, by id: held ones as held, the others read by id
        (one call each); a record gone before its read is left out."""
        columns = line_columns(module)
        held = self._held.setdefault(module.table, {})
        found: dict[str, Mapping[str, Lines]] = {}
        for record in records:
            id = str(record["id"])
            _, modified = self._modified(module, record)
            known = held.get(id)
            if known is None or not known.covers(modified, columns):
                if self._fetch(module, id) is None:
                    continue
                known = held[id]
            found[id] = known.lines
        return found

    def _held_lines(self, module: SideModule, id: str, modified: str) -> Mapping[str, Lines]:
        """The lines held for a record at ``modified``, or none when that is not their time."""
        known = self._held.get(module.table, {}).get(id)
        if known is None or not known.covers(modified, line_columns(module)):
            return {}
        return known.lines

    # -- writing -------------------------------------------------------------------------

    def _to_api(self, module: SideModule, values: Mapping[str, Any]) -> dict[str, Any]:
        """As :meth:`CrmApi._to_api`, without line columns (see :meth:`_prepare_lines`)."""
        return super()._to_api(module, {k: v for k, v in values.items() if k not in LINE_COLUMNS})

    def _org_taxes(self) -> list[Tax]:
        if self._taxes is None:
            if self._taxes_failed is not None:
                raise self._taxes_failed
            try:
                response = self._get("/org/taxes", None, None, kind="meta")
            except ZohoError as exc:
                self._taxes_failed = exc
                raise
            self._taxes = parse_taxes(body_of(response))
        return self._taxes

    def _tax_of(self, percentage: Decimal) -> Tax | None:
        return pick_tax(self._org_taxes(), percentage, self.tax_names)

    def _row_ids(self, module: SideModule, id: str, column: str, modified: str) -> RowIds | None:
        """The row ids ``column`` holds at ``modified``: held, else read; None when the
        record is gone or changed since ``modified`` (its unread change is not overwritten)."""
        known = self._held.get(module.table, {}).get(id)
        if known is None or known.modified != modified or known.rows.get(column) is None:
            if self._fetch(module, id) is None:
                return None
            known = self._held[module.table][id]
            if known.modified != modified:
                return None
        return known.rows.get(column)

    def _prepare_lines(
        self, module: SideModule, id: str | None, values: Mapping[str, Any], modified: str | None
    ) -> Prepared | tuple[str, bool]:
        """The subform rows of one write (``id`` None: a create), or why it cannot be sent
        and whether a later try may succeed."""
        rows: dict[str, list[dict[str, Any]]] = {}
        lines: dict[str, Lines] = {}
        for column in line_columns(module):
            if column not in values:
                continue
            try:
                added, lines[column] = new_rows(values[column], self._tax_of)
            except ValueError as exc:
                return f"{column}: {exc}", False
            except ZohoError as exc:
                return f"{column}: the organisation's taxes could not be read: {exc}", exc.retryable
            old: RowIds | None = ()
            if id is not None and modified is not None:
                old = self._row_ids(module, id, column, modified)
            if old is None:
                return (
                    f"record {id} changed or went away before its {column} were read; "
                    "not overwritten (it is read and merged on the next cycle)",
                    True,
                )
            # new rows first: an error's json_path then says the line's number
            rows[column] = added + [{"id": r, "_delete": None} for r in old]
        return Prepared(rows, lines)

    def _wrote_lines(
        self,
        module: SideModule,
        id: str,
        before: str | None,
        modified: str,
        written: Mapping[str, Lines],
    ) -> None:
        """After a write answered ``modified``: the lines written (row ids unknown), and the
        columns not written as held at ``before``, when they were."""
        columns = line_columns(module)
        if not columns:
            return
        table = self._held.setdefault(module.table, {})
        old = table.get(id)
        lines: dict[str, Lines] = {}
        rows: dict[str, RowIds | None] = {}
        for column in columns:
            if column in written:
                lines[column], rows[column] = written[column], None
            elif old is not None and before is not None and old.modified == before:
                lines[column], rows[column] = old.lines[column], old.rows[column]
        if set(lines) == set(columns):
            table[id] = Held(modified, lines, rows)
        else:
            table.pop(id, None)

    def _forget_lines(self, module: SideModule, id: str) -> None:
        self._held.get(module.table, {}).pop(id, None)


__all__ = [
    "LINE_COLUMNS",
    "LINE_ITEMS",
    "CrmLines",
    "Held",
    "Prepared",
    "Tax",
    "line_columns",
    "new_rows",
    "parse_taxes",
    "pick_tax",
    "read_lines",
]
