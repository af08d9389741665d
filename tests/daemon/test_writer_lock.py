"""One writer per journal: `replicator sync` and `fetch` take the daemon's flock, wait a
bounded time for another writer, then exit 1 naming it; a killed holder leaves no lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading

import pytest
from click.testing import CliRunner

from journal import verify
from replicator.cli.main import main
from replicator.daemon import state as daemon_state
from replicator.daemon.service import Daemon
from replicator.daemon.state import (
    DAEMON,
    DaemonLock,
    daemon_status,
    forward_sync,
    is_running,
    journal_writer,
    lock_path,
    read_token,
    state_path,
    token_path,
)
from replicator.errors import DaemonError
from replicator.sync import lifecycle
from replicator.sync.app import open_journal
from tests.daemon.conftest import World, make_world, wait_for

ENTRY = "import sys; from replicator.cli.main import main; sys.exit(main())"
HOLD = (
    "import sys, time; from pathlib import Path; "
    "from replicator.daemon.state import journal_writer\n"
    "with journal_writer(Path(sys.argv[1]), 'replicator sync', wait=0):\n"
    "    print('held', flush=True); time.sleep(600)"
)


@pytest.fixture
def world(tmp_path) -> World:
    world = make_world(tmp_path, daemon='masters_every = "1h"\npoll_every = "1h"')
    world.add("books", "Alpha Ltd")
    world.add("crm", "Gamma Co")
    return world


def cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args, "--config", str(world.config_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def entries(world: World) -> int:
    if not world.config.journal_path.exists():
        return 0
    with open_journal(world.config) as journal:
        return journal.last_seq


def test_a_sync_exits_1_naming_the_writer_that_holds_the_journal(world):
    """While another `replicator sync` holds the lock, a sync with --wait 0.2 writes
    nothing and exits 1 with one line naming it: command, pid and since when."""
    with journal_writer(world.config.journal_path, "replicator sync", wait=0):
        result = CliRunner().invoke(
            main, ["sync", "--wait", "0.2", "--config", str(world.config_path)]
        )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "is busy after waiting 0.2 s: `replicator sync`" in line
    assert f"(pid {os.getpid()}, since 20" in line and "run this again when it ends" in line
    assert entries(world) == 0 and world.names("crm") == ["Gamma Co"]


def test_a_second_writer_waits_for_the_first_and_then_runs(world, monkeypatch):
    """A writer that finds the lock taken waits for it (polling), and takes it as soon as
    the first one lets go."""
    waiting = threading.Event()
    real_sleep = daemon_state.time.sleep

    def sleep(seconds: float) -> None:
        waiting.set()
        real_sleep(seconds)

    monkeypatch.setattr(daemon_state.time, "sleep", sleep)
    order: list[str] = []
    first = DaemonLock(world.config.journal_path)
    first.acquire({"pid": os.getpid(), "command": "replicator sync"})

    def second() -> None:
        with journal_writer(world.config.journal_path, "replicator fetch", wait=60):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    assert waiting.wait(30)
    order.append("first done")
    first.release()
    thread.join(30)
    assert order == ["first done", "second"]


def test_a_status_probe_does_not_turn_a_writer_away(world, monkeypatch):
    """`replicator status` probes the lock with a shared flock for a moment: a writer with
    --wait 0 that meets it tries again instead of failing (it names no holder)."""
    waiting = threading.Event()
    real_sleep = daemon_state.time.sleep

    def sleep(seconds: float) -> None:
        waiting.set()
        real_sleep(seconds)

    monkeypatch.setattr(daemon_state.time, "sleep", sleep)
    path = lock_path(world.config.journal_path)
    path.touch()
    probe = open(path)  # noqa: SIM115 - released by the thread below
    fcntl.flock(probe, fcntl.LOCK_SH)

    def release() -> None:
        waiting.wait(30)
        probe.close()

    thread = threading.Thread(target=release)
    thread.start()
    with journal_writer(world.config.journal_path, "replicator sync", wait=0):
        held = json.loads(path.read_text())
    thread.join(30)
    assert held["command"] == "replicator sync" and held["pid"] == os.getpid()


def test_two_syncs_started_at_once_never_interleave(tmp_path):
    """Two `replicator sync` processes on one journal with 5000 rows to sync: each exits 0
    (the second waited) or 1 naming the first; the runs' journal entries do not overlap,
    every row exists once on each side and the journal verifies."""
    world = make_world(tmp_path)
    world.add("books", *[f"Books {i:05}" for i in range(2500)])
    world.add("crm", *[f"CRM {i:05}" for i in range(2500)])
    command = [sys.executable, "-c", ENTRY, "sync", "--json", "--config", str(world.config_path)]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in processes]
    assert any(code == 0 for _, _, code in results), results
    for _, err, code in results:
        assert code == 0 or "is busy" in err, err
    names = sorted([f"Books {i:05}" for i in range(2500)] + [f"CRM {i:05}" for i in range(2500)])
    assert world.names("books") == names and world.names("crm") == names
    with open_journal(world.config) as journal:
        runs = sorted(lifecycle.runs(journal), key=lambda run: run.first)
        assert runs and verify(journal).ok
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.first > before.seq  # the later run began after the first one's marker


def test_a_killed_holder_leaves_no_stale_lock(world):
    """SIGKILL a process holding the journal's lock: the next sync runs at once (--wait 0);
    the dead holder's text in the file is not taken for a live one."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(world.config.journal_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DaemonError, match=rf"`replicator sync` \(pid {holder.pid}, since"):
            DaemonLock(world.config.journal_path).acquire({"command": "test"})
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    assert json.loads(lock_path(world.config.journal_path).read_text())["pid"] == holder.pid
    result = cli(world, "sync", "--wait", "0")
    assert result.returncode == 0, result.stderr
    assert world.names("crm") == ["Alpha Ltd", "Gamma Co"]


def test_a_sync_does_not_pass_for_a_daemon(world):
    """A running `replicator sync` holds the lock, but status says no daemon runs and a
    second sync does not try to hand its cycle to one."""
    with journal_writer(world.config.journal_path, "replicator sync", wait=0):
        assert not is_running(world.config.journal_path)
        assert forward_sync(world.config) is None
        assert daemon_status(world.config)["running"] is False


def test_sync_and_fetch_go_to_a_running_daemon(world):
    """With a daemon on the journal, `sync` and `fetch` hand their work to it (one writer)
    instead of waiting for a lock it holds for its life."""
    daemon = Daemon(world.config).start()
    try:
        wait_for(lambda: daemon.modules["customers"].status == "ok")
        result = cli(world, "sync")
        assert result.returncode == 0, result.stderr
        assert "the running daemon ran this cycle" in result.stderr
        world.add("crm", "Delta Co")
        fetched = cli(world, "fetch", "customers", crm_id(world, "Delta Co"), "--json")
        assert fetched.returncode == 0, fetched.stderr
        data = json.loads(fetched.stdout)
        assert data["report"]["modules"]["customers"]["books"]["created"] == 1
        assert data["record"]["sides"]["books"]["id"] and "Delta Co" in world.names("books")
        missing = cli(world, "fetch", "customers", "999999")
        assert missing.returncode == 1 and "999999" in missing.stderr
        assert daemon.modules["customers"].status == "ok"  # the asker's typo is not unhealth
    finally:
        daemon.stop()


def test_a_writer_that_finds_a_daemon_says_so_at_once(world):
    """A daemon that took the journal since the command looked is not waited for: the
    message says to run the command again (the daemon then runs it)."""
    daemon = DaemonLock(world.config.journal_path)
    daemon.acquire({"pid": os.getpid(), "since": "2026-01-01T00:00:00+00:00", "command": DAEMON})
    try:
        with pytest.raises(DaemonError) as refused:
            DaemonLock(world.config.journal_path).acquire({"command": "replicator fetch"}, wait=600)
    finally:
        daemon.release()
    assert str(refused.value) == (
        f"a daemon started on journal {world.config.journal_path} (pid {os.getpid()}, since "
        "2026-01-01T00:00:00+00:00): run `replicator fetch` again and the daemon runs it"
    )


def crm_id(world: World, name: str) -> str:
    with contextlib.closing(sqlite3.connect(world.folder / "crm.db")) as db:
        row = db.execute("SELECT id FROM accounts WHERE account_name = ?", (name,)).fetchone()
    return str(row[0])


def test_a_daemon_does_not_start_beside_a_running_sync(world, monkeypatch):
    """A daemon started while `replicator sync` writes waits its bounded time, then says
    which command holds the journal."""
    monkeypatch.setattr("replicator.daemon.service.LOCK_WAIT", 0.1)
    with (
        journal_writer(world.config.journal_path, "replicator sync", wait=0),
        pytest.raises(DaemonError, match=r"is busy after waiting 0.1 s: `replicator sync`"),
    ):
        Daemon(world.config).start()


def test_the_daemons_files_are_private_and_the_token_is_bare(world):
    """Lock, state and token files are 0600; the token file holds the bare token."""
    daemon = Daemon(world.config).start()
    try:
        journal = world.config.journal_path
        for path in (lock_path(journal), state_path(journal), token_path(journal)):
            assert path.stat().st_mode & 0o777 == 0o600, path
        assert token_path(journal).read_text() == daemon.control_token
        assert read_token(journal) == daemon.control_token
    finally:
        daemon.stop()


def test_an_older_wider_lock_file_is_narrowed(world):
    """A lock file an older version made 0644 is 0600 once a writer takes it."""
    path = lock_path(world.config.journal_path)
    path.write_text("")
    path.chmod(0o644)
    with journal_writer(world.config.journal_path, "replicator sync", wait=0):
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_token_file_in_the_old_json_format_still_reads(world):
    """A token file written as a JSON string by an older daemon reads as the token."""
    token_path(world.config.journal_path).write_text('"old-format-token-0123"')
    assert read_token(world.config.journal_path) == "old-format-token-0123"
