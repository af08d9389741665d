import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conflicts.merge import canonical
from journal.entry import same_wire, to_wire
from replicator.config.mapping import FieldMap, to_canonical, to_side
from replicator.errors import MappingError


@pytest.mark.parametrize(
    "kind, raw, expected",
    [
        ("decimal", "1250.50", Decimal("1250.50")),
        ("decimal", " 1e3 ", Decimal("1E+3")),
        ("integer", "123456789012345678901234567890", 123456789012345678901234567890),
        ("decimal", 0.1, Decimal("0.1")),
        ("decimal", 7, Decimal(7)),
        ("integer", "42", 42),
        ("integer", 42.0, 42),
        ("boolean", "yes", True),
        ("boolean", 0, False),
        ("date", "2026-11-27", dt.date(2026, 11, 27)),
        ("datetime", "2026-11-27T10:00:00Z", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("datetime", "2026-11-27T15:30:00+0530", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
        ("text", "", None),
        ("decimal", "", None),
    ],
)
def test_raw_values_become_canonical(kind, raw, expected):
    """Side values convert to canonical types: Decimal money, aware UTC time, no empty text."""
    value = to_canonical(kind, raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "kind, raw, reason",
    [
        ("decimal", "1,50", "comma"),
        ("decimal", "1,250.50", "comma"),
        ("decimal", "1.500,00", "comma"),
        ("decimal", "12abc", "plain digits"),
        ("decimal", "1_000", "plain digits"),
        ("decimal", "$5", "plain digits"),
        ("decimal", "1E+999999999", "more than 1000 digits"),
        ("integer", "7 apples", "plain digits"),
        ("integer", 1.2345678901234568e29, "already rounded"),
        ("date", "2024-12-03garbage", "ISO date"),
        ("date", "20241203", "ISO date"),
        ("date", "2024-12-03T10:00:00Z", "ISO date"),
        ("datetime", "2024-12-03T10:00:00", "no time zone"),
        ("datetime", "2024-12-03T10:00:00Zjunk", "ISO 8601"),
        ("datetime", "2024-W49-2", "ISO 8601"),
        ("text", b"\xffA", "not valid UTF-8"),
        ("text", "a\ud800b", "lone surrogate"),
    ],
)
def test_parsing_is_strict_and_never_guesses(kind, raw, reason):
    """A locale comma, trailing garbage, another date format, a naive time or a rounded
    integer is a conversion error saying why, never a value guessed from it."""
    with pytest.raises(MappingError) as info:
        to_canonical(kind, raw, field="amount")
    assert reason in info.value.reason
    assert info.value.field == "amount" and info.value.value == raw


def test_a_conversion_error_is_one_sentence_without_python_internals():
    """The message names record, field, value and reason once, with no exception class."""
    fields = FieldMap({"limit": ("decimal", {"books": "credit_limit"})})
    _, (error,) = fields.to_canonical("books", {"credit_limit": "1,50"}, record="books:7")
    message = str(error)
    assert message.startswith("record books:7, field limit: value '1,50' does not convert")
    assert "<class" not in message and "ConversionSyntax" not in message
    assert message.count("books:7") == 1 and "\n" not in message


def test_bytes_that_are_not_text_are_shown_as_hex_and_cut():
    """An undecodable value is shown as an SQL hex literal, a long one cut to a prefix."""
    with pytest.raises(MappingError) as info:
        to_canonical("text", b"\xff" * 500, field="email")
    message = str(info.value)
    assert "x'ffff" in message and "(500 bytes)" in message and len(message) < 300


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


def product_types() -> FieldMap:
    """CRM spells the product type Goods/Services, Books goods/service (its own, canonical)."""
    return FieldMap(
        {
            "name": ("text", {"books": "name", "crm": "Product_Name"}),
            "product_type": ("picklist", {"books": "product_type", "crm": "Product_Type"}),
        },
        values={"product_type": {"crm": {"Goods": "goods", "Services": "service"}}},
    )


def test_a_picklist_reads_each_sides_spelling_as_the_canonical_value():
    """CRM's "Services" and Books' "service" are the same canonical value."""
    fields = product_types()
    crm, errors = fields.to_canonical("crm", {"Product_Name": "Desk", "Product_Type": "Services"})
    books, _ = fields.to_canonical("books", {"name": "Desk", "product_type": "service"})
    assert errors == []
    assert crm == books == {"name": "Desk", "product_type": "service"}


def test_a_picklist_writes_the_canonical_value_in_the_targets_spelling():
    """A canonical value goes to CRM through its map and to Books (no map) as it is."""
    fields = product_types()
    assert fields.to_side("crm", {"product_type": "goods"}) == {"Product_Type": "Goods"}
    assert fields.to_side("books", {"product_type": "goods"}) == {"product_type": "goods"}
    assert fields.to_side("crm", {"product_type": None}) == {"Product_Type": None}


def test_reading_an_unmapped_picklist_value_names_field_value_and_known_values():
    """A CRM value missing from its map is a per-field error; the rest of the row converts."""
    values, errors = product_types().to_canonical(
        "crm", {"Product_Name": "Desk", "Product_Type": "Digital"}, record="crm:7"
    )
    assert values == {"name": "Desk"}
    (error,) = errors
    assert error.field == "product_type" and error.record == "crm:7"
    message = str(error)
    assert "'Digital'" in message and "'Goods'" in message and "'Services'" in message


def test_writing_a_canonical_value_the_target_cannot_spell_is_a_mapping_error():
    """Books' "digital" has no CRM spelling: the write fails naming the value and the map."""
    with pytest.raises(MappingError) as info:
        product_types().to_side("crm", {"name": "Desk", "product_type": "digital"})
    assert info.value.field == "product_type"
    assert "'digital'" in str(info.value) and "'goods'" in str(info.value)


def test_a_picklist_without_maps_is_text():
    """With no map on either side a picklist value passes through as text."""
    fields = FieldMap({"stage": ("picklist", {"books": "stage", "crm": "Stage"})})
    assert fields.to_canonical("crm", {"Stage": "Won"}) == ({"stage": "Won"}, [])
    assert fields.to_side("books", {"stage": "Won"}) == {"stage": "Won"}
    assert to_canonical("picklist", "") is None


def test_value_maps_must_be_for_picklists_and_spell_each_value_once():
    """A map on a non-picklist field, or two side values for one canonical value, is refused."""
    with pytest.raises(ValueError, match="picklist"):
        FieldMap({"name": ("text", {"crm": "Name"})}, values={"name": {"crm": {"A": "a"}}})
    with pytest.raises(ValueError, match="could not choose"):
        FieldMap(
            {"kind": ("picklist", {"crm": "Kind"})},
            values={"kind": {"crm": {"Goods": "goods", "Product": "goods"}}},
        )


# -- the pull's and the push's one-pass conversions -----------------------------------------

_KINDS = {
    "name": "text",
    "terms": "integer",
    "limit": "decimal",
    "since": "date",
    "seen": "datetime",
    "active": "boolean",
    "stage": "picklist",
    "lines": "lines",
}
_RAW = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=6),
    st.binary(max_size=3),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(
        [
            "1250.50",
            " 1e3 ",
            "1,50",
            "0.0000001",
            "2026-11-27",
            "2026-13-27",
            "2026-02-30",
            " 2026-11-27",
            "0999-01-01",
            "2026-11-27T15:30:00+0530",
            "2026-11-27T10:00:00",
            "Won",
            "Lost",
            "yes",
            "Caf\u0065\u0301",
            '[{"item": null, "description": "x", "quantity": "1", "rate": "2.50"}]',
        ]
    ),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
)


def _field_map() -> FieldMap:
    return FieldMap(
        {name: (kind, {"crm": name.upper(), "books": name}) for name, kind in _KINDS.items()},
        values={"stage": {"crm": {"Won": "won", "Lost": "lost"}}},
    )


@settings(max_examples=300)
@given(
    st.dictionaries(st.sampled_from([n.upper() for n in _KINDS]), _RAW),
    st.sampled_from(["crm", "books"]),
)
def test_to_wire_is_the_wire_form_of_to_canonical(raw, side):
    """The pull's one pass (:meth:`FieldMap.to_wire`) gives what ``to_wire`` makes of
    :meth:`FieldMap.to_canonical`'s values, and the same errors, for any raw value."""
    fields = _field_map()
    if side == "books":
        raw = {k.lower(): v for k, v in raw.items()}
    values, errors = fields.to_canonical(side, raw, record="crm:1")
    wire, wire_errors = fields.to_wire(side, raw, record="crm:1")
    assert wire == {k: to_wire(v) for k, v in values.items()}
    assert all(same_wire(wire[k], to_wire(v)) for k, v in values.items())
    assert [(e.field, e.reason, e.record) for e in wire_errors] == [
        (e.field, e.reason, e.record) for e in errors
    ]


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(list(_KINDS)), _RAW), st.sampled_from(["crm", "books"]))
def test_wire_to_side_is_to_side_of_the_canonical_values(raw, side):
    """The push's one pass (:meth:`FieldMap.wire_to_side`) writes what :meth:`FieldMap.to_side`
    writes of the canonical values, or fails as it does, for values of any type in any field
    (a field's type may have changed since its value was journaled)."""
    fields = _field_map()
    try:
        wire = {k: to_wire(v) for k, v in raw.items()}
    except Exception:  # not a canonical value (a float, bytes): never in the journal
        return
    try:
        expected: object = fields.to_side(side, canonical(wire))
    except Exception as exc:
        expected = type(exc)
    try:
        got: object = fields.wire_to_side(side, wire)
    except Exception as exc:
        got = type(exc)
    assert got == expected
    if isinstance(got, dict):
        assert all(type(got[k]) is type(expected[k]) for k in got)  # type: ignore[index]
