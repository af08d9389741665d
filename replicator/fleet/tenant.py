"""A tenant: one integration of the fleet, with an id.

A tenant is an id, one integration config (the TOML the single daemon reads), its
credentials (the keys of each Zoho side's credentials file), the key of its journal's hash
chain, and where its journal is.  :class:`Tenant` is the value the fleet works with, its
secrets open; :func:`read_tenant` makes one from the files a single daemon would use.

Secrets never print: :class:`TenantSecrets`' ``repr`` names its sides only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs

from journal import SQLITE, ChainKey, ChainKeyError, JournalStorage, Reducer
from journal.storage import Now
from replicator.config.load import Config, load_config, parse_config
from replicator.connectors.zoho.credentials import (
    KEYS,
    Credentials,
    load_credentials,
    read_credentials_file,
    side_env_prefix,
)
from replicator.errors import ConfigError
from replicator.fleet.backends import is_postgres
from replicator.fleet.errors import TenantError

# lower-case, a letter first, no hyphen: a tenant's id names its PostgreSQL schema as it is
TENANT_ID = re.compile(r"[a-z][a-z0-9_]{0,47}")
ZOHO_CONNECTORS = ("zoho_crm", "zoho_books")


def check_id(tenant_id: str) -> str:
    """``tenant_id`` if it is a valid id, else a :class:`TenantError` saying what one is."""
    if not TENANT_ID.fullmatch(tenant_id):
        raise TenantError(
            f"tenant id {tenant_id!r}: an id is 1 to 48 of a-z, 0-9 and _, starting with a letter"
        )
    return tenant_id


@attrs.frozen(repr=False)
class TenantSecrets:
    """A tenant's secrets: each Zoho side's credential keys, and its journal key (hex)."""

    credentials: Mapping[str, Mapping[str, str]]
    journal_key: str

    def to_bytes(self) -> bytes:
        """Canonical JSON (what is sealed)."""
        data = {
            "credentials": {s: dict(sorted(v.items())) for s, v in self.credentials.items()},
            "journal_key": self.journal_key,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TenantSecrets:
        value = json.loads(data)
        credentials = {s: dict(v) for s, v in value["credentials"].items()}
        return cls(credentials=credentials, journal_key=value["journal_key"])

    def chain_key(self) -> ChainKey:
        return ChainKey.from_text(self.journal_key)

    def credentials_for(self, side: str) -> Credentials:
        """A Zoho side's credentials, checked as the single daemon checks its own."""
        values = self.credentials.get(side, {})
        env = {side_env_prefix(side) + k.upper(): v for k, v in values.items()}
        return load_credentials(side, env=env)

    def __repr__(self) -> str:
        return f"TenantSecrets(sides={sorted(self.credentials)!r}, ***)"


@attrs.frozen
class Tenant:
    """One integration of the fleet, its secrets open."""

    id: str
    config_text: str
    config_path: str  # relative paths of the config resolve from this file's folder
    journal: str
    sides: tuple[str, ...]
    secrets: TenantSecrets
    added: dt.datetime

    def config(self) -> Config:
        """The tenant's config, its journal where the tenant's is (a SQLite journal's; a
        PostgreSQL journal is opened by :meth:`open_journal`)."""
        data = tomllib.loads(self.config_text)
        config = parse_config(data, Path(self.config_path))
        if self.journal_on_postgres:
            return config
        return attrs.evolve(config, journal_path=Path(self.journal))

    @property
    def journal_on_postgres(self) -> bool:
        return is_postgres(self.journal)

    def open_journal(self, reducer: Reducer, *, now: Now | None = None) -> JournalStorage:
        """The tenant's journal, with its key, on the backend its location names."""
        if self.journal_on_postgres:
            # psycopg is the optional extra `fleet`: imported only for a PostgreSQL journal
            from journal.postgres import POSTGRES

            return POSTGRES.open(self.journal, reducer, key=self.secrets.chain_key(), now=now)
        return SQLITE.open(self.journal, reducer, key=self.secrets.chain_key(), now=now)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _private_text(path: Path, what: str) -> str:
    """A file only its owner can read (it holds a secret); its text never shows."""
    try:
        mode = path.stat().st_mode
        if os.name != "nt" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                str(path),
                "(permissions)",
                f"the {what} is readable by group or others (mode {stat.S_IMODE(mode):04o}): "
                f"run `chmod 600 {path}`",
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", f"no such {what}") from None
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot be read: {exc.strerror}") from None


def _credentials_by_side(path: Path) -> dict[str, dict[str, str]]:
    """A JSON file of ``{side: {key: value}}`` (the keys of a side's credentials file)."""
    try:
        data = json.loads(_private_text(path, "credentials file"))
    except ValueError as exc:
        line = getattr(exc, "lineno", "?")  # never the text: it holds secrets
        raise ConfigError(str(path), "(syntax)", f"not JSON (line {line})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(str(path), "(file)", 'must hold {"side": {"key": "value"}, ...}')
    found: dict[str, dict[str, str]] = {}
    for side, values in data.items():
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise ConfigError(str(path), f"{side}.{unknown[0]}", "unknown key")
        found[side] = {k: str(v) for k, v in values.items() if v not in (None, "")}
    return found


def _journal_key(journal: str, key_file: Path | None) -> str:
    """The journal key: from ``key_file``, else ``JOURNAL.key`` beside a SQLite journal, else
    new (only for a journal that does not exist yet: a key must never be replaced)."""
    if is_postgres(journal):
        if key_file is not None:
            return _key_text(key_file)
        # psycopg is the optional extra `fleet`: imported only for a PostgreSQL journal
        from journal.postgres import journal_exists

        if journal_exists(journal):
            raise ConfigError(
                "--journal", "(key)", "the PostgreSQL journal exists: pass --journal-key-file"
            )
        return ChainKey.generate()[1]
    return _file_journal_key(Path(journal), key_file)


def _key_text(path: Path) -> str:
    text = _private_text(path, "journal key file").strip()
    try:
        ChainKey.from_text(text)
    except ChainKeyError:
        raise ConfigError(str(path), "(key)", "not a journal key (64 hex digits)") from None
    return text


def _file_journal_key(journal: Path, key_file: Path | None) -> str:
    path = key_file or journal.with_name(journal.name + ".key")
    if key_file is not None or path.exists():
        return _key_text(path)
    if journal.exists() and journal.stat().st_size > 0:
        raise ConfigError(
            str(path),
            "(key)",
            f"journal {journal} exists but its key file is missing: pass --journal-key-file",
        )
    return ChainKey.generate()[1]


def _refuse_password(tenant_id: str, location: str) -> None:
    """A journal's location is listed and shown: it must not hold a password (the workers
    take it from PGPASSWORD or a ~/.pgpass file, as libpq does)."""
    # psycopg is the optional extra `fleet`: imported only for a PostgreSQL journal
    from psycopg.conninfo import conninfo_to_dict

    try:
        has_password = "password" in conninfo_to_dict(location.rpartition("#")[0])
    except Exception:  # psycopg says why in words that may quote the text: not shown
        raise TenantError(f"tenant {tenant_id}: --journal is not a PostgreSQL URL") from None
    if has_password:
        raise TenantError(
            f"tenant {tenant_id}: the journal's URL holds a password; give it to the workers "
            "by PGPASSWORD or a ~/.pgpass file instead (locations are listed, never secret)"
        )


def read_tenant(
    tenant_id: str,
    config_path: str | Path,
    *,
    journal: str | Path | None = None,
    credentials: str | Path | None = None,
    journal_key: str | Path | None = None,
    now: dt.datetime | None = None,
) -> Tenant:
    """A tenant from the files a single daemon uses.

    ``config_path``: its TOML (validated here).  ``journal``: where its journal is
    (default: the config's SQLite file; ``postgresql://...#SCHEMA`` for one on
    PostgreSQL).  Each Zoho side's credentials come from the file its ``credentials``
    option names, then from ``credentials``, a 0600 JSON file of
    ``{side: {key: value}}``; they must be complete (as the daemon checks them).
    ``journal_key``: the journal key file (default: ``JOURNAL.key`` beside an existing
    journal; a new journal gets a new key).
    """
    check_id(tenant_id)
    path = Path(config_path).resolve()
    config = load_config(path)
    text = path.read_text(encoding="utf-8")
    if journal is None:
        journal_at = str(config.journal_path)
    elif is_postgres(str(journal)):
        journal_at = str(journal)
        _refuse_password(tenant_id, journal_at)
    else:
        journal_at = str(Path(journal).resolve())
    given = _credentials_by_side(Path(credentials)) if credentials is not None else {}
    unknown = sorted(set(given) - set(config.sides))
    if unknown:
        raise ConfigError(str(credentials), unknown[0], f"no side {unknown[0]} in {path}")
    by_side: dict[str, dict[str, str]] = {}
    for name, side in config.sides.items():
        if side.connector not in ZOHO_CONNECTORS:
            continue
        values: dict[str, str] = {}
        if "credentials" in side.options:
            values.update(read_credentials_file(side.options["credentials"]))
        values.update(given.get(name, {}))
        by_side[name] = values
    key_file = Path(journal_key) if journal_key is not None else None
    secrets = TenantSecrets(credentials=by_side, journal_key=_journal_key(journal_at, key_file))
    for name, values in by_side.items():  # complete, or refused now rather than in a worker
        needed = () if "access_token" in values else ("client_id", "client_secret", "refresh_token")
        missing = [k for k in needed if k not in values]
        if missing:
            raise TenantError(
                f"tenant {tenant_id}: side {name}: missing Zoho credential(s) "
                f"{', '.join(missing)} (name a 0600 JSON file in the side's `credentials` "
                "option, or give them with --credentials)"
            )
        secrets.credentials_for(name)
    return Tenant(
        id=tenant_id,
        config_text=text,
        config_path=str(path),
        journal=journal_at,
        sides=tuple(config.sides),
        secrets=secrets,
        added=now or _now(),
    )


__all__ = ["TENANT_ID", "Tenant", "TenantSecrets", "check_id", "read_tenant"]
