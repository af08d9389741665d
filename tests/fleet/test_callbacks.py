"""Zoho callbacks through the fleet, end to end: a worker registers the tenant's CRM
channel to the fleet endpoint, the CRM (the sandbox) calls it when a record changes, the
endpoint queues the tenant's cycle for that record and a worker syncs it to Books."""

from __future__ import annotations

import time

import pytest

from replicator.cli.demo.zoho import zoho_config
from replicator.fleet import Sealer, Tenants, open_store, read_tenant
from replicator.sandbox import Sandbox
from tests.fleet.processes import Process, fleet_env, start_worker

pytestmark = pytest.mark.redis

INSTANT = "\n[daemon.modules.customers]\ninstant = true\n"


def wait_until(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not in time")
        time.sleep(0.1)


def books_names(sandbox: Sandbox) -> set[str]:
    return {r["contact_name"] for r in sandbox.admin.books_records("contacts")}


def test_a_crm_change_reaches_books_through_the_fleet_endpoint(
    tmp_path, redis_url, fleet_key, monkeypatch
):
    """The channel is registered with a token of ours; the sandbox's callback is accepted
    by the endpoint (202), and the new account is in Books without a scheduled cycle."""
    monkeypatch.setenv("REPLICATOR_FLEET_BROKER", redis_url)
    processes: list[Process] = []
    with Sandbox(tmp_path / "sandbox", host="127.0.0.1", port=0) as sandbox:
        sandbox.admin.seed("keys")
        folder = tmp_path / "acme"
        folder.mkdir()
        config = folder / "replicator.toml"
        config.write_text(zoho_config(sandbox.credentials_path) + INSTANT, encoding="utf-8")
        store = tmp_path / "fleet.db"
        with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
            tenants.add(read_tenant("acme", config))
        env = fleet_env(store, redis_url, fleet_key)
        try:
            endpoint = Process(["endpoint", "--bind", "127.0.0.1:0"], env, tmp_path / "ep.log")
            processes.append(endpoint)
            endpoint.wait_for("fleet endpoint on ")
            line = next(x for x in endpoint.output().splitlines() if "fleet endpoint on" in x)
            env["REPLICATOR_FLEET_PUBLIC_URL"] = line.split("fleet endpoint on ")[1].split()[0]
            worker, _ = start_worker(env, tmp_path / "worker.log")
            processes.append(worker)
            from replicator.fleet.queue import channels, configure, enqueue_cycle

            configure(redis_url)
            enqueue_cycle("acme", "customers")  # the first sync: nothing yet
            channels.apply_async(args=["acme"], queue="replicator")
            wait_until(
                lambda: (
                    "watch channel registered" in worker.output()
                    and "'status': 'ok'" in worker.output()
                ),
                what="the first sync and the channel registered",
            )
            sandbox.admin.crm_create("Accounts", {"Account_Name": "Called Back Ltd"})
            wait_until(lambda: "Called Back Ltd" in books_names(sandbox), what="the callback")
            # the sandbox logs a callback after the endpoint answered it, from its delivery
            # thread, and the worker logs its cycle after the push: the record can be in
            # Books before either is written, so wait for them, not only for Books (the
            # sandbox's wait stays within its admin client's 30 s timeout)
            report = sandbox.admin.notifications(wait=20)
            assert report["idle"] and report["failures"] == 0
            assert {"Accounts", "insert", 202} <= {
                x for entry in report["log"] for x in (entry["module"], entry["operation"],
                                                       entry["status"])
            }  # fmt: skip
            wait_until(lambda: 'trigger="callback"' in worker.output(), what="the callback's cycle")
        finally:
            for process in processes:
                process.stop(timeout=30)
