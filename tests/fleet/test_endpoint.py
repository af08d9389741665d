"""The fleet's callback endpoint: a callback reaches its tenant by its channel's token,
checked as the daemon checks its own; anything else is refused and queues nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from replicator.daemon.watch import channel_id
from replicator.fleet import Sealer, Tenants, new_key, open_store, read_tenant
from replicator.fleet.channels import ChannelTokens, fleet_channels
from replicator.fleet.endpoint import Router, create_endpoint_app
from replicator.fleet.schedule import tenant_entries
from tests.fleet.conftest import Files

INSTANT = "\n[daemon.modules.customers]\ninstant = true\n"


@pytest.fixture
def fleet(files: Files, fleet_key: str, tmp_path: Path):
    """A store of one tenant (acme) whose customers are instant, a router over it that
    records what it queues, and the endpoint's client."""
    files.config.write_text(files.config.read_text() + INSTANT)
    tenants = Tenants(open_store(str(tmp_path / "fleet.db")), Sealer.from_env)
    tenants.add(read_tenant("acme", files.config))
    queued: list[tuple] = []
    tokens = ChannelTokens([fleet_key])
    router = Router(tenants.store, tokens, lambda *job: queued.append(job))
    config = tenants.get("acme").config()
    client = TestClient(create_endpoint_app(router))
    yield client, queued, tokens, config
    tenants.close()


def body(config, tokens, *, tenant="acme", side="crm", **changes):
    channel = channel_id(config, side)
    data = {
        "channel_id": channel,
        "token": tokens.token(tenant, side, channel),
        "module": "Accounts",
        "operation": "update",
        "ids": ["4876876000000333001", 4876876000000333002],
    }
    return {**data, **changes}


def test_a_callback_with_its_channels_token_queues_the_named_records(fleet):
    """202, and one job re-reads the two ids on the CRM side of acme's customers."""
    client, queued, tokens, config = fleet
    answer = client.post("/callbacks/crm", json=body(config, tokens))
    assert answer.status_code == 202
    assert queued == [
        ("acme", "customers", "callback", "crm", ["4876876000000333001", "4876876000000333002"])
    ]
    assert 'replicator_fleet_callbacks_total{outcome="accepted",tenant="acme"} 1.0' in (
        client.get("/metrics").text
    )


def test_a_delete_queues_the_modules_cycle(fleet):
    """Deletes come from the side's deleted feed: the module's whole cycle is queued."""
    client, queued, tokens, config = fleet
    assert (
        client.post("/callbacks/crm", json=body(config, tokens, operation="delete")).status_code
        == 202
    )
    assert queued == [("acme", "customers", "callback", None, None)]


@pytest.mark.parametrize(
    "changes",
    [
        {"token": "acme.forged"},
        {"token": None},
        {"token": 7},
        {"channel_id": "10000000000000001"},
        {"token_of": ("globex", "crm")},  # another tenant's token
        {"token_of": ("acme", "books")},  # another side's
    ],
)
def test_a_callback_without_its_channels_token_is_refused_and_queues_nothing(fleet, changes):
    """401 for a forged, missing, foreign or mismatched token, or an unknown channel."""
    client, queued, tokens, config = fleet
    sent = body(config, tokens)
    if "token_of" in changes:
        tenant, side = changes.pop("token_of")
        sent["token"] = tokens.token(tenant, side, sent["channel_id"])
    sent.update(changes)
    answer = client.post("/callbacks/crm", json=sent)
    assert answer.status_code == 401
    assert queued == []


def test_a_token_made_without_the_fleet_key_is_refused_and_a_rotations_old_key_opens(
    fleet, fleet_key
):
    """Another key's token is refused; while rotating (NEW,OLD), the old key's tokens pass."""
    client, queued, tokens, config = fleet
    stranger = ChannelTokens([new_key()])
    assert client.post("/callbacks/crm", json=body(config, stranger)).status_code == 401
    rotated = ChannelTokens([new_key(), fleet_key])
    assert rotated.check(body(config, tokens)["token"], "acme", "crm", channel_id(config, "crm"))


def test_bodies_the_daemon_refuses_are_refused_here_too(fleet):
    """Not JSON: 400; over the size cap: 413; nothing queued."""
    client, queued, tokens, config = fleet
    assert client.post("/callbacks/crm", content=b"[1, 2]").status_code == 400
    assert client.post("/callbacks/crm", content=b"x" * 300_000).status_code == 413
    assert queued == []


def test_the_tenants_channels_and_their_renewal_entry(fleet, tmp_path):
    """Each watching tenant's CRM channel has the daemon's id and a token of ours; beat
    renews them when the fleet has a public URL, every half channel expiry (at most 1 h)."""
    client, queued, tokens, config = fleet
    (channel,) = fleet_channels(config, "acme", tokens, ["crm"])
    assert channel.channel_id == channel_id(config, "crm")
    assert tokens.check(channel.token, "acme", "crm", channel.channel_id)
    store = open_store(str(tmp_path / "fleet.db"))
    entries = tenant_entries(store.all(), public_url="https://fleet.example")
    assert entries["fleet:acme:@channels"]["args"] == ("acme",)
    assert "fleet:acme:@channels" not in tenant_entries(store.all())
    store.close()
