"""Zoho sides in the config and in build_connector."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicator.config.load import load_config
from replicator.connectors import build_connector
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.errors import ConfigError
from tests.connectors.zoho.fakes import REFRESH, SECRET

CONFIG = """
[sides.books]
connector = "zoho_books"
credentials = "secrets/books.json"
organization_id = "10234695"
data_centre = "eu"
requests_per_minute = 90

[sides.crm]
connector = "zoho_crm"
data_centre = "eu"
key_field = "Replicator_Id"
concurrency = 5
credit_budget = 50000
overlap_seconds = 120

[modules.customers.books]
table = "customers"
id = "contact_id"
match = "contact_name"
modified = "last_modified_time"

[modules.customers.crm]
table = "Accounts"
match = "Account_Name"
modified = "Modified_Time"

[modules.customers.fields]
name = { books = "contact_name", crm = "Account_Name" }
region = { books = "cf_region", crm = "Region" }
"""

ENV = {
    "REPLICATOR_ZOHO_CLIENT_ID": "1000.CLIENTID",
    "REPLICATOR_ZOHO_CLIENT_SECRET": SECRET,
    "REPLICATOR_ZOHO_REFRESH_TOKEN": REFRESH,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "replicator.toml"
    path.write_text(text)
    return path


def test_zoho_sides_load_with_their_options(tmp_path: Path) -> None:
    """zoho_crm / zoho_books sides validate; the credentials path is taken from the file."""
    config = load_config(write(tmp_path, CONFIG))
    books, crm = config.sides["books"], config.sides["crm"]
    assert (books.connector, crm.connector) == ("zoho_books", "zoho_crm")
    assert books.options["credentials"] == str(tmp_path / "secrets" / "books.json")
    assert crm.options["credit_budget"] == 50000 and crm.options["overlap_seconds"] == 120


@pytest.mark.parametrize(
    "old, new, key, reason",
    [
        ("concurrency = 5", 'colour = "red"', "sides.crm.colour", "unknown option"),
        ("concurrency = 5", 'concurrency = "five"', "sides.crm.concurrency", "int"),
        ("concurrency = 5", "concurrency = 0", "sides.crm.concurrency", "positive"),
        ("requests_per_minute = 90", "requests_per_minute = true", "sides.books.requests", "int"),
        ('data_centre = "eu"\nkey', 'data_centre = ""\nkey', "sides.crm.data_centre", "non-empty"),
    ],
)
def test_bad_zoho_options_name_the_key(tmp_path: Path, old, new, key, reason) -> None:
    """A wrong option of a Zoho side names the file, the key and what is wrong."""
    assert old in CONFIG
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, CONFIG.replace(old, new, 1)))
    assert key in str(caught.value) and reason in str(caught.value)


def test_build_connector_makes_zoho_connectors_without_calling_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_connector gives the two Zoho connectors; OAuth waits for the first call."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    config = load_config(
        write(tmp_path, CONFIG.replace('credentials = "secrets/books.json"\n', ""))
    )
    crm = build_connector(config.sides["crm"])
    books = build_connector(config.sides["books"])
    assert isinstance(crm, ZohoCRMConnector) and isinstance(books, ZohoBooksConnector)
    assert crm.client.auth.accounts_url == "https://accounts.zoho.eu"
    assert crm.client.credits.credits == 50000 and crm.key_field == "Replicator_Id"
    assert books.organization_id == "10234695" and books.client.rate.rate == 90
    assert crm.client.total_calls == 0 and books.client.total_calls == 0
    for connector in (crm, books):
        assert SECRET not in repr(connector) and REFRESH not in repr(connector)
        connector.close()


def test_books_without_an_organisation_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Books side with no organization_id anywhere says where to set it."""
    from replicator.connectors.zoho.books import from_options

    with pytest.raises(ConfigError, match="organization_id"):
        from_options("books", {}, env=ENV)
