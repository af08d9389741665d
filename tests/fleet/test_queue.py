"""Tenants' cycles on Celery: queued jobs run on real worker processes over Redis, beat
schedules every tenant's modules with the daemon's intervals."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from replicator.fleet import Sealer, Tenants, open_store, read_tenant
from replicator.fleet.schedule import tenant_entries
from tests.fleet.processes import fleet_env, healthz, start_worker, start_workers
from tests.sqlite_folder import SQLiteFolder


def sqlite_tenants(root: Path, count: int, records: int = 3) -> tuple[Path, list[SQLiteFolder]]:
    """``count`` tenants of two SQLite sides, ``records`` customers on each side."""
    store = root / "fleet.db"
    folders = []
    with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
        for n in range(count):
            folder = SQLiteFolder(_mkdir(root / f"t{n}"))
            for i in range(records):
                folder.sql(
                    folder.books,
                    "INSERT INTO customers (name, email, credit_limit, updated_at) "
                    "VALUES (?, 'a@b.c', '10.50', '2026-01-01T00:00:00Z')",
                    f"books {n}-{i}",
                )
                folder.sql(
                    folder.crm,
                    "INSERT INTO accounts (account_name, email, credit_limit, modified_time) "
                    "VALUES (?, 'a@b.c', '1', '2026-01-01T00:00:00Z')",
                    f"crm {n}-{i}",
                )
            tenants.add(read_tenant(f"t{n}", folder.config_path))
            folders.append(folder)
    return store, folders


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def names(db: Path, sql: str) -> set[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {row[0] for row in conn.execute(sql)}


def converged(folder: SQLiteFolder, records: int = 3) -> bool:
    """Both sides hold every record once (names are unique per side)."""
    books = names(folder.books, "SELECT name FROM customers")
    crm = names(folder.crm, "SELECT account_name FROM accounts")
    count = rows(folder.books, "customers") + rows(folder.crm, "accounts")
    return books == crm and len(books) == 2 * records and count == 4 * records


def rows(db: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def wait_until(condition, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("not converged in time")
        time.sleep(0.1)


@pytest.mark.redis
def test_queued_cycles_of_every_tenant_run_on_the_workers_and_converge(
    tmp_path, fleet_key, redis_url, monkeypatch
):
    """Three tenants' cycles queued on two workers: each tenant's sides end up with every
    record, each cycle is journaled once, and the workers' health names the tenants."""
    monkeypatch.setenv("REPLICATOR_FLEET_BROKER", redis_url)
    store, folders = sqlite_tenants(tmp_path, 3)
    env = fleet_env(store, redis_url, fleet_key)
    workers = []
    try:
        for n in range(2):
            workers.append(start_worker(env, tmp_path / f"worker{n}.log"))
        from replicator.fleet.queue import configure, enqueue_cycle

        configure(redis_url)
        for n in range(3):
            enqueue_cycle(f"t{n}", "customers")
        wait_until(lambda: all(converged(f) for f in folders))

        def every_tenant_in_health() -> bool:
            seen: set[str] = set()
            for _, url in workers:
                seen |= set(healthz(url)["tenants"])
            return seen == {"t0", "t1", "t2"}

        wait_until(every_tenant_in_health)
    finally:
        for worker, _ in workers:
            worker.stop()


def test_beat_has_one_entry_per_tenant_and_module_with_the_daemons_intervals(tmp_path, fleet_key):
    """Masters every 2 h by default, a module's own ``every`` when the config gives one;
    each entry first due at once, queued on the fleet's queue."""
    store, folders = sqlite_tenants(tmp_path, 2, records=0)
    folders[1].config_path.write_text(
        folders[1].config_path.read_text() + '\n[daemon.modules.customers]\nevery = "10m"\n'
    )
    with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
        tenants.remove("t1")
        tenants.add(read_tenant("t1", folders[1].config_path))
        stored = tenants.store.all()
    now = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    entries = tenant_entries(stored, now=now)
    assert sorted(entries) == ["fleet:t0:customers", "fleet:t1:customers"]
    t0, t1 = entries["fleet:t0:customers"], entries["fleet:t1:customers"]
    assert t0["schedule"] == dt.timedelta(hours=2)
    assert t1["schedule"] == dt.timedelta(minutes=10)
    assert t0["args"] == ("t0", "customers", "schedule")
    assert t0["task"] == "replicator.fleet.cycle" and t0["options"]["queue"] == "replicator"
    assert t0["last_run_at"] + t0["schedule"] == now  # due at once


@pytest.mark.redis
def test_sigterm_finishes_the_batch_in_hand_and_another_worker_finishes_the_cycle(
    tmp_path, fleet_key, redis_url, monkeypatch
):
    """A worker told to stop mid-cycle (SIGTERM: Celery's warm shutdown) ends the batch it
    holds, journals it, queues the rest of the cycle and exits 0; the next worker
    finishes it: the tenant converges with nothing lost and nothing twice."""
    monkeypatch.setenv("REPLICATOR_FLEET_BROKER", redis_url)
    store, (folder,) = sqlite_tenants(tmp_path, 1, records=200)
    folder.config_path.write_text(
        folder.config_path.read_text() + "\n[daemon]\nbatch_size = 5\n", encoding="utf-8"
    )
    with Tenants(open_store(str(store)), Sealer.from_env) as tenants:
        tenants.remove("t0")
        tenants.add(read_tenant("t0", folder.config_path))
    env = fleet_env(store, redis_url, fleet_key)
    ((first, url),) = start_workers(env, [tmp_path / "first.log"])
    second = None
    try:
        from replicator.fleet.queue import configure, enqueue_cycle

        configure(redis_url)
        enqueue_cycle("t0", "customers")
        wait_until(lambda: bool(healthz(url)["running"]), timeout=60)
        assert first.stop(timeout=120) == 0
        assert "'status': 'interrupted'" in first.output()
        assert not converged(folder, 200)  # the rest was left for the next worker
        second, _ = start_worker(env, tmp_path / "second.log")
        wait_until(lambda: converged(folder, 200), timeout=300)
    finally:
        first.stop()
        if second is not None:
            second.stop()
