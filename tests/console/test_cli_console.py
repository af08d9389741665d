"""`replicator console add-admin` and `replicator console serve`."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from replicator.cli.main import main
from replicator.console.auth import check_sign_in, read_store
from tests.console.site import CONSOLE, Site

ROOT = Path(__file__).resolve().parents[2]


def test_add_admin_reads_the_password_from_stdin_and_stores_only_its_hash(tmp_path):
    """`console add-admin NAME --password-stdin` makes an admin who signs in with that
    password; the store is 0600 and neither it nor the output holds the password."""
    site = Site(tmp_path)
    result = CliRunner().invoke(
        main,
        ["--config", str(site.config), "console", "add-admin", "bob", "--password-stdin"],
        input="a long pass phrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "bob" in result.output and "a long pass phrase" not in result.output
    assert stat.S_IMODE(site.store.stat().st_mode) == 0o600
    assert "a long pass phrase" not in site.store.read_text()
    assert check_sign_in(read_store(site.store), "bob", "a long pass phrase") == ("bob", "admin")


def test_add_admin_refuses_an_empty_password(tmp_path):
    """An empty password is refused in one line; no admin is added."""
    site = Site(tmp_path)
    result = site.cli("console", "add-admin", "bob", "--password-stdin")
    assert result.exit_code == 1 and "password is empty" in result.output
    assert "bob" not in read_store(site.store)["admins"]


def test_serve_refuses_when_the_console_is_off(tmp_path):
    """Without `[console] enabled = true` serve says how to turn it on and serves nothing."""
    site = Site(tmp_path)
    site.config.write_text(site.config.read_text().replace(CONSOLE, "\n"))
    result = site.cli("console", "serve", "--bind", "127.0.0.1:0")
    assert result.exit_code == 1 and "enabled = true" in result.output


def test_serve_prints_its_url_and_answers_there_until_stopped(tmp_path):
    """`console serve --bind 127.0.0.1:0` prints the URL of a free port, serves the sign-in
    page there (and sends a visitor to it), and stops cleanly on SIGTERM."""
    site = Site(tmp_path)
    site.seed()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "replicator", "--config", str(site.config)]
    process = subprocess.Popen(
        [*command, "console", "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the port is listening
        assert line.startswith("console: http://127.0.0.1:"), line
        url = line.split(" ", 1)[1].strip()
        answer = httpx.get(url, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/signin"
        assert "Sign in" in httpx.get(url + "signin").text
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "console stopped" in err
