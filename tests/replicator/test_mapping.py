import datetime as dt
from decimal import Decimal

import pytest

from replicator.errors import MappingError
from replicator.mapping import FieldMap, to_canonical, to_side


@pytest.mark.parametrize(
    "kind, raw, expected",
    [
        ("decimal", "1,250.50", Decimal("1250.50")),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", 7, Decimal(7)),
        ("integer", "42", 42),
        ("integer", 42.0, 42),
        ("boolean", "yes", True),
        ("boolean", 0, False),
        ("date", "2026-11-27", dt.date(2026, 11, 27)),
        ("datetime", "2026-11-27T10:00:00Z", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("datetime", "2026-11-27T10:00:00", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("text", "", None),
        ("decimal", "", None),
    ],
)
def test_raw_values_become_canonical(kind, raw, expected):
    """Side values convert to canonical types: Decimal money, aware UTC time, no empty text."""
    value = to_canonical(kind, raw)
    assert value == expected
    assert type(value) is type(expected)


def test_floats_never_leak_binary_noise():
    """0.1 + 0.2 read as a float is the amount 0.30000000000000004, not a float."""
    assert isinstance(to_canonical("decimal", 0.1 + 0.2), Decimal)


@pytest.mark.parametrize(
    "kind, raw",
    [
        ("decimal", "ten"),
        ("integer", "4.5"),
        ("boolean", "maybe"),
        ("date", "27/11/2026"),
        ("integer", True),
        ("decimal", "NaN"),
    ],
)
def test_values_that_do_not_convert_name_field_value_and_reason(kind, raw):
    """A bad value raises a MappingError naming the field, the value and the type."""
    with pytest.raises(MappingError) as info:
        to_canonical(kind, raw, field="credit_limit")
    message = str(info.value)
    assert "credit_limit" in message and repr(raw) in message and kind in message


def test_canonical_values_go_back_as_side_values():
    """Amounts go out as exact text, dates as ISO."""
    assert to_side("decimal", Decimal("12.50")) == "12.5"
    assert to_side("date", dt.date(2026, 1, 2)) == "2026-01-02"
    assert to_side("text", None) is None


def test_a_field_map_translates_rows_both_ways():
    """Columns map to canonical names and back, and bad fields are reported, not fatal."""
    fields = FieldMap(
        {
            "name": ("text", {"books": "name", "crm": "account_name"}),
            "limit": ("decimal", {"books": "credit_limit", "crm": "credit_limit"}),
            "notes": ("text", {"crm": "description"}),
        }
    )
    values, errors = fields.to_canonical(
        "crm", {"account_name": "Acme", "credit_limit": "x", "description": "VIP"}, record="crm:1"
    )
    assert values == {"name": "Acme", "notes": "VIP"}
    assert len(errors) == 1 and errors[0].field == "limit" and errors[0].record == "crm:1"
    assert fields.to_side("books", {"name": "Acme", "limit": Decimal("5"), "notes": "VIP"}) == {
        "name": "Acme",
        "credit_limit": "5",
    }
    assert fields.columns("books") == ("credit_limit", "name")
