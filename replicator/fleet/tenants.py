"""The fleet's tenants: the mapper between :class:`Tenant` values and a store's rows.

As eventsourcing's ``Mapper`` between domain events and stored events, :class:`Tenants`
seals a tenant's secrets with the fleet key on the way in and opens them on the way out;
a store backend sees only sealed bytes.  Listings never open secrets; :meth:`Tenants.status`
opens each tenant's, to say whether the key opens them and to read its journal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from journal import Entry, JournalError
from journal.protocols import Encoded, View
from replicator.fleet.backends import is_postgres
from replicator.fleet.errors import FleetKeyError, TenantError
from replicator.fleet.sealing import Sealer
from replicator.fleet.store import StoredTenant, TenantStore
from replicator.fleet.tenant import Tenant, TenantSecrets, check_id


@attrs.frozen
class TenantInfo:
    """What a listing shows of a tenant: no secret."""

    id: str
    config_path: str
    journal: str
    sides: tuple[str, ...]
    added: str  # ISO 8601, UTC


@attrs.frozen
class TenantStatus:
    """A tenant's health as far as the store and its journal tell: no secret."""

    id: str
    journal: str
    secrets: str  # "ok", or why they do not open
    journal_exists: bool
    entries: int | None = None
    last_seq: int | None = None
    keyed: bool | None = None
    problem: str | None = None  # the journal cannot be read: why

    @property
    def ok(self) -> bool:
        return self.secrets == "ok" and self.problem is None


class _Unfolded:
    """A reducer that folds nothing: status only reads entries, and must never write (a
    reducer without a ``version`` never makes the journal rebuild its state on open)."""

    def apply(self, view: View, entry: Entry) -> None:  # pragma: no cover - never appended
        raise JournalError("fleet status never appends")

    def encode(self, state: Any) -> Encoded:  # pragma: no cover - never stored
        raise JournalError("fleet status never stores a state")

    def decode(self, text: str) -> Any:  # pragma: no cover - never read
        raise JournalError("fleet status never reads a state")


class Tenants:
    """Tenants in ``store``, their secrets sealed by ``sealer`` (the fleet key).

    ``sealer`` may be a callable making one, called the first time a secret is sealed or
    opened: listing and removing need no key.
    """

    def __init__(self, store: TenantStore, sealer: Sealer | Callable[[], Sealer]) -> None:
        self.store = store
        self._sealer = sealer

    @property
    def sealer(self) -> Sealer:
        if not isinstance(self._sealer, Sealer):
            self._sealer = self._sealer()
        return self._sealer

    def add(self, tenant: Tenant) -> None:
        check_id(tenant.id)
        self.store.add(
            StoredTenant(
                id=tenant.id,
                config=tenant.config_text,
                config_path=tenant.config_path,
                journal=tenant.journal,
                sides=tenant.sides,
                secrets=self.sealer.seal(tenant.secrets.to_bytes()),
                added=tenant.added,
            )
        )

    def remove(self, tenant_id: str) -> TenantInfo:
        """Forget a tenant (its journal stays where it is); what it was."""
        info = self.info(tenant_id)
        self.store.remove(tenant_id)
        return info

    def _stored(self, tenant_id: str) -> StoredTenant:
        stored = self.store.get(tenant_id)
        if stored is None:
            raise TenantError(f"no tenant {tenant_id} in the fleet")
        return stored

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, its secrets open (a key that does not open them is refused)."""
        stored = self._stored(tenant_id)
        return Tenant(
            id=stored.id,
            config_text=stored.config,
            config_path=stored.config_path,
            journal=stored.journal,
            sides=stored.sides,
            secrets=TenantSecrets.from_bytes(self.sealer.open(stored.secrets, tenant=stored.id)),
            added=stored.added,
        )

    def rekey(self) -> list[str]:
        """Seal every tenant's secrets again with the first fleet key (after a rotation put
        the new key first: ``REPLICATOR_FLEET_KEY=NEW,OLD``); the ids resealed.  Each is
        opened first, so a tenant no key opens stops the rekey naming it, and one changed
        meanwhile by another process is left as that process wrote it."""
        done = []
        for stored in self.store.all():
            fresh = self.sealer.reseal(stored.secrets, tenant=stored.id)
            if self.store.replace_secrets(stored.id, fresh, was=stored.secrets):
                done.append(stored.id)
        return done

    def info(self, tenant_id: str) -> TenantInfo:
        return _info(self._stored(tenant_id))

    def all(self) -> list[TenantInfo]:
        return [_info(stored) for stored in self.store.all()]

    def status(self, tenant_id: str | None = None) -> list[TenantStatus]:
        """Each tenant's status (or one's): whether the key opens its secrets, and its
        journal's entries.  A key missing altogether is raised, not reported per tenant."""
        stored = [self._stored(tenant_id)] if tenant_id else self.store.all()
        return [self._status(s) for s in stored]

    def _status(self, stored: StoredTenant) -> TenantStatus:
        try:
            exists = _journal_exists(stored.journal)
        except JournalError as exc:
            return TenantStatus(stored.id, stored.journal, "not checked", False, problem=str(exc))
        try:
            opened = TenantSecrets.from_bytes(self.sealer.open(stored.secrets, tenant=stored.id))
        except FleetKeyError as exc:
            if not isinstance(self._sealer, Sealer):
                raise
            return TenantStatus(stored.id, stored.journal, str(exc), exists)
        if not exists:
            return TenantStatus(stored.id, stored.journal, "ok", False)
        tenant = Tenant(
            stored.id,
            stored.config,
            stored.config_path,
            stored.journal,
            stored.sides,
            opened,
            stored.added,
        )
        try:
            journal = tenant.open_journal(_Unfolded())
            with contextlib.closing(journal):
                return TenantStatus(
                    stored.id,
                    stored.journal,
                    "ok",
                    True,
                    entries=journal.count(),
                    last_seq=journal.last_seq,
                    keyed=journal.keyed_from is not None,
                )
        except JournalError as exc:
            return TenantStatus(stored.id, stored.journal, "ok", True, problem=str(exc))

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Tenants:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _journal_exists(location: str) -> bool:
    """Whether a tenant's journal has been made (nothing is created to find out)."""
    if is_postgres(location):
        # psycopg is the optional extra `fleet`: imported only for a PostgreSQL journal
        from journal.postgres import journal_exists

        return journal_exists(location)
    return Path(location).is_file()


def _info(stored: StoredTenant) -> TenantInfo:
    return TenantInfo(
        id=stored.id,
        config_path=stored.config_path,
        journal=stored.journal,
        sides=stored.sides,
        added=stored.added.isoformat(),
    )


__all__ = ["TenantInfo", "TenantStatus", "Tenants"]
