import datetime as dt
from decimal import Decimal

import pytest

from journal.entry import canonical_decimal, dumps, loads
from journal.errors import EncodingError


def test_amounts_have_one_canonical_text():
    """12.50 and 12.5 encode the same; large and negative amounts stay plain."""
    assert canonical_decimal(Decimal("12.50")) == canonical_decimal(Decimal("12.5")) == "12.5"
    assert canonical_decimal(Decimal("1E+3")) == "1000"
    assert canonical_decimal(Decimal("-0.00")) == "0"


def test_values_round_trip_with_their_types():
    """Decimal, date and aware datetime come back as the same typed values."""
    value = {
        "limit": Decimal("10.25"),
        "day": dt.date(2026, 11, 27),
        "at": dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC),
        "name": "Ünïcode",
        "n": [1, None, True],
    }
    back = loads(dumps(value))
    assert back == value
    assert isinstance(back["limit"], Decimal)
    assert isinstance(back["day"], dt.date) and not isinstance(back["day"], dt.datetime)


def test_encoding_is_canonical_whatever_the_key_order():
    """Key order never changes the bytes that get hashed."""
    assert dumps({"b": 1, "a": 2}) == dumps({"a": 2, "b": 1}) == '{"a":2,"b":1}'


def test_floats_and_naive_times_are_refused():
    """Money is never float and time is never naive."""
    with pytest.raises(EncodingError):
        dumps({"x": 1.5})
    with pytest.raises(EncodingError):
        dumps(1.5)
    with pytest.raises(EncodingError):
        dumps({"at": dt.datetime(2026, 1, 1)})


def test_other_zones_are_stored_as_utc():
    """An aware time in another zone is stored as the same instant in UTC."""
    cet = dt.timezone(dt.timedelta(hours=1))
    text = dumps(dt.datetime(2026, 1, 1, 13, 0, tzinfo=cet))
    assert "12:00:00+00:00" in text


def test_integers_of_any_size_and_long_decimals_round_trip_exactly():
    """Past 64 bits an integer stays an int; a decimal keeps every digit (never a float)."""
    value = {"n": 2**100, "m": -(2**70), "d": Decimal("0.1234567890123456789012")}
    back = loads(dumps(value))
    assert back == value and type(back["n"]) is int


def test_a_bare_fraction_is_read_as_a_decimal_never_a_float():
    """Canonical JSON never holds one; should it, it is read without passing through float."""
    assert loads('{"x": 0.1}') == {"x": Decimal("0.1")}
