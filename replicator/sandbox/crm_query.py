"""Finding CRM records: search criteria, custom-view criteria, email / phone / word search.

Search criteria are Zoho's string form: ``(Field:operator:value)`` conditions joined by
``and`` / ``or`` inside parentheses, e.g. ``((Last_Name:equals:Burns\\,B)and(First_Name:
starts_with:M))``.  ``\\(``, ``\\)`` and ``\\,`` escape those characters in a value; an
unescaped comma lists alternatives (``equals`` and ``in`` match any of them).  Operators:
``equals``, ``not_equal``, ``starts_with``, ``in``, ``greater_than``, ``greater_equal``,
``less_than``, ``less_equal``, ``between``.  Text compares case-insensitively; a lookup
compares its id or its name (``Account_Name.id`` compares the id only).  At most 15
conditions.

View criteria are the v8 JSON form (``{comparator, field: {api_name}, value}`` or
``{group_operator, group: [...]}``) with comparators ``equal``, ``not_equal``,
``starts_with``, ``ends_with``, ``contains``, ``not_contains``, ``in``, ``not_in``,
``greater_than``, ``less_than``, ``greater_equal``, ``less_equal``, ``between`` and the
values ``${CURRENTUSER}``, ``${EMPTY}``, ``${TODAY}`` and ``${LAST<n>DAYS}``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from .clock import UTC, parse_time
from .crm_schema import Field, Module
from .errors import CrmError
from .store import Row

Resolve = Callable[[str, str], str | None]
Node = tuple[Any, ...]  # ("cond", field, op, values) | ("and" | "or", [nodes])

SEARCH_OPERATORS = (
    "equals",
    "not_equal",
    "starts_with",
    "in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
)
MAX_CONDITIONS = 15


def _bad_query(reason: str, **details: Any) -> CrmError:
    return CrmError(400, "INVALID_QUERY", "invalid query formed", {"reason": reason, **details})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.count = text, 0, 0

    def parse(self) -> Node:
        node = self._sequence()
        if self.pos != len(self.text):
            raise _bad_query("unexpected text", index=self.pos)
        return node

    def _sequence(self) -> Node:
        nodes, ops = [self._group()], []
        while True:
            rest = self.text[self.pos :]
            m = re.match(r"(and|or)(?=\()", rest, re.IGNORECASE)
            if not m:
                break
            ops.append(m.group(1).lower())
            self.pos += len(m.group(1))
            nodes.append(self._group())
        node = nodes[0]
        for op, right in zip(ops, nodes[1:], strict=True):
            node = (op, [node, right])
        return node

    def _group(self) -> Node:
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise _bad_query("expected (", index=self.pos)
        self.pos += 1
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            node = self._sequence()
        else:
            node = self._condition()
        if self.pos >= len(self.text) or self.text[self.pos] != ")":
            raise _bad_query("expected )", index=self.pos)
        self.pos += 1
        return node

    def _condition(self) -> Node:
        text, i = self.text, self.pos
        field = op = ""
        colons, values, current = 0, [], []
        while i < len(text) and text[i] != ")":
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 2
                continue
            if c == ":" and colons < 2:
                if colons == 0:
                    field = "".join(current).strip()
                else:
                    op = "".join(current).strip().lower()
                current, colons = [], colons + 1
            elif c == "," and colons == 2:
                values.append("".join(current))
                current = []
            else:
                current.append(c)
            i += 1
        self.pos = i
        if colons < 2 or not field:
            raise _bad_query("a condition is field:operator:value")
        values.append("".join(current))
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise CrmError(
                400,
                "CRITERIA_LIMIT_EXCEEDED",
                "no of criterium that can be given exceed the limit 15",
                {},
            )
        return ("cond", field, op, values)


def parse_criteria(text: str) -> Node:
    """The tree of a search criteria string; ``CrmError`` 400 ``INVALID_QUERY`` if bad."""
    return _Parser(text.strip()).parse()


def check_criteria(node: Node, module: Module) -> None:
    """Every condition names a field of ``module`` and an operator the search knows."""
    if node[0] != "cond":
        for child in node[1]:
            check_criteria(child, module)
        return
    _, name, op, _values = node
    if _field(module, name) is None:
        raise _bad_query("the given field is not available", api_name=name)
    if op not in SEARCH_OPERATORS:
        raise _bad_query("invalid operator found", api_name=name, operator=op)


def _field(module: Module, name: str) -> Field | None:
    base = name.split(".", 1)[0]
    if base == "id":
        return Field("id", "Record Id", "bigint", "0")
    return next((f for f in module.fields if f.api_name == base), None)


class Matcher:
    """Evaluates criteria against stored records of one module."""

    def __init__(
        self, module: Module, resolve: Resolve, now: float, current_user: str, tz: dt.tzinfo = UTC
    ) -> None:
        self.module, self.resolve, self.now = module, resolve, now
        self.current_user, self.tz = current_user, tz

    def _value(self, row: Row, name: str) -> tuple[Field | None, Any]:
        field = _field(self.module, name)
        if field is None:
            return None, None
        if field.api_name == "id":
            return field, row.id
        if field.api_name in ("Created_Time", "Modified_Time"):
            return field, row.created if field.api_name == "Created_Time" else row.modified
        if field.api_name in ("Created_By", "Modified_By"):
            return field, row.created_by if field.api_name == "Created_By" else row.modified_by
        value = row.data.get(field.api_name)
        if field.data_type in ("lookup", "ownerlookup") and value is not None:
            if name.endswith(".id") or field.data_type == "ownerlookup":
                return field, value["id"]
            return field, (value["id"], self.resolve(field.lookup or "", value["id"]))
        return field, value

    def _compare(self, field: Field, actual: Any, op: str, wanted: list[Any]) -> bool:
        op = {"equal": "equals", "not_equals": "not_equal"}.get(op, op)
        if any(w == "${EMPTY}" for w in wanted):
            empty = actual in (None, "", [])
            return empty if op == "equals" else not empty
        if actual is None:
            return op in ("not_equal", "not_in", "not_contains")
        candidates = list(actual) if isinstance(actual, tuple) else [actual]
        hit = any(self._one(field, c, op, wanted) for c in candidates if c is not None)
        return (
            hit
            if op not in ("not_equal", "not_in", "not_contains")
            else all(self._one(field, c, op, wanted) for c in candidates if c is not None)
        )

    def _one(self, field: Field, actual: Any, op: str, wanted: list[Any]) -> bool:
        kind = field.data_type
        if kind == "datetime" or field.api_name in ("Created_Time", "Modified_Time"):

            def norm(v: Any) -> Any:
                return float(v) if isinstance(v, int | float) else parse_time(str(v))
        elif kind in ("integer", "double", "currency", "percent", "bigint"):

            def norm(v: Any) -> Any:
                return float(v)
        elif kind == "boolean":

            def norm(v: Any) -> Any:
                return str(v).lower() in ("true", "1")
        else:

            def norm(v: Any) -> Any:
                return str(v).lower()

        try:
            a, ws = norm(actual), [norm(w) for w in wanted]
        except (TypeError, ValueError):
            return False
        if op in ("equals", "in"):
            return a in ws
        if op in ("not_equal", "not_in"):
            return a not in ws
        if op == "starts_with":
            return any(str(a).startswith(str(w)) for w in ws)
        if op == "ends_with":
            return any(str(a).endswith(str(w)) for w in ws)
        if op == "contains":
            return any(str(w) in str(a) for w in ws)
        if op == "not_contains":
            return all(str(w) not in str(a) for w in ws)
        if op == "between":
            return len(ws) == 2 and ws[0] <= a <= ws[1]
        compare = (
            {
                "greater_than": a > ws[0],
                "greater_equal": a >= ws[0],
                "less_than": a < ws[0],
                "less_equal": a <= ws[0],
            }
            if ws
            else {}
        )
        return bool(compare.get(op, False))

    def matches(self, row: Row, node: Node) -> bool:
        if node[0] == "and":
            return all(self.matches(row, child) for child in node[1])
        if node[0] == "or":
            return any(self.matches(row, child) for child in node[1])
        _, name, op, values = node
        field, actual = self._value(row, name)
        return field is not None and self._compare(field, actual, op, values)

    # -- custom view criteria -----------------------------------------------------------

    def view_matches(self, row: Row, criteria: Any) -> bool:
        if not criteria:
            return True
        if "group" in criteria:
            results = [self.view_matches(row, c) for c in criteria["group"]]
            return all(results) if criteria.get("group_operator", "and") == "and" else any(results)
        name = criteria["field"]["api_name"]
        value = criteria.get("value")
        op = criteria.get("comparator", "equal")
        field, actual = self._value(row, name)
        if field is None:
            return False
        if value == "${CURRENTUSER}":
            value = self.current_user
        if isinstance(value, str):
            days = re.fullmatch(r"\$\{LAST(\d+)DAYS\}", value)
            if days or value == "${TODAY}":
                start = self._days_ago(int(days.group(1)) if days else 0)
                return isinstance(actual, int | float) and start <= actual <= self.now
        wanted = value if isinstance(value, list) else [value]
        return self._compare(field, actual, op, wanted)

    def _days_ago(self, days: int) -> float:
        today = dt.datetime.fromtimestamp(self.now, self.tz).date()
        try:
            start = today - dt.timedelta(days=days)
        except OverflowError:  # more days than the calendar has: since the beginning
            return float("-inf")
        return dt.datetime.combine(start, dt.time(), self.tz).timestamp()

    # -- the email / phone / word parameters ------------------------------------------------

    def quick(self, row: Row, *, email: str | None, phone: str | None, word: str | None) -> bool:
        fields = self.module.fields
        if email is not None:
            return any(
                str(row.data.get(f.api_name) or "").lower() == email.lower()
                for f in fields
                if f.data_type == "email"
            )
        if phone is not None:
            digits = re.sub(r"\D", "", phone)
            return bool(digits) and any(
                re.sub(r"\D", "", str(row.data.get(f.api_name) or "")) == digits
                for f in fields
                if f.data_type == "phone"
            )
        needle = (word or "").lower()
        return bool(needle) and any(
            needle in str(row.data.get(f.api_name) or "").lower()
            for f in fields
            if f.data_type in ("text", "textarea", "email", "phone", "website")
        )


__all__ = [
    "MAX_CONDITIONS",
    "Matcher",
    "SEARCH_OPERATORS",
    "check_criteria",
    "parse_criteria",
]
