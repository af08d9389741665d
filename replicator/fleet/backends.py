"""Which store backend a location names (the one module that knows every backend)."""

from __future__ import annotations

from replicator.fleet.sqlite import SQLiteTenantStore
from replicator.fleet.store import TenantStore


def open_store(location: str) -> TenantStore:
    """The store at ``location``: a SQLite file's path (created 0600 if missing)."""
    return SQLiteTenantStore(location)


__all__ = ["open_store"]
