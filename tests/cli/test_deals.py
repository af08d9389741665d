"""`replicator deals search|associate|dissociate|list` against the Zoho sandbox over real
HTTP: deals associated with Books documents by hand, every refusal one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result

from conflicts.deals import TRIGGER
from journal import Dot, Kind, VectorClock
from journal.payloads import Applied, DealAssociation, Triggered, new_entry, payload_of
from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.config.load import load_config
from replicator.sandbox import AdminClient, Sandbox, Settings
from replicator.sync.app import open_journal
from tests.integration.test_integration_zoho import write_config

SETTINGS = Settings(
    tokens_per_window=100_000,
    books_per_minute=100_000,
    books_per_day=10_000_000,
    crm_credits_per_day=10_000_000,
)
# a document module beside customers, so a trigger-made invoice can be journaled
INVOICES = """
[modules.invoices]
sync = "both_ways"
crm = { table = "Invoices", modified = "Modified_Time" }
books = { table = "invoices", modified = "last_modified_time" }
[modules.invoices.fields]
subject = { crm = "Subject", books = "reference_number" }
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox serving CRM v8, Books v3 and OAuth on 127.0.0.1:<free port>."""
    folder = tmp_path_factory.mktemp("deals-sandbox")
    with Sandbox(folder, host="127.0.0.1", port=0, settings=SETTINGS) as box:
        yield box


@attrs.frozen
class Scene:
    """Two customers synced both ways, their deals (one deleted) and Acme's documents."""

    config: Path
    admin: AdminClient
    acme_crm: str
    acme_books: str
    other_crm: str
    big: str  # Acme's deal "Big order"
    small: str  # Acme's deal "Small order"
    other: str  # Other Co's deal "Other order"
    gone: str  # Acme's deal "Gone order", deleted in CRM
    invoice: dict[str, Any]
    estimate: dict[str, Any]
    salesorder: dict[str, Any]
    expense: dict[str, Any]


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def refused(result: Result) -> str:
    """The one-line refusal of a command that failed cleanly."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def books_record(admin: AdminClient, resource: str, id: str) -> dict[str, Any]:
    return dict(admin.call("GET", f"/books/{resource}/{id}"))


def journal_entries(config: Path) -> list[Any]:
    journal = open_journal(load_config(config))
    try:
        return list(journal.read())
    finally:
        journal.close()


def associations(config: Path) -> list[DealAssociation]:
    found = [payload_of(e) for e in journal_entries(config) if e.kind is Kind.TRIGGER]
    return [p for p in found if isinstance(p, DealAssociation)]


@pytest.fixture
def scene(sandbox: Sandbox, tmp_path: Path) -> Scene:
    admin = sandbox.admin
    admin.reset()
    admin.seed("keys")
    acme, other = admin.crm_create(
        "Accounts", {"Account_Name": "Acme Ltd"}, {"Account_Name": "Other Co"}
    )
    config = tmp_path / "replicator.toml"
    config.write_text(zoho_config(sandbox.credentials_path), encoding="utf-8")
    synced = run(config, "sync", "--json")
    assert synced.exit_code == 0, synced.output
    config.write_text(config.read_text(encoding="utf-8") + INVOICES, encoding="utf-8")
    contacts = {c["contact_name"]: c["contact_id"] for c in admin.books_records("contacts")}
    big, small, other_deal, gone = admin.crm_create(
        "Deals",
        {"Deal_Name": "Big order", "Stage": "Qualification", "Account_Name": {"id": acme}},
        {"Deal_Name": "Small order", "Stage": "Qualification", "Account_Name": {"id": acme}},
        {"Deal_Name": "Other order", "Stage": "Qualification", "Account_Name": {"id": other}},
        {"Deal_Name": "Gone order", "Stage": "Qualification", "Account_Name": {"id": acme}},
    )
    admin.crm_delete("Deals", gone)
    customer = contacts["Acme Ltd"]
    line = [{"name": "Consulting", "quantity": 1, "rate": 100}]
    invoice = admin.books_create("invoices", {"customer_id": customer, "line_items": line})
    estimate = admin.books_create("estimates", {"customer_id": customer, "line_items": line})
    salesorder = admin.books_create("salesorders", {"customer_id": customer, "line_items": line})
    expense = admin.books_create(
        "expenses",
        {
            "account_name": "Travel Expense",
            "amount": 40,
            "customer_id": customer,
            "reference_number": "TRIP-1",
        },
    )
    return Scene(
        config,
        admin,
        acme,
        customer,
        other,
        big,
        small,
        other_deal,
        gone,
        invoice,
        estimate,
        salesorder,
        expense,
    )


# -- search ----------------------------------------------------------------------------------


def test_search_by_word_finds_live_deals_and_never_a_deleted_one(scene):
    """`deals search order --json` lists the live deals holding the word; the deleted one
    is not offered."""
    result = run(scene.config, "deals", "search", "order", "--json")
    assert result.exit_code == 0, result.output
    found = {d["id"]: d for d in json.loads(result.stdout)}
    assert set(found) == {scene.big, scene.small, scene.other}
    assert found[scene.big]["name"] == "Big order"
    assert found[scene.big]["account"] == {"id": scene.acme_crm, "name": "Acme Ltd"}


@pytest.mark.parametrize("by", ["books", "crm"])
def test_search_with_a_customer_lists_only_its_live_deals(scene, by):
    """--customer takes the Books customer id or the CRM account id: only that
    customer's deals, the deleted one left out; TEXT narrows them by name."""
    customer = scene.acme_books if by == "books" else scene.acme_crm
    result = run(scene.config, "deals", "search", "--customer", customer, "--json")
    assert result.exit_code == 0, result.output
    assert {d["id"] for d in json.loads(result.stdout)} == {scene.big, scene.small}
    narrowed = run(scene.config, "deals", "search", "big", "--customer", customer, "--json")
    assert [d["id"] for d in json.loads(narrowed.stdout)] == [scene.big]


def test_search_prints_a_table_for_a_person(scene):
    """Without --json, one row per deal with its stage and account."""
    result = run(scene.config, "deals", "search", "big")
    assert result.exit_code == 0, result.output
    assert "Big order" in result.output and "Acme Ltd" in result.output
    assert "Qualification" in result.output


# -- associate, list, dissociate -------------------------------------------------------------


def test_associate_writes_the_deal_to_books_and_journals_it_by_person(scene):
    """associate DEAL invoice/<number> sets the invoice's zcrm_potential_id and name in
    Books and journals one DealAssociation by "person"; `deals list` shows both."""
    number = scene.invoice["invoice_number"]
    result = run(scene.config, "deals", "associate", scene.big, f"invoice/{number}")
    assert result.exit_code == 0, result.output
    assert f"invoice {number} is associated with deal {scene.big} (Big order)" in result.output
    held = books_record(scene.admin, "invoices", scene.invoice["invoice_id"])
    assert (held["zcrm_potential_id"], held["zcrm_potential_name"]) == (scene.big, "Big order")
    (entry,) = associations(scene.config)
    assert entry == DealAssociation(
        document=f"invoice/{scene.invoice['invoice_id']}",
        deal=scene.big,
        deal_name="Big order",
        action="associate",
        by="person",
        number=number,
    )
    listed = run(scene.config, "deals", "list", "--document", f"invoice/{number}", "--json")
    assert listed.exit_code == 0, listed.output
    data = json.loads(listed.stdout)
    assert data["deal"]["id"] == scene.big and data["deal"]["stage"] == "Qualification"
    assert [(h["action"], h["deal"], h["by"]) for h in data["history"]] == [
        ("associate", scene.big, "person")
    ]
    shown = run(scene.config, "deals", "list", "--document", f"invoice/{number}")
    assert "Big order" in shown.output and "associate" in shown.output


def test_associating_again_journals_nothing(scene):
    """The same association a second time says so and journals no second entry."""
    document = f"invoice/{scene.invoice['invoice_id']}"
    assert run(scene.config, "deals", "associate", scene.big, document).exit_code == 0
    again = run(scene.config, "deals", "associate", scene.big, document)
    assert again.exit_code == 0 and "already" in again.output
    assert len(associations(scene.config)) == 1


def test_associating_another_deal_moves_the_document_and_journals_both_sides(scene):
    """A document associated with one deal, associated with another of its customer's:
    Books holds the new one; a dissociate entry for the old deal, an associate for the new."""
    document = f"estimate/{scene.estimate['estimate_number']}"
    assert run(scene.config, "deals", "associate", scene.big, document).exit_code == 0
    moved = run(scene.config, "deals", "associate", scene.small, document)
    assert moved.exit_code == 0, moved.output
    assert f"was deal {scene.big}" in moved.output
    held = books_record(scene.admin, "estimates", scene.estimate["estimate_id"])
    assert held["zcrm_potential_id"] == scene.small
    assert [(a.action, a.deal) for a in associations(scene.config)] == [
        ("associate", scene.big),
        ("dissociate", scene.big),
        ("associate", scene.small),
    ]


def test_dissociate_clears_the_deal_in_books_and_journals_it(scene):
    """dissociate empties the sales order's deal fields in Books and journals it; a second
    dissociate has nothing to do; the journal verifies and replays."""
    document = f"salesorder/{scene.salesorder['salesorder_number']}"
    assert run(scene.config, "deals", "associate", scene.big, document).exit_code == 0
    result = run(scene.config, "deals", "dissociate", document)
    assert result.exit_code == 0, result.output
    assert f"no longer associated with deal {scene.big} (Big order)" in result.output
    held = books_record(scene.admin, "salesorders", scene.salesorder["salesorder_id"])
    assert (held["zcrm_potential_id"], held["zcrm_potential_name"]) == ("", "")
    assert [a.action for a in associations(scene.config)] == ["associate", "dissociate"]
    again = run(scene.config, "deals", "dissociate", document)
    assert again.exit_code == 0 and "nothing to do" in again.output
    assert len(associations(scene.config)) == 2
    for check in ("verify", "replay"):  # the entries replay and verify like any other
        assert run(scene.config, "journal", check).exit_code == 0


def test_an_expense_is_associated_by_its_reference_number(scene):
    """expense/<reference number> names the expense; its deal fields are set in Books."""
    result = run(scene.config, "deals", "associate", scene.big, "expense/TRIP-1")
    assert result.exit_code == 0, result.output
    held = books_record(scene.admin, "expenses", scene.expense["expense_id"])
    assert held["zcrm_potential_id"] == scene.big
    (entry,) = associations(scene.config)
    assert entry.document == f"expense/{scene.expense['expense_id']}"


def test_running_associate_again_after_an_interrupted_run_journals_what_books_holds(scene):
    """Books holds the deal (a run stopped after its write), the journal does not: the
    command run again writes nothing and journals the association, once."""
    scene.admin.books_update(
        "invoices",
        scene.invoice["invoice_id"],
        {"zcrm_potential_id": scene.big, "zcrm_potential_name": "Big order"},
    )
    document = f"invoice/{scene.invoice['invoice_id']}"
    result = run(scene.config, "deals", "associate", scene.big, document)
    assert result.exit_code == 0, result.output
    assert "journaled now" in result.output
    assert [(a.action, a.deal) for a in associations(scene.config)] == [("associate", scene.big)]
    again = run(scene.config, "deals", "associate", scene.big, document)
    assert "nothing to do" in again.output and len(associations(scene.config)) == 1


# -- refusals ---------------------------------------------------------------------------------


def test_a_deal_crm_does_not_have_is_refused(scene):
    """An unknown deal id: one line naming it, nothing written."""
    line = refused(run(scene.config, "deals", "associate", "4876876000000999999", "invoice/x"))
    assert line == "Error: no deal '4876876000000999999' in crm"
    assert associations(scene.config) == []


def test_a_deleted_deal_is_refused_naming_it(scene):
    """A deal deleted in CRM: refused, naming it and saying it was deleted."""
    document = f"invoice/{scene.invoice['invoice_id']}"
    line = refused(run(scene.config, "deals", "associate", scene.gone, document))
    assert f"deal {scene.gone} (Gone order) was deleted in crm" in line
    held = books_record(scene.admin, "invoices", scene.invoice["invoice_id"])
    assert held["zcrm_potential_id"] == ""


def test_a_document_books_does_not_have_is_refused(scene):
    """An invoice number Books has not: one line naming it."""
    line = refused(run(scene.config, "deals", "associate", scene.big, "invoice/INV-99999"))
    assert line == "Error: no invoice 'INV-99999' in books (by id or number)"
    line = refused(run(scene.config, "deals", "dissociate", "invoice/INV-99999"))
    assert "no invoice 'INV-99999'" in line


def test_a_malformed_document_is_refused_saying_the_form(scene):
    """A DOCUMENT that is not TYPE/ID (or an unknown TYPE) says the form."""
    for text in ("INV-00001", "bill/INV-00001", "invoice/"):
        line = refused(run(scene.config, "deals", "associate", scene.big, text))
        assert "is not TYPE/ID" in line and "estimate, salesorder, invoice, expense" in line


def test_a_deal_of_another_account_is_refused_naming_both(scene):
    """Other Co's deal on Acme's invoice: refused, naming the deal's account and the
    document's customer; Books keeps no deal."""
    number = scene.invoice["invoice_number"]
    line = refused(run(scene.config, "deals", "associate", scene.other, f"invoice/{number}"))
    assert f"deal {scene.other} (Other order) belongs to account Other Co" in line
    assert f"not to invoice {number}'s customer Acme Ltd" in line
    held = books_record(scene.admin, "invoices", scene.invoice["invoice_id"])
    assert held["zcrm_potential_id"] == ""
    assert associations(scene.config) == []


def test_an_expense_without_customer_is_refused(scene):
    """An expense billed to no customer has no account a deal could belong to."""
    bare = scene.admin.books_create(
        "expenses", {"account_name": "Office Supplies", "amount": 5, "reference_number": "PEN-1"}
    )
    line = refused(run(scene.config, "deals", "associate", scene.big, "expense/PEN-1"))
    assert line.startswith("Error: expense PEN-1 has no customer")
    assert books_record(scene.admin, "expenses", bare["expense_id"])["zcrm_potential_id"] == ""


def test_a_customer_not_linked_to_crm_is_refused(scene):
    """A document of a Books customer never synced: refused, saying to sync customers."""
    contact = scene.admin.books_create("contacts", {"contact_name": "Unsynced Ltd"})
    line_items = [{"name": "Thing", "quantity": 1, "rate": 1}]
    invoice = scene.admin.books_create(
        "invoices", {"customer_id": contact["contact_id"], "line_items": line_items}
    )
    line = refused(
        run(scene.config, "deals", "associate", scene.big, f"invoice/{invoice['invoice_id']}")
    )
    assert "customer Unsynced Ltd" in line and "is not linked to a crm account yet" in line


def _trigger_made(scene: Scene, deal: str) -> None:
    """Journal the invoice as the invoice trigger of ``deal`` made it (and Books holds
    the association, as the trigger's push leaves it)."""
    rid = f"invoice:crm:{deal}"
    triggered = Triggered(
        deal=f"crm:{deal}",
        trigger="invoice",
        outcome="won",
        create=True,
        only=("books",),
        reason=f"deal crm:{deal} (Big order) reached Closed Won (probability 100): invoice made",
    )
    config = load_config(scene.config)
    journal = open_journal(config)
    try:
        journal.append(
            [
                new_entry(
                    triggered,
                    "invoices",
                    rid,
                    TRIGGER,
                    dot=Dot(TRIGGER, 1),
                    context=VectorClock(),
                    fields={"subject": "Big order"},
                ),
                new_entry(
                    Applied(id=scene.invoice["invoice_id"], create=True, done=True),
                    "invoices",
                    rid,
                    "books",
                    context=VectorClock({TRIGGER: 1}),
                    fields={"subject": "Big order"},
                ),
            ]
        )
    finally:
        journal.close()
    scene.admin.books_update(
        "invoices",
        scene.invoice["invoice_id"],
        {"zcrm_potential_id": deal, "zcrm_potential_name": "Big order"},
    )


def test_dissociating_what_a_trigger_made_is_refused_naming_the_trigger_and_deal(scene):
    """An invoice the invoice trigger made: dissociate is refused, naming the trigger and
    the deal; Books keeps the association."""
    _trigger_made(scene, scene.big)
    number = scene.invoice["invoice_number"]
    line = refused(run(scene.config, "deals", "dissociate", f"invoice/{number}"))
    assert f"invoice {number} may not be dissociated from deal {scene.big} (Big order)" in line
    assert f"made by the invoice trigger of deal crm:{scene.big}" in line
    held = books_record(scene.admin, "invoices", scene.invoice["invoice_id"])
    assert held["zcrm_potential_id"] == scene.big
    assert associations(scene.config) == []
    listed = run(scene.config, "deals", "list", "--document", f"invoice/{number}", "--json")
    data = json.loads(listed.stdout)
    assert data["trigger"]["trigger"] == "invoice"
    rows = [(h["action"], h["by"]) for h in data["history"]]
    assert rows == [("invoice trigger (won)", "trigger")]


def test_moving_what_a_trigger_made_to_another_deal_is_refused(scene):
    """Associating a trigger-made invoice with another deal would undo the trigger's
    association: refused the same way."""
    _trigger_made(scene, scene.big)
    document = f"invoice/{scene.invoice['invoice_id']}"
    line = refused(run(scene.config, "deals", "associate", scene.small, document))
    assert f"made by the invoice trigger of deal crm:{scene.big}" in line
    held = books_record(scene.admin, "invoices", scene.invoice["invoice_id"])
    assert held["zcrm_potential_id"] == scene.big


def test_sides_that_are_not_zoho_are_refused(tmp_path):
    """A config of two SQLite sides: every deals command says it needs the Zoho sides."""
    for name in ("books", "crm"):
        (tmp_path / f"{name}.db").touch()
    config = tmp_path / "replicator.toml"
    config.write_text(
        "\n".join(
            [
                "[sides.books]",
                'connector = "sqlite"',
                'path = "books.db"',
                "[sides.crm]",
                'connector = "sqlite"',
                'path = "crm.db"',
                "[modules.customers]",
                'books = { table = "customers", id = "id" }',
                'crm = { table = "accounts", id = "id" }',
                "[modules.customers.fields]",
                'name = { books = "name", crm = "account_name" }',
            ]
        ),
        encoding="utf-8",
    )
    for args in (
        ("search", "x"),
        ("associate", "1", "invoice/1"),
        ("dissociate", "invoice/1"),
        ("list", "--document", "invoice/1"),
    ):
        line = refused(run(config, "deals", *args))
        assert line == "Error: deals commands need the Zoho sides (crm and books)"


def test_every_deals_command_has_help():
    """`deals --help` and each command's help explain it; DOCUMENT's form is said."""
    result = CliRunner().invoke(main, ["deals", "--help"])
    assert result.exit_code == 0 and "Associate CRM deals" in result.output
    for command in ("search", "associate", "dissociate", "list"):
        shown = CliRunner().invoke(main, ["deals", command, "--help"])
        assert shown.exit_code == 0 and len(shown.output.splitlines()) > 5, command
    associate = CliRunner().invoke(main, ["deals", "associate", "--help"])
    assert "TYPE/ID" in associate.output and "INV-00001" in associate.output


def test_the_integration_preset_associates_an_invoice_of_a_synced_account(sandbox, tmp_path):
    """With `[integration]` (customers on CRM Accounts, transactions): an invoice of a
    synced account is associated with that account's deal, and a sync after it runs
    clean; another account's deal is refused."""
    admin = sandbox.admin
    admin.reset()
    admin.seed("keys")
    modules = {"customers": {"crm_module": "accounts"}, "vendors": {}, "items": {}}
    config = write_config(tmp_path, sandbox.credentials_path, {**modules, "transactions": {}})
    assert run(config, "setup").exit_code == 0
    preset, other = admin.crm_create(
        "Accounts", {"Account_Name": "Preset Co"}, {"Account_Name": "Elsewhere Co"}
    )
    assert run(config, "sync").exit_code == 0
    ours, theirs = admin.crm_create(
        "Deals",
        {"Deal_Name": "Preset deal", "Stage": "Qualification", "Account_Name": {"id": preset}},
        {"Deal_Name": "Elsewhere deal", "Stage": "Qualification", "Account_Name": {"id": other}},
    )
    customer = next(
        c["contact_id"] for c in admin.books_records("contacts") if c["contact_name"] == "Preset Co"
    )
    line = [{"name": "Consulting", "quantity": 1, "rate": 100}]
    invoice = admin.books_create("invoices", {"customer_id": customer, "line_items": line})
    document = f"invoice/{invoice['invoice_number']}"
    line_out = refused(run(config, "deals", "associate", theirs, document))
    assert "belongs to account Elsewhere Co" in line_out
    result = run(config, "deals", "associate", ours, document)
    assert result.exit_code == 0, result.output
    assert books_record(admin, "invoices", invoice["invoice_id"])["zcrm_potential_id"] == ours
    synced = run(config, "sync")
    assert synced.exit_code == 0, synced.output
    assert run(config, "journal", "verify").exit_code == 0
    assert [(a.action, a.deal) for a in associations(config)] == [("associate", ours)]
