"""The daemon and the first sync's guard: over the limit it pushes nothing, says why and
waits; `replicator sync --yes` (forwarded to it) runs the sync.

The guard watches Zoho sides only; here it watches the SQLite sides too
(``dryrun.GUARDED``), so the daemon's side of it runs without a sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from replicator.cli.main import main
from replicator.daemon.service import Daemon
from replicator.sync import dryrun
from tests.daemon.conftest import World, make_world, wait_for

FAST = 'poll_every = "1s"\nmasters_every = "1s"\nstop_timeout = "10s"'


@pytest.fixture
def world(tmp_path, monkeypatch) -> World:
    monkeypatch.setattr(dryrun, "GUARDED", frozenset({"sqlite"}))
    world = make_world(tmp_path, daemon=FAST)
    with world.config_path.open("a", encoding="utf-8") as config:
        config.write("\n[guard]\nfirst_sync_creates = 1\n")
    world.add("books", "Alpha Ltd", "Beta Inc")
    world.add("crm", "Gamma Co")
    return world


@pytest.fixture
def daemon(world) -> Iterator[Daemon]:
    running = Daemon(world.config).start()
    yield running
    running.stop()


def test_the_daemon_waits_on_a_guarded_first_sync_until_sync_yes(world, daemon):
    """The scheduled cycle stops before pushing (status waiting, a health warning naming
    --yes) and stays so on later runs; `replicator sync --yes` runs it through the daemon."""
    wait_for(lambda: daemon.modules["customers"].status == "waiting")
    assert world.names("crm") == ["Gamma Co"] and world.names("books") == ["Alpha Ltd", "Beta Inc"]
    ok, health = daemon.health()
    assert ok and any("--yes" in w and "customers" in w for w in health["warnings"])
    refused = CliRunner().invoke(main, ["--config", str(world.config_path), "sync"])
    assert refused.exit_code == 1 and "--yes" in refused.output
    assert world.names("crm") == ["Gamma Co"]
    result = CliRunner().invoke(main, ["--config", str(world.config_path), "sync", "--yes"])
    assert result.exit_code == 0, result.output
    assert world.names("crm") == ["Alpha Ltd", "Beta Inc", "Gamma Co"]
    assert daemon.modules["customers"].status == "ok"
