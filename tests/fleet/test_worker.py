"""A fleet worker's cycle: one per tenant and module under the Redis lock, its outcome
recorded (never raised), its health and metrics labelled by tenant; a tenant's app opens
with the store's credentials and limits shared through Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from replicator.errors import GuardStop
from replicator.fleet import Sealer, Tenants, open_store, read_tenant
from replicator.fleet.limits import SharedRateLimiter, SharedSlots
from replicator.fleet.runner import open_tenant_app
from replicator.fleet.tokens import RedisTokenCache
from replicator.fleet.worker import FleetWorker, create_worker_app
from replicator.sync.record import CycleReport
from tests.fleet.conftest import SECRETS, Files

pytestmark = pytest.mark.redis


@pytest.fixture
def tenants(files: Files, fleet_key: str, tmp_path: Path) -> Tenants:
    tenants = Tenants(open_store(str(tmp_path / "fleet.db")), Sealer.from_env)
    tenants.add(read_tenant("acme", files.config))
    return tenants


def make_worker(tenants: Tenants, redis_url: str, runner) -> FleetWorker:
    return FleetWorker(tenants, redis.Redis.from_url(redis_url), runner=runner)


def test_a_cycle_runs_under_its_lock_and_its_outcome_is_recorded(tenants, redis_url):
    """The runner gets the tenant with its secrets open and the Redis of the limits; while
    it runs the tenant's module is locked; its counts reach the metrics by tenant."""
    seen = {}

    def runner(tenant, module, *, limits, sealer, stop_requested):
        seen["locked"] = fleet.locks.holder("acme", module)
        seen["tenant"] = tenant.id
        seen["limits"] = limits
        report = CycleReport()
        report.add(module, "crm", "pulled", 3)
        return report

    fleet = make_worker(tenants, redis_url, runner)
    result = fleet.cycle("acme", "customers")
    assert result.status == "ok" and result.counts == {"customers/crm/pulled": 3}
    assert seen == {"locked": True, "tenant": "acme", "limits": fleet.client}
    assert not fleet.locks.holder("acme", "customers")
    ok, health = fleet.health()
    assert ok and health["tenants"]["acme"]["customers"]["status"] == "ok"
    text = fleet.metrics.render().decode()
    assert (
        'replicator_fleet_cycles_total{module="customers",outcome="ok",tenant="acme",'
        'trigger="schedule"} 1.0' in text
    )
    assert "_created" not in text


def test_a_cycle_whose_module_another_worker_holds_is_busy_and_runs_nothing(tenants, redis_url):
    """Another worker holds acme's customers: this one answers busy, the runner never runs."""
    fleet = make_worker(tenants, redis_url, lambda *a, **k: pytest.fail("ran"))
    other = FleetWorker(tenants, redis.Redis.from_url(redis_url))
    with other.locks.hold("acme", "customers") as held:
        assert held is not None
        assert fleet.cycle("acme", "customers").status == "busy"
    assert "replicator_fleet_lock_busy_total" in fleet.metrics.render().decode()


def test_a_failed_cycle_is_recorded_not_raised_and_names_no_secret(tenants, redis_url):
    """An engine error becomes the outcome ``error`` (the worker stays healthy, the tenant
    is listed as failing); a first sync over the guard's limit is ``waiting``."""

    def broken(tenant, module, **_):
        raise RuntimeError("the side is down")

    fleet = make_worker(tenants, redis_url, broken)
    result = fleet.cycle("acme", "customers")
    assert result.status == "error" and "the side is down" in (result.error or "")
    ok, health = fleet.health()
    assert ok and health["status"] == "degraded"
    assert not any(s in str(health) for s in SECRETS)

    def guarded(tenant, module, **_):
        raise GuardStop({"crm": 900}, 100)

    fleet.runner = guarded
    assert fleet.cycle("acme", "customers").status == "waiting"


def test_a_removed_tenants_queued_cycle_is_gone(tenants, redis_url):
    """A job queued before its tenant was removed does nothing."""
    fleet = make_worker(tenants, redis_url, lambda *a, **k: pytest.fail("ran"))
    tenants.remove("acme")
    assert fleet.cycle("acme", "customers").status == "gone"


def test_the_workers_endpoint_serves_health_and_metrics(tenants, redis_url):
    """/healthz is 200 while Redis answers, 503 when the worker stops; /metrics is text."""
    fleet = make_worker(tenants, redis_url, lambda *a, **k: CycleReport())
    fleet.cycle("acme", "customers")
    client = TestClient(create_worker_app(fleet))
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json()["tenants"]["acme"]
    assert "replicator_fleet_cycles_total" in client.get("/metrics").text
    fleet.stopping.set()
    assert client.get("/healthz").status_code == 503


def test_a_tenants_app_signs_in_with_the_stores_credentials_and_shares_its_limits(
    tenants, redis_url, files: Files, tmp_path, monkeypatch
):
    """The Zoho connectors get the tenant's credentials from the store (its credentials
    file gone), Books' rate limit per organisation and CRM's concurrency in Redis."""
    monkeypatch.setenv("REPLICATOR_TOKEN_CACHE", str(tmp_path / "tokens"))
    tenant = tenants.get("acme")
    files.credentials.unlink()  # the store's copy is what counts
    client = redis.Redis.from_url(redis_url)
    with open_tenant_app(tenant, tenant.config(), limits=client, sealer=tenants.sealer) as app:
        books = app.connectors["books"].client
        crm = app.connectors["crm"].client
        assert isinstance(books.rate, SharedRateLimiter) and books.rate.org == "books:20099"
        assert isinstance(crm.slots, SharedSlots) and crm.slots.org == "crm:acme:crm"
        assert isinstance(crm.auth.oauth.cache, RedisTokenCache)  # one session, both sides
        assert books.auth.oauth is crm.auth.oauth
        assert app.engine.batch_size == tenant.config().daemon.batch_size


def test_workers_share_one_sealed_access_token_through_redis(redis_url, fleet_key):
    """A grant one worker wrote is what another reads; Redis holds it sealed, never the
    token in clear; a grant another key sealed is ignored, not an error."""
    import datetime as dt

    from replicator.connectors.zoho.secrets import Secret
    from replicator.connectors.zoho.tokens import Grant
    from replicator.fleet import new_key

    client = redis.Redis.from_url(redis_url)
    a = RedisTokenCache(client, "k1", Sealer([fleet_key]))
    b = RedisTokenCache(redis.Redis.from_url(redis_url), "k1", Sealer([fleet_key]))
    now = dt.datetime(2026, 12, 4, tzinfo=dt.UTC).timestamp()
    grant = Grant(
        token=Secret("1000.access-VERY-SECRET"),
        api_domain="https://www.zohoapis.eu",
        issued=now,
        expires=now + 3600,
        taken=(now,),
    )
    with a.locked():
        a.write(grant)
    with b.locked():
        seen = b.read()
    assert seen.token is not None and seen.token.reveal() == "1000.access-VERY-SECRET"
    assert seen.taken == (now,) and seen.expires == now + 3600
    assert b"VERY-SECRET" not in client.get(a.grant_key)
    assert RedisTokenCache(client, "k1", Sealer([new_key()])).read() == Grant()
