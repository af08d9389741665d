import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journal import Dot, Kind, NewEntry, VectorClock
from journal.entry import (
    GENESIS,
    ChainKey,
    Entry,
    _encoder,
    canonical_decimal,
    chain_hash,
    chained_rows,
    dumps,
    entry_from_row,
    fast_dumps,
    from_wire,
    loads,
    micros_of,
    micros_text,
    same_wire,
    to_wire,
    utc_text,
)
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


LINES = [
    {
        "item": "items:7",
        "description": "Bolt",
        "quantity": Decimal("2.50"),
        "rate": Decimal("10"),
        "discount": Decimal("0"),
        "tax": None,
    },
    {
        "item": None,
        "description": None,
        "quantity": Decimal("1"),
        "rate": Decimal("0.125"),
        "discount": Decimal("0.01"),
        "tax": Decimal("20"),
    },
]


def test_wire_form_reaches_the_amounts_inside_a_documents_lines():
    """A list of dicts of amounts becomes plain JSON all the way down, and back."""
    wire = to_wire(LINES)
    assert wire[0]["quantity"] == {"$decimal": "2.5"}
    assert wire[1]["tax"] == {"$decimal": "20"}
    assert fast_dumps(wire) == dumps(LINES)  # the state's encoding and the journal's agree
    back = from_wire(wire)
    assert back == LINES and type(back[1]["rate"]) is Decimal


def test_equal_lines_have_equal_wire_forms_whatever_their_trailing_zeros():
    """1.50 and 1.5 in a line are one amount: the wire forms compare equal."""
    other = [dict(line) for line in LINES]
    other[0]["quantity"] = Decimal("2.5")
    assert same_wire(to_wire(LINES), to_wire(other))
    other[0]["quantity"] = Decimal("2.51")
    assert not same_wire(to_wire(LINES), to_wire(other))


def test_a_wire_form_is_its_own_wire_form_and_tagged_values_stay_values():
    """to_wire of a wire form changes nothing; a one-key tagged dict decodes to its value
    while a one-key dict of another key stays a dict, converted inside."""
    wire = to_wire(LINES)
    assert to_wire(wire) == wire
    assert from_wire({"$date": "2026-01-02"}) == dt.date(2026, 1, 2)
    assert from_wire({"n": {"$decimal": "1.5"}}) == {"n": Decimal("1.5")}
    assert to_wire({"id": "1", "name": "Acme"}) == {"id": "1", "name": "Acme"}


def test_lines_read_back_from_the_journal_as_typed_values():
    """Lines stored as canonical JSON come back with Decimal amounts."""
    back = loads(dumps({"lines": LINES}))
    assert back == {"lines": LINES}
    assert type(back["lines"][0]["quantity"]) is Decimal


@pytest.mark.parametrize("side", ["crm", "books:acme", 'say "hi"', "back\\slash", '",1', ""])
def test_a_stored_dot_reads_back_as_it_was_whatever_its_side(side):
    """A dot is read back exactly, its side holding quotes, backslashes or nothing."""
    new = NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", Dot(side, 12345678901234567890))
    rows, _ = chained_rows([new], seq=0, prev=GENESIS, key=None, now=dt.datetime.now(dt.UTC))
    assert entry_from_row(rows[0]).dot == Dot(side, 12345678901234567890)


_any_zone = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-3)), dt.timezone.min])
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=6),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(timezones=_any_zone),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=5), _values, max_size=6))
def test_the_fast_encoding_writes_the_bytes_of_the_standard_encoder(value):
    """dumps writes what the standard library's canonical encoder writes for any canonical
    value (integers past 64 bits, other zones, lists and tuples of tagged values), so a
    faster encoder never changes a chain."""
    assert dumps(value) == _encoder.encode(value)


_words = st.text(max_size=4)
_new_entries = st.builds(
    NewEntry,
    kind=st.sampled_from(Kind),
    module=_words,
    rid=st.none() | _words,
    side=st.none() | _words,
    dot=st.none() | st.builds(Dot, _words, st.integers(min_value=0, max_value=2**70)),
    context=st.none()
    | st.builds(VectorClock, st.dictionaries(_words, st.integers(min_value=1, max_value=2**70))),
    fields=st.dictionaries(st.text(max_size=5), _values, max_size=4),
    meta=st.dictionaries(st.text(max_size=5), _values, max_size=3),
    at=st.none() | st.datetimes(timezones=_any_zone),
)


def _reference_rows(entries, *, seq, prev, key, now):
    """What chained_rows must return, made the slow way: each value by the standard
    library's canonical encoder, each hash by chain_hash, each entry by its constructor."""
    rows, stored = [], []
    for new in entries:
        seq += 1
        at = utc_text(new.at or now)
        dot = None if new.dot is None else _encoder.encode(new.dot.to_json())
        context = None if new.context is None else _encoder.encode(new.context.to_json())
        fields, meta = _encoder.encode(new.fields), _encoder.encode(new.meta)
        text = (at, new.module, new.rid, new.side, new.kind.value, dot, context, fields, meta)
        digest = chain_hash(prev, seq, *text, key=key)
        rows.append((seq, *text, prev, digest))
        stored.append(
            Entry(
                seq,
                dt.datetime.fromisoformat(at),
                new.module,
                new.rid,
                new.side,
                new.kind,
                new.dot,
                new.context,
                new.fields,
                new.meta,
                prev,
                digest,
            )
        )
        prev = digest
    return rows, stored


@given(
    st.lists(_new_entries, max_size=4),
    st.integers(min_value=0, max_value=2**40),
    st.booleans(),
    st.datetimes(timezones=_any_zone),
)
def test_chained_rows_writes_what_the_standard_encoder_and_chain_hash_make(
    entries, seq, keyed, now
):
    """The append's fast path (inline text, copied hash states, entries made as tuples)
    stores, chains and returns exactly what the slow reference makes, keyed or not, in
    each format it writes."""
    key = ChainKey(bytes(range(32))) if keyed else None
    prev = format(seq, "064x")  # any 64 hex digits (GENESIS for the first entry)
    rows, stored = _reference_rows(entries, seq=seq, prev=prev, key=key, now=now)
    got_rows, got = chained_rows(entries, seq=seq, prev=prev, key=key, now=now)
    assert got_rows == rows
    assert got == stored
    assert [e.payload for e in got] == [e.payload for e in entries]
    binary_rows, _ = chained_rows(entries, seq=seq, prev=prev, key=key, now=now, format=2)
    assert binary_rows == [(*r[:10], bytes.fromhex(r[10]), bytes.fromhex(r[11])) for r in rows]
    rows_3, stored_3 = chained_rows(entries, seq=seq, prev=prev, key=key, now=now, format=3)
    assert stored_3 == stored
    assert rows_3 == [
        (r[0], micros_of(e.at), *r[2:10], bytes.fromhex(r[11]))
        for r, e in zip(rows, stored, strict=True)
    ]
    assert [micros_text(r[1]) for r in rows_3] == [r[1] for r in rows]


_MICROS = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)


@given(st.datetimes(timezones=_any_zone) | _MICROS.map(lambda m: m))
def test_a_time_and_its_stored_micros_give_one_text_in_python_and_in_sqlite(value):
    """Format 3 stores a time as integer microseconds: read back in Python
    (:func:`micros_text`) and by SQLite's virtual ``at`` column, it is the text formats 1
    and 2 store (:func:`utc_text`, which the chain hashes), over the whole range of a
    Python datetime; an integer outside it, or a value of another type, reads as no
    time in both."""
    import sqlite3

    from journal.schema import AT_TEXT

    micros = micros_of(value) if isinstance(value, dt.datetime) else value
    conn = sqlite3.connect(":memory:")
    (sql,) = conn.execute(f"SELECT {AT_TEXT} FROM (SELECT ? AS micros)", (micros,)).fetchone()
    text = micros_text(micros)
    assert sql == text
    assert dt.datetime.fromisoformat(text) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC) == (
        dt.timedelta(microseconds=micros)
    )
    if isinstance(value, dt.datetime):
        assert text == utc_text(value)
    conn.close()


@pytest.mark.parametrize(
    "micros",
    [-62_135_596_800_000_001, 253_402_300_800_000_000, 2**63 - 1, -(2**63), "17", 1.5, b"1"],
)
def test_a_stored_micros_out_of_range_or_not_an_integer_is_no_time(micros):
    """A value no time's text equals, in Python and in SQLite, that no reader decodes."""
    import sqlite3

    from journal.schema import AT_TEXT

    conn = sqlite3.connect(":memory:")
    (sql,) = conn.execute(f"SELECT {AT_TEXT} FROM (SELECT ? AS micros)", (micros,)).fetchone()
    conn.close()
    for text in (sql, micros_text(micros)):
        assert text.startswith("not a time: ")
        with pytest.raises(ValueError):
            dt.datetime.fromisoformat(text)
