"""A Books document's money: line discounts, line taxes and the document's totals.

Books works a line out as (all amounts half up to 2 places, the organisation's
``price_precision``):

- ``discount`` is an amount (``5``, ``"5"``) or a percentage of quantity x rate (``"10%"``,
  ``"10.00%"``, read back as ``"10.00%"``); ``discount_amount`` is the amount it takes off;
- ``item_total`` = quantity x rate - discount_amount;
- a line with a ``tax_id`` is taxed on its ``item_total`` (line discounts come before tax;
  rates are exclusive of tax): its tax is ``item_total`` x percentage / 100, rounded per
  line.

The document's ``sub_total`` is the sum of the lines' ``item_total``; ``taxes`` lists each
tax used with the sum of its lines' taxes (``tax_name``, ``tax_amount``), in the order the
lines first name them; ``tax_total`` is their sum; ``total`` = ``sub_total`` + ``tax_total``
+ ``shipping_charge`` + ``adjustment`` - the document's ``discount`` (an amount).  With
``is_discount_before_tax`` (the default) that discount also lowers each line's taxable
amount in proportion to the line's share of the sub-total.

Amounts are Decimals here; :func:`replicator.sandbox.amounts.rounded` makes the JSON
numbers and refuses what Books cannot hold, which the caller turns into a 400 naming the
field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

import attrs

from .amounts import LIMIT, MAX_DIGITS, AmountError, parse

CENT = Decimal("0.01")
_WIDE = Context(prec=MAX_DIGITS + 4)  # any amount within LIMIT at 2 places
HUNDRED = Decimal(100)
_PERCENT = re.compile(r"\s*([+-]?[0-9]*\.?[0-9]+)\s*%\s*")


class DiscountError(ValueError):
    """A line discount that is neither an amount nor a percentage from 0 to 100."""


def cents(value: Decimal) -> Decimal:
    """``value`` half up to 2 places; :class:`AmountError` past the amounts' bound (a
    product of two large amounts), which would make ``quantize`` itself fail."""
    if not value.is_finite() or abs(value) >= LIMIT:
        raise AmountError(f"{value} has more than {MAX_DIGITS} digits before the point")
    return value.quantize(CENT, ROUND_HALF_UP, _WIDE)


def discount_spec(value: Any) -> str | Decimal:
    """A line's ``discount`` as stored: ``"10.00%"`` for a percentage, else the amount;
    :class:`DiscountError` for anything else (a negative amount, a percentage over 100)."""
    if value is None or value == "":
        return Decimal(0)
    if isinstance(value, str) and "%" in value:
        match = _PERCENT.fullmatch(value)
        if match is None:
            raise DiscountError(value)
        try:
            percentage = cents(Decimal(match.group(1)))
        except AmountError:
            raise DiscountError(value) from None
        if not 0 <= percentage <= HUNDRED:
            raise DiscountError(value)
        return f"{percentage}%"
    try:
        number = parse(value)
    except AmountError:
        raise DiscountError(value) from None
    if number < 0:
        raise DiscountError(value)
    return number


def discount_amount(spec: str | float | Decimal, gross: Decimal) -> Decimal:
    """What a stored discount takes off a line of ``gross`` = quantity x rate."""
    if isinstance(spec, str) and spec.endswith("%"):
        return cents(gross * Decimal(spec[:-1]) / HUNDRED)
    return cents(Decimal(str(spec)))


@attrs.frozen
class Totals:
    sub_total: Decimal
    tax_total: Decimal
    total: Decimal
    taxes: tuple[tuple[str, Decimal], ...]  # (tax_name, tax_amount), first use first


def line_tax(line: Mapping[str, Any], share: Decimal = Decimal(1)) -> Decimal:
    """The tax of one stored line (none without a ``tax_id``) on ``share`` of its amount
    (what a document discount before tax leaves of it)."""
    if not line.get("tax_id"):
        return Decimal(0)
    base = Decimal(str(line["item_total"])) * share
    return cents(base * Decimal(str(line.get("tax_percentage") or 0)) / HUNDRED)


def totals(
    lines: Iterable[Mapping[str, Any]],
    *,
    shipping: Any,
    adjustment: Any,
    discount: Any,
    before_tax: bool,
) -> Totals:
    """The document's totals from its stored lines and header amounts.  A document
    ``discount`` before tax lowers every line's taxable amount in proportion (so it
    must not exceed the sub-total: :class:`DiscountError`); after tax it only comes off
    the total."""
    lines = list(lines)
    sub = sum((Decimal(str(line["item_total"])) for line in lines), Decimal(0))
    off = Decimal(str(discount))
    share = Decimal(1)
    if before_tax and off:
        if not 0 < off <= sub:
            raise DiscountError(discount)
        share = (sub - off) / sub
    by_tax: dict[str, Decimal] = {}
    for line in lines:
        if line.get("tax_id"):
            name = str(line.get("tax_name") or "")
            by_tax[name] = by_tax.get(name, Decimal(0)) + line_tax(line, share)
    tax_total = sum(by_tax.values(), Decimal(0))
    total = sub + tax_total + Decimal(str(shipping)) + Decimal(str(adjustment)) - off
    return Totals(sub, tax_total, total, tuple(by_tax.items()))


__all__ = [
    "DiscountError",
    "Totals",
    "cents",
    "discount_amount",
    "discount_spec",
    "line_tax",
    "totals",
]
