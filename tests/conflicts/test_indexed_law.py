"""The law of a state's indexed columns read at once (``RecordState.indexed``): they are
what ``index_key``, ``attention``, ``index_near``, ``status`` and ``marks`` say one by one,
whatever entries made the state."""

from __future__ import annotations

from hypothesis import given

from conflicts import RecordReducer
from journal import Journal
from tests.property.test_reference_laws import _RIDS, _T0, _journals


@given(_journals())
def test_a_states_indexed_columns_read_at_once_are_those_read_one_by_one(batches):
    """Every record a script of observations, applied writes, refusals, deletes and skips
    makes reads the same indexed columns at once as one by one."""
    with Journal(":memory:", RecordReducer(), now=lambda: _T0) as journal:
        for entries in batches:
            journal.append(entries)
        for rid in _RIDS:
            state = journal.record("customers", rid)
            if state is None:
                continue
            assert state.indexed() == (
                state.index_key(),
                state.attention,
                state.index_near(),
                state.status,
                state.marks(),
            )
