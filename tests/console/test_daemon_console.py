"""The daemon serves the console at /console when, and only when, the config says so."""

from __future__ import annotations

import re

import httpx

from replicator.console.auth import SECURE_HEADERS, set_admin, store_path
from replicator.daemon.service import Daemon
from tests.console.site import ADMIN, CONSOLE, PASSWORD
from tests.daemon.conftest import make_world, wait_for


def test_a_daemon_without_console_config_has_no_console_routes(tmp_path):
    """Without [console] the daemon's endpoint answers 404 under /console."""
    world = make_world(tmp_path)
    daemon = Daemon(world.config).start()
    try:
        assert httpx.get(f"{daemon.url}/console/", timeout=10).status_code == 404
        assert httpx.get(f"{daemon.url}/console/signin", timeout=10).status_code == 404
    finally:
        daemon.stop()


def test_the_daemon_serves_the_console_and_its_sync_now_runs_on_the_daemon(tmp_path):
    """With [console] enabled the daemon serves the console beside /healthz, with the secure
    headers; an admin's "sync now" is a cycle on the daemon's worker."""
    world = make_world(tmp_path)
    world.config_path.write_text(world.config_path.read_text() + CONSOLE)
    set_admin(store_path(world.config.journal_path), ADMIN, PASSWORD)
    daemon = Daemon(world.config).start()
    try:
        wait_for(lambda: daemon.modules["customers"].status == "ok")
        with httpx.Client(base_url=daemon.url, timeout=30) as client:
            page = client.get("/console/signin")
            assert page.status_code == 200
            for header, value in SECURE_HEADERS.items():
                assert page.headers[header] == value
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            form = {"csrf": token, "name": ADMIN, "password": PASSWORD}
            assert client.post("/console/signin", data=form).status_code == 303
            world.add("crm", "Delta Co")
            overview = client.get("/console/")
            token = re.search(r'name="csrf" value="([^"]+)"', overview.text).group(1)
            answer = client.post("/console/sync", data={"csrf": token})
            assert answer.status_code == 303
            assert "synced every module" in client.get("/console/").text
        assert "Delta Co" in world.names("books")
        assert httpx.get(f"{daemon.url}/healthz", timeout=10).status_code == 200
    finally:
        daemon.stop()
