"""The CRM org's taxes: what ``GET /crm/v8/org/taxes`` lists and line items name.

A line item of a quote, sales order, invoice or purchase order names its taxes in
``line_tax`` (``[{name, percentage}]`` or ``[{id}]``); the CRM computes the tax amount
from the tax's percentage (see :mod:`.crm_values`).  Every sandbox org has ``VAT`` 20 %,
``Reduced`` 5 % and ``Zero`` 0 %; the admin API adds more (``POST
/__admin__/crm/taxes``), kept in the store.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from .amounts import AmountError
from .amounts import parse as parse_amount
from .store import Store

# every sandbox org has these taxes
BASE_TAXES = (("VAT", "20"), ("Reduced", "5"), ("Zero", "0"))
MAX_NAME = 100


@attrs.frozen
class Tax:
    """One of the org's taxes."""

    id: str
    name: str
    value: Decimal  # the percentage: 20 is 20 %
    sequence: int

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "display_label": f"{self.name} - {self.value} %",
            "value": float(self.value),
            "sequence_number": self.sequence,
        }


class CrmTaxes:
    """The base taxes plus those added through the admin API; ``id_base``: where the
    taxes' ids start in the CRM's id space."""

    def __init__(self, store: Store, *, id_base: int) -> None:
        self._store, self._base = store, id_base

    def all(self) -> list[Tax]:
        base = [
            Tax(str(self._base + i), name, Decimal(value), i + 1)
            for i, (name, value) in enumerate(BASE_TAXES)
        ]
        added = [
            Tax(t["id"], t["name"], Decimal(t["value"]), t["sequence"])
            for t in self._store.kv_get("crm.taxes", [])
        ]
        return base + added

    def add(self, name: Any, value: Any) -> Tax:
        """A new tax of ``value`` percent; ``ValueError`` says what is wrong."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a tax needs a name")
        name = name.strip()
        if len(name) > MAX_NAME:
            raise ValueError(f"a tax name has at most {MAX_NAME} characters")
        try:
            percent = parse_amount(value)
        except AmountError:
            raise ValueError(f"a tax value is a percentage, not {value!r}") from None
        if not 0 <= percent <= 100 or percent != round(percent, 3):
            raise ValueError("a tax value is a percentage from 0 to 100 with at most 3 places")
        with self._store.transaction():
            taxes = self.all()
            if any(t.name.lower() == name.lower() for t in taxes):
                raise ValueError(f"a tax named {name!r} exists")
            tax = Tax(
                str(self._base + 100 + self._store.next_value("crm.tax")),
                name,
                _plain(percent),
                len(taxes) + 1,
            )
            stored = self._store.kv_get("crm.taxes", [])
            stored.append(
                {"id": tax.id, "name": name, "value": str(tax.value), "sequence": tax.sequence}
            )
            self._store.kv_set("crm.taxes", stored)
        return tax


def _plain(number: Decimal) -> Decimal:
    """``number`` without trailing zeros and never in exponent form (20.0 -> 20)."""
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


__all__ = ["BASE_TAXES", "CrmTaxes", "Tax"]
