"""`replicator daemon` as a process over two SQLite sides: signals, exit codes, log formats."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from replicator.daemon.state import is_running, state_path
from tests.daemon.conftest import make_world, wait_for

ENTRY = "import sys; from replicator.cli.main import main; sys.exit(main())"


def start(world, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, "daemon", "--config", str(world.config_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def published(world, process) -> bool:
    try:
        state = json.loads(state_path(world.config.journal_path).read_text())
    except (OSError, ValueError):
        return False
    return (
        state.get("pid") == process.pid
        and not state.get("stopped")
        and bool(state["modules"]["customers"]["last_ok"])
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_daemon_with_exit_0(tmp_path, sig):
    """SIGTERM and SIGINT (Ctrl-C) stop it cleanly: exit 0, the lock released."""
    world = make_world(tmp_path, daemon='masters_every = "1h"')
    world.add("crm", "Alpha")
    process = start(world)
    try:
        wait_for(lambda: published(world, process), timeout=30)
        assert world.names("books") == ["Alpha"]
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert not is_running(world.config.journal_path)
    lines = [json.loads(line) for line in err.splitlines()]
    assert [line["message"] for line in lines][-1] == "daemon stopped"


def test_text_logs_are_human_lines(tmp_path):
    """--log-format text: one line per event, time first, no JSON."""
    world = make_world(tmp_path, daemon='masters_every = "1h"')
    process = start(world, "--log-format", "text")
    try:
        wait_for(lambda: published(world, process), timeout=30)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    first = err.splitlines()[0]
    assert first.endswith("]") and "INFO" in first and "daemon started" in first
    assert not first.startswith("{")


def test_a_bad_bind_is_refused_before_anything_starts(tmp_path):
    """--bind must be HOST:PORT."""
    world = make_world(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY,
            "daemon",
            "--config",
            str(world.config_path),
            "--bind",
            "localhost",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "HOST:PORT" in done.stderr
    assert not state_path(world.config.journal_path).exists()
