"""Integration users: CRM users who may see a customer's Books documents in the console.

As Zoho's "Integration User (CRM)" role (``shared/reference/integration.md``, "Users and
roles"), an integration user is an **active CRM user** (checked against CRM's ``GET
/users?type=ActiveUsers`` when added), there are **at most** :data:`MAX_USERS` of them,
and the role is on only while **every transaction module syncs** (estimates,
salesorders, invoices and purchaseorders made by ``[integration.transactions]``).  Each
refusal is one line.

Each change is journaled (:class:`~journal.payloads.IntegrationUsers`, a ``config`` entry
on the ``@lifecycle`` record, so ``history`` shows it) and kept in the console's store
(:mod:`replicator.console.auth`: ``<journal>.console.json``, mode 0600, never journaled):
``users`` maps each email (lower-cased) to ``{"hash": password hash or null}``, and
``links`` holds one-time sign-in links by the sha256 of their token.  The journal entry
is written first, under the store's lock: a crash between the two leaves an entry for a
change the store lacks (run the command again), never a user the journal does not know.

A **link** (:func:`make_link`) is a random token good for :data:`LINK_MINUTES` minutes and
one sign-in (``auth.use_link`` spends it); only its sha256 is stored.  A **password**
(:func:`set_password`) is stored as its scrypt hash.  Removing a user drops its links and
its password.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from journal import Entry, JournalStorage
from journal.entry import utc_text
from journal.payloads import IntegrationUsers, new_entry
from replicator.config.integration_transactions import DOCUMENT_TYPES, TRANSACTIONS
from replicator.config.load import Config
from replicator.connectors import build_connector
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.crm_users import CrmUser, users
from replicator.console.auth import (
    MAX_PASSWORD,
    hash_password,
    read_store,
    store_path,
    update_store,
    utc_now,
)
from replicator.errors import IntegrationUsersError
from replicator.sync.lifecycle import LIFECYCLE
from replicator.sync.record import CONFIG_MODULE

MAX_USERS = 1000
LINK_MINUTES = 15
# CRM's users, active ones only (True) or all of them (False): the check is injectable
CrmUsers = Callable[[bool], Iterable[CrmUser]]
TRANSACTIONS_OFF = (
    "integration users need every transaction module to sync (estimates, salesorders, "
    "invoices, purchaseorders under [integration.transactions]); not syncing: {missing}"
)


def _emails(emails: Iterable[str]) -> list[str]:
    """The emails named, trimmed and lower-cased, each once, in order; refused if one is
    not an email."""
    out: list[str] = []
    for raw in emails:
        email = raw.strip().lower()
        name, at, domain = email.partition("@")
        if not (name and at and domain) or any(c.isspace() for c in email):
            raise IntegrationUsersError(f"{raw!r} is not an email address")
        if email not in out:
            out.append(email)
    if not out:
        raise IntegrationUsersError("name at least one email")
    return out


def transactions_missing(config: Config) -> list[str]:
    """The transaction modules ``[integration.transactions]`` does not sync (none: the
    integration user role may be on)."""
    made = config.integration.modules if config.integration is not None else {}
    return [t for t in DOCUMENT_TYPES if made.get(t, ("",))[0] != TRANSACTIONS]


def check_transactions(config: Config) -> None:
    missing = transactions_missing(config)
    if missing:
        raise IntegrationUsersError(TRANSACTIONS_OFF.format(missing=", ".join(missing)))


def _journal(journal: JournalStorage, action: str, emails: Sequence[str], by: str) -> Entry:
    payload = IntegrationUsers(action=action, emails=tuple(emails), by=by)
    (entry,) = journal.append([new_entry(payload, CONFIG_MODULE, LIFECYCLE)])
    return entry


def _check_crm(emails: Sequence[str], crm_users: CrmUsers) -> None:
    """Each email must be an active CRM user's; the first that is not is refused (named
    deactivated when CRM knows it as an inactive user)."""
    active = {u.email.strip().lower() for u in crm_users(True)}
    strangers = [e for e in emails if e not in active]
    if not strangers:
        return
    known = {u.email.strip().lower(): u for u in crm_users(False)}
    email = strangers[0]
    more = f" (and {len(strangers) - 1} more)" if len(strangers) > 1 else ""
    user = known.get(email)
    if user is not None:
        raise IntegrationUsersError(
            f"{email} is a CRM user who is not active (status {user.status or 'unknown'}): "
            f"only active CRM users can be integration users{more}"
        )
    raise IntegrationUsersError(f"{email} is not a CRM user: no active CRM user has it{more}")


def add(
    config: Config,
    journal: JournalStorage,
    emails: Iterable[str],
    *,
    crm_users: CrmUsers,
    by: str = "person",
) -> Entry | None:
    """Make these active CRM users integration users; None if each one is already."""
    wanted = _emails(emails)
    check_transactions(config)
    path = store_path(config.journal_path)
    new = [e for e in wanted if e not in read_store(path)["users"]]
    if not new:
        return None
    _check_crm(new, crm_users)
    with update_store(path) as store:
        users = store["users"]
        new = [e for e in new if e not in users]  # another command may have added some
        if not new:
            return None
        if len(users) + len(new) > MAX_USERS:
            raise IntegrationUsersError(
                f"at most {MAX_USERS} integration users: {len(users)} already, adding "
                f"{len(new)} would make {len(users) + len(new)} (remove some first)"
            )
        entry = _journal(journal, "add", new, by)
        for email in new:
            users[email] = {"hash": None}
    return entry


def remove(
    config: Config, journal: JournalStorage, emails: Iterable[str], *, by: str = "person"
) -> Entry:
    """Remove these integration users (their password and links go with them); refused
    if one is not an integration user."""
    wanted = _emails(emails)
    with update_store(store_path(config.journal_path)) as store:
        users = store["users"]
        unknown = [e for e in wanted if e not in users]
        if unknown:
            raise IntegrationUsersError(
                f"{unknown[0]} is not an integration user (`replicator users list`)"
            )
        entry = _journal(journal, "remove", wanted, by)
        for email in wanted:
            del users[email]
        store["links"] = {
            k: v for k, v in store["links"].items() if _link_email(v) not in set(wanted)
        }
    return entry


def _link_email(link: Any) -> Any:
    return link.get("email") if isinstance(link, dict) else None


def listing(config: Config, *, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The integration users by email: whether each has a password, and how many unspent,
    unexpired sign-in links.  Never a hash nor a token."""
    store = read_store(store_path(config.journal_path))
    at = now or utc_now()
    links: dict[str, int] = {}
    for link in store["links"].values():
        if _live(link, at):
            links[str(_link_email(link))] = links.get(str(_link_email(link)), 0) + 1
    return [
        {
            "email": email,
            "password": isinstance(user, dict) and user.get("hash") is not None,
            "links": links.get(email, 0),
        }
        for email, user in sorted(store["users"].items())
    ]


def _live(link: Any, now: dt.datetime) -> bool:
    try:
        expires = dt.datetime.fromisoformat(str(link.get("expires")))
    except (AttributeError, ValueError):
        return False
    return expires.tzinfo is not None and expires > now


def _user(store: dict[str, Any], email: str) -> str:
    (email,) = _emails([email])
    if email not in store["users"]:
        raise IntegrationUsersError(
            f"{email} is not an integration user: add it first (`replicator users add`)"
        )
    return email


def make_link(
    config: Config,
    email: str,
    *,
    now: dt.datetime | None = None,
    minutes: int = LINK_MINUTES,
) -> str:
    """A one-time sign-in token for the integration user ``email``, good for ``minutes``;
    only its sha256 is stored.  Spent links of the past are dropped on the way."""
    at = now or utc_now()
    token = secrets.token_urlsafe(32)
    with update_store(store_path(config.journal_path)) as store:
        email = _user(store, email)
        store["links"] = {k: v for k, v in store["links"].items() if _live(v, at)}
        store["links"][hashlib.sha256(token.encode()).hexdigest()] = {
            "email": email,
            "expires": utc_text(at + dt.timedelta(minutes=minutes)),
        }
    return token


def set_password(config: Config, email: str, password: str) -> None:
    """Set (or replace) the integration user's password, stored as its scrypt hash."""
    if not password:
        raise IntegrationUsersError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise IntegrationUsersError(f"the password is longer than {MAX_PASSWORD} characters")
    path = store_path(config.journal_path)
    email = _user(read_store(path), email)
    hashed = hash_password(password)  # outside the lock: scrypt takes a while
    with update_store(path) as store:
        email = _user(store, email)
        store["users"][email] = {**store["users"][email], "hash": hashed}


@contextlib.contextmanager
def crm_users_of(config: Config) -> Iterator[CrmUsers]:
    """The CRM side's users, read over its API (the connector open until the block ends);
    refused when the config has no Zoho CRM side."""
    crms = [s.name for s in config.sides.values() if s.connector == "zoho_crm"]
    if config.integration is not None and config.integration.crm in crms:
        crms = [config.integration.crm]
    if not crms:
        raise IntegrationUsersError("integration users need a Zoho CRM side (zoho_crm)")
    connector = build_connector(config.sides[crms[0]])
    try:
        if not isinstance(connector, ZohoCRMConnector):  # pragma: no cover - by connector
            raise IntegrationUsersError("integration users need a Zoho CRM side (zoho_crm)")
        client = connector.client
        yield lambda active: users(client, side=crms[0], active=active)
    finally:
        connector.close()


__all__ = [
    "LINK_MINUTES",
    "MAX_USERS",
    "CrmUsers",
    "add",
    "check_transactions",
    "crm_users_of",
    "listing",
    "make_link",
    "remove",
    "set_password",
    "transactions_missing",
]
