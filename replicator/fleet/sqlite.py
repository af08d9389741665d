"""The fleet's store in one SQLite file (the first :class:`~replicator.fleet.store.TenantStore`).

The file is created readable by its owner only: it holds tenants' configs and their sealed
secrets.  Every ``sqlite3`` error becomes a :class:`FleetStoreError` in :func:`_translated`,
the one place this backend maps them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from journal.schema import create_private
from replicator.fleet.errors import FleetStoreError, TenantError
from replicator.fleet.store import StoredTenant

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    config_path TEXT NOT NULL,
    journal TEXT NOT NULL,
    sides TEXT NOT NULL,
    secrets BLOB NOT NULL,
    added TEXT NOT NULL
) WITHOUT ROWID
"""
COLUMNS = "id, config, config_path, journal, sides, secrets, added"
VERSION = 1  # the file's PRAGMA user_version: the format of the tenants table


class SQLiteTenantStore:
    """Tenants in the SQLite file at ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with _translated(f"cannot open the fleet store {self.path}"):
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
                create_private(self.path)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 10000")
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > VERSION:
                raise FleetStoreError(
                    f"the fleet store {self.path} has format {version}, newer than this "
                    f"release's {VERSION}: upgrade replicator"
                )
            self._db.execute(SCHEMA)
            self._db.execute(f"PRAGMA user_version = {VERSION}")

    def add(self, tenant: StoredTenant) -> None:
        row = (
            tenant.id,
            tenant.config,
            tenant.config_path,
            tenant.journal,
            json.dumps(list(tenant.sides)),
            tenant.secrets,
            tenant.added.astimezone(dt.UTC).isoformat(),
        )
        with self._lock, _translated(f"cannot add tenant {tenant.id}"):
            try:
                self._db.execute(f"INSERT INTO tenants ({COLUMNS}) VALUES (?,?,?,?,?,?,?)", row)
            except sqlite3.IntegrityError:
                raise TenantError(f"tenant {tenant.id} exists already") from None

    def remove(self, tenant_id: str) -> bool:
        with self._lock, _translated(f"cannot remove tenant {tenant_id}"):
            done = self._db.execute("DELETE FROM tenants WHERE id = ?", (tenant_id,))
            return done.rowcount > 0

    def get(self, tenant_id: str) -> StoredTenant | None:
        with self._lock, _translated(f"cannot read tenant {tenant_id}"):
            row = self._db.execute(
                f"SELECT {COLUMNS} FROM tenants WHERE id = ?", (tenant_id,)
            ).fetchone()
        return None if row is None else _stored(row)

    def all(self) -> list[StoredTenant]:
        with self._lock, _translated("cannot list tenants"):
            rows = self._db.execute(f"SELECT {COLUMNS} FROM tenants ORDER BY id").fetchall()
        return [_stored(row) for row in rows]

    def replace_secrets(self, tenant_id: str, secrets: bytes, *, was: bytes) -> bool:
        with self._lock, _translated(f"cannot update tenant {tenant_id}"):
            done = self._db.execute(
                "UPDATE tenants SET secrets = ? WHERE id = ? AND secrets = ?",
                (secrets, tenant_id, was),
            )
            return done.rowcount > 0

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __repr__(self) -> str:
        return f"SQLiteTenantStore({str(self.path)!r})"


def _stored(row: tuple[Any, ...]) -> StoredTenant:
    id_, config, config_path, journal, sides, secrets, added = row
    return StoredTenant(
        id=str(id_),
        config=str(config),
        config_path=str(config_path),
        journal=str(journal),
        sides=tuple(json.loads(str(sides))),
        secrets=bytes(secrets),
        added=dt.datetime.fromisoformat(str(added)),
    )


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """sqlite3's errors as :class:`FleetStoreError` (what failed, and SQLite's reason)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise FleetStoreError(f"{what}: {exc}") from None


__all__ = ["SQLiteTenantStore"]
