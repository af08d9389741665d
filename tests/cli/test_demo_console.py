"""`replicator demo --console`: the demo's story, then its console on loopback, signed in to
with the password it printed, until SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = re.compile(r"^console admin: (\S+)  password: (\S+)  ")
LINK = re.compile(r"^integration user (\S+): (http://\S+/console/link/\S+)  ")


@contextmanager
def demo(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`replicator demo --console ARGS` running, and its output up to the URL line (the
    last one); SIGTERM when the block ends."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "replicator", "demo", "--console", "--dir", str(tmp_path / "d")]
        + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:  # the URL line is printed once the port listens
            lines.append(line.rstrip("\n"))
            if line.startswith("console: http://"):
                break
        else:
            pytest.fail(
                f"no URL line: {lines[-20:]} {process.stderr.read() if process.stderr else ''}"
            )
        yield process, lines
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def sign_in(client: httpx.Client, name: str, password: str) -> None:
    """Sign ``client`` (based at the console's URL) in as the admin ``name``."""
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("signin").text)
    assert csrf is not None
    answer = client.post("signin", data={"csrf": csrf.group(1), "name": name, "password": password})
    assert answer.status_code == 303, answer.text


def test_the_sqlite_demo_serves_its_console_until_sigterm(tmp_path):
    """`demo --sqlite --console` syncs, then serves the console on 127.0.0.1 with a printed
    admin password that signs in: the overview and the conflicts page answer; integration
    users are off (one line says why); SIGTERM stops it with rc 0."""
    with demo(tmp_path, "--sqlite", "--records", "20") as (process, lines):
        url = lines[-1].split(" ", 1)[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/console/")
        assert any(line.startswith("intact: ") for line in lines)  # the story ran first
        found = next(m for m in map(PASSWORD.match, lines) if m)
        name, password = found.groups()
        assert any("integration users: off" in line for line in lines)
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
            sign_in(client, name, password)
            overview = client.get("")
            assert overview.status_code == 200 and "customers" in overview.text
            conflicts = client.get("conflicts", params={"status": "all"})
            assert conflicts.status_code == 200 and "email" in conflicts.text
        with httpx.Client(base_url=url) as stranger:  # a wrong password is refused
            csrf = re.search(r'name="csrf" value="([^"]+)"', stranger.get("signin").text)
            assert csrf is not None
            form = {"csrf": csrf.group(1), "name": name, "password": password + "x"}
            assert stranger.post("signin", data=form).status_code == 401
    assert process.returncode == 0
    store = tmp_path / "d" / "journal.db.console.json"
    assert password not in store.read_text()  # kept hashed
    assert "[console]" in (tmp_path / "d" / "replicator.toml").read_text()


@pytest.mark.slow  # the Zoho story waits on Books' rate limit: about two minutes
def test_the_zoho_demo_serves_its_console_with_an_integration_users_link(tmp_path):
    """`demo --console` runs the Zoho story, then serves the console with the sandbox up:
    the admin signs in, the overview and conflicts answer; the integration user's one-time
    link signs them in to the customers page (once) and the conflicts page refuses them."""
    with demo(tmp_path) as (process, lines):
        url = lines[-1].split(" ", 1)[1]
        name, password = next(m for m in map(PASSWORD.match, lines) if m).groups()
        email, link = next(m for m in map(LINK.match, lines) if m).groups()
        assert email == "sam.seller@sandbox.example"
        with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as client:
            sign_in(client, name, password)
            assert client.get("").status_code == 200
            conflicts = client.get("conflicts", params={"status": "all"})
            assert conflicts.status_code == 200 and "Globex" in conflicts.text
        with httpx.Client(follow_redirects=False, timeout=30) as user:
            answer = user.get(link)
            assert answer.status_code == 303 and answer.headers["location"].endswith("/customers")
            customers = user.get(url + "customers")
            assert customers.status_code == 200 and email in customers.text
            assert user.get(url + "conflicts").status_code == 403
        with httpx.Client(follow_redirects=False, timeout=30) as again:
            assert again.get(link).status_code == 403  # a link signs in once
    assert process.returncode == 0
