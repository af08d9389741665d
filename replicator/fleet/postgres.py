"""The fleet's store in PostgreSQL (a :class:`~replicator.fleet.store.TenantStore`), for
fleets whose workers share no disk.

A location is ``postgresql://...`` (a libpq URL), optionally ``#SCHEMA`` (default
``fleet``); the tenants table lives in that schema.  Every ``psycopg.Error`` becomes a
:class:`FleetStoreError` in :func:`_translated`, naming the database, never a password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from journal.postgres import SCHEMA_NAME, shown_location
from replicator.fleet.errors import FleetStoreError, TenantError
from replicator.fleet.store import StoredTenant

DEFAULT_SCHEMA = "fleet"
TABLE = """
CREATE TABLE IF NOT EXISTS {s}.tenants (
    id TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    config_path TEXT NOT NULL,
    journal TEXT NOT NULL,
    sides TEXT NOT NULL,
    secrets BYTEA NOT NULL,
    added TEXT NOT NULL
)
"""
COLUMNS = "id, config, config_path, journal, sides, secrets, added"


class PostgresTenantStore:
    """Tenants in a table of a PostgreSQL schema."""

    def __init__(self, location: str) -> None:
        conninfo, _, schema = location.partition("#")
        schema = schema or DEFAULT_SCHEMA
        if not SCHEMA_NAME.fullmatch(schema):
            raise FleetStoreError(f"fleet store schema {schema!r}: 1 to 63 of a-z, 0-9 and _")
        self.where = shown_location(conninfo, schema)
        self._s = sql.Identifier(schema)
        with _translated(f"cannot open the fleet store {self.where}"):
            self._db = psycopg.connect(conninfo, autocommit=True)
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (location,))
                self._db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {s}").format(s=self._s))
                self._db.execute(self._q(TABLE))

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._s)  # type: ignore[arg-type]

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
        with _translated(f"cannot add tenant {tenant.id}"):
            try:
                self._db.execute(
                    self._q(f"INSERT INTO {{s}}.tenants ({COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s)"),
                    row,
                )
            except psycopg.errors.UniqueViolation:
                raise TenantError(f"tenant {tenant.id} exists already") from None

    def remove(self, tenant_id: str) -> bool:
        with _translated(f"cannot remove tenant {tenant_id}"):
            done = self._db.execute(self._q("DELETE FROM {s}.tenants WHERE id = %s"), (tenant_id,))
            return done.rowcount > 0

    def get(self, tenant_id: str) -> StoredTenant | None:
        with _translated(f"cannot read tenant {tenant_id}"):
            row = self._db.execute(
                self._q(f"SELECT {COLUMNS} FROM {{s}}.tenants WHERE id = %s"), (tenant_id,)
            ).fetchone()
        return None if row is None else _stored(row)

    def all(self) -> list[StoredTenant]:
        with _translated("cannot list tenants"):
            rows = self._db.execute(
                self._q(f'SELECT {COLUMNS} FROM {{s}}.tenants ORDER BY id COLLATE "C"')
            ).fetchall()
        return [_stored(row) for row in rows]

    def replace_secrets(self, tenant_id: str, secrets: bytes, *, was: bytes) -> bool:
        with _translated(f"cannot update tenant {tenant_id}"):
            done = self._db.execute(
                self._q("UPDATE {s}.tenants SET secrets = %s WHERE id = %s AND secrets = %s"),
                (secrets, tenant_id, was),
            )
            return done.rowcount > 0

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            with contextlib.suppress(psycopg.Error):
                db.close()

    def __repr__(self) -> str:
        return f"PostgresTenantStore({self.where!r})"


def _stored(row: tuple[Any, ...]) -> StoredTenant:
    id_, config, config_path, journal, sides, secrets, added = row
    return StoredTenant(
        id=id_,
        config=config,
        config_path=config_path,
        journal=journal,
        sides=tuple(json.loads(sides)),
        secrets=bytes(secrets),
        added=dt.datetime.fromisoformat(added),
    )


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """psycopg's errors as :class:`FleetStoreError` (the first line of the reason)."""
    try:
        yield
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FleetStoreError(f"{what}: {reason}") from None


__all__ = ["DEFAULT_SCHEMA", "PostgresTenantStore"]
