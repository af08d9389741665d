"""The undo law, for random worlds: a sync then an undo of its run leaves both sides as
they were before the sync, row by row, and the journal verifies; an undo of that undo
brings back what the sync made (the rows it created under new ids).

Over two SQLite sides and two memory sides, any duplicate policy; example counts stay
small (each example runs three cycles over real files)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from journal import verify
from replicator.connectors.remove import MemoryRemover, Remover, SQLiteRemover
from replicator.sync.record import CONFIG_MODULE, RUN
from replicator.sync.undo import undo
from tests.property.world import SIDES, World, config
from tests.strategies import rows

worlds = st.fixed_dictionaries(
    {
        "books": st.lists(rows, max_size=5),
        "crm": st.lists(rows, max_size=5),
        "duplicates": st.sampled_from(["link", "overwrite", "clone", "skip"]),
        "conflicts": st.sampled_from(["newest", "prefer:books", "prefer:crm", "manual"]),
        "connector": st.sampled_from(["sqlite", "memory"]),
    }
)


def _removers(w: World) -> Mapping[str, Remover]:
    if w.connector == "memory":
        return {s: MemoryRemover(w.sides[s].connector) for s in SIDES}
    return {s: SQLiteRemover(s, w.folder / f"{s}.db") for s in SIDES}


def _last_run(w: World) -> int:
    (entry,) = w.journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1)
    return entry.seq


def _amount(value: Any) -> Any:
    """An amount as the journal knows it: a restored one is written in canonical form
    (``0.90`` in a TEXT column comes back as ``0.9``, the same amount)."""
    if value is None or isinstance(value, bool):
        return value
    return Decimal(str(value)).normalize()


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row's values as the journal knows them: amounts as numbers, and empty text as no
    value (the canonical rule, replicator/config/mapping.py: a restored "" is written as
    NULL, the same canonical value)."""
    return {
        k: _amount(v) if k == "credit_limit" else (None if v == "" else v) for k, v in row.items()
    }


def _rows(w: World) -> dict[str, dict[str, dict[str, Any]]]:
    return {s: {id: _row(r) for id, r in w.sides[s].rows().items()} for s in SIDES}


def _values(w: World) -> dict[str, Counter[str]]:
    """Each side's rows without their ids (a record made again gets a new one)."""
    return {
        s: Counter(repr(sorted(_row(r).items())) for r in w.sides[s].rows().values()) for s in SIDES
    }


@settings(max_examples=12)
@given(worlds)
@example(  # a restored amount is written in canonical form ("0.90" -> "0.9")
    world={
        "books": [{"name": "Cafe", "email": None, "credit_limit": "0.90"}],
        "crm": [{"name": "Cafe", "email": "a@example.com", "credit_limit": None}],
        "duplicates": "overwrite",
        "conflicts": "newest",
        "connector": "sqlite",
    }
)
@example(  # a restored empty text is written as no value ("" -> NULL: one canonical value)
    world={
        "books": [{"name": "Acme", "email": "a@example.com", "credit_limit": None}],
        "crm": [{"name": "Acme", "email": "", "credit_limit": None}],
        "duplicates": "link",
        "conflicts": "newest",
        "connector": "sqlite",
    }
)
def test_a_sync_then_its_undo_leaves_both_sides_as_they_were(world: dict[str, Any]) -> None:
    """Undo of a first sync restores both sides; undo of the undo redoes the sync."""
    with tempfile.TemporaryDirectory() as folder:
        cfg = config(
            duplicates=world["duplicates"],
            conflicts=world["conflicts"],
            connector=world["connector"],
        )
        w = World(Path(folder), cfg, connector=world["connector"])
        try:
            for side in SIDES:
                for row in world[side]:
                    w.insert(side, row)
            before = _rows(w)
            w.engine.run()
            synced = _values(w)
            if w.journal.last_seq == 0:
                return
            run = _last_run(w)
            undo(w.engine, run, removers=_removers(w))
            assert _rows(w) == before
            assert verify(w.journal).ok
            undo(w.engine, _last_run(w), removers=_removers(w))
            assert _values(w) == synced
            assert verify(w.journal).ok
        finally:
            w.close()
