"""The fleet store's contract, run over every backend (SQLite now)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from replicator.fleet import FleetStoreError, StoredTenant, TenantError, TenantStore, open_store
from replicator.fleet.sqlite import SQLiteTenantStore

ADDED = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC)


def stored(tenant_id: str, secrets: bytes = b"sealed") -> StoredTenant:
    return StoredTenant(
        id=tenant_id,
        config="[journal]\npath = 'j.db'\n",
        config_path=f"/srv/{tenant_id}/replicator.toml",
        journal=f"/srv/{tenant_id}/journal.db",
        sides=("crm", "books"),
        secrets=secrets,
        added=ADDED,
    )


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TenantStore]:
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        schema = f"fleet_{uuid.uuid4().hex[:12]}"
        host, port = "127.0.0.1", cluster.port
        location = f"postgresql://replicator@{host}:{port}/postgres#{schema}"
    else:
        location = str(tmp_path / "fleet.db")
    made = open_store(location)
    yield made
    made.close()


def test_a_tenant_added_is_read_back_as_it_was(store: TenantStore):
    """Every field round-trips, the sealed bytes byte for byte, the time aware UTC."""
    store.add(stored("acme", b"\x00\xffsealed"))
    assert store.get("acme") == stored("acme", b"\x00\xffsealed")
    assert store.get("acme").added.tzinfo is not None  # type: ignore[union-attr]


def test_tenants_are_listed_by_id(store: TenantStore):
    for name in ("zeta", "acme", "mid"):
        store.add(stored(name))
    assert [t.id for t in store.all()] == ["acme", "mid", "zeta"]


def test_a_second_tenant_of_one_id_is_refused_and_the_first_stays(store: TenantStore):
    store.add(stored("acme", b"first"))
    with pytest.raises(TenantError, match="tenant acme exists already"):
        store.add(stored("acme", b"second"))
    assert store.get("acme").secrets == b"first"  # type: ignore[union-attr]


def test_a_removed_tenant_is_gone_and_removing_it_again_says_so(store: TenantStore):
    store.add(stored("acme"))
    store.add(stored("beta"))
    assert store.remove("acme") is True
    assert store.get("acme") is None
    assert [t.id for t in store.all()] == ["beta"]
    assert store.remove("acme") is False


def test_secrets_are_replaced_only_if_they_are_still_what_was_read(store: TenantStore):
    """A reseal writes over the sealed bytes it read, never over another process's."""
    store.add(stored("acme", b"old"))
    assert store.replace_secrets("acme", b"new", was=b"stale") is False
    assert store.replace_secrets("acme", b"new", was=b"old") is True
    assert store.get("acme").secrets == b"new"  # type: ignore[union-attr]
    assert store.replace_secrets("gone", b"x", was=b"old") is False


def test_the_sqlite_store_file_is_readable_by_its_owner_only(tmp_path: Path):
    """It holds configs and sealed secrets: mode 0600 from its creation."""
    SQLiteTenantStore(tmp_path / "sub" / "fleet.db").close()
    assert stat.S_IMODE((tmp_path / "sub" / "fleet.db").stat().st_mode) == 0o600


def test_a_store_of_a_newer_format_is_refused(tmp_path: Path):
    path = tmp_path / "fleet.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(FleetStoreError, match="newer than this release"):
        SQLiteTenantStore(path)


def test_sqlite_errors_become_store_errors(tmp_path: Path):
    """A file that is no database is a FleetStoreError naming the store, not sqlite3's."""
    path = tmp_path / "fleet.db"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(FleetStoreError, match="cannot open the fleet store"):
        SQLiteTenantStore(path)


@pytest.mark.postgres
def test_a_postgres_store_names_its_database_never_a_password(pg_cluster):
    """An unreachable database: one line with host, port, database, schema; no password."""
    with pytest.raises(FleetStoreError) as caught:
        open_store("postgresql://x:hunter2-SECRET@127.0.0.1:1/fleet#tenants")
    assert "postgresql://127.0.0.1:1/fleet#tenants" in str(caught.value)
    assert "hunter2" not in str(caught.value)
