"""The ``lines`` field type: a document's lines between a side's form and canonical values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from journal.entry import same_wire, to_wire
from replicator.config.mapping import LINE_KEYS, TYPES, FieldMap, to_canonical, to_side
from replicator.connectors.zoho.hints import missing_field_fix
from replicator.errors import MappingError

SIDE_LINES = [
    {"item": "7", "description": "Bolt", "quantity": "2.50", "rate": 10, "discount": None},
    {"item": None, "quantity": Decimal("1"), "rate": "0.125", "tax": "20"},
]


def test_a_sides_lines_become_canonical_lines_with_every_key_in_document_order():
    """Amounts become Decimal, a missing discount 0, a missing tax or item None; order kept."""
    lines = to_canonical("lines", SIDE_LINES, field="lines")
    assert [tuple(line) for line in lines] == [LINE_KEYS, LINE_KEYS]
    assert lines[0] == {
        "item": "7",
        "description": "Bolt",
        "quantity": Decimal("2.5"),
        "rate": Decimal(10),
        "discount": Decimal(0),
        "tax": None,
    }
    assert lines[1]["tax"] == Decimal(20) and type(lines[1]["rate"]) is Decimal
    assert lines[1]["item"] is None and lines[1]["description"] is None


def test_lines_held_as_json_text_read_as_the_same_lines():
    """A SQLite column holding the list as JSON text reads exactly as the list, never via
    float (0.1 stays 0.1)."""
    text = '[{"item": "7", "quantity": 0.1, "rate": "3", "description": ""}]'
    (line,) = to_canonical("lines", text, field="lines")
    assert line["quantity"] == Decimal("0.1") and type(line["quantity"]) is Decimal
    assert line["description"] is None  # empty text is no value, as for text fields


def test_text_in_a_line_is_nfc_normalised_like_a_text_field():
    """A description typed decomposed equals the composed one."""
    (line,) = to_canonical("lines", [{"quantity": 1, "rate": 1, "description": "Cafe\u0301"}])
    assert line["description"] == "Caf\u00e9"


@pytest.mark.parametrize(
    "raw, said",
    [
        (
            [
                {"quantity": "1", "rate": 1},
                {"quantity": "1", "rate": 1},
                {"quantity": "abc", "rate": 1},
            ],
            "line 3: quantity 'abc' is not a number",
        ),
        ([{"quantity": "1,5", "rate": 1}], "line 1: quantity '1,5' has a comma"),
        ([{"quantity": "12abc", "rate": 1}], "line 1: quantity '12abc' is not a number"),
        ([{"rate": 1}], "line 1: quantity is missing"),
        ([{"quantity": 1}], "line 1: rate is missing"),
        ([{"quantity": 1.5, "rate": 1}], "line 1: quantity 1.5 was read as a floating-point"),
        ([{"quantity": 1, "rate": 1, "tax": True}], "line 1: tax True is a yes/no value"),
        ([{"quantity": 1, "rate": "NaN"}], "line 1: rate 'NaN' is not a number"),
        ([{"quantity": 1, "rate": 1, "colour": "red"}], "line 1: unknown key 'colour'"),
        ([{"quantity": 1, "rate": 1}, "oops"], "line 2: 'oops' is not a line"),
        ([{"quantity": 1, "rate": 1, "description": 5}], "line 1: description 5 is not text"),
        ('[{"quantity": 1,', "is not JSON text of a list of lines"),
        ({"quantity": 1}, "is not a list of lines"),
        ('{"quantity": 1}', "is not a list of lines"),
    ],
)
def test_a_bad_line_is_one_error_for_the_field_naming_the_line(raw, said):
    """Strict as a decimal field: no comma, no trailing garbage, no float; the message
    names the field and the line."""
    with pytest.raises(MappingError) as caught:
        to_canonical("lines", raw, field="lines")
    assert caught.value.field == "lines"
    assert said in str(caught.value)
    assert str(caught.value).startswith("field lines: value ")


def test_a_field_map_reports_bad_lines_against_the_record_and_reads_the_rest():
    """One document's bad lines leave its other fields readable."""
    fields = FieldMap({"lines": ("lines", {"a": "items"}), "name": ("text", {"a": "name"})})
    values, errors = fields.to_canonical(
        "a", {"items": [{"quantity": "x", "rate": 1}], "name": "INV-1"}, record="a:1"
    )
    assert values == {"name": "INV-1"}
    (error,) = errors
    assert error.record == "a:1" and error.field == "lines" and "line 1: quantity" in error.reason


def test_canonical_lines_go_to_a_side_with_amounts_as_plain_text():
    """Every key, amounts as their shortest plain text (like a decimal field), no tax None."""
    lines = to_canonical("lines", SIDE_LINES)
    assert to_side("lines", lines) == [
        {
            "item": "7",
            "description": "Bolt",
            "quantity": "2.5",
            "rate": "10",
            "discount": "0",
            "tax": None,
        },
        {
            "item": None,
            "description": None,
            "quantity": "1",
            "rate": "0.125",
            "discount": "0",
            "tax": "20",
        },
    ]
    assert to_side("lines", None) is None


def test_lines_written_and_read_back_are_the_same_value():
    """to_side then to_canonical gives equal wire forms: a side holding our write is no change."""
    lines = to_canonical("lines", SIDE_LINES)
    back = to_canonical("lines", to_side("lines", lines))
    assert same_wire(to_wire(back), to_wire(lines))


def test_an_empty_document_has_an_empty_list_and_an_empty_column_no_value():
    """[] is a document without lines; NULL or '' is no value."""
    assert to_canonical("lines", []) == []
    assert to_canonical("lines", None) is None
    assert to_canonical("lines", "") is None


@pytest.mark.parametrize("kind", TYPES)
def test_every_field_type_has_a_zoho_setup_hint(kind):
    """A missing column of any type (lines too) gets a hint naming a Zoho field type,
    never a crash."""
    crm = missing_field_fix("zoho_crm", "Quotes", "Quoted_Items", kind)
    books = missing_field_fix("zoho_books", "estimates", "cf_lines", kind)
    assert crm is not None and "of type " in crm
    assert books is not None and "of type " in books
