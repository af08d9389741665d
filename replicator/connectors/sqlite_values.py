"""Values between Python and a SQLite column, exactly or not at all (see :mod:`.sqlite`):
a number a column would store as another is refused, an integer past 64 bits goes to a
TEXT column as its digits, a list (a document's lines) as its JSON text, and text that is
not UTF-8 is read as its bytes.  Also which sqlite3 errors concern one write's values
rather than the database as a whole.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from replicator.connectors.sqlite_plan import Plan

# Primary result codes that concern one statement's values, not the database as a whole.
_PER_WRITE_CODES = frozenset(
    {
        sqlite3.SQLITE_ERROR,
        sqlite3.SQLITE_TOOBIG,
        sqlite3.SQLITE_CONSTRAINT,
        sqlite3.SQLITE_MISMATCH,
        sqlite3.SQLITE_RANGE,
    }
)
_INT64 = range(-(2**63), 2**63)
# A text SQLite converts to a number when a column of numeric affinity receives it
_SQL_NUMBER = re.compile(
    r"\s*[+-]?(?:(?P<int>[0-9]+)|[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*"
)
_NUMERIC_AFFINITIES = frozenset({"INTEGER", "REAL", "NUMERIC"})


def per_write(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is about one write's values (the rest of the batch can go on)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # parameter binding and the like, raised before SQLite runs anything
        return isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError)
    return code & 0xFF in _PER_WRITE_CODES


def _stored_as(text: str, affinity: str) -> float | None:
    """The double SQLite stores for ``text`` in a column of numeric ``affinity``, when it
    does not give ``text``'s number back (None: stored exactly, or kept as text)."""
    found = _SQL_NUMBER.fullmatch(text)
    if found is None:
        return None  # not a number to SQLite: kept as the text it is
    if found["int"] is not None and affinity != "REAL" and int(text) in _INT64:
        return None
    try:
        number = float(text)
    except OverflowError:  # pragma: no cover - float() gives inf rather than raising
        number = float("inf")
    if number - number == 0 and Decimal(repr(number)) == Decimal(text.strip()):
        return None
    return number


def text_or_bytes(data: bytes) -> str | bytes:
    """A TEXT value as str, or as its bytes when they are not UTF-8: one bad value is that
    field's error (the field map reports it), not an exception that stops the whole page."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def read_rows(db: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """A read's rows, text that is not UTF-8 as bytes.

    sqlite3 decodes TEXT in C and fails the whole statement on one bad value (an error
    SQLite did not raise, so it has no error code): only then is the read done again
    with a decoder that keeps such a value as bytes, so the usual read keeps C speed."""
    try:
        return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if getattr(exc, "sqlite_errorcode", None) is not None:
            raise
    db.text_factory = text_or_bytes
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.text_factory = str


def held_exactly(
    plan: Plan, side: str, values: Mapping[str, Any]
) -> tuple[Mapping[str, Any], str | None]:
    """The values to bind, or why one cannot be held exactly (see the module docstring).

    An integer past 64 bits cannot be bound at all; in a TEXT (or untyped) column it is
    kept as its digits.  A number as text into a column of numeric affinity is stored as
    a double when it is no 64-bit integer: refused if that double is another number."""
    fixed: dict[str, Any] | None = None
    affinity = plan.affinity
    for column, value in values.items():
        kind = type(value)
        if kind is list or kind is dict:  # a document's lines: one column of JSON text
            fixed = fixed if fixed is not None else dict(values)
            fixed[column] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            continue
        if kind is int:
            if value in _INT64:
                continue
            if affinity.get(column) not in _NUMERIC_AFFINITIES:
                fixed = fixed if fixed is not None else dict(values)
                fixed[column] = str(value)
                continue
            try:
                stored = repr(float(value))
            except OverflowError:
                stored = "inf"
            return values, _inexact(plan, side, column, str(value), stored)
        if kind is str and affinity.get(column) in _NUMERIC_AFFINITIES:
            double = _stored_as(value, affinity[column])
            if double is not None:
                return values, _inexact(plan, side, column, value, repr(double))
    return (fixed if fixed is not None else values), None


def _inexact(plan: Plan, side: str, column: str, value: str, stored: str) -> str:
    cut = value if len(value) <= 60 else value[:60] + "..."
    return (
        f"column {column} ({plan.declared.get(column)}) of table {plan.module.table} on "
        f"{side} cannot hold {cut} exactly: SQLite would store it as the "
        f"floating-point number {stored}, and the changed value would come back on the "
        "next read; not written (a TEXT column holds it exactly)"
    )


__all__ = ["held_exactly", "per_write", "read_rows", "text_or_bytes"]
