"""The daemon and the journal's trust: it publishes the last anchor and refuses to start
writing to a journal that fails its tail check."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pytest

from journal.anchors import anchor_path, last_anchor
from replicator.daemon.service import Daemon
from replicator.daemon.state import is_running, state_path
from replicator.errors import EngineError
from tests.daemon.conftest import World, make_world, wait_for

FAST = 'poll_every = "1s"\nmasters_every = "1s"\nstop_timeout = "10s"'


@pytest.fixture
def world(tmp_path) -> World:
    world = make_world(tmp_path, daemon=FAST)
    world.add("books", "Alpha Ltd", "Beta Inc")
    world.add("crm", "Gamma Co")
    return world


def test_the_daemon_publishes_the_journals_last_anchor(world):
    """After a cycle, the state file carries the anchor the cycle wrote."""
    daemon = Daemon(world.config).start()
    try:
        anchors = anchor_path(world.config.journal_path)
        wait_for(lambda: world.names("crm") == ["Alpha Ltd", "Beta Inc", "Gamma Co"])
        wait_for(lambda: last_anchor(anchors) is not None)

        def published() -> object:
            state = json.loads(state_path(world.config.journal_path).read_text("utf-8"))
            anchor = last_anchor(anchors)
            return anchor is not None and state.get("anchor") == anchor.to_json()

        wait_for(published)
    finally:
        daemon.stop()


def test_the_daemon_refuses_to_start_on_a_journal_whose_triggers_were_dropped(world):
    """One line naming the problem and `journal verify`; the lock is let go."""
    Daemon(world.config).start().stop()
    path = world.config.journal_path
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER entries_no_delete")
    with pytest.raises(EngineError, match=r"entries_no_delete.*replicator journal verify"):
        Daemon(world.config).start()
    assert not is_running(path)
