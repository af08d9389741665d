"""``replicator undo RUN`` over the engine with two SQLite sides another program edits: an
undo of a first sync puts both sides back row by row, an undo of a later run puts back
what it carried across, a field changed since is held for a person instead, and an undo
of an undo redoes the run (the CLI's tests are in tests/cli/test_undo.py, the sandbox's in
tests/integration/test_undo_zoho.py, the law in tests/property/test_undo_law.py)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from journal import Kind, verify
from journal.payloads import RunMarker, Tombstone, Unlinked, ValueConflict, expect, payload_of
from replicator.connectors.remove import SQLiteRemover
from replicator.errors import EngineError
from replicator.sync.lifecycle import history
from replicator.sync.record import CONFIG_MODULE, RUN
from replicator.sync.resolve import resolve
from replicator.sync.undo import find_run, plan_undo, undo
from tests.property.world import MODULE, SIDES, World, config


def _world(tmp_path: Path, duplicates: str = "link", conflicts: str = "newest") -> World:
    return World(
        tmp_path,
        config(duplicates=duplicates, conflicts=conflicts, connector="sqlite"),
        connector="sqlite",
    )


def _removers(w: World) -> dict[str, SQLiteRemover]:
    return {s: SQLiteRemover(s, w.folder / f"{s}.db") for s in SIDES}


def _undo(w: World, run: int, **options: Any):
    return undo(w.engine, run, removers=_removers(w), **options)


def _sync(w: World) -> int:
    """A full cycle; the id of its run."""
    w.engine.run()
    return _last_run(w)


def _last_run(w: World) -> int:
    (entry,) = w.journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1)
    return entry.seq


def _rows(w: World) -> dict[str, dict[str, dict[str, Any]]]:
    return {s: w.sides[s].rows() for s in SIDES}


def _values(w: World) -> dict[str, Counter[tuple[Any, ...]]]:
    """Each side's rows without their ids (ids the apps assign differ after a re-create)."""
    return {
        s: Counter(tuple(sorted(row.items())) for row in w.sides[s].rows().values()) for s in SIDES
    }


def _seed(w: World) -> None:
    """Rows on one side only, a pair with one name on both (a duplicate to link), with
    fields that differ and fill each other's gaps."""
    w.insert("books", {"name": "Books only", "email": "b@x", "credit_limit": "10.50"})
    w.insert("crm", {"name": "CRM only", "email": "c@x", "credit_limit": None})
    w.insert("books", {"name": "Acme", "email": None, "credit_limit": "500"})
    w.insert("crm", {"name": "Acme", "email": "acme@crm", "credit_limit": None})


@pytest.fixture
def world(tmp_path: Path):
    w = _world(tmp_path)
    yield w
    w.close()


@pytest.mark.parametrize("duplicates", ["link", "overwrite", "clone"])
def test_undo_of_a_first_sync_puts_both_sides_back_row_by_row(tmp_path: Path, duplicates: str):
    """Creates deleted, the linked pair's fields written back and its link dropped: each
    side holds exactly the rows it held before the first sync; the journal verifies."""
    w = _world(tmp_path, duplicates)
    try:
        _seed(w)
        before = _rows(w)
        run = _sync(w)
        assert _rows(w) != before
        outcome = _undo(w, run)
        assert not outcome.failed
        assert _rows(w) == before
        assert verify(w.journal).ok
        marker = expect(next(w.journal.read(since=w.journal.last_seq - 1)), RunMarker)
        assert (marker.trigger, marker.undoes) == ("undo", run)
    finally:
        w.close()


def test_the_next_sync_after_an_undo_of_a_first_sync_writes_nothing_back(world: World):
    """The records an undo deleted are not made again, and restored values not written
    over: deletes of our own creates are never propagated, nor undone by a sync."""
    _seed(world)
    before = _rows(world)
    _undo(world, _sync(world))
    world.engine.run()
    world.engine.run()
    assert _rows(world) == before
    assert verify(world.journal).ok


def test_undo_of_an_undo_redoes_the_run(world: World):
    """Rows created again (under new ids), fields and links as the run left them."""
    _seed(world)
    run = _sync(world)
    after = _values(world)
    first = _undo(world, run)
    assert first.marker is not None
    undo_run = _last_run(world)
    _undo(world, undo_run)
    assert _values(world) == after
    assert verify(world.journal).ok
    # the redone records sync as ever: an edit reaches the other side
    acme = next(i for i, r in world.sides["crm"].rows().items() if r["account_name"] == "Acme")
    world.update("crm", acme, {"email": "new@crm"})
    world.engine.run()
    books = [r for r in world.sides["books"].rows().values() if r["name"] == "Acme"]
    assert [r["email"] for r in books] == ["new@crm"]


def test_undo_of_a_later_run_writes_back_what_it_carried_across(world: World):
    """A run carried an edit from CRM to Books: its undo puts the Books value back."""
    _seed(world)
    _sync(world)
    acme = {
        s: next(i for i, r in world.sides[s].rows().items() if r[_name(s)] == "Acme") for s in SIDES
    }
    world.update("crm", acme["crm"], {"email": "typo@crm"})
    run = _sync(world)
    assert world.sides["books"].rows()[acme["books"]]["email"] == "typo@crm"
    found = plan_undo(world.journal, find_run(world.journal, run))
    assert [(r.side, dict(r.before)) for r in found.restores] == [("books", {"email": "acme@crm"})]
    _undo(world, run)
    assert world.sides["books"].rows()[acme["books"]]["email"] == "acme@crm"
    assert verify(world.journal).ok
    world.engine.run()  # the restored value is the newest: not written over again
    assert world.sides["books"].rows()[acme["books"]]["email"] == "acme@crm"


def _name(side: str) -> str:
    return "name" if side == "books" else "account_name"


def test_a_field_changed_since_the_run_becomes_a_conflict_instead_of_being_overwritten(
    world: World,
):
    """An edit after the run (not yet pulled): the undo reads it first, leaves it in
    place and holds the field for a person with both values; --take undo puts it back."""
    _seed(world)
    _sync(world)
    acme = {
        s: next(i for i, r in world.sides[s].rows().items() if r[_name(s)] == "Acme") for s in SIDES
    }
    world.update("crm", acme["crm"], {"email": "typo@crm", "credit_limit": "900"})
    run = _sync(world)
    world.update("books", acme["books"], {"email": "fixed@books"})  # concurrent, unread
    outcome = _undo(world, run)
    books = world.sides["books"].rows()[acme["books"]]
    assert books["email"] == "fixed@books"  # not overwritten
    assert Decimal(books["credit_limit"]) == Decimal("500")  # the other field restored
    (held,) = outcome.plan.conflicts
    assert (held.side, held.field) == ("books", "email")
    rows = world.journal.conflicts(status="open")
    (row,) = [r for r in rows if r["field"] == "email"]
    conflict = ValueConflict.__name__
    assert payload_of_row(row).__class__.__name__ == conflict
    values = {s["side"]: s["value"] for s in payload_of_row(row).siblings}
    assert values["books"] == "fixed@books" and values["undo"] == "acme@crm"
    assert verify(world.journal).ok
    resolve(world.journal, world.config, row["id"], take="undo")
    world.engine.run()
    assert world.sides["books"].rows()[acme["books"]]["email"] == "acme@crm"
    assert world.sides["crm"].rows()[acme["crm"]]["email"] == "acme@crm"


def payload_of_row(row: dict[str, Any]) -> ValueConflict:
    from conflicts import ConflictData

    held = ConflictData.of(row["data"]).conflict
    assert isinstance(held, ValueConflict)
    return held


def test_a_created_record_edited_since_is_kept_not_deleted(world: World):
    """A record the run created that someone edited since: left, and said why."""
    world.insert("books", {"name": "Solo", "email": "s@x", "credit_limit": None})
    run = _sync(world)
    (made,) = world.sides["crm"].rows()
    world.update("crm", made, {"email": "edited@crm"})
    outcome = _undo(world, run)
    assert made in world.sides["crm"].rows()
    (kept,) = outcome.plan.kept
    assert "edited there since" in kept.reason


def test_an_undo_journals_its_deletes_unlinks_and_run(world: World):
    """Tombstones name who asked and the run undone; unlinked entries read back."""
    _seed(world)
    run = _sync(world)
    _undo(world, run, by="alice")
    undo_run = _last_run(world)
    span = find_run(world.journal, undo_run)
    entries = list(world.journal.read(since=span.first - 1, until=span.last))
    tombstones = [expect(e, Tombstone) for e in entries if e.kind is Kind.TOMBSTONE]
    assert len(tombstones) == 2 and all(t.by == "alice" for t in tombstones)
    assert all(f"undo of run {run}" in (t.reason or "") for t in tombstones)
    unlinked = [p for p in map(payload_of, entries) if isinstance(p, Unlinked)]
    assert [(u.undoes, u.by) for u in unlinked] == [(run, "alice")]
    items = [i for i in history(world.journal) if i["type"] == "run"]
    assert items[-1]["trigger"] == "undo" and items[-1]["seq"] == undo_run


def test_a_run_undone_already_is_not_undone_twice(world: World):
    """The second undo of one run is refused and names the undo that redoes it."""
    _seed(world)
    run = _sync(world)
    _undo(world, run)
    with pytest.raises(EngineError, match="undone by run"):
        _undo(world, run)


def test_an_id_that_is_no_run_is_refused(world: World):
    _seed(world)
    _sync(world)
    with pytest.raises(EngineError, match="no run 1"):
        _undo(world, 1)


def test_undo_of_one_module_is_refused_for_a_module_the_run_did_not_sync(world: World):
    _seed(world)
    run = _sync(world)
    with pytest.raises(EngineError, match="did not sync module"):
        _undo(world, run, modules=["vendors"])
    assert MODULE in find_run(world.journal, run).modules


def test_a_side_that_cannot_delete_keeps_the_records_and_the_undo_says_so(world: World):
    """No remover for either side: the created records stay, each with an error entry
    (stage undo) naming why; the rest of the undo (links, fields) is done."""
    _seed(world)
    run = _sync(world)
    synced = _values(world)
    outcome = undo(world.engine, run, removers={})
    assert len(outcome.failed) == 2
    assert all("cannot delete records" in why for _, _, _, why in outcome.failed)
    errors = [
        payload_of(e)
        for e in world.journal.read(since=run, kinds=[str(Kind.ERROR)])
        if e.rid is not None
    ]
    assert len(errors) == 2 and all(getattr(p, "stage", None) == "undo" for p in errors)
    # the two created rows stay; the linked pair is apart again
    assert sum(_values(world)["crm"].values()) == sum(synced["crm"].values())
    assert verify(world.journal).ok
    world.engine.run()
    assert verify(world.journal).ok


def test_an_undo_interrupted_halfway_finishes_when_run_again(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    """A failure after the deletes and restores (before the unlinks): the run is marked
    failed, and the undo run again does the rest, no conflict with its own restores."""
    from replicator.sync import undo as undo_module

    _seed(world)
    before = _rows(world)
    run = _sync(world)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the power went")

    with monkeypatch.context() as patch:
        patch.setattr(undo_module, "_unlink", broken)
        with pytest.raises(RuntimeError):
            _undo(world, run)
    failed = expect(next(world.journal.read(since=world.journal.last_seq - 1)), RunMarker)
    assert failed.undoes == run and failed.error is not None
    outcome = _undo(world, run)
    assert not outcome.plan.conflicts and not outcome.plan.removes
    assert len(outcome.plan.unlinks) == 1
    assert _rows(world) == before
    assert verify(world.journal).ok
