"""What the daemon asks of the engine: re-sync named ids now, and stop between batches."""

from __future__ import annotations

import pytest

from journal import verify
from replicator.daemon.service import report_data
from replicator.daemon.state import forwarded_report
from replicator.errors import EngineError
from replicator.sync import lifecycle
from tests.sync.test_engine import World


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.journal.close()


def crm_id(world: World, name: str) -> str:
    return next(i for i, r in world.crm_rows().items() if r["account_name"] == name)


def test_sync_ids_brings_over_only_the_named_records(world):
    """Named ids are read, journaled and pushed now; others wait for the next cycle."""
    world.sync()
    world.crm.insert("accounts", {"account_name": "Named", "email": "n@x"})
    world.crm.insert("accounts", {"account_name": "Unnamed", "email": "u@x"})
    report = world.engine.sync_ids("customers", "crm", [crm_id(world, "Named")])
    assert report.total("created") == 1
    assert sorted(r["name"] for r in world.books_rows().values()) == ["Named"]
    assert verify(world.journal).ok
    world.sync()
    assert sorted(r["name"] for r in world.books_rows().values()) == ["Named", "Unnamed"]


def test_sync_ids_counts_ids_the_side_no_longer_has(world):
    """An id the side does not hold is counted missing, not an error."""
    report = world.engine.sync_ids("customers", "crm", ["404"])
    assert report.rows() == [("customers", "crm", "missing", 1)]


def test_sync_ids_reads_nothing_for_a_paused_module_and_refuses_when_disabled(world):
    """Pause and disable hold for callbacks too."""
    world.crm.insert("accounts", {"account_name": "Held", "email": "h@x"})
    lifecycle.pause(world.journal, world.config, ["customers"])
    report = world.engine.sync_ids("customers", "crm", [crm_id(world, "Held")])
    assert report.paused == ["customers"] and not world.books_rows()
    lifecycle.resume(world.journal, world.config, ["customers"])
    lifecycle.disable(world.journal)
    with pytest.raises(EngineError, match="disabled"):
        world.engine.sync_ids("customers", "crm", [crm_id(world, "Held")])


def test_a_stop_request_ends_the_cycle_after_the_page_in_hand(world):
    """stop_requested is asked between pages and batches: the cycle ends early with a
    consistent journal, and the next cycle finishes the work."""
    for i in range(5):
        world.crm.insert("accounts", {"account_name": f"C{i}", "email": f"{i}@x"})
    world.engine.batch_size = 1
    pages = []
    world.engine.progress = lambda phase, module, side, n: pages.append((phase, n))
    world.engine.stop_requested = lambda: len(pages) >= 1
    world.sync()
    assert len(world.books_rows()) < 5
    assert verify(world.journal).ok
    world.engine.stop_requested = lambda: False
    world.sync()
    assert sorted(r["name"] for r in world.books_rows().values()) == [f"C{i}" for i in range(5)]


def test_a_forwarded_report_reads_back_as_the_cycle_report(world):
    """What POST /sync answers turns back into the CycleReport the CLI prints."""
    world.crm.insert("accounts", {"account_name": "Round", "email": "r@x"})
    report = world.sync()
    again = forwarded_report(report_data(report))
    assert again.rows() == report.rows()
    assert (again.entries_before, again.entries_after) == (
        report.entries_before,
        report.entries_after,
    )
