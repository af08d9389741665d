"""Tenants read from a single daemon's files, sealed in the store, opened by the key."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from journal import ChainKey, Dot, Journal, Kind, NewEntry, VectorClock
from replicator.errors import ConfigError
from replicator.fleet import (
    FleetKeyError,
    Sealer,
    TenantError,
    Tenants,
    check_id,
    new_key,
    open_store,
    read_tenant,
)
from tests.fleet.conftest import CLIENT_SECRET, REFRESH_TOKEN, SECRETS, Files, write_private


def make_journal(path: Path, key_text: str) -> None:
    """A journal of one entry chained with the key ``key_text``."""

    class Nothing:
        def apply(self, view, entry):
            pass

        def encode(self, state):
            raise AssertionError

        def decode(self, text):
            raise AssertionError

    with Journal(path, Nothing(), key=ChainKey.from_text(key_text)) as journal:
        journal.append(
            [NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", Dot("crm", 1), VectorClock())]
        )


def test_a_tenant_takes_its_config_credentials_and_a_new_journal_key(files: Files):
    """The config's text and its Zoho sides' credentials files are the tenant's; a journal
    that does not exist yet gets a new key."""
    tenant = read_tenant("acme", files.config)
    assert tenant.config_text == files.config.read_text()
    assert tenant.journal == str(files.folder / "journal.db")
    assert set(tenant.sides) == {"crm", "books"}
    crm = tenant.secrets.credentials_for("crm")
    assert crm.refresh_token.reveal() == REFRESH_TOKEN
    assert crm.accounts_url == "https://accounts.zoho.eu"
    ChainKey.from_text(tenant.secrets.journal_key)  # a valid key
    assert tenant.config().journal_path == files.folder / "journal.db"


def test_given_credentials_win_over_the_sides_files_and_the_journal_may_move(
    files: Files, tmp_path: Path
):
    given = write_private(tmp_path / "given.json", {"books": {"refresh_token": "1000.other"}})
    tenant = read_tenant("acme", files.config, credentials=given, journal=tmp_path / "elsewhere.db")
    assert tenant.secrets.credentials_for("books").refresh_token.reveal() == "1000.other"
    assert tenant.secrets.credentials_for("crm").refresh_token.reveal() == REFRESH_TOKEN
    assert tenant.config().journal_path == tmp_path / "elsewhere.db"


def test_incomplete_or_readable_credentials_are_refused_without_showing_them(
    files: Files, tmp_path: Path
):
    """A side missing a key is named; a credentials file others can read is refused."""
    write_private(files.credentials, {"client_id": "x", "client_secret": CLIENT_SECRET})
    with pytest.raises(TenantError, match="side crm: missing Zoho credential.*refresh_token"):
        read_tenant("acme", files.config)
    given = tmp_path / "given.json"
    given.write_text('{"crm": {"refresh_token": "1000.xyz"}}')
    os.chmod(given, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as caught:
        read_tenant("acme", files.config, credentials=given)
    assert "1000.xyz" not in str(caught.value)


def test_an_existing_journal_brings_its_key_file_or_is_refused(files: Files):
    """The key beside the journal is taken; without it, an existing journal is refused (a
    new key would fail every keyed entry)."""
    key_text = ChainKey.generate()[1]
    make_journal(files.folder / "journal.db", key_text)
    with pytest.raises(ConfigError, match="journal-key-file"):
        read_tenant("acme", files.config)
    write_private(files.folder / "journal.db.key", None)
    (files.folder / "journal.db.key").write_text(key_text + "\n")
    assert read_tenant("acme", files.config).secrets.journal_key == key_text


@pytest.mark.parametrize("bad", ["", "Acme", "9acme", "ac-me", "a" * 49, "acme;drop"])
def test_a_tenant_id_is_lower_case_letters_digits_and_underscores(bad: str):
    with pytest.raises(TenantError, match="an id is 1 to 48"):
        check_id(bad)
    assert check_id("acme_2") == "acme_2"


def test_secrets_are_sealed_in_the_store_and_never_printed(files: Files, tmp_path: Path):
    """The store file holds no secret in the clear; reprs and listings show none."""
    tenant = read_tenant("acme", files.config)
    tenants = Tenants(open_store(str(tmp_path / "fleet.db")), Sealer([new_key()]))
    tenants.add(tenant)
    tenants.close()
    stored = (tmp_path / "fleet.db").read_bytes()
    shown = repr(tenant) + repr(tenant.secrets)
    for secret in (*SECRETS, tenant.secrets.journal_key):
        assert secret.encode() not in stored
        assert secret not in shown


def test_a_tenant_opens_with_the_key_that_sealed_it_only(files: Files, tmp_path: Path):
    """The right key gives the tenant back; another is refused naming the tenant; listing
    needs no key at all."""
    key = new_key()
    tenant = read_tenant("acme", files.config, now=dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
    with Tenants(open_store(str(tmp_path / "f.db")), Sealer([key])) as tenants:
        tenants.add(tenant)
        assert tenants.get("acme") == tenant
    other = Tenants(open_store(str(tmp_path / "f.db")), Sealer([new_key()]))
    with other, pytest.raises(FleetKeyError, match="tenant acme: its secrets do not open"):
        other.get("acme")

    def no_key() -> Sealer:
        raise AssertionError("listing opened a secret")

    with Tenants(open_store(str(tmp_path / "f.db")), no_key) as tenants:
        assert [t.id for t in tenants.all()] == ["acme"]
        with pytest.raises(TenantError, match="no tenant beta"):
            tenants.remove("beta")
        assert tenants.remove("acme").id == "acme"
        assert tenants.all() == []


def test_status_reads_each_journal_with_its_own_key_and_writes_nothing(
    files: Files, tmp_path: Path
):
    """A tenant whose journal exists shows its entries; one not created yet says so."""
    key = new_key()
    with Tenants(open_store(str(tmp_path / "f.db")), Sealer([key])) as tenants:
        tenants.add(read_tenant("acme", files.config))
        tenants.add(read_tenant("beta", files.config, journal=tmp_path / "beta.db"))
        make_journal(files.folder / "journal.db", tenants.get("acme").secrets.journal_key)
        before = (files.folder / "journal.db").read_bytes()
        acme, beta = tenants.status()
    assert (acme.id, acme.ok, acme.entries, acme.last_seq, acme.keyed) == (
        "acme",
        True,
        1,
        1,
        True,
    )
    assert (beta.id, beta.ok, beta.journal_exists, beta.entries) == ("beta", True, False, None)
    assert (files.folder / "journal.db").read_bytes() == before
    assert not (tmp_path / "beta.db").exists()
