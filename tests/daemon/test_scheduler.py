"""The daemon's jobs, lock, lifecycle and stop, in process over two SQLite sides."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import types
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from journal import verify
from replicator.cli.main import main
from replicator.daemon.service import Daemon
from replicator.daemon.state import (
    daemon_status,
    forward_sync,
    is_running,
    lock_path,
    state_path,
)
from replicator.errors import DaemonError
from replicator.sync import lifecycle
from replicator.sync.app import open_journal
from tests.daemon.conftest import World, make_world, wait_for

FAST = 'poll_every = "1s"\nmasters_every = "1s"\nstop_timeout = "10s"'


@pytest.fixture
def world(tmp_path) -> World:
    world = make_world(tmp_path, daemon=FAST)
    world.add("books", "Alpha Ltd", "Beta Inc")
    world.add("crm", "Gamma Co")
    return world


@pytest.fixture
def daemon(world) -> Iterator[Daemon]:
    running = Daemon(world.config).start()
    yield running
    running.stop()


def test_a_started_daemon_syncs_each_module_on_its_schedule(world, daemon):
    """The first run syncs both ways; a later change arrives at the next scheduled run."""
    # the cycle pushes to one side, then the other (crm first): wait for the cycle's end,
    # not for one side, before reading both (a loaded machine ran the test between pushes)
    wait_for(lambda: daemon.modules["customers"].last_ok is not None, timeout=60)
    assert world.names("crm") == ["Alpha Ltd", "Beta Inc", "Gamma Co"]
    assert world.names("books") == ["Alpha Ltd", "Beta Inc", "Gamma Co"]
    world.add("crm", "Delta")
    wait_for(lambda: "Delta" in world.names("books"), timeout=60)


def test_a_second_daemon_on_the_same_journal_is_refused(world, daemon):
    """The journal's lock is held: the second start says who holds it."""
    with pytest.raises(DaemonError, match=r"another daemon is running on journal .*pid \d+"):
        Daemon(world.config).start()
    assert is_running(world.config.journal_path)


def test_the_lock_goes_with_the_daemon(world):
    """After a stop the lock is free (the file may stay: it is not a PID file)."""
    Daemon(world.config).start().stop()
    assert lock_path(world.config.journal_path).exists()
    assert not is_running(world.config.journal_path)
    Daemon(world.config).start().stop()


def test_status_shows_the_next_run_of_each_module(world, daemon):
    """daemon_status reads what the running daemon published: next run times in UTC."""
    wait_for(lambda: daemon.modules["customers"].status == "ok")
    status = wait_for(
        lambda: (s := daemon_status(world.config))["modules"]["customers"]["next_run"] and s
    )
    assert status["running"] and status["url"] == daemon.url
    next_run = dt.datetime.fromisoformat(status["modules"]["customers"]["next_run"])
    assert next_run.tzinfo is not None
    assert "token" not in json.dumps(status)


def test_replicator_status_shows_the_daemon_and_each_modules_next_run(world, daemon):
    """`replicator status` says a daemon runs (pid, URL) and when each module runs next."""
    wait_for(lambda: daemon_status(world.config)["modules"]["customers"]["next_run"])
    args = ["--config", str(world.config_path), "status"]
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).stdout)["daemon"]
    assert data["running"] and data["url"] == daemon.url
    assert dt.datetime.fromisoformat(data["next_run"]["customers"]).tzinfo is not None
    shown = CliRunner().invoke(main, args).stdout
    assert "daemon: running" in shown and daemon.url in shown


def test_status_of_a_stopped_daemon_has_no_next_run(world):
    """What a stopped daemon published is history: running false, no next run."""
    Daemon(world.config).start().stop()
    status = daemon_status(world.config)
    assert not status["running"] and status["modules"]["customers"]["next_run"] is None


def test_a_restart_waits_for_the_masters_schedule(world):
    """A master module's first run after a restart comes `every` after its last run."""
    text = world.config_path.read_text().replace(FAST, 'masters_every = "1h"')
    world.config_path.write_text(text)
    first = Daemon(world.config).start()
    wait_for(lambda: first.modules["customers"].status == "ok")
    first.stop()
    second = Daemon(world.config).start()
    try:
        job = second.scheduler.get_job("module:customers")
        assert job.next_run_time > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=55)
        assert second.modules["customers"].status == "pending"
    finally:
        second.stop()


def test_a_paused_module_is_skipped_until_resumed(world, daemon):
    """`replicator pause` is a journal entry the daemon reads before every job."""
    wait_for(lambda: daemon.modules["customers"].status == "ok")
    with open_journal(world.config) as journal:
        lifecycle.pause(journal, world.config, ["customers"])
    wait_for(lambda: daemon.modules["customers"].status == "paused")
    world.add("crm", "Epsilon")
    assert "Epsilon" not in world.names("books")
    with open_journal(world.config) as journal:
        lifecycle.resume(journal, world.config, ["customers"])
    wait_for(lambda: "Epsilon" in world.names("books"))


def test_a_disabled_integration_idles_and_stays_healthy(world, daemon):
    """`replicator disable` stops every job from syncing; health says disabled, not failed."""
    with open_journal(world.config) as journal:
        lifecycle.disable(journal)
    wait_for(lambda: daemon.modules["customers"].status == "disabled")
    assert daemon.health()[0]


def test_sync_requests_reach_the_running_daemon(world):
    """forward_sync (what `replicator sync` calls) runs a cycle in the daemon and returns
    its report."""
    text = world.config_path.read_text().replace(FAST, 'masters_every = "1h"')
    world.config_path.write_text(text)
    daemon = Daemon(world.config).start()
    try:
        wait_for(lambda: daemon.modules["customers"].status == "ok")
        world.add("books", "Zeta")
        answer = forward_sync(world.config, ["customers"])
        assert answer is not None and answer["modules"]["customers"]["crm"]["created"] == 1
        assert daemon.modules["customers"].trigger == "request"
        assert "Zeta" in world.names("crm")
    finally:
        daemon.stop()


def test_no_daemon_means_no_forwarding(world):
    """Without a daemon the CLI runs the cycle itself."""
    assert forward_sync(world.config) is None


def test_stop_finishes_the_batch_in_hand_and_leaves_a_consistent_journal(tmp_path):
    """A stop during a long first cycle ends after the page or batch in hand: the journal
    verifies, and a restart completes the sync with every record once on each side."""
    world = make_world(tmp_path, daemon='masters_every = "1h"\nbatch_size = 50', page_size=50)
    world.add("books", *[f"Books {i:04d}" for i in range(1500)])
    world.add("crm", *[f"Crm {i:04d}" for i in range(1500)])
    daemon = Daemon(world.config).start()
    wait_for(lambda: daemon._busy, timeout=10, every=0.001)
    assert daemon.stop()
    with open_journal(world.config) as journal:
        assert verify(journal).ok
    again = Daemon(world.config).start()
    try:
        wait_for(lambda: again.modules["customers"].status == "ok", timeout=60)
    finally:
        again.stop()
    books, crm = world.names("books"), world.names("crm")
    assert books == crm and len(books) == 3000 and len(set(books)) == 3000


@pytest.mark.parametrize(
    ("hours_ago", "running", "runs_now"), [(3, False, True), (1, False, False), (1, True, True)]
)
def test_a_master_runs_at_once_only_when_overdue_or_cut_short(world, hours_ago, running, runs_now):
    """Misfires after a sleep or a long stop: a module whose last run (as the last daemon
    published it) is older than its interval runs as soon as the daemon starts, once; a
    recent one waits for its time, unless the last daemon died while running it."""
    last = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    module = {"status": "ok", "last_ok": last.isoformat(), "running": running}
    published = {"modules": {"customers": module}}
    state_path(world.config.journal_path).write_text(json.dumps(published))
    text = world.config_path.read_text().replace(FAST, 'masters_every = "2h"')
    world.config_path.write_text(text)
    daemon = Daemon(world.config)
    try:
        daemon.start()
        job = daemon.scheduler.get_job("module:customers")
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time is None
        if runs_now:
            wait_for(lambda: daemon.modules["customers"].status == "ok")
        else:
            expected = last + dt.timedelta(hours=2)
            assert abs((job.next_run_time - expected).total_seconds()) < 2
            assert daemon.modules["customers"].status == "pending"
    finally:
        daemon.stop()


def test_a_sync_request_is_published_before_it_is_answered(world, daemon, monkeypatch):
    """`replicator status` right after `replicator sync` shows that cycle: the state file is
    written before the answer (a slow disk stands in for a loaded machine), and a stop
    publishes "stopped" last."""
    wait_for(lambda: daemon.modules["customers"].status == "ok")
    publish = daemon._publish

    def slow_publish(*, stopped: bool = False) -> None:
        time.sleep(0.3)
        publish(stopped=stopped)

    monkeypatch.setattr(daemon, "_publish", slow_publish)
    world.add("crm", "Asked For")
    answer = daemon.sync_now(["customers"])
    assert answer["modules"]["customers"]["books"]["created"] == 1
    assert daemon_status(world.config)["modules"]["customers"]["trigger"] == "request"
    daemon.stop()
    assert daemon_status(world.config)["stopped"] is True


def test_a_cycle_waiting_behind_another_job_is_published_in_hand(world):
    """A module due at once (its last cycle cut short) is moved on to its next run when the
    scheduler hands it to the one worker, where it may wait behind another job: meanwhile
    the daemon publishes it running, never idle with its next run an hour away (the race
    a CI run hit: a change made then was carried by the cycle the test thought was done)."""
    last = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    module = {"status": "ok", "last_ok": last.isoformat(), "running": True}
    state_path(world.config.journal_path).write_text(json.dumps({"modules": {"customers": module}}))
    text = world.config_path.read_text().replace(FAST, 'masters_every = "2h"')
    world.config_path.write_text(text)
    daemon = Daemon(world.config)
    holding, release = threading.Event(), threading.Event()

    def ahead() -> None:  # another job on the worker, as the watch channels' job can be
        holding.set()
        release.wait(timeout=20)

    daemon.scheduler.add_job(ahead, id="ahead", next_run_time=dt.datetime.now(dt.UTC))
    try:
        daemon.start()
        assert holding.wait(timeout=10)
        wait_for(lambda: daemon.modules["customers"].running)
        job = daemon.scheduler.get_job("module:customers")
        assert (job.next_run_time - dt.datetime.now(dt.UTC)).total_seconds() > 3600
        assert daemon.modules["customers"].status == "pending"  # in hand, not yet run
        daemon._publish()
        assert daemon_status(world.config)["modules"]["customers"]["running"] is True
        release.set()
        wait_for(lambda: daemon.modules["customers"].status == "ok")
        wait_for(lambda: not daemon.modules["customers"].running)
    finally:
        release.set()
        daemon.stop()


def test_a_job_whose_hand_over_fails_is_not_left_in_hand(world):
    """The worker shut down under a due job (a stop racing the scheduler): the hand-over
    fails, the job will never run, and the module is not published running for it."""
    daemon = Daemon(world.config)
    worker = daemon.scheduler._lookup_executor("default")
    worker.start(daemon.scheduler, "default")
    worker.shutdown(wait=True)
    job = types.SimpleNamespace(id="module:customers", max_instances=1, _jobstore_alias="default")
    with pytest.raises(RuntimeError):
        worker.submit_job(job, [dt.datetime.now(dt.UTC)])
    assert daemon.modules["customers"].running is False
