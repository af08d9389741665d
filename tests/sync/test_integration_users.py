"""The integration users library: the checks (active CRM users, at most 1000, every
transaction module syncing), journaling, the store, and one-time links with a clock."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journal.payloads import IntegrationUsers, expect, payload_of
from replicator.config.load import Config, load_config
from replicator.connectors.zoho.crm_users import CrmUser
from replicator.console.auth import read_store, store_path, update_store, use_link
from replicator.errors import IntegrationUsersError
from replicator.sandbox import Sandbox, Settings
from replicator.sync import integration_users as iu
from replicator.sync import lifecycle as lc
from replicator.sync.app import open_journal
from tests.integration.test_integration_zoho import write_config

T0 = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
MASTERS: dict[str, dict[str, Any]] = {
    "customers": {"crm_module": "accounts"},
    "vendors": {},
    "items": {},
    "transactions": {},
}
ACTIVE = [CrmUser("ann@example.com", "Ann", "active"), CrmUser("bob@example.com", "Bob", "active")]
GONE = CrmUser("old@example.com", "Old", "disabled")


class FakeCrm:
    """CRM's users without HTTP: counts the calls, so a refusal before CRM shows."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, active: bool) -> list[CrmUser]:
        self.calls.append(active)
        return ACTIVE if active else [*ACTIVE, GONE]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # the credentials file is never read: these tests never open a connector
    return load_config(write_config(tmp_path, tmp_path / "credentials.json", MASTERS))


@pytest.fixture
def journal(config: Config) -> Iterator[Any]:
    j = open_journal(config)
    yield j
    j.close()


def test_adding_journals_one_entry_on_the_lifecycle_record_and_keeps_the_users(config, journal):
    """`add` journals IntegrationUsers(add, emails lower-cased, by) as a config entry of
    @lifecycle and keeps each email without a password; history says it."""
    entry = iu.add(
        config,
        journal,
        ["Ann@Example.com ", "bob@example.com"],
        crm_users=FakeCrm(),
        by="console:root",
    )
    assert entry is not None and (entry.module, entry.rid) == ("@config", lc.LIFECYCLE)
    payload = expect(entry, IntegrationUsers)
    assert payload == IntegrationUsers(
        action="add", emails=("ann@example.com", "bob@example.com"), by="console:root"
    )
    assert read_store(store_path(config.journal_path))["users"] == {
        "ann@example.com": {"hash": None},
        "bob@example.com": {"hash": None},
    }
    (item,) = [i for i in lc.history(journal) if i.get("event") == "integration-users"]
    assert item["summary"] == (
        "integration users added by console:root: ann@example.com, bob@example.com"
    )


def test_an_inactive_or_unknown_crm_user_is_refused_and_nothing_changes(config, journal):
    """A deactivated CRM user is refused as not active, a stranger as not a CRM user;
    neither the journal nor the store changes."""
    before = journal.last_seq
    with pytest.raises(
        IntegrationUsersError,
        match=r"^old@example.com is a CRM user who is not active \(status disabled\)",
    ):
        iu.add(config, journal, ["ann@example.com", "old@example.com"], crm_users=FakeCrm())
    with pytest.raises(IntegrationUsersError, match="^nobody@example.com is not a CRM user"):
        iu.add(config, journal, ["nobody@example.com"], crm_users=FakeCrm())
    assert journal.last_seq == before
    assert read_store(store_path(config.journal_path))["users"] == {}


def test_the_1001st_user_is_refused_and_the_1000th_is_not(config, journal):
    """999 kept: one more makes 1000 and is added; the next is refused naming the bound."""
    with update_store(store_path(config.journal_path)) as data:
        data["users"].update({f"u{i}@example.com": {"hash": None} for i in range(999)})
    assert iu.add(config, journal, ["ann@example.com"], crm_users=FakeCrm()) is not None
    with pytest.raises(
        IntegrationUsersError, match="^at most 1000 integration users: 1000 already"
    ):
        iu.add(config, journal, ["bob@example.com"], crm_users=FakeCrm())
    assert len(read_store(store_path(config.journal_path))["users"]) == 1000


def test_without_every_transaction_module_users_are_refused_before_crm_is_asked(tmp_path):
    """Masters alone: `add` is refused naming the four modules, and CRM is never called."""
    masters = {k: v for k, v in MASTERS.items() if k != "transactions"}
    config = load_config(write_config(tmp_path, tmp_path / "credentials.json", masters))
    assert iu.transactions_missing(config) == list(iu.DOCUMENT_TYPES)
    crm = FakeCrm()
    journal = open_journal(config)
    try:
        with pytest.raises(IntegrationUsersError, match="not syncing: estimates, salesorders"):
            iu.add(config, journal, ["ann@example.com"], crm_users=crm)
    finally:
        journal.close()
    assert crm.calls == []


def test_a_link_is_stored_as_its_sha256_expires_after_15_minutes_and_works_once(config, journal):
    """A link made at T0 signs in at T0+14m once (then spent); another made at T0 is
    refused at T0+15m; the store never holds a token."""
    iu.add(config, journal, ["ann@example.com"], crm_users=FakeCrm())
    path = store_path(config.journal_path)
    token = iu.make_link(config, "ann@example.com", now=T0)
    links = read_store(path)["links"]
    assert list(links) == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in path.read_text(encoding="utf-8")
    assert use_link(path, token, T0 + dt.timedelta(minutes=14)) == "ann@example.com"
    assert use_link(path, token, T0 + dt.timedelta(minutes=14)) is None
    late = iu.make_link(config, "ann@example.com", now=T0)
    assert use_link(path, late, T0 + dt.timedelta(minutes=15)) is None
    assert iu.listing(config, now=T0) == [
        {"email": "ann@example.com", "password": False, "links": 0}
    ]


def test_a_link_of_a_removed_user_no_longer_signs_in(config, journal):
    """Removing a user drops its links: the token made before is refused."""
    iu.add(config, journal, ["ann@example.com"], crm_users=FakeCrm())
    token = iu.make_link(config, "ann@example.com", now=T0)
    removed = iu.remove(config, journal, ["ANN@example.com"], by="person")
    assert payload_of(removed) == IntegrationUsers(
        action="remove", emails=("ann@example.com",), by="person"
    )
    assert use_link(store_path(config.journal_path), token, T0) is None


def test_bad_emails_and_passwords_are_refused_in_words(config, journal):
    """Not an email, none at all, an empty or over-long password: one line each."""
    for emails, reason in ((["not-an-email"], "is not an email"), ([], "at least one email")):
        with pytest.raises(IntegrationUsersError, match=reason):
            iu.add(config, journal, emails, crm_users=FakeCrm())
    iu.add(config, journal, ["ann@example.com"], crm_users=FakeCrm())
    with pytest.raises(IntegrationUsersError, match="empty"):
        iu.set_password(config, "ann@example.com", "")
    with pytest.raises(IntegrationUsersError, match="longer than 1024"):
        iu.set_password(config, "ann@example.com", "x" * 1025)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    folder = tmp_path_factory.mktemp("iu-sandbox")
    settings = Settings(tokens_per_window=100_000, crm_credits_per_day=10_000_000)
    with Sandbox(folder, host="127.0.0.1", port=0, settings=settings) as box:
        yield box


def test_the_crm_side_lists_active_users_and_all_users_over_http(tmp_path, sandbox):
    """The CRM connector's users(active=True) are the sandbox's active users; all users
    add the deactivated one, with its status."""
    config = load_config(write_config(tmp_path, sandbox.credentials_path, MASTERS))
    with iu.crm_users_of(config) as crm_users:
        active = {u.email: u.status for u in crm_users(True)}
        every = {u.email: u.status for u in crm_users(False)}
    assert active == {"admin@sandbox.example": "active", "sam.seller@sandbox.example": "active"}
    assert every == {**active, "dee.parted@sandbox.example": "disabled"}
