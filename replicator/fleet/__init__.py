"""Fleet mode (issue 17): many integrations, each a tenant, run by shared workers.

A tenant is an id, one integration config, its credentials and its journal
(:mod:`replicator.fleet.tenant`); the fleet's store holds them behind a protocol
(:mod:`replicator.fleet.store`, first backend :mod:`replicator.fleet.sqlite`), their
secrets sealed with the fleet key (:mod:`replicator.fleet.sealing`) by the mapper
(:mod:`replicator.fleet.tenants`).  The single daemon stays the default and knows nothing
of this package.

Running the fleet (Celery and Redis; imported only by the workers and the commands that
run them, never by this package's ``__init__``):

- :mod:`.queue`: the Celery app and its task, one module cycle of one tenant;
- :mod:`.worker`: what a worker process holds (tenants, outcomes, metrics, /healthz);
- :mod:`.runner`: the daemon's cycle over a tenant's journal, credentials and limits;
- :mod:`.schedule`: Celery beat's entries from the store, with the daemon's intervals;
- :mod:`.locks`: at most one cycle per tenant and module, a lock in Redis;
- :mod:`.limits`, :mod:`.tokens`: Zoho's per-org limits and access tokens in Redis;
- :mod:`.channels`, :mod:`.endpoint`: CRM watch channels and the one callback endpoint.
"""

from replicator.fleet.backends import open_store
from replicator.fleet.errors import FleetError, FleetKeyError, FleetStoreError, TenantError
from replicator.fleet.sealing import KEY_ENV, Sealer, new_key
from replicator.fleet.store import STORE_ENV, StoredTenant, TenantStore
from replicator.fleet.tenant import Tenant, TenantSecrets, check_id, read_tenant
from replicator.fleet.tenants import TenantInfo, Tenants, TenantStatus

__all__ = [
    "FleetError",
    "FleetKeyError",
    "FleetStoreError",
    "KEY_ENV",
    "STORE_ENV",
    "Sealer",
    "StoredTenant",
    "Tenant",
    "TenantError",
    "TenantInfo",
    "TenantSecrets",
    "TenantStatus",
    "TenantStore",
    "Tenants",
    "check_id",
    "new_key",
    "open_store",
    "read_tenant",
]
