"""Issue 17's acceptance: N tenants, each its own Zoho org pair (a sandbox on loopback with
Zoho's real limits), run by 3 worker processes and beat over Redis.  Every tenant
converges; no cycle of a tenant's module overlaps another (the journals' run markers); a
worker SIGKILLed mid-cycle loses nothing and duplicates nothing (its job is delivered
again, its lock expires); no org is refused for going over a limit (no 429 anywhere).

A handful of tenants in the default suite, with their journals in SQLite files and again
each in its own schema of one PostgreSQL database; 50 (the issue's number) in the slow one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from journal import JournalStorage
from replicator.cli.demo.zoho import zoho_config
from replicator.fleet import Sealer, Tenants, open_store, read_tenant
from replicator.sandbox import Sandbox
from replicator.sync.app import record_reducer
from replicator.sync.lifecycle import runs
from tests.fleet.processes import Process, fleet_env, healthz, start_worker, start_workers
from tests.sync.backends import verify

RECORDS = 3  # accounts in CRM and other contacts in Books, per tenant


def tenant_sandbox(root: Path, n: int) -> tuple[Sandbox, Path]:
    """Tenant n's org pair, seeded, and its config (a journal of its own)."""
    sandbox = Sandbox(root / f"sandbox{n}", host="127.0.0.1", port=0).start()
    admin = sandbox.admin
    admin.seed("keys")
    admin.crm_create(
        "Accounts", *({"Account_Name": f"CRM {n}-{i}"} for i in range(RECORDS)), notify=False
    )
    for i in range(RECORDS):
        admin.books_create(
            "contacts", {"contact_name": f"Books {n}-{i}", "contact_type": "customer"}
        )
    folder = root / f"t{n}"
    folder.mkdir()
    config = folder / "replicator.toml"
    config.write_text(zoho_config(sandbox.credentials_path), encoding="utf-8")
    return sandbox, config


def names(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    crm = sorted(r["Account_Name"] for r in sandbox.admin.crm_records("Accounts"))
    books = sorted(r["contact_name"] for r in sandbox.admin.books_records("contacts"))
    return crm, books


def converged(sandbox: Sandbox) -> bool:
    crm, books = names(sandbox)
    return crm == books and len(crm) == 2 * RECORDS


def refused(sandbox: Sandbox) -> int:
    """Requests the org refused for a limit (429s) since it started."""
    return sum(r["count"] for r in sandbox.admin.counters() if r["status"] == "429")


def overlaps(journal: JournalStorage) -> list[tuple[str, str]]:
    """Pairs of the journal's runs of one module whose times overlap."""
    spans: dict[str, list[tuple[str, str]]] = {}
    for run in runs(journal):
        for module in run.modules:
            spans.setdefault(module, []).append((run.started, run.ended))
    found = []
    for module_spans in spans.values():
        ordered = sorted(module_spans)
        found += [(a[1], b[0]) for a, b in zip(ordered, ordered[1:], strict=False) if b[0] < a[1]]
    return found


def run_fleet(
    root: Path,
    redis_url: str,
    fleet_key: str,
    tenants_count: int,
    journal: Callable[[int], str | None] = lambda n: None,
) -> dict:
    """``journal(n)``: where tenant n's journal is (None: the config's SQLite file)."""
    sandboxes: list[Sandbox] = []
    processes: list[Process] = []
    try:
        store = root / "fleet.db"
        with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
            for n in range(tenants_count):
                sandbox, config = tenant_sandbox(root, n)
                sandboxes.append(sandbox)
                tenants.add(read_tenant(f"t{n}", config, journal=journal(n)))
        env = fleet_env(store, redis_url, fleet_key)
        env["REPLICATOR_TOKEN_CACHE"] = str(root / "tokens")  # one token per org, shared
        options = ("--visibility-timeout", "5", "--lock-ttl", "3")
        workers = start_workers(env, [root / f"worker{n}.log" for n in range(3)], *options)
        processes += [w for w, _ in workers]
        beat = Process(["beat", "--schedule-file", str(root / "beat")], env, root / "beat.log")
        processes.append(beat)
        # SIGKILL the first worker seen in a cycle, mid-cycle; a new one takes its place
        killed = None
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline:
            for worker, url in workers:
                with contextlib.suppress(Exception):
                    running = healthz(url)["running"]
                    if running:
                        worker.popen.send_signal(signal.SIGKILL)
                        worker.popen.wait(timeout=30)
                        killed = running[0]
                        break
            time.sleep(0.02)
        assert killed is not None, "no worker was seen in a cycle"
        processes.append(start_worker(env, root / "worker3.log", *options)[0])
        deadline = time.monotonic() + 60 + 6 * tenants_count
        waiting = list(range(tenants_count))
        while waiting and time.monotonic() < deadline:
            waiting = [n for n in waiting if not converged(sandboxes[n])]
            time.sleep(0.2)
        assert waiting == [], {n: names(sandboxes[n]) for n in waiting[:3]}
        with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
            for n in range(tenants_count):
                tenant = tenants.get(f"t{n}")
                with tenant.open_journal(record_reducer(tenant.config())) as opened:
                    assert overlaps(opened) == []
                    assert any(runs(opened))
                    assert verify(opened).ok
        assert [refused(s) for s in sandboxes] == [0] * tenants_count
        return {"killed": killed, "at": dt.datetime.now(dt.UTC)}
    finally:
        for process in processes:
            process.stop(timeout=30)
        for sandbox in sandboxes:
            sandbox.stop()


@pytest.mark.redis
def test_a_handful_of_tenants_converge_on_three_workers_through_a_sigkill(
    tmp_path, redis_url, fleet_key
):
    """Four tenants: every one converges with no duplicate after a worker is SIGKILLed
    mid-cycle; no run of a tenant's module overlaps another; no 429 from any org."""
    result = run_fleet(tmp_path, redis_url, fleet_key, 4)
    assert result["killed"]["tenant"].startswith("t")


@pytest.mark.redis
@pytest.mark.postgres
def test_a_handful_of_tenants_with_journals_on_postgres_converge_through_a_sigkill(
    tmp_path, redis_url, fleet_key, pg_cluster
):
    """The same four tenants, each tenant's journal in its own schema of one PostgreSQL
    database: the same checks, the journals verified by the PostgreSQL backend."""
    tag = uuid.uuid4().hex[:8]
    database = f"postgresql://replicator@127.0.0.1:{pg_cluster.port}/postgres"
    result = run_fleet(
        tmp_path, redis_url, fleet_key, 4, journal=lambda n: f"{database}#t{n}_{tag}"
    )
    assert result["killed"]["tenant"].startswith("t")


@pytest.mark.slow
@pytest.mark.redis
def test_fifty_tenants_converge_on_three_workers_through_a_sigkill(tmp_path, redis_url, fleet_key):
    """The issue's size: 50 tenants on 3 worker processes, the same checks."""
    run_fleet(tmp_path, redis_url, fleet_key, 50)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_fifty_tenants_with_journals_on_postgres_converge_through_a_sigkill(
    tmp_path, redis_url, fleet_key, pg_cluster
):
    """The issue's size with the fleet's journal backend: 50 tenants, each journal in its
    own schema of one PostgreSQL database, on 3 worker processes, the same checks."""
    tag = uuid.uuid4().hex[:8]
    database = f"postgresql://replicator@127.0.0.1:{pg_cluster.port}/postgres"
    result = run_fleet(
        tmp_path, redis_url, fleet_key, 50, journal=lambda n: f"{database}#t{n}_{tag}"
    )
    assert result["killed"]["tenant"].startswith("t")
