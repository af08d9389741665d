"""What the engine and the command line read of a record's state, through RecordState."""

from conflicts import ConflictData, RecordState
from conflicts.state import new_state
from journal import payloads


def _state() -> RecordState:
    state = RecordState(new_state("customers", "books:1", "books"))
    raw = state.raw
    raw["s"]["books"] = {"id": "1", "c": {"books": 2}, "v": {"name": "Acme"}, "del": False}
    raw["s"]["crm"] = {"id": None, "c": {}, "v": {}, "del": True, "a": {"name": ["x", "y"]}}
    raw["c"] = {"books": 2, "crm": 1}
    raw["e"] = {"crm": "refused"}
    # a register as stored: its siblings, and the clock of what it has seen
    raw["f"] = {
        "name": [[["books", 2, "Acme", "t"], ["crm", 1, "ACME", "t"]], {"books": 2, "crm": 1}]
    }
    return state


def test_what_a_side_holds_reads_as_named_properties():
    """held_wire gives the side's id, delete, wire values, clock and renamed clone; a side
    the record never reached has none."""
    state = _state()
    books, crm = state.held_wire("books"), state.held_wire("crm")
    assert books is not None and crm is not None
    assert (books.id, books.deleted, books.wire, books.clock) == (
        "1",
        False,
        {"name": "Acme"},
        {"books": 2},
    )
    assert (crm.id, crm.deleted, crm.renamed, books.renamed) == (None, True, True, False)
    assert state.held_wire("zoho") is None
    assert sorted(state.held_wires()) == ["books", "crm"]


def test_clock_counters_write_errors_and_register_values_read_by_side_and_field():
    """counter, write_error and wire_values read the record clock, the last refused write
    and a field's sibling values without the caller knowing the stored keys."""
    state = _state()
    assert (state.counter("books"), state.counter("crm"), state.counter("zoho")) == (2, 1, 0)
    assert (state.write_error("crm"), state.write_error("books")) == ("refused", None)
    assert state.wire_values("name") == [("books", "Acme"), ("crm", "ACME")]
    assert state.wire_values("email") == []


def test_a_conflict_rows_data_reads_as_its_payload_and_what_the_reducer_added():
    """ConflictData: the conflict entry's payload, a person's resolution and the entry that
    settled it, each typed, with nothing left over."""
    meta = {
        "field": "email",
        "status": "open",
        "policy": "manual",
        "siblings": [{"side": "crm", "dot": ["crm", 2], "value": "a@x", "at": "t"}],
        "dots": [["crm", 2]],
        "winner": None,
        "reason": "held for a person",
    }
    plain = ConflictData.of(meta)
    assert isinstance(plain.conflict, payloads.ValueConflict)
    assert (plain.resolution, plain.settled_by) == (None, None)
    resolved = ConflictData.of(
        {**meta, "resolution": {"conflict": 3, "by": "person", "take": "crm"}}
    )
    assert resolved.resolution == payloads.ValueResolution(conflict=3, by="person", take="crm")
    assert resolved.conflict.extra == {}
    settled = ConflictData.of({**meta, "settled_by": {"seq": 9, "kind": "observed"}})
    assert settled.settled_by == {"seq": 9, "kind": "observed"}
    duplicate = ConflictData.of(
        {
            "field": "(duplicate)",
            "status": "open",
            "duplicate": True,
            "key": "acme",
            "candidates": [],
            "reason": "ambiguous",
            "policy": "overwrite",
            "dots": [],
            "resolution": {"conflict": 4, "by": "person", "decision": "clone"},
        }
    )
    assert isinstance(duplicate.conflict, payloads.DuplicateConflict)
    assert isinstance(duplicate.resolution, payloads.DuplicateResolution)
