"""A tenant whose journal is on PostgreSQL runs the daemon's own cycle, as one on SQLite
does: the engine over the storage protocol, the writer lock an advisory lock in the
database, the first sync's dry run in a transaction rolled back, the head anchored outside
the tenant's schema."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from journal.postgres import POSTGRES, writer_lock
from replicator.daemon.state import journal_writer
from replicator.errors import DaemonError, GuardStop
from replicator.fleet import Sealer, Tenant, Tenants, open_store, read_tenant
from replicator.fleet.runner import run_tenant_cycle
from replicator.sandbox import Sandbox
from replicator.sync.app import record_reducer
from tests.fleet.test_acceptance import RECORDS, converged, names, tenant_sandbox
from tests.pg import Cluster

pytestmark = pytest.mark.postgres


def journal_url(cluster: Cluster) -> str:
    return f"postgresql://replicator@127.0.0.1:{cluster.port}/postgres#t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sandbox, config = tenant_sandbox(tmp_path, 0)
    yield sandbox, config
    sandbox.stop()


def add_tenant(tmp_path: Path, config: Path, journal: str) -> Tenant:
    with Tenants(open_store(str(tmp_path / "fleet.db")), Sealer.from_env) as tenants:
        tenants.add(read_tenant("acme", config, journal=journal))
        return tenants.get("acme")


def test_a_tenant_on_postgres_converges_and_its_journal_verifies(
    tmp_path, org, pg_cluster, fleet_key
):
    """Two cycles of the tenant's module: the orgs converge, the second writes nothing
    new to the sides; the journal verifies, its head is anchored in the database, and no
    journal file was made on the worker's disk."""
    sandbox, config = org
    tenant = add_tenant(tmp_path, config, journal_url(pg_cluster))
    first = run_tenant_cycle(tenant, "customers", limits=None)
    assert first.total("created") == 2 * RECORDS
    assert converged(sandbox)
    again = run_tenant_cycle(tenant, "customers", limits=None)
    assert again.total("created") == 0 and again.total("updated") == 0
    with tenant.open_journal(record_reducer(tenant.config())) as journal:
        assert POSTGRES.verify(journal).ok
        log = journal.anchor_log()
        assert log is not None
        last = log.last()
        assert last is not None and (last.seq, last.hash) == journal.head()[:2]
    assert not (config.parent / "journal.db").exists()


def test_a_first_sync_over_the_guard_is_dry_run_on_postgres_and_nothing_stays(
    tmp_path, org, pg_cluster, fleet_key
):
    """Over ``first_sync_creates`` the cycle stops before pushing: the dry run ran on the
    tenant's journal in a transaction rolled back, so the journal holds what it held before
    (the run's error marker aside, none) and neither org changed."""
    sandbox, config = org
    config.write_text(config.read_text() + "\n[guard]\nfirst_sync_creates = 2\n")
    tenant = add_tenant(tmp_path, config, journal_url(pg_cluster))
    before = names(sandbox)
    with pytest.raises(GuardStop) as stopped:
        run_tenant_cycle(tenant, "customers", limits=None)
    assert stopped.value.creates == {"crm": RECORDS, "books": RECORDS}
    assert names(sandbox) == before
    with tenant.open_journal(record_reducer(tenant.config())) as journal:
        assert journal.last_seq == 0 and journal.cursors() == {}
        log = journal.anchor_log()
        assert log is not None and log.last() is None


def test_one_writer_holds_a_postgres_journal_at_a_time(pg_cluster, tmp_path):
    """The writer lock is the database's: a second holder waits, then is refused naming
    the journal (never a password); the lock goes with the holder's session."""
    location = f"{pg_cluster.conninfo}#t_{uuid.uuid4().hex[:10]}"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with writer_lock(location, wait=0):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        busy = pytest.raises(DaemonError, match="is busy after waiting 0.2 s")
        with (
            busy,
            journal_writer(tmp_path / "j.db", "replicator sync", wait=0.2, postgres=location),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    with journal_writer(tmp_path / "j.db", "replicator sync", wait=0, postgres=location):
        assert not (tmp_path / "j.db.lock").exists()  # no file lock was taken
