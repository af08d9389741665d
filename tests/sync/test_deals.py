"""Deal triggers over two SQLite sides: a CRM deal makes its quote and invoice in Books,
once per deal and trigger, whatever is re-delivered, re-run, replayed or crashed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from journal import Kind
from journal.payloads import payload_of
from replicator.config.load import parse_config
from replicator.sync.deals import stage_metadata
from replicator.sync.lifecycle import last_run, run_data
from tests.sync.backends import BACKENDS, journals_for
from tests.sync.deals_world import LOST, OPEN, WON, Crash, Deals, _now, deals_data


@pytest.fixture(autouse=True, params=BACKENDS)
def journals(request, tmp_path, monkeypatch):
    """Every test here runs over SQLite and PostgreSQL journals (the Deals it makes open
    their journal on the backend of this run)."""
    made = journals_for(request, tmp_path)
    monkeypatch.setattr(Deals, "journals", made)
    yield made
    made.close()


@pytest.fixture
def world(tmp_path):
    w = Deals(tmp_path)
    yield w
    w.close()


@pytest.fixture
def invoice_only(tmp_path):
    w = Deals(tmp_path, quote=None)
    yield w
    w.close()


def _won_deal(w: Deals) -> str:
    account = w.account("Acme")
    deal = w.deal("Big order", OPEN, account=account)
    w.sync()
    w.move(deal, WON)
    w.sync()
    return deal


def test_a_won_deal_makes_exactly_one_draft_invoice_with_the_deals_values(invoice_only):
    """Won: one Books invoice, for the deal's account, one line named and described as the
    deal at its amount, associated with the deal, status draft."""
    w = invoice_only
    account = w.account("Acme")
    deal = w.deal("Big order", OPEN, account=account, amount="1500.50")
    w.sync()
    assert w.documents("invoices") == []
    w.move(deal, WON)
    w.sync()
    invoice = w.only("invoices", deal)
    customer = w.books.rows("customers")[invoice["customer_id"]]
    assert customer["name"] == "Acme"
    assert invoice["status"] == "draft"
    assert (invoice["deal_id"], invoice["deal_name"]) == (deal, "Big order")
    assert invoice["reference"] == "Big order"
    assert invoice["salesperson"] == "sam@example.com"
    (line,) = invoice["line_items"]
    assert line["name"] == "Big order"
    assert line["description"] == "Twelve widgets"
    assert Decimal(line["rate"]) == Decimal("1500.50")
    assert Decimal(line["quantity"]) == 1
    assert line["item"] is None
    assert w.books.rows("invoices").keys() == {invoice["id"]}
    assert w.crm.rows("crm_invoices") == {}  # a trigger-made document never goes to CRM
    w.verifies()


def test_lost_voids_the_invoice_and_won_again_makes_it_a_draft_again(invoice_only):
    """Lost after won voids the invoice (through the Books lock); won again brings the same
    invoice back to draft: never a second one."""
    w = invoice_only
    deal = _won_deal(w)
    w.move(deal, LOST)
    w.sync()
    assert w.only("invoices", deal)["status"] == "void"
    w.move(deal, WON)
    w.sync()
    assert w.only("invoices", deal)["status"] == "draft"
    assert not list(w.journal.read(kinds=[Kind.ERROR]))  # the lock refused nothing
    w.verifies()


def test_an_open_stage_after_won_changes_no_status(invoice_only):
    """Back to an open stage after won: the invoice keeps its draft status, nothing else."""
    w = invoice_only
    deal = _won_deal(w)
    before = w.journal.last_seq
    w.move(deal, "Negotiation")
    w.sync()
    assert w.only("invoices", deal)["status"] == "draft"
    assert w.triggered(before) == []


def test_a_sent_invoice_is_left_alone_and_the_skip_says_why(invoice_only):
    """Once a person marked the invoice sent in Books, a stage change changes nothing, and
    a TriggerSkipped entry says the invoice is sent."""
    w = invoice_only
    deal = _won_deal(w)
    invoice = w.only("invoices", deal)
    w.mark("invoices", invoice["id"], "sent")
    w.sync()
    before = w.journal.last_seq
    w.move(deal, LOST)
    w.sync()
    assert w.only("invoices", deal)["status"] == "sent"
    (skip,) = w.skips(before)
    assert skip.trigger == "invoice" and skip.outcome == "lost"
    assert skip.document == f"invoice:crm:{deal}"
    assert "is sent in books (status sent)" in skip.reason
    assert w.triggered(before) == []
    w.verifies()


def test_a_callback_after_the_invoice_was_sent_reads_books_first_and_leaves_it(invoice_only):
    """Marked sent in Books, not synced since: the deal's callback reads Books' invoices
    first, so the lost deal does not void the sent invoice."""
    w = invoice_only
    deal = _won_deal(w)
    invoice = w.only("invoices", deal)
    w.mark("invoices", invoice["id"], "sent")
    before = w.journal.last_seq
    w.move(deal, LOST)
    w.callback(deal)
    assert w.only("invoices", deal)["status"] == "sent"
    (skip,) = w.skips(before)
    assert "is sent in books" in skip.reason
    w.verifies()


def test_a_quote_made_on_creation_is_accepted_when_won_and_declined_when_lost(world):
    """Quote on created: a draft estimate with the deal; accepted when won; a second deal
    lost: its estimate declined."""
    w = world
    account = w.account("Acme")
    first = w.deal("First", OPEN, account=account)
    second = w.deal("Second", "Proposal", account=account)
    w.sync()
    assert w.only("estimates", first)["status"] == "draft"
    assert w.only("estimates", second)["status"] == "draft"
    w.move(first, WON)
    w.move(second, LOST)
    w.sync()
    assert w.only("estimates", first)["status"] == "accepted"
    assert w.only("estimates", second)["status"] == "declined"
    assert w.only("invoices", first)["status"] == "draft"
    assert w.documents("invoices", second) == []
    w.verifies()


def test_a_quote_on_a_stage_is_made_once_the_deal_reaches_that_stages_probability(tmp_path):
    """Quote on "Proposal" (50): nothing at Qualification (10), the estimate at Negotiation
    (75, past it), and nothing for a deal lost before."""
    w = Deals(tmp_path, quote="Proposal", invoice=False)
    try:
        account = w.account("Acme")
        deal = w.deal("Big order", OPEN, account=account)
        lost = w.deal("Lost early", OPEN, account=account)
        w.sync()
        assert w.documents("estimates") == []
        w.move(deal, "Negotiation")
        w.move(lost, LOST)
        w.sync()
        assert w.only("estimates", deal)["status"] == "draft"
        assert w.documents("estimates", lost) == []
        w.move(deal, WON)
        w.sync()
        assert w.only("estimates", deal)["status"] == "accepted"
    finally:
        w.close()


def test_a_deal_with_no_account_makes_nothing_and_the_skip_says_why(invoice_only):
    """Won with no account: no invoice, and the skip names the deal and the reason."""
    w = invoice_only
    deal = w.deal("Orphan", WON, account=None)
    w.sync()
    assert w.documents("invoices") == []
    (skip,) = w.skips()
    assert skip.reason.startswith(f"deal crm:{deal} (Orphan) has no account: no invoice made")
    assert skip.document is None


def test_an_account_not_synced_yet_is_fetched_first(invoice_only):
    """A deal won by callback whose account was made after the last sync: the account is
    fetched and made in Books first, and the invoice is for it."""
    w = invoice_only
    w.account("Old")
    w.sync()
    account = w.account("Newcomer")
    deal = w.deal("Fresh", WON, account=account)
    w.callback(deal)
    invoice = w.only("invoices", deal)
    assert w.books.rows("customers")[invoice["customer_id"]]["name"] == "Newcomer"
    w.verifies()


def test_an_unknown_stage_is_skipped_with_its_reason(invoice_only):
    """A stage the CRM's stage metadata does not know is never guessed from its name."""
    w = invoice_only
    deal = w.deal("Odd", "Closed Won (typo)", account=w.account("Acme"))
    w.sync()
    assert w.documents("invoices") == []
    (skip,) = w.skips()
    assert skip.outcome is None
    assert "stage 'Closed Won (typo)' is not in crm's stage metadata (known: " in skip.reason
    assert deal


def test_redelivered_callbacks_a_second_cycle_and_a_replay_make_no_second_document(world):
    """The same callback three times, then two cycles: one invoice, one estimate, no new
    entries after the first, and the replayed journal equals the live state."""
    w = world
    account = w.account("Acme")
    deal = w.deal("Big order", OPEN, account=account)
    w.sync()
    w.move(deal, WON)
    w.callback(deal, times=3)
    after_callbacks = w.journal.last_seq
    w.sync()
    w.sync()
    w.only("invoices", deal)
    w.only("estimates", deal)
    assert len(w.triggered()) == 3  # the quote made, the quote accepted, the invoice made
    assert not list(
        w.journal.read(since=after_callbacks, kinds=[Kind.TRIGGER, Kind.OBSERVED, Kind.APPLIED])
    )
    w.verifies()


def test_a_crash_between_the_trigger_entries_and_the_push_then_a_rerun_makes_one(invoice_only):
    """The Books push of the new invoice crashes before writing: the trigger's decision is
    journaled, the re-run (a new process) pushes it once and decides nothing again."""
    w = invoice_only
    account = w.account("Acme")
    deal = w.deal("Big order", OPEN, account=account)
    w.sync()
    w.move(deal, WON)
    w.pushes["books"].crash = ("invoices", "before")
    with pytest.raises(Crash):
        w.sync()
    assert w.documents("invoices") == []
    w.restart()
    w.sync()
    w.sync()
    assert w.only("invoices", deal)["status"] == "draft"
    assert len(w.triggered()) == 1
    w.verifies()


def test_a_crash_after_the_books_create_before_its_outcome_then_a_rerun_makes_one(
    invoice_only,
):
    """Books made the invoice but the engine died before journaling it (the create intent
    pending): the re-run finds the row it made, never a second one; a later lost voids it."""
    w = invoice_only
    account = w.account("Acme")
    deal = w.deal("Big order", OPEN, account=account)
    w.sync()
    w.move(deal, WON)
    w.pushes["books"].crash = ("invoices", "after")
    with pytest.raises(Crash):
        w.callback(deal)
    assert len(w.documents("invoices", deal)) == 1
    w.restart()
    w.sync()
    w.callback(deal)
    invoice = w.only("invoices", deal)
    w.move(deal, LOST)
    w.sync()
    assert w.only("invoices", deal) == {**invoice, "status": "void"}
    assert len(w.triggered()) == 2
    w.verifies()


def test_a_deal_moved_while_the_invoices_module_never_synced_waits_for_its_cycle(tmp_path):
    """A callback before the documents module was ever pulled journals the decision, and
    the module's first cycle makes the document (a create waits for a full pull)."""
    w = Deals(tmp_path, quote=None, first=False)
    try:
        w.engine.run(["customers", "deals"])  # the deals read once: triggers are on
        account = w.account("Acme")
        deal = w.deal("Big order", WON, account=account)
        w.engine.run(["customers", "deals"])
        assert len(w.triggered()) == 1
        assert w.documents("invoices") == []
        w.sync()
        assert w.only("invoices", deal)["status"] == "draft"
    finally:
        w.close()


def test_the_report_counts_triggered_and_skipped_per_deal_side(invoice_only):
    """A run's report counts each Triggered and each TriggerSkipped under deals / crm."""
    w = invoice_only
    account = w.account("Acme")
    w.deal("Won", WON, account=account)
    w.deal("Orphan", WON, account=None)
    report = w.sync()
    assert report.counts[("deals", "crm", "triggered")] == 1
    assert report.counts[("deals", "crm", "skipped")] == 1


def test_history_lists_a_trigger_skip_with_its_reason(invoice_only):
    """The run's skips (``history``) hold the trigger's skip and its reason."""
    w = invoice_only
    w.deal("Orphan", WON, account=None)
    w.sync()
    run = last_run(w.journal)
    assert run is not None
    skips = run_data(w.journal, run, module="deals")["skips"]
    assert [(s["record"], s["side"]) for s in skips] == [("crm:1", None)]
    assert skips[0]["reason"].startswith("invoice trigger: deal crm:1 (Orphan) has no account")


def test_a_document_update_cut_short_is_pushed_before_the_deal_is_decided_again(world):
    """Quote accepted in Books, its decline cut short by a crash before the push, then the
    deal won again: the decline goes first, so Books' accepted is not taken for a person's
    status (the falsifying example of the stateful test), and the quote ends accepted."""
    w = world
    account = w.account("Acme")
    deal = w.deal("Big order", WON, account=account)
    w.sync()
    assert w.only("estimates", deal)["status"] == "accepted"
    w.move(deal, LOST)
    w.pushes["books"].crash = ("estimates", "before")
    with pytest.raises(Crash):
        w.callback(deal)
    w.restart()
    before = w.journal.last_seq
    w.move(deal, WON)
    w.callback(deal)
    assert w.skips(before) == []
    assert w.only("estimates", deal)["status"] == "accepted"
    assert w.only("invoices", deal)["status"] == "draft"
    w.verifies()


def test_a_callback_after_a_crash_left_a_document_create_pending_finds_the_row_it_made(
    invoice_only,
):
    """The invoice made in Books with its outcome lost, a person marks it sent, a callback
    comes: the create is finished before Books is read, so the row is the invoice's (no
    second record for it, no overwrite of the person's status)."""
    w = invoice_only
    account = w.account("Acme")
    deal = w.deal("Big order", OPEN, account=account)
    w.sync()
    w.move(deal, WON)
    w.pushes["books"].crash = ("invoices", "after")
    with pytest.raises(Crash):
        w.callback(deal)
    w.restart()
    w.mark("invoices", w.only("invoices", deal)["id"], "sent")
    w.callback(deal)
    w.sync()
    assert w.only("invoices", deal)["status"] == "sent"
    assert [rid for _, _, rid in _records(w, "invoices")] == [f"invoice:crm:{deal}"]
    w.verifies()


def _records(w: Deals, module: str) -> list[tuple[str, str, str]]:
    return [(module, state.origin, state.rid) for _, _, state in w.journal.records(module)]


def test_a_deal_whose_account_cannot_be_found_is_not_evaluated_until_it_changes(invoice_only):
    """A won deal naming an account the CRM does not have: its record holds the lookup
    error, no trigger decides on it (no skip, no invoice); given a real account, it is."""
    w = invoice_only
    deal = w.deal("Ghost", WON, account="999")
    w.sync()
    assert w.documents("invoices") == [] and w.skips() == [] and w.triggered() == []
    state = w.journal.record("deals", f"crm:{deal}")
    assert state is not None and "not synced" in state.errors["crm"]
    w.crm.update("deals", deal, {"account_id": w.account("Acme")})
    w.sync()
    assert w.only("invoices", deal)["status"] == "draft"


def test_a_deal_with_a_poison_amount_waits_for_its_fix(invoice_only):
    """An amount that does not read (a comma) keeps the deal from its triggers; fixed, the
    invoice is made at the fixed amount."""
    w = invoice_only
    deal = w.deal("Comma", WON, account=w.account("Acme"), amount="1,50")
    w.sync()
    assert w.documents("invoices") == []
    w.crm.update("deals", deal, {"amount": "150.25"})
    w.sync()
    (line,) = w.only("invoices", deal)["line_items"]
    assert Decimal(line["rate"]) == Decimal("150.25")


def test_a_watch_module_without_triggers_is_read_and_never_written(tmp_path):
    """sync = "watch" with no triggers: deals are journaled, settled, and nothing is
    written anywhere."""
    w = Deals(tmp_path, quote=None, invoice=False)
    try:
        assert w.config.modules["deals"].watch and not w.config.modules["deals"].triggers
        w.deal("Watched", WON, account=w.account("Acme"))
        w.sync()
        state = w.journal.record("deals", "crm:1")
        assert state is not None and not state.attention
        assert [t for t, _ in w.pushes["crm"].writes] == []
        assert {t for t, _ in w.pushes["books"].writes} == {"customers"}
        w.verifies()
    finally:
        w.close()


def test_stage_metadata_is_keyed_by_the_canonical_stage_of_a_picklist(tmp_path):
    """A stage picklist spelling the CRM's stages its own way: the CRM's probabilities are
    read under the canonical values, and a stage the map leaves out is unknown."""
    w = Deals(tmp_path, quote=None)
    try:
        data = deals_data(tmp_path, quote=None)
        spelled = {"Qualification": "open-1", "Closed Won": "won", "Closed Lost": "lost"}
        data["modules"]["deals"]["fields"]["stage"].update(
            {"type": "picklist", "values": {"crm": spelled}}
        )
        w.config = parse_config(data, tmp_path / "replicator.toml")
        w.restart()
        assert stage_metadata(w.engine, w.config.modules["deals"]) == {
            "open-1": 10,
            "won": 100,
            "lost": 0,
        }
        deal = w.deal("Big order", WON, account=w.account("Acme"))
        w.sync()
        assert w.only("invoices", deal)["status"] == "draft"
    finally:
        w.close()


def test_deals_made_before_the_triggers_were_on_make_no_document_until_they_change(tmp_path):
    """Switching triggers on quotes and invoices nothing that already was: deals read in
    the first read are a baseline; one that is won only later is invoiced, one won before
    is not, even when it changes; a deal made afterwards is quoted."""
    w = Deals(tmp_path, first=False)
    try:
        account = w.account("Acme")
        won_before = w.deal("Won before", WON, account=account)
        open_before = w.deal("Open before", OPEN, account=account)
        w.sync()
        assert w.documents("invoices") == [] and w.documents("estimates") == []
        w.crm.update("deals", won_before, {"amount": "99", "modified": _now()})
        w.move(open_before, WON)
        w.sync()
        assert w.documents("invoices", won_before) == []
        assert w.only("invoices", open_before)["status"] == "draft"
        assert w.documents("estimates") == []  # quote on created: both existed before
        made_after = w.deal("Made after", OPEN, account=account)
        w.sync()
        assert w.only("estimates", made_after)["status"] == "draft"
        w.verifies()
    finally:
        w.close()


def test_a_document_sent_between_the_decision_and_its_push_is_not_voided(invoice_only):
    """The deal lost, the void decided, the push cut short; a person marks the invoice
    sent before the next sync: Books' sent arrives beside the trigger's void, and the
    push refuses the void (the document is the person's), journaled with the reason."""
    w = invoice_only
    deal = _won_deal(w)
    invoice = w.only("invoices", deal)
    w.move(deal, LOST)
    w.pushes["books"].crash = ("invoices", "before")
    with pytest.raises(Crash):
        w.sync()
    w.mark("invoices", invoice["id"], "sent")
    before = w.journal.last_seq
    w.sync()
    w.sync()
    assert w.only("invoices", deal)["status"] == "sent"
    refusals = [
        payload_of(e).reason
        for e in w.journal.read(since=before, kinds=[Kind.ERROR])
        if e.rid == f"invoice:crm:{deal}"
    ]
    assert refusals and all("deal changes no longer touch it" in r for r in refusals)
    assert len(refusals) == 1  # held, not retried every sync
    w.verifies()


def test_journal_log_says_what_each_trigger_entry_did(invoice_only):
    """`journal log` describes a Triggered entry by its reason and values and a skip by
    its trigger and reason, never as raw JSON."""
    from replicator.cli.journal import describe  # the CLI's wording, read here only

    w = invoice_only
    account = w.account("Acme")
    w.deal("Won", WON, account=account)
    w.deal("Orphan", WON, account=None)
    w.sync()
    said = [describe(e) for e in w.journal.read(since=0, kinds=[Kind.TRIGGER])]
    assert any("invoice made: " in s and "status='draft'" in s for s in said), said
    assert any(s.startswith("invoice trigger skipped: deal ") for s in said), said
    assert not any(s.startswith("{") for s in said)
