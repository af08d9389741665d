"""Field maps and type conversion: side columns and raw values <-> canonical fields.

Canonical values are what the journal stores and the merge engine compares: ``str`` (NFC,
empty text is no value), ``int``, ``Decimal`` (money, never float), ``bool``, ISO
``date``, aware UTC ``datetime``, or ``None``.  A value that does not convert raises
:class:`MappingError` naming the field, the value and the reason; the engine journals it
against the record and goes on with the rest.

Parsing is strict and never guesses (DESIGN 5, poison isolation): numbers are plain digits
with an optional point (``1500.50``; ``1,50``, ``1.500,00``, ``$5`` and ``12abc`` are
errors, since a comma may be a decimal comma or a thousands separator); dates are ISO
``YYYY-MM-DD``; date-times are ISO 8601 with ``Z`` or an offset.  A date-time without a
zone is an error, not "taken as UTC": which moment it means is a guess.  A float read for
an integer past 2^53 is an error (the side has rounded it already); bytes that are not
UTF-8 are an error for a text field, never decoded with replacement characters.

A ``lines`` value is a document's lines (an invoice's, a quote's): one field, compared and
journaled whole.  A side gives a list, in document order, of dicts with the keys
:data:`LINE_KEYS` (a missing key is None), or that list as JSON text (a SQLite column);
its canonical form keeps the order and every key: ``item`` (our record id once the module's
``"lines.item"`` lookup turned the side's id into it) and ``description`` as text,
``quantity``, ``rate`` and ``discount`` as Decimal (no discount is 0; a line without a
quantity or a rate is an error), ``tax`` a percentage as Decimal or None.  The amounts
parse as strictly as a ``decimal`` field's, and a float is refused (a side that parsed
an amount through one may have changed it already).  A bad line is one error for the
field that names the line: ``line 3: quantity 'abc' is not a number``.  Written to a side,
the amounts are plain decimal text.  A line may also carry ``name`` (:data:`LINE_NAME`:
the item's name on a line with no item), kept only when it holds text.

A ``picklist`` is text whose values each side may spell its own way: a side with a value
map (``{"Goods": "goods", "Services": "service"}``) reads its values as their canonical
ones and writes canonical values back in its own spelling; a side without one uses its
values as they are.  A value missing from a side's map is a :class:`MappingError` both
ways: reading a value nobody mapped, or writing one the side has no spelling for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from journal.entry import canonical_decimal, from_wire, to_wire
from replicator.errors import MappingError, shown

TYPES = ("text", "integer", "decimal", "date", "datetime", "boolean", "picklist", "lines")
# the keys of a document's line (see the module docstring), in the order messages name them
LINE_KEYS = ("item", "description", "quantity", "rate", "discount", "tax")
# a line's optional key: the item's name on a line with no item (a deal's document line).
# Present in a canonical line only when it holds text, so every line without one (and every
# journal written before it) is as it was
LINE_NAME = "name"
# a document's lines past this many are refused: no app holds more, and a value this large
# would be journaled whole on every change (a poison value, not a document)
MAX_LINES = 1000

# field -> side -> {the side's value: the canonical value}
ValueMaps = Mapping[str, Mapping[str, Mapping[str, str]]]

_TRUE = {"1", "true", "t", "yes", "y", "on"}
_FALSE = {"0", "false", "f", "no", "n", "off"}


class _Unfit(ValueError):
    """Why a value does not convert, worded to follow "it": "it has a comma, ..."."""


def _text(value: Any) -> str | None:
    if type(value) is str and value.isascii():  # ASCII text is NFC and UTF-8 already
        return value if value != "" else None
    if isinstance(value, bytes | bytearray):
        try:
            bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Unfit(
                f"is not valid UTF-8 text (byte 0x{value[exc.start]:02x} at position "
                f"{exc.start} cannot start or continue a character)"
            ) from None
        raise _Unfit("is binary data, not text")
    text = unicodedata.normalize("NFC", str(value))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # JSON may escape one ("\ud800"); UTF-8 cannot
            raise _Unfit(
                f"holds a lone surrogate at position {exc.start}, which is not a character"
            ) from None
    return text if text != "" else None


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# Strict number text: digits with an optional point and exponent.  No thousands separator,
# no decimal comma, no currency sign, no underscore (Python's Decimal takes "1_000"): a side
# sending "1,50" means 1.5 or 150 and nothing here may guess which.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# An amount whose plain notation is longer than this is refused: "1E+999999999" is exact but
# would become a billion-character text in the journal (a poison value, not an amount).
MAX_DIGITS = 1000
# Strict ISO 8601: a calendar date; a time with seconds (fractions optional) and a zone.
# Python's fromisoformat alone also takes "20241203", week dates and naive times.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_MAX_BITS = int(MAX_DIGITS * 3.33)  # about MAX_DIGITS decimal digits
# floats hold every integer up to 2**53 exactly; past it a float read is already rounded
_EXACT_FLOAT_INT = 2**53


def _number_text(value: str) -> Decimal:
    text = value.strip()
    if _NUMBER.fullmatch(text) is None:
        if "," in text:
            raise _Unfit(
                "has a comma, which could be a decimal comma or a thousands separator "
                "(write the number with a point and no separators, e.g. 1500.50)"
            )
        raise _Unfit("is not a number in plain digits (e.g. 1500.50)")
    return Decimal(text)


def _bounded(number: Decimal) -> Decimal:
    if not number.is_finite():
        raise _Unfit("is not a finite number")
    if number and abs(number.adjusted()) > MAX_DIGITS:
        raise _Unfit(f"has more than {MAX_DIGITS} digits")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise _Unfit("is a yes/no value, not a number")
    if isinstance(value, int):
        if value.bit_length() > _MAX_BITS:
            raise _Unfit(f"has more than {MAX_DIGITS} digits")
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) > _EXACT_FLOAT_INT:
            raise _Unfit(
                "was stored as a floating-point number, which holds whole numbers exactly "
                "only up to 2^53, so the side has already rounded it"
            )
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = _bounded(value)
    else:
        number = _bounded(_number_text(str(value)))
    if number != number.to_integral_value():
        raise _Unfit("is not a whole number")
    return int(number)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise _Unfit("is a yes/no value, not an amount")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that round-trips, not binary noise
    else:
        number = _number_text(str(value))
    return _bounded(number)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if _DATE.fullmatch(text) is None:
        raise _Unfit("is not an ISO date (YYYY-MM-DD)")
    return dt.date.fromisoformat(text)


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = str(value).strip()
        found = _DATETIME.fullmatch(text)
        if found is None:
            raise _Unfit("is not an ISO 8601 date and time (e.g. 2024-12-03T10:00:00Z)")
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Unfit(
            "has no time zone, so the moment it means would be a guess "
            "(add Z for UTC or an offset such as +05:30)"
        )
    return moment.astimezone(dt.UTC)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Unfit("is not a yes/no value")


class _BadLine(_Unfit):
    """Why a document's lines do not convert, worded on its own: "line 3: quantity ..."."""


def _line_amount(number: int, key: str, value: Any, *, required: bool) -> Decimal | None:
    if value is None or value == "":
        if required:
            raise _BadLine(f"line {number}: {key} is missing")
        return None
    if isinstance(value, float):
        raise _BadLine(
            f"line {number}: {key} {value!r} was read as a floating-point number, which may "
            "have changed it already (read amounts as decimal text)"
        )
    try:
        return _decimal(value)
    except _Unfit as exc:
        raise _BadLine(f"line {number}: {key} {shown(value)} {exc}") from None
    except (InvalidOperation, ArithmeticError):
        raise _BadLine(f"line {number}: {key} {shown(value)} is not a number") from None


def _line_text(number: int, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if key == "item" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a side's numeric id
    if not isinstance(value, str):
        raise _BadLine(f"line {number}: {key} {shown(value)} is not text")
    try:
        return _text(value)
    except _Unfit as exc:
        raise _BadLine(f"line {number}: {key} {exc}") from None


def _lines(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal)
        except (ValueError, RecursionError):
            raise _Unfit("is not JSON text of a list of lines") from None
    if not isinstance(value, list | tuple):
        raise _Unfit("is not a list of lines")
    if len(value) > MAX_LINES:
        raise _Unfit(f"has {len(value)} lines, more than {MAX_LINES}")
    lines = []
    for number, line in enumerate(value, start=1):
        if not isinstance(line, Mapping):
            raise _BadLine(f"line {number}: {shown(line)} is not a line (a table of keys)")
        unknown = sorted(str(k) for k in line if k not in LINE_KEYS and k != LINE_NAME)
        if unknown:
            raise _BadLine(
                f"line {number}: unknown key {unknown[0]!r} (a line has "
                f"{', '.join(LINE_KEYS)} and an optional {LINE_NAME})"
            )
        discount = _line_amount(number, "discount", line.get("discount"), required=False)
        name = _line_text(number, LINE_NAME, line.get(LINE_NAME))
        lines.append(
            {
                "item": _line_text(number, "item", line.get("item")),
                "description": _line_text(number, "description", line.get("description")),
                "quantity": _line_amount(number, "quantity", line.get("quantity"), required=True),
                "rate": _line_amount(number, "rate", line.get("rate"), required=True),
                "discount": discount if discount is not None else Decimal(0),
                "tax": _line_amount(number, "tax", line.get("tax"), required=False),
                **({LINE_NAME: name} if name is not None else {}),
            }
        )
    return lines


def _side_lines(lines: Any) -> list[dict[str, Any]]:
    """Canonical lines as a connector takes them: every key, amounts as plain text."""
    out = []
    for line in lines:
        side_line = {}
        for key in LINE_KEYS:
            part = line.get(key)
            if key in ("quantity", "rate", "discount", "tax") and part is not None:
                part = canonical_decimal(part)
            side_line[key] = part
        if line.get(LINE_NAME) is not None:  # a line without one is as it always was
            side_line[LINE_NAME] = line[LINE_NAME]
        out.append(side_line)
    return out


_TO_CANONICAL: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "integer": _integer,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "boolean": _boolean,
    "picklist": _text,  # the canonical value; a side's spelling is the field map's business
    "lines": _lines,
}


def to_canonical(kind: str, value: Any, *, field: str = "?") -> Any:
    """A side's raw value as a canonical value of type ``kind``."""
    if value is None or (isinstance(value, str) and value == "" and kind != "text"):
        return None
    try:
        return _TO_CANONICAL[kind](value)
    except _BadLine as exc:
        reason = str(exc)
    except _Unfit as exc:
        reason = f"it {exc}"
    except (InvalidOperation, ArithmeticError):
        reason = "it is not a number"
    except ValueError as exc:  # the date and time constructors: "month must be in 1..12"
        reason = str(exc) or f"it is not a valid {kind}"
    except TypeError:
        reason = f"a {type(value).__name__} value is not a {kind}"
    raise MappingError(field, value, f"does not convert to {kind}: {reason}")


# each type's canonical value -> its wire form (see journal.entry.to_wire); the types not
# here (text, integer, boolean, picklist) are their own wire form
_WIRE: dict[str, Callable[[Any], Any]] = {
    "decimal": lambda value: {"$decimal": canonical_decimal(value)},
    "date": lambda value: {"$date": value.isoformat()},
    "datetime": to_wire,
    "lines": to_wire,
}
# the types whose side value is the canonical value, and the wire values that are their
# own canonical value
_PLAIN_KINDS = frozenset({"text", "integer", "boolean"})
_PLAIN = frozenset({str, int, bool})


def to_side(kind: str, value: Any) -> Any:
    """A canonical value as a connector expects it (JSON-like: amounts as plain text)."""
    if value is None:
        return None
    if kind == "decimal":
        return canonical_decimal(value)
    if kind == "lines":
        return _side_lines(value)
    if kind in ("date", "datetime"):
        return value.isoformat()
    return value


class FieldMap:
    """The canonical fields of a module and each side's column for them.

    ``values`` gives picklist fields a value map per side (see the module docstring):
    ``{"product_type": {"crm": {"Goods": "goods", "Services": "service"}}}``.
    """

    def __init__(
        self,
        fields: Mapping[str, tuple[str, Mapping[str, str]]],
        *,
        values: ValueMaps | None = None,
    ) -> None:
        # canonical name -> (type, {side: column})
        self.fields = dict(fields)
        self._by_side: dict[str, list[tuple[str, str, str]]] = {}
        for name, (kind, columns) in sorted(self.fields.items()):
            for side, column in columns.items():
                self._by_side.setdefault(side, []).append((column, name, kind))
        self._read: dict[tuple[str, str], dict[str, str]] = {}  # (field, side) -> map
        self._write: dict[tuple[str, str], dict[str, str]] = {}  # the same, inverted
        for name, by_side in (values or {}).items():
            if name not in self.fields or self.fields[name][0] != "picklist":
                raise ValueError(f"field {name}: value maps are for picklist fields only")
            for side, mapping in by_side.items():
                inverse: dict[str, str] = {}
                read: dict[str, str] = {}
                for side_text, canonical_text in mapping.items():
                    side_value, canonical = _nfc(side_text), _nfc(canonical_text)
                    if canonical in inverse:
                        raise ValueError(
                            f"field {name}: side {side} spells {canonical!r} both "
                            f"{inverse[canonical]!r} and {side_value!r}; a write could not choose"
                        )
                    inverse[canonical] = side_value
                    read[side_value] = canonical
                self._read[name, side] = read
                self._write[name, side] = inverse

    def columns(self, side: str) -> tuple[str, ...]:
        return tuple(column for column, _, _ in self._by_side.get(side, ()))

    def field_for(self, side: str, column: str) -> str | None:
        for col, name, _ in self._by_side.get(side, ()):
            if col == column:
                return name
        return None

    def kind(self, name: str) -> str:
        return self.fields[name][0]

    def value_map(self, name: str, side: str) -> dict[str, str] | None:
        """A picklist's map of ``side``'s values to canonical ones (None: no map)."""
        mapping = self._read.get((name, side))
        return dict(mapping) if mapping is not None else None

    def _pick(self, side: str, name: str, raw: Any, value: str | None) -> str | None:
        mapping = self._read.get((name, side))
        if mapping is None or value is None:
            return value
        if value not in mapping:
            known = ", ".join(repr(v) for v in mapping) or "none"
            raise MappingError(
                name, raw, f"is not a known value on side {side} (known values: {known})"
            )
        return mapping[value]

    def _spell(self, side: str, name: str, value: Any) -> Any:
        inverse = self._write.get((name, side))
        if inverse is None or value is None:
            return value
        if value not in inverse:
            known = ", ".join(repr(v) for v in inverse) or "none"
            raise MappingError(
                name, value, f"has no value on side {side} (canonical values it maps: {known})"
            )
        return inverse[value]

    def to_canonical(
        self, side: str, raw: Mapping[str, Any], *, record: str | None = None
    ) -> tuple[dict[str, Any], list[MappingError]]:
        """Canonical values of one side's row, and the fields that did not convert."""
        values: dict[str, Any] = {}
        errors: list[MappingError] = []
        for column, name, kind in self._by_side.get(side, ()):
            if column not in raw:
                continue
            try:
                value = to_canonical(kind, raw[column], field=name)
                if kind == "picklist":
                    value = self._pick(side, name, raw[column], value)
                values[name] = value
            except MappingError as exc:
                errors.append(MappingError(name, raw[column], exc.reason, record=record))
        return values, errors

    def to_wire(
        self, side: str, raw: Mapping[str, Any], *, record: str | None = None
    ) -> tuple[dict[str, Any], list[MappingError]]:
        """:meth:`to_canonical`'s values in wire form (what :func:`journal.entry.to_wire`
        makes of them), and the fields that did not convert, in one pass: the pull's hot
        loop, which stores the wire form, need not build the canonical values first.

        ASCII text is its own canonical and wire form (empty text is no value); every other
        value is converted as :meth:`to_canonical` converts it, then put in wire form by its
        field's type (only amounts, dates, times and lines differ from their wire form)."""
        values: dict[str, Any] = {}
        errors: list[MappingError] = []
        for column, name, kind in self._by_side.get(side, ()):
            if column not in raw:
                continue
            value = raw[column]
            of = type(value)
            # the values most rows hold, told apart in a few steps (the rest as to_canonical)
            if of is str and kind == "text" and value.isascii():
                values[name] = value if value != "" else None
                continue
            if of is int and kind == "integer" and value.bit_length() <= _MAX_BITS:
                values[name] = value
                continue
            if of is float and kind == "decimal" and math.isfinite(value):
                # the shortest text that round-trips, as _decimal reads it (never past bounds)
                values[name] = {"$decimal": canonical_decimal(Decimal(repr(value)))}
                continue
            if of is str and kind == "date" and len(value) == 10 and _DATE.fullmatch(value):
                with contextlib.suppress(ValueError):  # no such day: said as to_canonical says
                    values[name] = {"$date": dt.date.fromisoformat(value).isoformat()}
                    continue
            try:
                value = to_canonical(kind, value, field=name)
                if kind == "picklist":
                    value = self._pick(side, name, raw[column], value)
            except MappingError as exc:
                errors.append(MappingError(name, raw[column], exc.reason, record=record))
                continue
            wire = _WIRE.get(kind)
            values[name] = value if wire is None or value is None else wire(value)
        return values, errors

    def wire_to_side(self, side: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`to_side` of wire-form values (``to_side(side, canonical(values))``),
        without building the canonical values: the push's hot loop.  Text, an integer or a
        yes/no value of a field of its own type goes as it is, an amount as its plain text,
        anything else through its canonical value."""
        out: dict[str, Any] = {}
        for column, name, kind in self._by_side.get(side, ()):
            if name not in values:
                continue
            value = values[name]
            if kind == "picklist":
                out[column] = self._spell(side, name, from_wire(value))
            elif value is None or (kind in _PLAIN_KINDS and type(value) in _PLAIN):
                out[column] = value
            elif (
                kind == "decimal"
                and type(value) is dict
                and len(value) == 1
                and "$decimal" in value
            ):
                out[column] = canonical_decimal(Decimal(value["$decimal"]))
            else:
                out[column] = to_side(kind, from_wire(value))
        return out

    def to_side(self, side: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """A side's columns for canonical values (fields the side does not map are left out).

        Raises :class:`MappingError` for a picklist value the side has no spelling for."""
        out: dict[str, Any] = {}
        for column, name, kind in self._by_side.get(side, ()):
            if name in values:
                value = values[name]
                if kind == "picklist":
                    out[column] = self._spell(side, name, value)
                else:
                    out[column] = to_side(kind, value)
        return out


__all__ = ["LINE_KEYS", "LINE_NAME", "TYPES", "FieldMap", "ValueMaps", "to_canonical", "to_side"]
