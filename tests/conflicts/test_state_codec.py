"""A record's state as stored (:mod:`conflicts.state_codec`): compact, canonical, and
decoded back to exactly the state the reducer kept (issue 16)."""

from __future__ import annotations

import json

from hypothesis import given

from conflicts.state_codec import decode_state, encode_state, pack
from journal.entry import fast_dumps
from tests.strategies import raw_states

AT = "2026-01-05T10:23:20.000000+00:00"


def exact(raw: dict) -> str:
    """The state as JSON with its keys in their order (``true`` is not ``1``)."""
    return json.dumps(raw)


def as_stored_before(raw: dict) -> str:
    """The state as the plain JSON of earlier versions decoded it: keys sorted throughout."""
    return exact(json.loads(json.dumps(raw, sort_keys=True)))


@given(raw_states())
def test_a_stored_state_decodes_to_the_very_state_encoded(raw):
    """Every value, clock, time and key comes back, in the sorted key order a stored state
    always decoded to, with integers past 64 bits exact and ``True`` never ``1``."""
    assert exact(decode_state(encode_state(raw))) == as_stored_before(raw)


@given(raw_states())
def test_the_stored_text_is_canonical(raw):
    """Encoding what a text decodes to gives the text again: a replay's state compares
    with the live state as text."""
    text = encode_state(raw)
    assert encode_state(decode_state(text)) == text


def synced() -> dict:
    """A record made on CRM and created in Books, both sides holding its values."""
    values = {
        "city": "Pune",
        "credit_limit": {"$decimal": "39061.55"},
        "email": "a@example.com",
        "name": "Acme",
        "payment_terms": 60,
    }
    return {
        "c": {"crm": 1},
        "d": False,
        "e": {},
        "f": {name: [[["crm", 1, value, AT]], {"crm": 1}] for name, value in values.items()},
        "k": "Acme",
        "m": "customers",
        "n": None,
        "o": "crm",
        "r": "crm:4876876000000333001",
        "s": {
            side: {"c": {"crm": 1}, "del": False, "id": side_id, "v": dict(values)}
            for side, side_id in (("books", "5001"), ("crm", "4876876000000333001"))
        },
        "st": "active",
        "x": {},
    }


def test_a_synced_record_says_each_value_and_time_once():
    """The sides hold the fields' values: the stored state names them by id only, and the
    one write's time is said once for all its fields."""
    raw = synced()
    text = encode_state(raw)
    packed = pack(raw)
    assert text.count("Pune") == 1 and text.count("260105102320000000") == 1 and AT not in text
    # the CRM id is the rid's tail; the match key is the name's value
    assert packed["y"] == {"books": {"i": "5001"}, "crm": {}}
    assert packed["K"] == "name" and "k" not in packed
    assert len(text) * 2 < len(fast_dumps(raw))
    assert exact(decode_state(text)) == as_stored_before(raw)


def test_a_side_holding_other_values_keeps_them():
    """What a side holds apart from the field's one value (a clone's name, a value not yet
    written back, a field it lacks) is stored for that side alone."""
    raw = synced()
    books = raw["s"]["books"]
    books["v"]["name"] = "Acme (2)"
    del books["v"]["city"]
    books["v"]["payment_terms"] = True  # not the register's 60, nor the same as 1
    packed = pack(raw)["y"]["books"]
    assert packed["v"] == {"name": "Acme (2)", "payment_terms": True}
    assert packed["-"] == ["city"]
    assert exact(decode_state(encode_state(raw))) == as_stored_before(raw)


def test_a_state_stored_whole_before_version_7_reads_as_it_is():
    """A journal whose states were not rebuilt yet (a backend without state versions)
    still reads them: a state stored as plain JSON decodes to that JSON."""
    raw = synced()
    assert exact(decode_state(fast_dumps(raw))) == as_stored_before(raw)


def test_a_state_of_no_origin_side_keeps_it_empty():
    """A state an entry of no side made has the empty origin: it is not read from its rid."""
    raw = synced()
    raw["o"] = ""
    assert decode_state(encode_state(raw))["o"] == ""


def test_a_state_stored_by_version_7_reads_as_it_was():
    """A state stored compact by version 7 (sides in ``h``, an id absent for none, times
    as text) decodes as it did: a journal not yet rebuilt still opens."""
    raw = synced()
    v7 = (
        '{"c":{"crm":1},"g":[["crm",1,"' + AT + '",{"city":"Pune","credit_limit":{"$decimal":'
        '"39061.55"},"email":"a@example.com","name":"Acme","payment_terms":60}]],'
        '"h":{"books":{"i":"5001"},"crm":{"i":"4876876000000333001"}},"k":"Acme",'
        '"m":"customers","r":"crm:4876876000000333001"}'
    )
    assert exact(decode_state(v7)) == as_stored_before(raw)
    raw["s"]["books"]["id"] = None
    v7 = v7.replace('"books":{"i":"5001"}', '"books":{}')
    assert exact(decode_state(v7)) == as_stored_before(raw)


def test_a_register_of_the_records_clock_and_an_odd_time_come_back():
    """A field one side alone wrote since the other's write (its clock the record's) is
    grouped with its write; a time not in the canonical form stays text; a side without
    an id says so."""
    raw = synced()
    raw["c"] = {"books": 1, "crm": 1}
    raw["f"]["phone"] = [[["books", 1, "+44", "2026-01-05T10:23:20Z"]], {"books": 1, "crm": 1}]
    raw["s"]["books"]["id"] = None
    for held in raw["s"].values():
        held["c"] = {"books": 1, "crm": 1}
        held["v"]["phone"] = "+44"
    packed = pack(raw)
    assert packed["g"][0] == ["books", 1, "2026-01-05T10:23:20Z", {"phone": "+44"}, 1]
    assert "f" not in packed and packed["y"]["books"] == {"i": None}
    assert exact(decode_state(encode_state(raw))) == as_stored_before(raw)
