"""Errors of the fleet (issue 17): many integrations, each a tenant, on shared workers.

ReplicatorError
 +-- FleetError            the fleet cannot do what was asked
      +-- TenantError      no such tenant, one of that id already, an id that is no id
      +-- FleetKeyError    the fleet key is missing, malformed, or does not open a
      |                    tenant's secrets (the message names the tenant, never a secret)
      +-- FleetStoreError  the fleet's store cannot be opened, read or written

A store's own exceptions (``sqlite3.Error``) become a :class:`FleetStoreError` in one
place per backend (its ``_translated`` context).
"""

from __future__ import annotations

from replicator.errors import ReplicatorError


class FleetError(ReplicatorError):
    """Base of the fleet's errors."""


class TenantError(FleetError):
    """A tenant id that is unknown, taken, or not a valid id."""


class FleetKeyError(FleetError):
    """The fleet key cannot seal or open secrets; names the tenant, never a secret."""


class FleetStoreError(FleetError):
    """The fleet's store failed (it cannot be opened, or a statement failed)."""


__all__ = ["FleetError", "FleetKeyError", "FleetStoreError", "TenantError"]
