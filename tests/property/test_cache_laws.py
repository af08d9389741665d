"""The planner's states in hand are the states read back: the same script played with
every state kept in memory (:class:`journal.view.SQLiteView`'s cache) and with a cache of
two (nearly every state the settle plans from, and every one the reducer extends, read
back from its row: decoded, folded again from its entries, or read as a sketch) makes the
same journal and the same sides.

So the plan the settle makes from the states the pulls left in memory is the plan it
makes from states read back from the journal: same decisions, same duplicate handling,
same writes.  A cache that keeps states some other way must keep this law."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.property import laws
from tests.property.world import MODULE, World, config, open_world
from tests.strategies import SIDES, Cycle, Insert, Update, scripts

DUPLICATES = st.sampled_from(["overwrite", "link", "clone", "skip"])
CONFLICTS = st.sampled_from(["newest", "prefer:books", "manual"])
BATCH_SIZES = st.sampled_from([1, 2, 1000])

CACHES = (1_000_000, 2)  # every state in memory; two, the rest read back


def _played(script: list[Any], cache: int, **options: Any) -> dict[str, Any]:
    """What a fresh world holds after ``script`` and a sync to quiescence: its entries
    (all but the hash chain, whose key is the world's own) and each side's rows."""
    batch_size = options.pop("batch_size")
    with (
        tempfile.TemporaryDirectory(prefix="cache-laws-") as folder,
        open_world(Path(folder), config(**options), batch_size=batch_size) as w,
    ):
        w.journal.view.cache_size = cache
        for step in script:
            w.apply(step)
        w.quiesce()
        laws.check_verifies(w)
        return {"entries": _entries(w), "sides": {s: side.rows() for s, side in w.sides.items()}}


def _entries(w: World) -> list[tuple[Any, ...]]:
    return [
        (e.seq, e.kind, e.module, e.rid, e.side, e.dot, e.context, e.fields, e.meta, e.at)
        for e in w.journal.read(module=MODULE)
    ]


# three records a side, synced, then each edited: the second cycle reads back (cache of
# two) states that are the fold of an observation and the create it made
_SYNCED_THEN_EDITED = [
    *(Insert(side, {"name": f"{side} {i}", "email": None}) for i in range(3) for side in SIDES),
    Cycle(),
    *(Update(side, i, {"email": f"{i}@{side}.example"}) for i in range(3) for side in SIDES),
]


@settings(max_examples=40, deadline=None)
@given(scripts(), DUPLICATES, CONFLICTS, st.integers(1, 4), BATCH_SIZES)
@example(_SYNCED_THEN_EDITED, "overwrite", "newest", 2, 2)
def test_states_kept_in_memory_plan_as_states_read_back(
    script, duplicates, conflicts, page_size, batch_size
):
    """The same script under either cache makes the same entries and the same sides."""
    options = {
        "duplicates": duplicates,
        "conflicts": conflicts,
        "page_size": page_size,
        "batch_size": batch_size,
    }
    held, read_back = (_played(script, cache, **dict(options)) for cache in CACHES)
    assert read_back["entries"] == held["entries"]
    assert read_back["sides"] == held["sides"]
