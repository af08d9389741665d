"""Entry points: the Sandbox context manager, run_sandbox, persistence, the ASGI app."""

from __future__ import annotations

import asyncio
import json
import signal
import stat
import subprocess
import sys
import time

import httpx
import pytest

import replicator.sandbox as sandbox_package
from replicator.sandbox import (
    CREDENTIAL_KEYS,
    DropConnection,
    Sandbox,
    Settings,
    create_app,
)
from tests.sandbox.zoho import Zoho


def test_public_api_is_explicit_and_sorted():
    """The package's __all__ is sorted and every name in it exists."""
    names = list(sandbox_package.__all__)
    assert names == sorted(names)
    assert all(hasattr(sandbox_package, name) for name in names)


def test_credentials_file_has_exactly_the_keys_and_is_private(tmp_path):
    """credentials.json holds exactly the six keys, readable by the owner only."""
    with Sandbox(tmp_path / "box") as box:
        path = tmp_path / "box" / "credentials.json"
        written = json.loads(path.read_text())
        assert tuple(written) == CREDENTIAL_KEYS
        assert written == box.credentials
        assert written["api_domain"] == written["accounts_url"] == box.url
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert box.url.startswith("http://127.0.0.1:")


def test_data_survives_a_restart(tmp_path):
    """Records, credentials, custom fields, tokens and channels survive a restart."""
    data = tmp_path / "persist"
    with Sandbox(data) as first:
        creds = first.credentials
        client = Zoho(creds)
        record = client.crm("POST", "/Accounts", json={"data": [{"Account_Name": "Kept"}]})
        record_id = record.json()["data"][0]["details"]["id"]
        first.admin.add_crm_field("Accounts", "Kept Field", "integer")
        contact = client.books("POST", "/contacts", json={"contact_name": "Kept Books"})
        token = client.token()
    with Sandbox(data) as second:
        assert second.credentials == creds | {"accounts_url": second.url, "api_domain": second.url}
        again = Zoho(second.credentials)
        again._token = token
        stored = again.crm("GET", f"/Accounts/{record_id}")
        assert stored.status_code == 200
        assert stored.json()["data"][0]["Account_Name"] == "Kept"
        assert "Kept_Field" in stored.json()["data"][0]
        books = again.books("GET", f"/contacts/{contact.json()['contact']['contact_id']}")
        assert books.json()["contact"]["contact_name"] == "Kept Books"


def test_demo_seed_runs_once(tmp_path):
    """Seeding demo twice (restart with seed) does not duplicate records."""
    data = tmp_path / "seeded"
    with Sandbox(data, seed="demo") as box:
        first = len(box.admin.crm_records("Accounts"))
    with Sandbox(data, seed="demo") as box:
        assert len(box.admin.crm_records("Accounts")) == first == 10
        assert box.admin.seed("demo") == {}


def test_sandbox_without_a_folder_cleans_up():
    """A Sandbox with no data_dir works in a temporary folder it removes on stop."""
    box = Sandbox().start()
    folder = box.data_dir
    assert (folder / "sandbox.db").exists()
    box.stop()
    assert not folder.exists()


def test_run_sandbox_serves_until_sigterm(tmp_path):
    """run_sandbox prints its URL, serves, and exits cleanly on SIGTERM."""
    code = (
        "from replicator.sandbox import run_sandbox; "
        f"run_sandbox(port=0, data_dir={str(tmp_path / 'fg')!r}, seed='demo')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.split()[-1]
        creds = json.loads((tmp_path / "fg" / "credentials.json").read_text())
        assert creds["api_domain"] == url
        assert httpx.get(f"{url}/__admin__/settings").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert creds["client_secret"] not in process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()


def test_admin_api_refuses_non_loopback_clients(tmp_path):
    """The admin API answers 403 to a client that is not on loopback."""
    app = create_app(tmp_path / "asgi")
    transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 5000))

    async def call() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return (await client.get("/__admin__/settings")).status_code

    assert asyncio.run(call()) == 403
    app.sandbox.close()


def test_in_process_asgi_client(tmp_path):
    """The app serves an in-process httpx.AsyncClient; a drop fault raises there."""
    app = create_app(tmp_path / "asgi", seed="demo", settings=Settings())
    creds = app.sandbox.credentials("http://sandbox")

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            token = (
                await client.post(
                    "/oauth/v2/token",
                    data={
                        "grant_type": "refresh_token",
                        "client_id": creds["client_id"],
                        "client_secret": creds["client_secret"],
                        "refresh_token": creds["refresh_token"],
                    },
                )
            ).json()["access_token"]
            headers = {"Authorization": f"Zoho-oauthtoken {token}"}
            listed = await client.get(
                "/crm/v8/Accounts",
                headers=headers,
                params={"fields": "Account_Name", "per_page": 5},
            )
            assert listed.status_code == 200 and len(listed.json()["data"]) == 5
            await client.post("/__admin__/faults", json={"kind": "drop", "api": "crm"})
            with pytest.raises(DropConnection):
                await client.get("/crm/v8/org", headers=headers)

    asyncio.run(scenario())
    app.sandbox.close()


def test_stop_is_prompt(tmp_path):
    """Stopping a sandbox with an open keep-alive client takes well under a second."""
    box = Sandbox(tmp_path / "quick").start()
    client = Zoho(box.credentials)
    client.crm("GET", "/org")
    started = time.monotonic()
    box.stop()
    assert time.monotonic() - started < 1.0
