"""Record state as stored: its JSON keeps every canonical value exactly (issue 9, class 3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from conflicts import RecordReducer, RecordState
from conflicts.state import new_state
from conflicts.state_codec import pack
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


def test_a_state_without_big_integers_is_stored_as_canonical_json():
    """The usual state is the canonical JSON of its stored form, written by orjson."""
    reducer = RecordReducer()
    state = RecordState(new_state("customers", "books:1", "books"))
    state.raw["s"]["books"] = {"id": "1", "c": {}, "v": {"n": 2**63 - 1}, "del": False}
    text, *_ = reducer.encode(state)
    assert text == fast_dumps(pack(state.raw)) and not text.endswith("\n")


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


def _observed(side: str, counter: int, context: VectorClock, name: str) -> NewEntry:
    return NewEntry(
        Kind.OBSERVED,
        "customers",
        "crm:1",
        side,
        Dot(side, counter),
        context,
        {"name": name},
        {"id": "1" if side == "crm" else "9", "modified": T0.isoformat()},
    )


def test_the_reducer_writes_each_field_register_with_a_clock_of_its_own(tmp_path):
    """The stored state of format version 2: a field is ``[siblings, clock]``, and the clock
    keeps what the register has seen (its writes' contexts too), not only its siblings."""
    assert RecordReducer.version >= 2
    journal = Journal(tmp_path / "j.db", RecordReducer())
    try:
        journal.append(
            [
                _observed("crm", 1, VectorClock(), "Acme"),
                _observed("books", 1, VectorClock.of(crm=1), "Acme Ltd"),
            ]
        )
        state = journal.record("customers", "crm:1")
        assert state is not None
        at = T0.isoformat()  # the side's own time, as it gave it
        assert state.raw["f"] == {"name": [[["books", 1, "Acme Ltd", at]], {"books": 1, "crm": 1}]}
        assert state.siblings("name") == [["books", 1, "Acme Ltd", at]]
        assert state.siblings("email") == []
        assert state.fields["name"].clock == VectorClock.of(books=1, crm=1)
    finally:
        journal.close()


def test_the_reducer_reaches_one_register_whatever_order_the_writes_come_in(tmp_path):
    """A write delivered after the write that superseded it does not come back as a
    sibling: the fields of a record do not depend on the delivery order (DESIGN 3, 8)."""
    first = _observed("crm", 1, VectorClock(), "Acme")
    second = _observed("books", 1, VectorClock.of(crm=1), "Acme Ltd")
    third = _observed("crm", 2, VectorClock.of(crm=1), "ACME")  # concurrent with books:1
    fields = []
    for n, order in enumerate([[first, second, third], [third, second, first, second]]):
        journal = Journal(tmp_path / f"{n}.db", RecordReducer())
        try:
            journal.append(order)
            state = journal.record("customers", "crm:1")
            assert state is not None
            fields.append(state.raw["f"])
        finally:
            journal.close()
    assert fields[0] == fields[1]
    assert [s[:3] for s in fields[0]["name"][0]] == [["books", 1, "Acme Ltd"], ["crm", 2, "ACME"]]


def test_a_refused_write_to_a_side_that_deleted_the_row_is_no_retry_to_wait_for():
    """A side refused an update to a row it had deleted, then the delete was seen: no write
    goes there again, so the record neither lists nor waits out that side's retry (its
    writes to the other side, a person's resolution among them, go at once)."""
    state = RecordState(new_state("customers", "books:1", "books"))
    state.raw["s"]["books"] = {"id": "1", "c": {}, "v": {}, "del": False}
    state.raw["s"]["crm"] = {"id": "2", "c": {}, "v": {}, "del": False}
    state.raw["rt"] = {"crm": [1, "2026-11-27T09:01:00.000000+00:00"]}
    now = "2026-11-27T09:00:30.000000+00:00"
    assert state.waits(now) and state.retries == {"crm": (1, state.raw["rt"]["crm"][1])}
    state.raw["s"]["crm"]["del"] = True
    assert not state.waits(now)
    assert state.retries == {}
