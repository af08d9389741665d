"""CRM record values: what a write may contain, and how a record reads back.

:func:`normalize` checks one input record against its module's fields as the CRM does:

- unknown keys and read-only fields are ignored, as Zoho ignores them;
- each value must suit its data type (text within ``length``, a valid email, integers,
  numbers, booleans, ``YYYY-MM-DD`` dates, ISO date-times, picklist values, lookups to a
  live record given as ``{"id": ...}``, the owner as a known user) else ``INVALID_DATA``
  with ``{api_name, json_path, ...}``;
- mandatory fields must end up non-empty, else ``MANDATORY_NOT_FOUND``;
- line items (``Quoted_Items`` ...) need a ``Product_Name`` lookup; rows with an ``id``
  update that row, rows without one are added, rows with ``"_delete": null`` go away and
  rows not mentioned stay; a row's ``line_tax`` names org taxes (``[{name, percentage}]``
  or ``[{id}]``; an unknown tax, or a percentage not the tax's, is ``INVALID_DATA`` on
  ``line_tax``);
- derived values are recomputed: ``Full_Name``, a deal's ``Probability`` (from its stage,
  unless given) and ``Expected_Revenue``; a row's ``Total`` (quantity x list price),
  ``Total_After_Discount``, each line tax's ``value`` (its percentage of the amount after
  discount), ``Tax`` (their sum) and ``Net_Total``; the record's ``Sub_Total`` (the rows'
  net totals) and ``Grand_Total`` (sub-total - Discount + Tax + Adjustment).  Every amount
  is rounded half up to 2 places, as the CRM stores it; a row's ``Tax`` is never taken
  from the input.

:func:`render` gives a stored record back in the API's shape: every field (or only the
requested ones), ``null`` when unset, lookups as ``{id, name}``, users as ``{id, name,
email}`` and times in the CRM's format.  Line items are shown only when asked for (the
single-record GET).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from .amounts import AmountError, rounded
from .amounts import parse as parse_amount
from .clock import UTC, crm_time, parse_date, parse_time
from .crm_schema import NUMBER_TYPES, Field, Module, user
from .crm_taxes import Tax
from .errors import RecordRejected
from .store import Row

Lookup = Callable[[str, str], dict[str, Any] | None]  # (module, id) -> stored data or None
Resolve = Callable[[str, str], str | None]  # (module, id) -> display name or None

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_INTEGER = re.compile(r"[+-]?\d+")
_INT_LIMITS = {"integer": 2_147_483_647, "bigint": 9_223_372_036_854_775_807}


def invalid(field: str, path: str, **extra: Any) -> RecordRejected:
    return RecordRejected(
        "INVALID_DATA", "invalid data", {"api_name": field, "json_path": path, **extra}
    )


def mandatory(field: str, path: str) -> RecordRejected:
    return RecordRejected(
        "MANDATORY_NOT_FOUND", "required field not found", {"api_name": field, "json_path": path}
    )


def money(value: Any, places: int = 2) -> float:
    """An amount rounded as the CRM stores it; :class:`AmountError` if the CRM could not
    hold it (see :mod:`.amounts`)."""
    return rounded(value, places)


def _number(field: Field, value: Any, path: str) -> int | float | str:
    if isinstance(value, bool):
        raise invalid(field.api_name, path, expected_data_type=field.data_type)
    if field.data_type in ("integer", "bigint"):
        # the length check first: int() refuses texts of more than 4,300 digits itself
        if isinstance(value, int) or (
            isinstance(value, str) and len(value) <= 20 and _INTEGER.fullmatch(value)
        ):
            number = int(value)
            if abs(number) > _INT_LIMITS[field.data_type]:
                raise invalid(field.api_name, path, expected_data_type=field.data_type)
            return str(number) if field.data_type == "bigint" else number
        raise invalid(field.api_name, path, expected_data_type=field.data_type)
    try:
        return money(value, field.decimal_place or 2)
    except AmountError:
        raise invalid(field.api_name, path, expected_data_type=field.data_type) from None


def convert(field: Field, value: Any, path: str, lookup: Lookup) -> Any:
    """One input value as stored, or ``RecordRejected``; ``None`` clears the field."""
    if value is None or value == "":
        return None
    kind = field.data_type
    if kind in ("text", "textarea", "email", "phone", "website"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise invalid(field.api_name, path, expected_data_type="string")
        if field.length is not None and len(value) > field.length:
            raise invalid(field.api_name, path, maximum_length=field.length)
        if kind == "email" and not _EMAIL.fullmatch(value):
            raise invalid(field.api_name, path, expected_data_type="email")
        return value
    if kind in NUMBER_TYPES:
        return _number(field, value, path)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise invalid(field.api_name, path, expected_data_type="boolean")
        return value
    if kind == "date":
        try:
            return parse_date(value).isoformat() if isinstance(value, str) else _fail()
        except ValueError:
            raise invalid(field.api_name, path, expected_data_type="date") from None
    if kind == "datetime":
        try:
            return parse_time(value) if isinstance(value, str) else _fail()
        except ValueError:
            raise invalid(field.api_name, path, expected_data_type="datetime") from None
    if kind == "picklist":
        if not isinstance(value, str) or value not in field.picklist:
            raise invalid(field.api_name, path, expected_data_type="picklist")
        return value
    if kind == "multiselectpicklist":
        if not isinstance(value, list) or any(v not in field.picklist for v in value):
            raise invalid(field.api_name, path, expected_data_type="jsonarray")
        return list(value)
    if kind in ("lookup", "ownerlookup"):
        ref = value.get("id") if isinstance(value, dict) else value
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise invalid(field.api_name, path, expected_data_type="jsonobject")
        ref = str(ref)
        found = user(ref) if kind == "ownerlookup" else lookup(field.lookup or "", ref)
        if found is None:
            raise invalid(field.api_name, path, expected_data_type="jsonobject", id=ref)
        return {"id": ref}
    raise invalid(field.api_name, path)


def _fail() -> Any:
    raise ValueError("wrong type")


def _line_items(
    module: Module,
    rows: Any,
    old: list[dict[str, Any]],
    path: str,
    lookup: Lookup,
    new_id: Callable[[], str],
    taxes: Sequence[Tax],
) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise invalid(module.line_items or "", path, expected_data_type="jsonarray")
    kept = {row["id"]: dict(row) for row in old}
    order = [row["id"] for row in old]
    for j, given in enumerate(rows):
        here = f"{path}[{j}]"
        if not isinstance(given, dict):
            raise invalid(module.line_items or "", here, expected_data_type="jsonobject")
        row_id = str(given["id"]) if given.get("id") is not None else None
        if row_id is not None and row_id not in kept:
            raise invalid("id", f"{here}.id", id=row_id)
        if row_id is not None and "_delete" in given:
            kept.pop(row_id)
            order.remove(row_id)
            continue
        row = kept.get(row_id, {}) if row_id else {}
        if "Product_Name" in given or not row:
            ref = given.get("Product_Name")
            ref_id = ref.get("id") if isinstance(ref, dict) else ref
            if ref_id in (None, ""):
                raise mandatory("Product_Name", f"{here}.Product_Name")
            product = lookup("Products", str(ref_id))
            if product is None:
                raise invalid("Product_Name", f"{here}.Product_Name", id=str(ref_id))
            row["Product_Name"] = {"id": str(ref_id)}
            row.setdefault("List_Price", product.get("Unit_Price") or 0.0)
            row.setdefault("Product_Description", product.get("Description"))
        for name in ("Quantity", "List_Price", "Discount"):
            if name in given:
                try:
                    row[name] = money(given[name] if given[name] is not None else 0)
                except AmountError:
                    raise invalid(name, f"{here}.{name}", expected_data_type="double") from None
        if "Product_Description" in given:
            row["Product_Description"] = given["Product_Description"]
        if "line_tax" in given:
            row["line_tax"] = _line_tax(given["line_tax"], f"{here}.line_tax", taxes)
        row.setdefault("Quantity", 1.0)
        row.setdefault("Discount", 0.0)
        row.setdefault("line_tax", [])
        _line_totals(row, here)
        if row_id is None:
            row["id"] = new_id()
            order.append(row["id"])
        kept[row["id"]] = row
    return [kept[i] for i in order]


def _line_tax(given: Any, path: str, taxes: Sequence[Tax]) -> list[dict[str, Any]]:
    """A row's ``line_tax`` as stored: each entry names an org tax by ``id`` or ``name``;
    a ``percentage`` given must be that tax's (the org does not let lines change rates)."""
    if given is None:
        return []
    if not isinstance(given, list):
        raise invalid("line_tax", path, expected_data_type="jsonarray")
    chosen: list[dict[str, Any]] = []
    for k, entry in enumerate(given):
        here = f"{path}[{k}]"
        if not isinstance(entry, dict):
            raise invalid("line_tax", here, expected_data_type="jsonobject")
        ref, name = entry.get("id"), entry.get("name")
        if ref not in (None, ""):
            tax = next((t for t in taxes if t.id == str(ref)), None)
        elif isinstance(name, str) and name.strip():
            wanted = name.strip()
            tax = next((t for t in taxes if t.name == wanted), None) or next(
                (t for t in taxes if t.name.lower() == wanted.lower()), None
            )
        else:
            raise mandatory("line_tax", f"{here}.name")
        if tax is None:
            named = {"id": str(ref)} if ref not in (None, "") else {"name": name}
            raise invalid("line_tax", here, reason="no such tax in the org", **named)
        if entry.get("percentage") is not None:
            try:
                percentage = parse_amount(entry["percentage"])
            except AmountError:
                raise invalid(
                    "line_tax", f"{here}.percentage", expected_data_type="double"
                ) from None
            if percentage != tax.value:
                raise invalid(
                    "line_tax",
                    f"{here}.percentage",
                    reason=f"the tax {tax.name} is {tax.value} %",
                )
        if any(c["id"] == tax.id for c in chosen):
            raise invalid("line_tax", here, reason=f"the tax {tax.name} is given twice")
        chosen.append({"id": tax.id, "name": tax.name, "percentage": float(tax.value)})
    return chosen


def _line_totals(row: dict[str, Any], here: str) -> None:
    """A row's computed amounts, each rounded to 2 places as the CRM stores it: each line
    tax's ``value`` is its percentage of the amount after discount, ``Tax`` their sum."""
    try:
        total = Decimal(str(row["Quantity"])) * Decimal(str(row["List_Price"] or 0))
        after = total - Decimal(str(row["Discount"]))
        row["Total"] = money(total)
        row["Total_After_Discount"] = money(after)
    except AmountError:  # each value holds, their product does not
        raise invalid("Total", f"{here}.Total", expected_data_type="double") from None
    after = Decimal(str(row["Total_After_Discount"]))
    tax = Decimal(0)
    try:
        for entry in row.get("line_tax") or []:
            entry["value"] = money(after * Decimal(str(entry["percentage"])) / 100)
            tax += Decimal(str(entry["value"]))
        row["Tax"] = money(tax)
    except AmountError:
        raise invalid("Tax", f"{here}.Tax", expected_data_type="double") from None
    try:
        row["Net_Total"] = money(after + tax)
    except AmountError:
        raise invalid("Net_Total", f"{here}.Net_Total", expected_data_type="double") from None


def normalize(
    module: Module,
    given: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    index: int,
    lookup: Lookup,
    new_id: Callable[[], str],
    *,
    taxes: Sequence[Tax] = (),
) -> dict[str, Any]:
    """The stored data of a record after applying ``given`` to ``old`` (``None``: a new
    record; ``taxes``: the org's, which line items name).  Raises :class:`RecordRejected`
    naming the first offending field."""
    data = dict(old or {})
    by_name = {f.api_name: f for f in module.fields}
    base = f"$.data[{index}]"
    for key, value in given.items():
        field = by_name.get(key)
        if field is None or field.read_only or field.api_name in ("Created_By", "Modified_By"):
            continue
        path = f"{base}.{key}"
        if field.data_type == "subform":
            if value is None:
                data[key] = []
            else:
                data[key] = _line_items(
                    module, value, data.get(key) or [], path, lookup, new_id, taxes
                )
            continue
        data[key] = convert(field, value, path, lookup)
    for field in module.fields:
        missing = field.mandatory and data.get(field.api_name) in (None, "", [])
        if missing and (old is None or field.api_name in given):
            raise mandatory(field.api_name, f"{base}.{field.api_name}")
    _derive(module, data, given, base)
    return data


def _derive(module: Module, data: dict[str, Any], given: Mapping[str, Any], base: str) -> None:
    if module.api_name == "Contacts":
        parts = [data.get("First_Name"), data.get("Last_Name")]
        data["Full_Name"] = " ".join(p for p in parts if p) or None
    if module.api_name == "Deals":
        stage = next((f for f in module.fields if f.api_name == "Stage"), None)
        chance = stage.probability(str(data.get("Stage"))) if stage else None
        if "Stage" in given and "Probability" not in given and chance is not None:
            data["Probability"] = chance
        amount, probability = data.get("Amount"), data.get("Probability")
        data["Expected_Revenue"] = (
            _derived(
                "Expected_Revenue", base, lambda: Decimal(str(amount)) * Decimal(probability) / 100
            )
            if amount is not None and probability is not None
            else None
        )
    if module.line_items:
        sub = sum(
            (Decimal(str(r["Net_Total"])) for r in data.get(module.line_items) or []), Decimal(0)
        )
        data["Sub_Total"] = _derived("Sub_Total", base, lambda: sub)
        grand = (
            sub
            - Decimal(str(data.get("Discount") or 0))
            + Decimal(str(data.get("Tax") or 0))
            + Decimal(str(data.get("Adjustment") or 0))
        )
        data["Grand_Total"] = _derived("Grand_Total", base, lambda: grand)


def _derived(name: str, base: str, compute: Callable[[], Decimal]) -> float:
    """A value the CRM computes from valid inputs; too large to hold, the record is
    refused naming it."""
    try:
        return money(compute())
    except AmountError:
        raise invalid(name, f"{base}.{name}", expected_data_type="double") from None


def render(
    module: Module,
    row: Row,
    resolve: Resolve,
    *,
    fields: set[str] | None = None,
    line_items: bool = False,
    tz: Any = UTC,
) -> dict[str, Any]:
    """A stored record in the API's shape."""
    out: dict[str, Any] = {"id": row.id}
    for field in module.fields:
        name = field.api_name
        if fields is not None and name not in fields:
            continue
        if field.data_type == "subform":
            if line_items:
                out[name] = [_render_line(r, resolve) for r in row.data.get(name) or []]
            continue
        if name in ("Created_Time", "Modified_Time"):
            out[name] = crm_time(row.created if name == "Created_Time" else row.modified, tz)
        elif name in ("Created_By", "Modified_By"):
            who = user(row.created_by if name == "Created_By" else row.modified_by)
            out[name] = who.minified() if who else None
        else:
            out[name] = render_value(field, row.data.get(name), resolve, tz)
    return out


def render_value(field: Field, value: Any, resolve: Resolve, tz: Any = UTC) -> Any:
    if value is None:
        return None
    if field.data_type == "ownerlookup":
        who = user(value["id"])
        return who.minified() if who else None
    if field.data_type == "lookup":
        name = resolve(field.lookup or "", value["id"])
        return None if name is None else {"id": value["id"], "name": name}
    if field.data_type == "datetime":
        return crm_time(value, tz)
    return value


def _render_line(row: Mapping[str, Any], resolve: Resolve) -> dict[str, Any]:
    out = {"line_tax": []} | dict(row)
    ref = row.get("Product_Name")
    if ref:
        out["Product_Name"] = {"id": ref["id"], "name": resolve("Products", ref["id"])}
    return out


__all__ = [
    "Lookup",
    "Resolve",
    "convert",
    "invalid",
    "mandatory",
    "money",
    "normalize",
    "render",
    "render_value",
]
