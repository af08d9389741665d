"""A tenant's cycle in a fleet worker: the daemon's cycle over the tenant's journal, its
credentials and the limits every worker shares.

:func:`open_tenant_app` is :func:`~replicator.sync.app.open_app` for a tenant: its journal
with the key from the fleet's store, its Zoho connectors signed in with the credentials
from the store (never a file or the worker's environment), their limits put in Redis
(:func:`~replicator.fleet.limits.share_limits`).  :func:`run_tenant_cycle` hands it to the
daemon's own :func:`~replicator.daemon.cycle.run_cycle` (the journal's writer lock, the
journal's tail check, the first sync's guard, then ``Engine.run``), so a fleet cycle is the
single daemon's cycle.  :func:`sync_tenant_ids` re-reads the records a callback named, as
the daemon's drain job does.

A tenant's journal is its own SQLite file, or its own schema of a PostgreSQL database
(:meth:`Tenant.open_journal`): the engine runs on either through the storage protocol
(:class:`journal.JournalStorage`); the cycle's writer lock is then an advisory lock in
that database (:func:`journal.postgres.writer_lock`), seen by every worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import redis

from journal import Journal, JournalStorage
from replicator.config.load import Config
from replicator.connectors import Connector, build_connector
from replicator.connectors.zoho.credentials import SharedAuth, side_env_prefix
from replicator.connectors.zoho.tokens import CACHE_ENV, FILE_PREFIX, CachedOAuth, TokenCache
from replicator.daemon.cycle import run_cycle
from replicator.daemon.state import journal_writer
from replicator.fleet.limits import share_limits
from replicator.fleet.sealing import Sealer
from replicator.fleet.tenant import ZOHO_CONNECTORS, Tenant
from replicator.fleet.tokens import RedisTokenCache
from replicator.sync.app import App, record_reducer
from replicator.sync.engine import Engine
from replicator.sync.guard import guard_journal
from replicator.sync.record import CycleReport

COMMAND = "replicator fleet worker"
# the journal's writer lock: another module's cycle of this tenant may hold it (one writer
# per SQLite journal); a cycle waits for it this long
WRITER_WAIT = 600.0


def side_env(tenant: Tenant, side: str) -> dict[str, str]:
    """The environment a Zoho side's connector reads its credentials from: the tenant's,
    plus the worker's token cache folder (workers of one machine share access tokens)."""
    values = tenant.secrets.credentials.get(side, {})
    env = {side_env_prefix(side) + k.upper(): v for k, v in values.items()}
    if CACHE_ENV in os.environ:
        env[CACHE_ENV] = os.environ[CACHE_ENV]
    return env


def _connector(tenant: Tenant, config: Config, name: str) -> Connector:
    side = config.sides[name]
    if side.connector not in ZOHO_CONNECTORS:
        return build_connector(side)
    # the tenant's credentials come from the store: a file the config names is not read
    options = {k: v for k, v in side.options.items() if k != "credentials"}
    env = side_env(tenant, name)
    if side.connector == "zoho_crm":
        # on demand: a worker loads the Zoho connectors its tenants use
        from replicator.connectors.zoho.crm import from_options as crm

        return crm(name, options, env=env)
    # on demand: a worker loads the Zoho connectors its tenants use
    from replicator.connectors.zoho.books import from_options as books

    return books(name, options, env=env)


def share_tokens(connectors: dict[str, Connector], client: redis.Redis, sealer: Sealer) -> int:
    """Keep the Zoho connectors' access tokens in Redis (sealed) instead of a file: the
    OAuth allowance per refresh token holds for every worker; how many sessions moved."""
    moved = 0
    for connector in connectors.values():
        auth = getattr(getattr(connector, "client", None), "auth", None)
        oauth = auth.oauth if isinstance(auth, SharedAuth) else auth
        if isinstance(oauth, CachedOAuth) and isinstance(oauth.cache, TokenCache):
            key = oauth.cache.path.name.removeprefix(FILE_PREFIX).removesuffix(".json")
            oauth.cache = RedisTokenCache(client, key, sealer)  # type: ignore[assignment]
            moved += 1
    return moved


def open_tenant_app(
    tenant: Tenant,
    config: Config,
    *,
    limits: redis.Redis | None,
    sealer: Sealer | None = None,
    stop_requested: Callable[[], bool] | None = None,
    progress: Any = None,
) -> App:
    """The tenant's journal, connectors and engine (limits shared in ``limits``' Redis;
    with ``sealer``, the access tokens too, sealed)."""
    journal: JournalStorage
    if tenant.journal_on_postgres:
        journal = tenant.open_journal(record_reducer(config))
    else:
        config.journal_path.parent.mkdir(parents=True, exist_ok=True)
        journal = Journal(config.journal_path, record_reducer(config))
    connectors: dict[str, Connector] = {}
    try:
        journal.use_key(tenant.secrets.chain_key())
        for name in config.sides:
            connectors[name] = _connector(tenant, config, name)
        if limits is not None:
            options = {name: side.options for name, side in config.sides.items()}
            share_limits(connectors, options, limits, tenant=tenant.id)
            if sealer is not None:
                share_tokens(connectors, limits, sealer)
        engine = Engine(
            config, journal, connectors, progress=progress, batch_size=config.daemon.batch_size
        )
    except BaseException:
        for connector in connectors.values():
            connector.close()
        journal.close()
        raise
    if stop_requested is not None:
        engine.stop_requested = stop_requested
    return App(config, journal, connectors, engine)


def run_tenant_cycle(
    tenant: Tenant,
    module: str,
    *,
    limits: redis.Redis | None,
    sealer: Sealer | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> CycleReport:
    """One cycle of ``module`` for ``tenant``: the daemon's :func:`run_cycle` over the
    tenant's app (a first sync over the guard's limit raises ``GuardStop``, as there)."""
    config = tenant.config()

    def opener(config: Config, *, progress: Any = None) -> App:
        return open_tenant_app(
            tenant,
            config,
            limits=limits,
            sealer=sealer,
            stop_requested=stop_requested,
            progress=progress,
        )

    report, _ = run_cycle(
        config,
        [module],
        wait=WRITER_WAIT,
        command=COMMAND,
        opener=opener,
        postgres=tenant.journal if tenant.journal_on_postgres else None,
    )
    return report


def sync_tenant_ids(
    tenant: Tenant,
    module: str,
    side: str,
    ids: Sequence[str],
    *,
    limits: redis.Redis | None,
    sealer: Sealer | None = None,
) -> CycleReport:
    """Re-read the records of ``side`` a callback named (the daemon's drain job)."""
    config = tenant.config()
    with (
        journal_writer(
            config.journal_path,
            COMMAND,
            wait=WRITER_WAIT,
            postgres=tenant.journal if tenant.journal_on_postgres else None,
        ),
        open_tenant_app(tenant, config, limits=limits, sealer=sealer) as app,
    ):
        guard_journal(app.journal, by="fleet worker")
        return app.engine.sync_ids(module, side, list(ids))


__all__ = [
    "COMMAND",
    "open_tenant_app",
    "run_tenant_cycle",
    "share_tokens",
    "side_env",
    "sync_tenant_ids",
]
