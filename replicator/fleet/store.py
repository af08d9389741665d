"""The fleet's store: where tenants live, behind a protocol a backend implements.

As eventsourcing's ``persistence.py`` is to its ``sqlite.py`` and ``postgres.py``: this
module names the stored row (:class:`StoredTenant`) and what a backend does with it
(:class:`TenantStore`); :mod:`replicator.fleet.sqlite` is the first backend, a PostgreSQL
one follows with the fleet's journals; :mod:`replicator.fleet.backends` picks the
backend a store's location names.  A backend stores the secrets as the sealed bytes
it is given and never sees them open: sealing and opening is the mapper's
(:class:`replicator.fleet.tenants.Tenants`).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import attrs

STORE_ENV = "REPLICATOR_FLEET_STORE"
# the Redis of the fleet's queue, cycle locks and shared limits (workers, beat, endpoint)
BROKER_ENV = "REPLICATOR_FLEET_BROKER"


@attrs.frozen
class StoredTenant:
    """A tenant as a store holds it: everything but its secrets in the clear."""

    id: str
    config: str  # the TOML text of its integration, as the single daemon reads it
    config_path: str  # the file it came from: relative paths in it resolve from its folder
    journal: str  # where its journal is (a SQLite file's path)
    sides: tuple[str, ...]  # the config's sides, for listings that never open the secrets
    secrets: bytes = attrs.field(repr=False)  # sealed with the fleet key
    added: dt.datetime  # aware UTC


class TenantStore(Protocol):
    """What a fleet store backend does.  Tenants are listed by id."""

    def add(self, tenant: StoredTenant) -> None:
        """Store a new tenant; one whose id is taken is refused (:class:`TenantError`)."""
        ...

    def remove(self, tenant_id: str) -> bool:
        """Forget a tenant (False: there was none of that id)."""
        ...

    def get(self, tenant_id: str) -> StoredTenant | None:
        """The tenant of that id, or None."""
        ...

    def all(self) -> list[StoredTenant]:
        """Every tenant, by id."""
        ...

    def replace_secrets(self, tenant_id: str, secrets: bytes, *, was: bytes) -> bool:
        """Store a tenant's secrets sealed anew, if they are still ``was`` (False: the
        tenant is gone or another process changed them meanwhile)."""
        ...

    def close(self) -> None: ...


__all__ = ["BROKER_ENV", "STORE_ENV", "StoredTenant", "TenantStore"]
