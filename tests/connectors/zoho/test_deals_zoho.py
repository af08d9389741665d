"""What deal automation asks of the Zoho connectors, against the sandbox over HTTP: a deal's
Owner as its email, stage probabilities from CRM's fields metadata, and Books documents'
deal fields, sales person by email, free-text line names and routed status moves.

The re-reading of stage metadata is counted on a MockTransport CRM (the sandbox cannot
take a stage out of a deal to make one unknown)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from replicator.connectors.base import SideModule, Write
from replicator.connectors.base import probabilities as read_probabilities
from replicator.connectors.zoho import books as books_module
from replicator.connectors.zoho import crm as crm_module
from replicator.connectors.zoho.books import ZohoBooksConnector
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.crm_stages import stage_probabilities
from replicator.sandbox import Sandbox
from replicator.sandbox.crm_schema import ADMIN, OTHER, STAGES
from tests.connectors.zoho.conftest import api, books_connector
from tests.connectors.zoho.fakes import FakeBooksDocuments, FakeClock, reply
from tests.integration.conftest import SESSION

DEALS = SideModule(
    "deals",
    "Deals",
    columns=("Deal_Name", "Stage", "Account_Name", "Owner", "Amount"),
    modified="Modified_Time",
)
DOCUMENT_COLUMNS = (
    "customer_id",
    "status",
    "line_items",
    "zcrm_potential_id",
    "zcrm_potential_name",
    "salesperson",
)
ESTIMATES = SideModule("estimates", "estimates", columns=DOCUMENT_COLUMNS)
INVOICES = SideModule(
    "invoices", "invoices", columns=DOCUMENT_COLUMNS, modified="last_modified_time"
)
DEAL_ID = "4876876000000999001"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    folder: Path = tmp_path_factory.mktemp("deals-sandbox")
    with Sandbox(folder, host="127.0.0.1", port=0, seed="demo", settings=SESSION) as box:
        yield box


@pytest.fixture
def crm(sandbox: Sandbox) -> Iterator[ZohoCRMConnector]:
    options = {"credentials": str(sandbox.credentials_path)}
    with crm_module.from_options("crm", options, env={}) as connector:
        yield connector


@pytest.fixture
def books(sandbox: Sandbox) -> Iterator[ZohoBooksConnector]:
    options = {"credentials": str(sandbox.credentials_path), "requests_per_minute": 100_000}
    with books_module.from_options("books", options, env={}) as connector:
        yield connector


@pytest.fixture(scope="module")
def customer(sandbox: Sandbox) -> str:
    """A Books customer of the demo seed."""
    contacts = sandbox.admin.books_records("contacts")
    return str(next(c for c in contacts if c["contact_type"] == "customer")["contact_id"])


def free_line(name: str = "Big order", rate: str = "1500.00") -> dict[str, Any]:
    """A trigger's line: no item, the deal's name, its description and amount."""
    return {
        "item": None,
        "name": name,
        "description": "Twelve units, installed",
        "quantity": "1",
        "rate": rate,
        "discount": "0",
        "tax": None,
    }


def status_calls(sandbox: Sandbox) -> list[str]:
    """The Books status endpoints called since the counters were reset, in no order."""
    found = []
    for counter in sandbox.admin.counters():
        if counter["method"] == "POST" and "/status/" in counter["path"]:
            found += [counter["path"].rsplit("/", 1)[1]] * int(counter["count"])
    return sorted(found)


def make(books: ZohoBooksConnector, module: SideModule, key: str, **values: Any) -> str:
    [outcome] = books.push(module, [Write(key, None, values)])
    assert outcome.ok, outcome.error
    assert outcome.id is not None
    return outcome.id


# -- CRM: deals ---------------------------------------------------------------------------------


def test_a_deals_owner_reads_as_the_owners_email_by_get_and_pull(sandbox, crm) -> None:
    """Owner {id, name, email} reads as the email (text), never the CRM user id."""
    [id] = sandbox.admin.crm_create(
        "Deals",
        {"Deal_Name": "Owned", "Stage": "Qualification", "Owner": {"id": ADMIN.id}},
        notify=False,
    )
    got = crm.get(DEALS, id)
    assert got is not None and got.values["Owner"] == ADMIN.email
    pulled = [c for page in crm.pull(DEALS, None) for c in page.changes if c.id == id]
    assert [c.values["Owner"] for c in pulled] == [ADMIN.email]


def test_an_accounts_owner_still_reads_as_its_user_id(sandbox, crm) -> None:
    """Only a deal's Owner is read by email: an account's stays the lookup's id."""
    accounts = SideModule("customers", "Accounts", columns=("Account_Name", "Owner"))
    [id] = sandbox.admin.crm_create(
        "Accounts", {"Account_Name": "Owned Ltd", "Owner": {"id": OTHER.id}}, notify=False
    )
    got = crm.get(accounts, id)
    assert got is not None and got.values["Owner"] == OTHER.id


def test_stage_probabilities_come_from_crms_metadata_and_are_read_once(sandbox, crm) -> None:
    """Every Stage value with its probability (100 won, 0 lost), through the base
    capability; a second call reads no metadata again."""
    sandbox.admin.reset_counters()
    found = read_probabilities(crm, DEALS, "Stage")
    assert found == STAGES
    assert found["Closed Won"] == 100 and found["Closed Lost"] == 0
    assert crm.probabilities(DEALS, "Stage") == found
    assert sandbox.admin.count("GET", "/crm/v8/settings/fields") == 1


def test_a_field_without_probabilities_has_none(crm) -> None:
    """A picklist that is not a stage (Lead_Source), or no such field: None."""
    assert crm.probabilities(DEALS, "Lead_Source") is None
    assert crm.probabilities(DEALS, "No_Such_Field") is None


class StageMetadata:
    """A CRM whose Deals Stage picklist can gain values, counting the metadata reads."""

    def __init__(self) -> None:
        self.stages: dict[str, int] = {"Open": 20, "Won": 100}
        self.stage_of_deal = "Open"
        self.reads = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/settings/fields"):
            self.reads += 1
            values = [
                {"actual_value": s, "display_value": s.upper(), "probability": p}
                for s, p in self.stages.items()
            ]
            field = {"api_name": "Stage", "data_type": "picklist", "pick_list_values": values}
            return reply(200, {"fields": [field]})
        if path.endswith("/Deals/1"):
            record = {
                "id": "1",
                "Stage": self.stage_of_deal,
                "Modified_Time": "2026-12-01T10:00:00+00:00",
            }
            return reply(200, {"data": [record]})
        return reply(204, {})


def test_a_stage_crm_added_since_is_read_again_once_per_unknown_stage() -> None:
    """Read once; a deal read in a stage the metadata lacks makes the next call read it
    again (and know the stage); a stage still unknown after that is not read for again;
    `stages` names one the same way."""
    clock = FakeClock()
    fake = StageMetadata()
    connector = ZohoCRMConnector("crm", client=api(fake.handler, clock), now=clock.wall)
    assert connector.probabilities(DEALS, "Stage") == {
        "Open": 20,
        "OPEN": 20,
        "Won": 100,
        "WON": 100,
    }
    fake.stages["Lost"] = 0
    fake.stage_of_deal = "Lost"
    connector.get(DEALS, "1")
    assert (connector.probabilities(DEALS, "Stage") or {})["Lost"] == 0
    assert fake.reads == 2
    fake.stage_of_deal = "Mystery"  # in no metadata
    connector.get(DEALS, "1")
    assert "Mystery" not in (connector.probabilities(DEALS, "Stage") or {})
    connector.get(DEALS, "1")
    assert connector.probabilities(DEALS, "Stage") is not None
    assert fake.reads == 3
    connector.probabilities(DEALS, "Stage", stages=["Other"])
    connector.probabilities(DEALS, "Stage", stages=["Other", "Won"])
    assert fake.reads == 4


def test_a_probability_that_is_not_a_whole_percentage_is_left_out() -> None:
    """50.5, 101, true and text are no probability: those stages read as unknown."""
    values = [
        {"actual_value": "Half", "probability": Decimal("50.5")},
        {"actual_value": "Over", "probability": 101},
        {"actual_value": "Flag", "probability": True},
        {"actual_value": "Text", "probability": "50"},
        {"actual_value": "Good", "probability": Decimal("75")},
    ]
    found = stage_probabilities([{"api_name": "Stage", "pick_list_values": values}], "Stage")
    assert found == {"Good": 75}


# -- Books: deal fields, sales person, lines --------------------------------------------------


def test_a_trigger_document_is_written_with_its_deal_salesperson_and_free_line(
    sandbox, books, customer
) -> None:
    """zcrm_potential_id/name, the sales person as the Books user of that email, and a line
    with no item by its name: read back as written, and the next pull is quiet."""
    cursor = list(books.pull(INVOICES, None))[-1].cursor
    values = {
        "customer_id": customer,
        "zcrm_potential_id": DEAL_ID,
        "zcrm_potential_name": "Big order",
        "salesperson": OTHER.email.upper(),  # emails compare without case
        "line_items": [free_line()],
    }
    id = make(books, INVOICES, "invoice:crm:1", **values)
    stored = next(r for r in sandbox.admin.books_records("invoices") if r["invoice_id"] == id)
    assert stored["salesperson_name"] == OTHER.full_name
    got = books.get(INVOICES, id)
    assert got is not None
    assert got.values["zcrm_potential_id"] == DEAL_ID
    assert got.values["zcrm_potential_name"] == "Big order"
    assert got.values["salesperson"] == OTHER.email
    assert "salesperson_name" not in got.values
    [line] = got.values["line_items"]
    assert line["item"] is None and line["name"] == "Big order"
    assert line["description"] == "Twelve units, installed"
    assert line["rate"] == Decimal("1500.00")
    again = [c for page in books.pull(INVOICES, cursor) for c in page.changes if c.id == id]
    assert again == []  # our own write: no echo


def test_an_email_no_books_user_has_refuses_the_write_naming_the_field(
    sandbox, books, customer
) -> None:
    """Nothing is sent; the error names the record and salesperson; not retried."""
    before = len(sandbox.admin.books_records("estimates"))
    [outcome] = books.push(
        ESTIMATES,
        [Write("quote:crm:2", None, {"customer_id": customer, "salesperson": "nobody@x.test"})],
    )
    assert not outcome.ok and not outcome.retry
    assert "salesperson: no Books user has the email 'nobody@x.test'" in (outcome.error or "")
    assert "new record quote:crm:2" in (outcome.error or "")
    assert len(sandbox.admin.books_records("estimates")) == before


def test_books_users_are_read_once_for_many_writes_and_reads(sandbox, books, customer) -> None:
    """Two documents with sales persons and their reads cost one GET /users."""
    sandbox.admin.reset_counters()
    for n, who in enumerate((ADMIN, OTHER)):
        id = make(
            books,
            ESTIMATES,
            f"quote:crm:users{n}",
            customer_id=customer,
            salesperson=who.email,
            line_items=[free_line()],
        )
        got = books.get(ESTIMATES, id)
        assert got is not None and got.values["salesperson"] == who.email
    assert sandbox.admin.count("GET", "/books/v3/users") == 1


def test_clearing_the_sales_person_writes_an_empty_name(sandbox, books, customer) -> None:
    """salesperson None: Books holds no sales person, read back as None."""
    id = make(
        books,
        ESTIMATES,
        "quote:crm:clear",
        customer_id=customer,
        salesperson=ADMIN.email,
        line_items=[free_line()],
    )
    [outcome] = books.push(ESTIMATES, [Write("quote:crm:clear", id, {"salesperson": None})])
    assert outcome.ok, outcome.error
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["salesperson"] is None


def test_a_salesperson_name_no_books_user_has_reads_as_the_name(sandbox, books, customer) -> None:
    """A name set in Books that no user has is read as Books shows it, not guessed."""
    id = make(books, ESTIMATES, "quote:crm:name", customer_id=customer, line_items=[free_line()])
    sandbox.admin.books_update("estimates", id, {"salesperson_name": "Pat Temp"})
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["salesperson"] == "Pat Temp"


# -- Books: status moves ------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["accepted", "declined"])
def test_a_new_estimate_accepted_or_declined_goes_through_sent(
    sandbox, books, customer, target
) -> None:
    """Made as a draft, then status/sent, then status/<target>: Books holds the target."""
    sandbox.admin.reset_counters()
    id = make(
        books,
        ESTIMATES,
        f"quote:crm:new-{target}",
        customer_id=customer,
        status=target,
        line_items=[free_line()],
    )
    assert status_calls(sandbox) == sorted(["sent", target])
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["status"] == target


def test_a_draft_estimate_moved_alone_to_accepted_is_routed_through_sent(
    sandbox, books, customer
) -> None:
    """A status change alone (the status held not known): Books refuses accepted from
    draft, the document is read, and the move goes through sent."""
    id = make(books, ESTIMATES, "quote:crm:alone", customer_id=customer, line_items=[free_line()])
    [outcome] = books.push(ESTIMATES, [Write("quote:crm:alone", id, {"status": "accepted"})])
    assert outcome.ok, outcome.error
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["status"] == "accepted"
    [back] = books.push(ESTIMATES, [Write("quote:crm:alone", id, {"status": "declined"})])
    assert back.ok, back.error  # accepted -> declined: no route needed
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["status"] == "declined"


def test_an_estimate_edited_and_accepted_in_one_write_goes_through_sent(
    sandbox, books, customer
) -> None:
    """The PUT answers the status held (draft): the move is routed at once."""
    id = make(books, ESTIMATES, "quote:crm:both", customer_id=customer, line_items=[free_line()])
    sandbox.admin.reset_counters()
    write = Write(
        "quote:crm:both", id, {"line_items": [free_line(rate="99.00")], "status": "accepted"}
    )
    [outcome] = books.push(ESTIMATES, [write])
    assert outcome.ok, outcome.error
    assert status_calls(sandbox) == ["accepted", "sent"]  # no refused try first
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["status"] == "accepted"


def test_an_estimate_left_sent_by_a_crash_is_accepted_directly(sandbox, books, customer) -> None:
    """A move interrupted after status/sent: the retried write finds the estimate sent
    and calls status/accepted alone."""
    id = make(books, ESTIMATES, "quote:crm:crash", customer_id=customer, line_items=[free_line()])
    [sent] = books.push(ESTIMATES, [Write("quote:crm:crash", id, {"status": "sent"})])
    assert sent.ok, sent.error
    sandbox.admin.reset_counters()
    write = Write("quote:crm:crash", None, {"customer_id": customer, "status": "accepted"})
    options = {"credentials": str(sandbox.credentials_path), "requests_per_minute": 100_000}
    with books_module.from_options("books", options, env={}) as restarted:
        [outcome] = restarted.push(ESTIMATES, [write])  # the create retried: upsert finds it
    assert outcome.ok and outcome.id == id, outcome.error
    assert status_calls(sandbox) == ["accepted"]
    got = books.get(ESTIMATES, id)
    assert got is not None and got.values["status"] == "accepted"


def test_an_invoice_is_voided_and_drafted_again_through_its_endpoints(
    sandbox, books, customer
) -> None:
    """draft -> void (status/void), void -> draft (status/draft), sent -> void."""
    id = make(books, INVOICES, "invoice:crm:void", customer_id=customer, line_items=[free_line()])
    for target in ("void", "draft", "sent", "void"):
        [outcome] = books.push(INVOICES, [Write("invoice:crm:void", id, {"status": target})])
        assert outcome.ok, f"{target}: {outcome.error}"
        got = books.get(INVOICES, id)
        assert got is not None and got.values["status"] == target


# -- setup --------------------------------------------------------------------------------------


def test_setup_check_takes_the_deals_watch_module_and_asks_no_key_field_of_deals(
    sandbox, tmp_path
) -> None:
    """The integration with deals: setup --check lists the deals module on CRM alone, with
    nothing lacking (Deals is never written: no Replicator_Id), and its documents' Books
    deal fields ask for no custom field."""
    from replicator.cli.setup_check import set_up
    from replicator.config.load import load_config

    credentials = str(sandbox.credentials_path)
    path = tmp_path / "replicator.toml"
    path.write_text(
        f"""
[sides.crm]
connector = "zoho_crm"
credentials = "{credentials}"
[sides.books]
connector = "zoho_books"
credentials = "{credentials}"
requests_per_minute = 100000
[integration.customers]
[integration.items]
[integration.transactions.estimates]
[integration.transactions.invoices]
[integration.deals]
quote = "created"
invoice = true
""",
        encoding="utf-8",
    )
    config = load_config(path)
    found = set_up(config, check=True)
    assert not [lack for lack in found if lack.module == "deals"]
    books = {lack.name for lack in found if lack.side == "books"}
    assert not books & {"zcrm_potential_id", "zcrm_potential_name", "salesperson"}
    from click.testing import CliRunner

    from replicator.cli.main import main

    result = CliRunner().invoke(main, ["--config", str(path), "setup", "--check"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "module deals\n  crm (Deals)\n    nothing lacking\n" in result.output


# -- Books users refused ------------------------------------------------------------------------


class NoUsers(FakeBooksDocuments):
    """A Books whose token may not list users (GET /users answers 403)."""

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/users"):
            self.requests.append(request)
            return reply(403, {"code": 57, "message": "You are not authorized"})
        return super().handler(request)


def test_books_refusing_to_list_users_leaves_reads_by_name_and_refuses_writes() -> None:
    """A pull reads the sales person's name as Books shows it, asking for users once in
    the pull; a write of an email fails with Books' reason, not retried."""
    clock = FakeClock()
    fake = NoUsers(clock)
    for n in range(3):
        fake.insert("estimates", {"customer_id": "1", "salesperson_name": f"Pat {n}"})
    connector = books_connector(fake, clock)
    module = SideModule("estimates", "estimates", columns=("customer_id", "salesperson"))
    changes = [c for page in connector.pull(module, None) for c in page.changes]
    assert sorted(c.values["salesperson"] for c in changes) == ["Pat 0", "Pat 1", "Pat 2"]
    assert sum(r.url.path.endswith("/users") for r in fake.requests) == 1
    [outcome] = connector.push(module, [Write("k", None, {"salesperson": "pat@x.test"})])
    assert not outcome.ok and not outcome.retry
    assert "GET /users: HTTP 403" in (outcome.error or "")
    assert "You are not authorized" in (outcome.error or "")
