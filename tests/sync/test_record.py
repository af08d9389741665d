"""The record step: every run (a sync, a fetch, a callback) journals the settings in force,
ends with one run marker, and anchors the journal's head, the same way when it fails."""

from __future__ import annotations

import pytest

from journal import Kind, verify
from journal.anchors import anchor_path, read_anchors
from replicator.sync.record import CONFIG_MODULE, RUN
from tests.sync.test_engine import World

TRIGGERS = ["sync", "fetch", "callback"]


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.journal.close()


def _run(world: World, trigger: str, cid: str) -> None:
    """One run of the kind ``trigger`` that reads CRM account ``cid``."""
    if trigger == "sync":
        world.sync()
    elif trigger == "fetch":
        world.engine.fetch("customers", "crm", cid)
    else:
        world.engine.sync_ids("customers", "crm", [cid])


def _anchored_head(world: World) -> bool:
    anchors, problems = read_anchors(anchor_path(world.journal.path))
    return not problems and anchors[-1].seq == world.journal.last_seq


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_kind_of_run_ends_with_its_marker_and_an_anchored_head(world, trigger):
    """A sync, a fetch and a callback that wrote entries each end with one run marker of
    their trigger covering those entries, and the head anchored outside the journal."""
    world.sync()  # both sides read to their end once: a callback then syncs at once
    before = world.journal.last_seq
    cid = str(world.crm.insert("accounts", {"account_name": "Acme"}))
    _run(world, trigger, cid)
    markers = list(world.journal.read(since=before, module=CONFIG_MODULE, rid=RUN))
    assert [m.meta["trigger"] for m in markers] == [trigger]
    assert markers[0].meta["first"] == before + 1 and markers[0].seq == world.journal.last_seq
    assert [r["name"] for r in world.books_rows().values()] == ["Acme"]
    assert _anchored_head(world)


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_run_that_fails_is_marked_with_why_and_its_head_anchored(world, trigger):
    """A side failing in the middle of any kind of run leaves a marker naming the error,
    after what the run journaled, and the head anchored; the error itself goes on."""
    world.sync()
    cid = str(world.crm.insert("accounts", {"account_name": "Acme"}))

    def broken(module, writes):
        raise RuntimeError("books went away")

    world.books.push = broken
    with pytest.raises(RuntimeError, match="books went away"):
        _run(world, trigger, cid)
    (last,) = world.journal.read(since=world.journal.last_seq - 1)
    assert last.rid == RUN and last.meta["trigger"] == trigger
    assert last.meta["error"] == "RuntimeError: books went away"
    assert any(e.kind is Kind.OBSERVED for e in world.journal.read(since=last.meta["first"] - 1))
    assert _anchored_head(world) and verify(world.journal).ok


def test_changed_settings_are_journaled_before_the_entries_a_run_writes(tmp_path):
    """A callback under changed settings journals them first, as a sync and a fetch do:
    the entries it writes follow the settings they were made under."""
    first = World(tmp_path)
    first.sync()
    first.journal.close()
    world = World(tmp_path, conflicts="prefer:crm")  # same journal, other settings
    before = world.journal.last_seq
    cid = str(world.crm.insert("accounts", {"account_name": "Acme"}))
    world.engine.sync_ids("customers", "crm", [cid])
    written = list(world.journal.read(since=before))
    assert written[0].module == CONFIG_MODULE and written[0].rid == CONFIG_MODULE
    assert written[0].meta["fingerprint"] == world.config.fingerprint()
    assert written[-1].rid == RUN
    world.journal.close()
