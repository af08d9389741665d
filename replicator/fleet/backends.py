"""Which store backend a location names (the one module that knows every backend)."""

from __future__ import annotations

from replicator.fleet.sqlite import SQLiteTenantStore
from replicator.fleet.store import TenantStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database (else it is a SQLite file)."""
    return location.startswith(POSTGRES_SCHEMES)


def open_store(location: str) -> TenantStore:
    """The store at ``location``: ``postgresql://...[#SCHEMA]`` (the extra ``fleet``), or
    a SQLite file's path (created 0600 if missing)."""
    if is_postgres(location):
        # psycopg is the optional extra `fleet`: imported only for a PostgreSQL store
        from replicator.fleet.postgres import PostgresTenantStore

        return PostgresTenantStore(location)
    return SQLiteTenantStore(location)


__all__ = ["POSTGRES_SCHEMES", "is_postgres", "open_store"]
