"""Zoho's JSON with exact numbers, and digests that tell two reads of a record apart.

Numbers are read as :class:`~decimal.Decimal` and a Decimal is written as the exact number
it is: amounts never pass through float on the way in or out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs
import httpx


@attrs.frozen
class Tax:
    """One tax of a Zoho organisation (Books ``/settings/taxes``, CRM ``/org/taxes``): a
    document line carries its ``percentage`` (see the issue 12 contract), each app its id
    and name."""

    id: str
    name: str
    percentage: Decimal


def loads(content: bytes | str) -> Any:
    """JSON with numbers as Decimal (amounts never pass through float)."""
    return json.loads(content, parse_float=Decimal)


def dumps(value: Any) -> str:
    """JSON text where a Decimal is written as the exact number it is."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return format(value, "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))}: {dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps(v) for v in value) + "]"
    if isinstance(value, dt.datetime | dt.date):
        return json.dumps(value.isoformat())
    return json.dumps(value)


def digest(values: Mapping[str, Any]) -> str:
    """A hash of a record's values, to tell two reads with one modification time apart.

    Numbers count by value (``10``, ``10.0`` and ``Decimal("10.00")`` hash alike), as the
    API may write back a number in another form than it was sent.
    """
    text = dumps(_canonical({k: values[k] for k in sorted(values)}))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return {"#": format(number.normalize(), "f") if number.is_finite() else str(number)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def body_of(response: httpx.Response) -> Any:
    """The JSON of an answer (Decimal numbers); ``{}`` for an empty one (204)."""
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return loads(response.content)
    except ValueError:
        return {}


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = ["Tax", "body_of", "chunks", "digest", "dumps", "loads"]
