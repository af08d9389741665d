"""Fleets on PostgreSQL: the store and tenants' journals in one database, each journal in
its own schema; status reads them and creates nothing."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from journal import Kind, NewEntry
from replicator.cli.main import main
from replicator.fleet import Sealer, TenantError, Tenants, open_store, read_tenant
from tests.fleet.conftest import SECRETS, Files
from tests.journal.contract.test_contract import Folding
from tests.pg import Cluster

pytestmark = pytest.mark.postgres


def url(cluster: Cluster, schema: str) -> str:
    return f"postgresql://replicator@127.0.0.1:{cluster.port}/postgres#{schema}"


def test_a_tenant_whose_journal_and_store_are_in_postgres(
    files: Files, pg_cluster: Cluster, fleet_key: str
):
    """add, status before the journal exists (nothing made), a worker's append through
    the tenant, status after: one entry, keyed; no output holds a secret."""
    tag = uuid.uuid4().hex[:8]
    store, journal = url(pg_cluster, f"fleet_{tag}"), url(pg_cluster, f"acme_{tag}")
    runner = CliRunner()

    def fleet(*args: str):
        return runner.invoke(main, ["fleet", "--store", store, *args])

    added = fleet("add", "acme", "--config", str(files.config), "--journal", journal)
    assert added.exit_code == 0, added.output
    before = json.loads(fleet("status", "--json").output)
    assert (before[0]["ok"], before[0]["journal_exists"]) == (True, False)
    assert json.loads(fleet("status", "--json").output)[0]["journal_exists"] is False

    with Tenants(open_store(store), Sealer([fleet_key])) as tenants:
        tenant = tenants.get("acme")
    worker = tenant.open_journal(Folding())
    try:
        worker.append([NewEntry(Kind.CONFIG, "@journal", "@x", meta={"event": "test"})])
    finally:
        worker.close()
    after = fleet("status", "--json")
    assert after.exit_code == 0, after.output
    (row,) = json.loads(after.output)
    assert (row["journal_exists"], row["entries"], row["last_seq"], row["keyed"]) == (
        True,
        1,
        1,
        True,
    )
    for result in (added, after, fleet("list")):
        for secret in SECRETS:
            assert secret not in result.output


def test_a_journal_url_with_a_password_is_refused(files: Files, tmp_path: Path):
    with pytest.raises(TenantError, match="PGPASSWORD") as caught:
        read_tenant("acme", files.config, journal="postgresql://x:hunter2@127.0.0.1:1/fleet#acme")
    assert "hunter2" not in str(caught.value)
