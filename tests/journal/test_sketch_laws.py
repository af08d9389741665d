"""The law of a record read as its sketch (``RecordReducer.sketch``): a batch's bulk read
takes a record stored by reference as the id each side holds, its keys and attention (its
entries read, not folded), extends it with the batch's observations and applied writes,
and folds its entries only when its state is asked for.  Whatever the view's cache size,
however the journal is reopened between batches (each reopen empties the cache), the
tables (records and their indexed columns, links, tallies) and every record's state are
what the fold of every entry makes."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, replay
from journal.payloads import Applied, Failure, Observed, Tombstone, decode
from tests.property.test_reference_laws import _RIDS, _T0, _journals, _tables


class _Eager(RecordReducer):
    """The record reducer without sketches: each state read is folded at once, and so is
    a new record's first observation, by the general fold."""

    sketch = None  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_first = False
        self.direct = False  # a first observation by the general fold too


def _typed(entry: NewEntry) -> NewEntry:
    """The entry with its payload riding along, as a sync's (``journal.payloads.new_entry``)
    hands it: the payload its meta decodes to, for the kinds that keep one."""
    payload = decode(entry.kind, entry.meta)
    if type(payload) not in (Observed, Applied, Tombstone, Failure):
        return entry
    return attrs.evolve(entry, payload=payload)


def _now() -> dt.datetime:
    return _T0  # the entries without a time of their own (a refused write's retry time)


def _open(path: Path, labels: dict[str, str], refs: dict[str, str], cache_size: int) -> Journal:
    return Journal(path, RecordReducer(labels, refs), now=_now, cache_size=cache_size)


def _states(journal: Journal) -> dict[str, object]:
    found = {}
    for rid in _RIDS:
        state = journal.record("customers", rid)
        found[rid] = None if state is None else state.raw
    return found


@given(
    _journals(),
    st.sampled_from([1, 2, 20_000]),
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_a_record_read_as_its_sketch_stores_what_its_fold_stores(
    batches, cache_size, reopens, labelled, typed
):
    """Whatever the entries (``typed``: with their payloads, as a sync appends them), a
    new record's first observation kept as a sketch and a stored record read as one store
    what the fold of every entry at once stores, and read as its states."""
    if typed:
        batches = [[_typed(entry) for entry in entries] for entries in batches]
    labels = {"customers": "name"} if labelled else {}
    refs = {"customers": "party"} if labelled else {}
    with tempfile.TemporaryDirectory(prefix="sketch-") as name:
        folder = Path(name)
        with Journal(folder / "eager.db", _Eager(labels, refs), now=_now) as journal:
            for entries in batches:
                journal.append(entries)
            expected = _tables(journal.conn), _states(journal)
        path = folder / "sketch.db"
        journal = _open(path, labels, refs, cache_size)
        try:
            for entries, reopen in zip(batches, reopens, strict=False):
                if reopen:
                    journal.close()
                    journal = _open(path, labels, refs, cache_size)
                journal.append(entries)
            assert _tables(journal.conn) == expected[0]
            # the sketches the cache holds folded by a bulk read, the others by their own
            if reopens[-1]:
                journal.preload("customers", list(_RIDS))
            assert _states(journal) == expected[1]
            result = replay.verify(journal)
            assert result.ok, result.problem
        finally:
            journal.close()
        # read afresh: each state stored by reference folded from its entries
        with Journal(path, RecordReducer(labels, refs)) as journal:
            assert _states(journal) == expected[1]


def test_a_sketch_reads_its_state_when_asked(tmp_path):
    """A record read in a batch's bulk read as its sketch, then asked for its state, is
    its fold; one extended by an observation first is the fold of both."""

    def observed(side: str, n: int, name: str, context: dict[str, int]) -> NewEntry:
        return NewEntry(
            Kind.OBSERVED,
            "customers",
            "crm:1",
            side,
            Dot(side, n),
            VectorClock(context),
            {"name": name},
            {"id": "1" if side == "crm" else "b1", "key": name.lower()},
        )

    path = tmp_path / "j.db"
    with Journal(path, RecordReducer()) as journal:
        journal.append([observed("crm", 1, "Ada", {})])
    with Journal(path, RecordReducer()) as journal:
        journal.append([observed("books", 1, "Ada B", {"crm": 1})])
        state = journal.record("customers", "crm:1")
        assert state is not None
        assert type(state).__name__ == "_Sketch"
        assert state.raw["s"]["books"]["id"] == "b1"
        assert state.raw["f"]["name"][0][0][2] == "Ada B"
        assert state.seqs == (1, 2)
    with Journal(path, _Eager()) as journal:
        again = journal.record("customers", "crm:1")
        assert again is not None and again.raw == state.raw


def test_a_first_observation_is_kept_as_a_sketch_until_its_state_is_asked(tmp_path):
    """A new record's first observation is held as a sketch (no fold), stored by
    reference with the columns of its fold; asked for its state, in the same transaction
    or after, it is its fold."""
    entry = NewEntry(
        Kind.OBSERVED,
        "customers",
        "crm:1",
        "crm",
        Dot("crm", 1),
        VectorClock(),
        {"name": "Ada", "n": Decimal("1.50")},
        {"id": "1", "key": "ada"},
        at=_T0,
    )
    with Journal(tmp_path / "eager.db", _Eager()) as journal:
        journal.append([entry])
        expected = _tables(journal.conn), journal.record("customers", "crm:1")
    assert expected[1] is not None
    with Journal(tmp_path / "lazy.db", RecordReducer()) as journal:
        with journal.transaction():
            journal.append([entry])
            state = journal.record("customers", "crm:1")
            assert type(state).__name__ == "_Sketch" and state.lazy
            assert state.held("crm") == expected[1].held("crm")
            assert state.raw == expected[1].raw
        assert _tables(journal.conn) == expected[0]
