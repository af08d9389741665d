"""Zoho JSON with exact numbers."""

from __future__ import annotations

from decimal import Decimal

from replicator.connectors.zoho.values import dumps, loads


def test_amounts_travel_as_exact_json_numbers() -> None:
    """Decimals are written as the exact number and read back as Decimal, never float."""
    text = dumps({"rate": Decimal("1234567890.123456789"), "qty": Decimal("3"), "n": None})
    assert text == '{"rate": 1234567890.123456789, "qty": 3, "n": null}'
    assert loads(text)["rate"] == Decimal("1234567890.123456789")
