"""Lookup fields, local criteria (``where``) and create-only columns, over memory sides."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from conflicts import RecordReducer
from journal import Kind
from replicator.config.load import parse_config
from replicator.connectors.memory import MemoryConnector
from replicator.errors import ConfigError
from replicator.sync.engine import Engine
from tests.sync.backends import BACKENDS, journals_for, verify


def make_config(tmp_path: Path, persons_first: bool = False):
    customers = {
        "books": {
            "table": "customers",
            "match": "name",
            "where": {"kind": "business"},
            "create": {"kind": "business"},
        },
        "crm": {"table": "accounts", "match": "account_name"},
        "fields": {"name": {"books": "name", "crm": "account_name"}},
    }
    persons = {
        "books": {"table": "persons", "match": "email"},
        "crm": {"table": "contacts", "match": "email", "where": {"account": {"present": True}}},
        "fields": {
            "email": {"books": "email", "crm": "email"},
            "account": {"books": "customer_id", "crm": "account"},
        },
        "lookups": {"account": "customers"},
    }
    modules = (
        {"persons": persons, "customers": customers}
        if persons_first
        else {
            "customers": customers,
            "persons": persons,
        }
    )
    data = {
        "sides": {"books": {"connector": "memory"}, "crm": {"connector": "memory"}},
        "modules": modules,
    }
    return parse_config(data, tmp_path / "replicator.toml")


@pytest.fixture(params=BACKENDS)
def journals(request, tmp_path):
    """The journal over each backend (tests/sync/backends.py)."""
    made = journals_for(request, tmp_path)
    yield made
    made.close()


@pytest.fixture
def world(tmp_path, journals):
    config = make_config(tmp_path)
    books, crm = MemoryConnector("books"), MemoryConnector("crm")
    journal = journals.open(RecordReducer())
    engine = Engine(config, journal, {"books": books, "crm": crm})
    yield engine, books, crm
    journal.close()


def test_a_lookup_names_the_parent_by_each_sides_own_id(world):
    """A CRM contact's account id becomes the Books customer id of that account, and a
    Books person's customer id becomes the CRM account id."""
    engine, books, crm = world
    acme = crm.insert("accounts", {"account_name": "Acme"})
    crm.insert("contacts", {"email": "jane@acme.test", "account": acme})
    beta = books.insert("customers", {"name": "Beta", "kind": "business"})
    books.insert("persons", {"email": "bob@beta.test", "customer_id": beta})
    engine.run()
    acme_books = next(i for i, r in books.rows("customers").items() if r["name"] == "Acme")
    beta_crm = next(i for i, r in crm.rows("accounts").items() if r["account_name"] == "Beta")
    persons = {r["email"]: r for r in books.rows("persons").values()}
    contacts = {r["email"]: r for r in crm.rows("contacts").values()}
    assert persons["jane@acme.test"]["customer_id"] == acme_books
    assert contacts["bob@beta.test"]["account"] == beta_crm
    assert verify(engine.journal).ok
    before = engine.journal.last_seq
    engine.run()  # lookups are stable: an idle cycle writes nothing
    quiet = (Kind.CURSOR, Kind.CONFIG)  # cursors and the run marker
    assert not [e for e in engine.journal.read(since=before) if e.kind not in quiet]


def test_a_lookup_to_an_unsynced_record_is_an_error_and_the_rest_syncs(world):
    """A contact naming an account that is not synced keeps its other fields, with an
    error naming the record, the field and the value."""
    engine, books, crm = world
    crm.insert("contacts", {"email": "lost@x.test", "account": "no-such-account"})
    engine.run()
    [person] = books.rows("persons").values()
    assert person["email"] == "lost@x.test" and person.get("customer_id") is None
    [error] = [e for e in engine.journal.read() if e.kind is Kind.ERROR]
    assert error.meta["field"] == "account" and error.meta["value"] == "no-such-account"
    assert "not synced" in error.meta["reason"]


def test_local_criteria_keep_other_rows_out_and_creates_set_their_columns(world):
    """Rows outside ``where`` are not synced; a create carries the ``create`` columns."""
    engine, books, crm = world
    books.insert("customers", {"name": "Ivy", "kind": "individual"})
    crm.insert("accounts", {"account_name": "Acme"})
    crm.insert("contacts", {"email": "orphan@x.test", "account": None})
    engine.run()
    assert [r["account_name"] for r in crm.rows("accounts").values()] == ["Acme"]
    made = [r for r in books.rows("customers").values() if r["name"] == "Acme"]
    assert made and made[0]["kind"] == "business"
    assert books.rows("persons") == {}


def test_a_lookup_must_name_a_module_set_up_before(tmp_path):
    """A lookup into a module that runs later is refused, naming the key."""
    with pytest.raises(ConfigError) as caught:
        make_config(tmp_path, persons_first=True)
    assert caught.value.key == "modules.persons.lookups.account"


def test_with_lookup_missing_skip_a_record_of_an_unsynced_parent_stays_out(tmp_path, journals):
    """lookup_missing = "skip": a new record whose parent is not synced is left out, as
    if outside a view, and no error is journaled."""
    config = make_config(tmp_path)
    module = config.modules["persons"]
    config = attrs.evolve(
        config,
        modules={**config.modules, "persons": attrs.evolve(module, lookup_missing="skip")},
    )
    books, crm = MemoryConnector("books"), MemoryConnector("crm")
    with journals.open(RecordReducer()) as journal:
        engine = Engine(config, journal, {"books": books, "crm": crm})
        books.insert("customers", {"name": "Ivy", "kind": "individual"})
        ivy = next(iter(books.rows("customers")))
        books.insert("persons", {"email": "ivy@x.test", "customer_id": ivy})
        engine.run()
        assert crm.rows("contacts") == {}
        assert not [e for e in journal.read() if e.kind is Kind.ERROR]


def test_with_lookup_missing_fetch_an_unsynced_parent_is_fetched_on_the_spot(tmp_path, journals):
    """lookup_missing = "fetch": a contact naming an account not synced yet brings that
    account over first (in its own module), so the contact need not wait a cycle."""
    config = make_config(tmp_path)
    persons = attrs.evolve(config.modules["persons"], lookup_missing="fetch")
    config = attrs.evolve(config, modules={**config.modules, "persons": persons})
    books, crm = MemoryConnector("books"), MemoryConnector("crm")
    with journals.open(RecordReducer()) as journal:
        engine = Engine(config, journal, {"books": books, "crm": crm})
        engine.run()
        acme = crm.insert("accounts", {"account_name": "Acme"})
        crm.insert("contacts", {"email": "jane@acme.test", "account": acme})
        report = engine.run(["persons"])  # the customers module does not run
        [(acme_books, row)] = books.rows("customers").items()
        assert row["name"] == "Acme" and row["kind"] == "business"
        [person] = books.rows("persons").values()
        assert person["customer_id"] == acme_books
        assert report.total("fetched") == 1
        assert not [e for e in journal.read() if e.kind is Kind.ERROR]
        assert verify(journal).ok


def test_a_side_that_now_names_another_account_is_refused_until_the_links_are_dropped(
    tmp_path,
    journals,
):
    """A side whose account changed (another Books org) while the journal links records
    to the old one is refused before anything is journaled; after `delete`, it syncs."""
    from replicator.errors import SetupError
    from replicator.sync import lifecycle

    config = make_config(tmp_path)
    books, crm = MemoryConnector("books"), MemoryConnector("crm")
    books.identity = "org-1"  # type: ignore[attr-defined]
    with journals.open(RecordReducer()) as journal:
        engine = Engine(config, journal, {"books": books, "crm": crm})
        crm.insert("accounts", {"account_name": "Acme"})
        engine.run()
        other = MemoryConnector("books")
        other.identity = "org-2"  # type: ignore[attr-defined]
        engine = Engine(config, journal, {"books": other, "crm": crm})
        before = journal.last_seq
        with pytest.raises(SetupError) as refused:
            engine.run()
        assert "org-2" in str(refused.value) and "org-1" in str(refused.value)
        assert "replicator delete" in str(refused.value)
        assert journal.last_seq == before
        lifecycle.disable(journal)
        lifecycle.delete(journal)
        lifecycle.enable(journal)
        engine.run()
        assert [r["name"] for r in other.rows("customers").values()] == ["Acme"]
        assert verify(journal).ok
