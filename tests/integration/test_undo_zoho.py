"""``replicator undo`` against the Zoho sandbox (CRM v8 and Books v3 over HTTP on loopback):
an undo of a first sync deletes what it created on each side (CRM through ``DELETE
/crm/v8/Accounts?ids=``, Books through ``DELETE /books/v3/contacts/{id}``) and writes the
linked pair's fields back, so both apps hold what they held before, row by row (apart from
the times the apps keep); an undo of the undo makes it all again; an edit made after a
later run is held as a conflict instead of being overwritten."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journal import verify
from replicator.cli.demo.zoho import zoho_config
from replicator.config.load import Config, load_config
from replicator.sandbox import AdminClient, Sandbox
from replicator.sync.app import open_app
from replicator.sync.record import CONFIG_MODULE, RUN
from replicator.sync.undo import UndoOutcome, undo
from tests.integration.conftest import fresh

# what the apps set on every write: not part of a row's values
KEPT_BY_APP = {
    "id",
    "contact_id",
    "Modified_Time",
    "Created_Time",
    "last_modified_time",
    "created_time",
    "Modified_By",
    "Created_By",
    # a Books contact's phone and email live on its primary contact person: the person
    # a run's write made stays, emptied, when the undo writes the empty values back
    "contact_persons",
    "primary_contact_id",
}


@pytest.fixture
def admin(sandbox: Sandbox) -> Iterator[AdminClient]:
    yield fresh(sandbox)


@pytest.fixture
def config(tmp_path: Path, sandbox: Sandbox, admin: AdminClient) -> Config:
    path = tmp_path / "replicator.toml"
    text = zoho_config(sandbox.credentials_path, duplicates="link", books_per_minute=100_000)
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _seed(admin: AdminClient) -> None:
    admin.crm_create(
        "Accounts",
        {"Account_Name": "Undo Acme", "Phone": "+1 555 0100"},
        {"Account_Name": "Undo Crm Only", "Phone": "+1 555 0101"},
        notify=False,
    )
    admin.books_create("contacts", {"contact_name": "Undo Acme", "website": "acme.example"})
    admin.books_create("contacts", {"contact_name": "Undo Books Only", "website": "books.example"})
    admin.advance_clock(1)


def _row(record: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in record.items() if k not in KEPT_BY_APP))


def _sides(admin: AdminClient, *, with_ids: bool = True) -> dict[str, Any]:
    """Each app's customers, by id (or, without ids, as a sorted list of rows)."""
    crm = {r["id"]: _row(r) for r in admin.crm_records("Accounts")}
    books = {r["contact_id"]: _row(r) for r in admin.books_records("contacts")}
    if with_ids:
        return {"crm": crm, "books": books}
    return {"crm": sorted(crm.values()), "books": sorted(books.values())}


def _books_rows(admin: AdminClient) -> dict[str, dict[str, Any]]:
    return {r["contact_name"]: r for r in admin.books_records("contacts")}


def _sync(config: Config) -> int:
    with open_app(config) as app:
        app.engine.run()
        (marker,) = app.journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1)
        return marker.seq


def _undo(config: Config, run: int) -> UndoOutcome:
    with open_app(config) as app:
        outcome = undo(app.engine, run, by="tester")
        assert verify(app.journal).ok
        return outcome


def _last_run(config: Config) -> int:
    with open_app(config) as app:
        (marker,) = app.journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1)
        return marker.seq


def test_undo_of_a_first_sync_puts_both_apps_back_and_its_undo_redoes_it(
    config: Config, admin: AdminClient
):
    _seed(admin)
    before = _sides(admin)
    run = _sync(config)
    synced = _sides(admin, with_ids=False)
    assert len(synced["crm"]) == 3 and len(synced["books"]) == 3
    admin.reset_counters()
    outcome = _undo(config, run)
    assert not outcome.failed
    assert {(r.side, r.module) for r in outcome.plan.removes} == {
        ("crm", "customers"),
        ("books", "customers"),
    }
    assert _sides(admin) == before
    assert admin.count("DELETE", "/crm/v8/{module}", 200) == 1
    assert admin.count("DELETE", "/books/v3/contacts/{record_id}", 200) == 1
    # undo of the undo: the run's rows again (the ones it created under new ids)
    _undo(config, _last_run(config))
    assert _sides(admin, with_ids=False) == synced


def test_an_edit_after_a_later_run_is_held_as_a_conflict_not_overwritten(
    config: Config, admin: AdminClient
):
    _seed(admin)
    _sync(config)
    (acme,) = [r for r in admin.crm_records("Accounts") if r["Account_Name"] == "Undo Acme"]
    admin.crm_update("Accounts", acme["id"], notify=False, Website="typo.example")
    admin.advance_clock(1)
    run = _sync(config)
    books = _books_rows(admin)["Undo Acme"]
    assert books["website"] == "typo.example"
    admin.books_update("contacts", books["contact_id"], {"website": "fixed.example"})
    admin.advance_clock(1)
    outcome = _undo(config, run)
    (held,) = outcome.plan.conflicts
    assert (held.side, held.module) == ("books", "customers")
    assert _books_rows(admin)["Undo Acme"]["website"] == "fixed.example"
    with open_app(config) as app:
        rows = [c for c in app.journal.conflicts(status="open") if c["field"] == held.field]
    assert len(rows) == 1
