"""The applied entries of a batch share the clock of each context they were sent under."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from journal import VectorClock
from replicator.sync.push import _clock

CONTEXTS = st.dictionaries(st.sampled_from(["books", "crm", "books:acme"]), st.integers(0, 5))


@given(st.lists(CONTEXTS, max_size=12))
def test_a_batch_clock_is_the_clock_of_its_context(contexts):
    """Each write's clock equals ``VectorClock(context)``, in whatever order the context's
    sides were given, and equal contexts get one clock object."""
    clocks: dict = {}
    made = [_clock(clocks, context) for context in contexts]
    assert made == [VectorClock(context) for context in contexts]
    for context, clock in zip(contexts, made, strict=True):
        assert _clock(clocks, dict(context)) is clock
