"""The daemon's HTTP endpoint: /healthz, /metrics, CRM callbacks and /sync, over loopback."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from journal import Kind
from replicator.daemon.log import setup_logging, teardown_logging
from replicator.daemon.service import Daemon
from replicator.daemon.state import token_path
from replicator.daemon.watch import Channel, route
from replicator.sync.app import open_journal
from tests.daemon.conftest import World, make_world, wait_for

SETTINGS = (
    'poll_every = "1h"\nmasters_every = "1h"\n'
    "[daemon.modules.customers]\ninstant = true\n"  # callbacks drive it; polling is slow
)
TOKEN = "a-channel-token-0123456789"


@pytest.fixture
def world(tmp_path) -> World:
    world = make_world(tmp_path, daemon=SETTINGS)
    world.add("crm", "Gamma Co")
    return world


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler, _ = setup_logging("json", stream=stream)
    yield stream
    teardown_logging(handler)


@pytest.fixture
def daemon(world, logs) -> Iterator[Daemon]:
    running = Daemon(world.config).start()
    # a SQLite side has no watch API: stand in for the channel a CRM side would register
    running.watch.add(Channel("crm", "1234567890123", TOKEN, ["accounts.all"]))
    wait_for(lambda: running.modules["customers"].status == "ok")
    yield running
    running.stop()


def crm_id(world: World, name: str) -> str:
    with sqlite3.connect(world.folder / "crm.db") as db:
        return str(
            db.execute("SELECT id FROM accounts WHERE account_name = ?", (name,)).fetchone()[0]
        )


def entries(world: World) -> int:
    with open_journal(world.config) as journal:
        return journal.last_seq


def callback(daemon: Daemon, **body) -> httpx.Response:
    return httpx.post(f"{daemon.url}/callbacks/crm", json=body, timeout=10)


def callback_cycle_done(daemon: Daemon) -> None:
    """Wait until the customers module's last cycle is a finished callback cycle (the fixture's
    first cycle was a scheduled one; the next scheduled one is an hour away)."""
    health = daemon.modules["customers"]
    wait_for(lambda: health.trigger == "callback" and not health.running, timeout=30)


def test_healthz_is_ok_while_the_scheduler_runs_and_cycles_succeed(daemon):
    """200 with each module's last cycle and next run."""
    answer = httpx.get(f"{daemon.url}/healthz").json()
    assert answer["status"] == "ok" and answer["scheduler"] == "running"
    assert answer["modules"]["customers"]["last_ok"] and answer["modules"]["customers"]["next_run"]


def test_healthz_turns_unhealthy_when_a_cycle_fails(world, daemon):
    """A side that fails makes the module's status error and /healthz answer 503."""
    with sqlite3.connect(world.folder / "crm.db") as db:
        db.execute("ALTER TABLE accounts RENAME TO gone")
    daemon.sync_now(["customers"])
    response = httpx.get(f"{daemon.url}/healthz")
    assert response.status_code == 503
    assert response.json()["modules"]["customers"]["status"] == "error"
    assert response.json()["problems"]


def test_metrics_parse_as_prometheus_text(world, daemon):
    """/metrics is text format 0.0.4, parses with prometheus_client's parser and counts
    cycles and records."""
    world.add("books", "Omega")
    daemon.sync_now([])
    response = httpx.get(f"{daemon.url}/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    cycles = {
        tuple(sorted(s.labels.items())): s.value for s in families["replicator_cycles"].samples
    }
    assert sum(cycles.values()) >= 2
    created = [
        s
        for s in families["replicator_records"].samples
        if s.labels == {"module": "customers", "side": "crm", "what": "created"}
    ]
    assert created and created[0].value >= 1
    assert families["replicator_cycle_duration_seconds"].type == "histogram"
    assert families["replicator_scheduler_running"].samples[0].value == 1


@pytest.mark.parametrize("token", [None, "", "wrong-token-000000", TOKEN + "x"])
def test_a_forged_callback_is_refused_and_changes_nothing(world, daemon, logs, token):
    """A wrong or missing token: 401, no job, no journal entry."""
    world.add("crm", "Forged")
    before = entries(world)
    body = {
        "channel_id": "1234567890123",
        "module": "accounts",
        "operation": "insert",
        "ids": [crm_id(world, "Forged")],
    }
    if token is not None:
        body["token"] = token
    assert callback(daemon, **body).status_code == 401
    assert callback(daemon, **{**body, "channel_id": "999", "token": TOKEN}).status_code == 401
    daemon.scheduler.get_jobs()  # nothing queued for it: the journal stays as it was
    assert entries(world) == before
    assert "Forged" not in world.names("books")
    assert "wrong-token" not in logs.getvalue() and TOKEN not in logs.getvalue()


def test_a_callback_re_fetches_the_named_records_now(world, daemon):
    """A callback with the channel's token re-fetches its ids: the record reaches the other
    side long before the (hourly) poll."""
    world.add("crm", "Instant")
    body = {
        "channel_id": "1234567890123",
        "token": TOKEN,
        "module": "accounts",
        "operation": "insert",
        "ids": [crm_id(world, "Instant")],
    }
    assert callback(daemon, **body).status_code == 202
    # the cycle's end, not its push: the record reaches Books before the cycle records
    # its run marker and health (waiting on the record alone raced with those)
    callback_cycle_done(daemon)
    assert "Instant" in world.names("books")
    with open_journal(world.config) as journal:
        runs = [e for e in journal.read(module="@config", rid="@run")]
    assert runs[-1].meta["trigger"] == "callback"
    assert all(e.kind is not Kind.ERROR for e in journal_entries(world))


def journal_entries(world: World) -> list:
    with open_journal(world.config) as journal:
        return list(journal.read())


def test_sync_needs_the_control_token(daemon):
    """POST /sync without X-Replicator-Token is refused."""
    assert httpx.post(f"{daemon.url}/sync", json={}).status_code == 401
    answer = httpx.post(
        f"{daemon.url}/sync",
        json={"modules": ["nope"]},
        headers={"X-Replicator-Token": daemon.control_token},
    )
    assert answer.status_code == 409 and "no module" in answer.json()["error"]


def test_the_token_file_works_as_the_header_as_it_is(world, daemon):
    """What `$(cat JOURNAL.daemon-token)` gives is the header value /sync takes."""
    text = subprocess.run(
        ["sh", "-c", 'printf %s "$(cat "$1")"', "sh", str(token_path(world.config.journal_path))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    answer = httpx.post(
        f"{daemon.url}/sync",
        json={"modules": ["customers"]},
        headers={"X-Replicator-Token": text},
        timeout=30,
    )
    assert answer.status_code == 200 and "modules" in answer.json()


def test_logs_are_one_json_object_a_line_without_secrets(daemon, logs):
    """Every line parses as JSON with at / level / message; no token appears anywhere."""
    logging.getLogger("replicator.daemon.service").info("token is %s", daemon.control_token)
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert lines and all({"at", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"] == "daemon started" for line in lines)
    assert daemon.control_token not in logs.getvalue() and TOKEN not in logs.getvalue()


def test_a_delete_callback_runs_the_module_cycle(world, daemon):
    """A delete names ids the side no longer holds: the module's cycle reads its deletes
    (a tombstone is journaled; the record stays on the other side)."""
    gamma = crm_id(world, "Gamma Co")
    with sqlite3.connect(world.folder / "crm.db") as db:
        db.execute("DELETE FROM accounts WHERE id = ?", (gamma,))
    body = {
        "channel_id": "1234567890123",
        "token": TOKEN,
        "module": "accounts",
        "operation": "delete",
        "ids": [gamma],
    }
    assert callback(daemon, **body).status_code == 202
    callback_cycle_done(daemon)  # the whole cycle: a wrong delete would come after the tombstone
    assert any(e.kind is Kind.TOMBSTONE for e in journal_entries(world))
    assert world.names("books") == ["Gamma Co"]


def test_callbacks_route_to_instant_modules_of_their_table(tmp_path):
    """Inserts and updates become ids to fetch (once each); deletes a cycle; a table no
    instant module syncs is ignored."""
    world = make_world(tmp_path, daemon=SETTINGS)
    fetch, rerun = route(
        world.config,
        [
            ("crm", "accounts", "insert", ["1", "2"]),
            ("crm", "accounts", "update", ["2", "3"]),
            ("crm", "accounts", "delete", ["4"]),
            ("crm", "leads", "insert", ["5"]),
            ("books", "customers", "insert", ["6"]),
        ],
    )
    assert fetch == {("customers", "crm"): ["1", "2", "3"], ("customers", "books"): ["6"]}
    assert rerun == ["customers"]
