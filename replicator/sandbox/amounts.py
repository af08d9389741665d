"""Amounts as Zoho holds them: finite numbers of at most 16 digits before the point.

Zoho CRM's currency and decimal fields take at most 16 digits; the sandbox holds Books
amounts (rates, credit limits, line values, totals) to the same bound.  Every amount the
sandbox reads from a request or computes from stored ones (line totals, sub-totals, grand
totals, expected revenue) goes through :func:`rounded`, so a value that is too large, not a
number, infinite or NaN raises :class:`AmountError`, which each API turns into its own
validation error (CRM: the record's ``INVALID_DATA``; Books: HTTP 400 code 4).  Nothing
else in the sandbox calls ``Decimal.quantize``: with more digits than the decimal context
holds (1e26 at two places) it raises ``InvalidOperation``, which was an HTTP 500.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

MAX_DIGITS = 16  # digits before the decimal point
LIMIT = Decimal(10) ** MAX_DIGITS


class AmountError(ValueError):
    """A value that is not an amount Zoho would hold."""


def parse(value: Any) -> Decimal:
    """``value`` (a JSON number, a numeric text or a Decimal) as an exact Decimal within
    :data:`LIMIT`, or :class:`AmountError`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise AmountError(f"{value!r} is not a number")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):  # ValueError: an int too long to write out
        raise AmountError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise AmountError(f"{value!r} is not a finite number")
    if abs(number) >= LIMIT:
        raise AmountError(f"{value!r} has more than {MAX_DIGITS} digits before the point")
    return number


def rounded(value: Any, places: int = 2) -> float:
    """``value`` rounded half up to ``places`` decimals, as the JSON number the APIs send;
    :class:`AmountError` if it is not an amount."""
    number = parse(value)
    # a context wide enough for any amount within LIMIT at these places: quantize never
    # runs out of digits
    context = Context(prec=MAX_DIGITS + max(places, 0) + 2)
    try:
        return float(number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, context))
    except InvalidOperation:
        raise AmountError(f"{value!r} cannot be rounded to {places} places") from None


__all__ = ["LIMIT", "MAX_DIGITS", "AmountError", "parse", "rounded"]
