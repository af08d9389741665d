"""Laws of the pure parts: criteria escaping and the two APIs' time formats."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from replicator.sandbox.clock import books_time, crm_time, parse_offset, parse_time
from replicator.sandbox.crm_query import parse_criteria

values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\\"), max_size=20
)
offsets = st.sampled_from(["+00:00", "+05:30", "-08:00", "+12:45", "-03:30"])
epochs = st.integers(min_value=0, max_value=4_102_444_800)


def escape(value: str) -> str:
    return value.replace("(", "\\(").replace(")", "\\)").replace(",", "\\,")


@given(values, values)
def test_escaped_values_parse_back_unchanged(first, second):
    """Any value, escaped, parses back to itself; and/or trees keep their shape."""
    criteria = f"((Last_Name:equals:{escape(first)})or(City:starts_with:{escape(second)}))"
    assert parse_criteria(criteria) == (
        "or",
        [("cond", "Last_Name", "equals", [first]), ("cond", "City", "starts_with", [second])],
    )


@given(st.lists(values.filter(bool), min_size=1, max_size=5))
def test_unescaped_commas_list_alternatives(items):
    """Comma-separated escaped values come back as the list of alternatives."""
    criteria = f"(Email:in:{','.join(escape(v) for v in items)})"
    assert parse_criteria(criteria) == ("cond", "Email", "in", items)


@given(epochs, offsets)
def test_crm_and_books_times_parse_back_to_the_same_second(epoch, offset):
    """Both APIs' time formats, in any offset, parse back to the same epoch second."""
    tz = parse_offset(offset)
    assert parse_time(crm_time(epoch, tz)) == epoch
    assert parse_time(books_time(epoch, tz)) == epoch
    assert crm_time(epoch, tz).endswith(offset)
