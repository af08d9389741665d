"""Record state as stored: its JSON keeps every canonical value exactly (issue 9, class 3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conflicts import RecordReducer, RecordState
from conflicts.state import new_state
from journal import Dot, Journal, Kind, NewEntry, VectorClock, rebuild
from journal.entry import fast_dumps

BIG = 123456789012345678901234567890
T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def test_a_state_holding_an_integer_past_64_bits_decodes_to_the_same_integer():
    """orjson reads such an integer as a float: the stored state must not."""
    reducer = RecordReducer()
    state = RecordState(new_state("customers", "books:1", "books"))
    state.raw["s"]["books"] = {"id": "1", "c": {}, "v": {"a": BIG}, "del": False}
    state.raw["s"]["crm"] = {"id": "2", "c": {}, "v": {"a": -(2**63) - 1}, "del": False}
    text, *_ = reducer.encode(state)
    back = reducer.decode(text)
    assert back.raw == state.raw
    assert back.sides["books"].values == {"a": BIG}
    assert type(back.raw["s"]["crm"]["v"]["a"]) is int


def test_a_state_without_big_integers_is_stored_as_before():
    """The usual state is the same bytes as the canonical JSON of earlier releases."""
    reducer = RecordReducer()
    state = RecordState(new_state("customers", "books:1", "books"))
    state.raw["s"]["books"] = {"id": "1", "c": {}, "v": {"n": 2**63 - 1}, "del": False}
    text, *_ = reducer.encode(state)
    assert text == fast_dumps(state.raw) and not text.endswith("\n")


def test_big_integers_and_long_decimals_survive_the_journal_and_its_replay(tmp_path):
    """Observed values past 64 bits and past a double's digits come back exactly, from the
    live state, from a reopened journal and from a replay."""
    amount = Decimal("1234567890.123456789012345")
    journal = Journal(tmp_path / "j.db", RecordReducer())
    try:
        journal.append(
            [
                NewEntry(
                    Kind.OBSERVED,
                    "customers",
                    "books:1",
                    "books",
                    Dot("books", 1),
                    VectorClock(),
                    {"visits": BIG, "limit": amount},
                    {"id": "1", "modified": T0.isoformat()},
                )
            ]
        )
        live = journal.record("customers", "books:1")
        assert live is not None
        assert live.sides["books"].values == {"visits": BIG, "limit": amount}
        (entry,) = journal.read(kinds=[Kind.OBSERVED])
        assert entry.fields == {"visits": BIG, "limit": amount}
        rebuild(journal)
        replayed = journal.record("customers", "books:1")
        assert replayed is not None and replayed == live
    finally:
        journal.close()
    reopened = Journal(tmp_path / "j.db", RecordReducer())
    try:
        state = reopened.record("customers", "books:1")
        assert state is not None and state.sides["books"].values["visits"] == BIG
    finally:
        reopened.close()
