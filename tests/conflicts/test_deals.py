"""The deal triggers' pure rules (conflicts.deals): when a quote or an invoice is made,
what it holds, what a later deal change sends, and when the trigger leaves it alone."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from conflicts.deals import (
    TRIGGER,
    Create,
    Skip,
    TriggerSpec,
    Update,
    decide,
    outcome,
    skipped_entry,
    triggered_entry,
)
from journal import Dot, Kind, VectorClock
from journal.payloads import Tombstone, Triggered, TriggerSkipped, decode, new_entry
from tests.conflicts.deal_docs import BOOKS, INVOICE, MAPS, QUOTE, STAGES, Documents, deal

RID = "crm:1"


@pytest.fixture
def quotes() -> Iterator[Documents]:
    docs = Documents(QUOTE)
    yield docs
    docs.close()


@pytest.fixture
def invoices() -> Iterator[Documents]:
    docs = Documents(INVOICE)
    yield docs
    docs.close()


def _line(**values: object) -> dict[str, object]:
    line: dict[str, object] = {
        "item": None,
        "name": "Big order",
        "description": "two pumps",
        "quantity": Decimal(1),
        "rate": Decimal("1200.50"),
        "discount": Decimal(0),
        "tax": None,
    }
    line.update(values)
    return line


# -- the stage outcome ---------------------------------------------------------------------


def test_a_stage_is_won_at_100_lost_at_0_and_open_otherwise():
    """The outcome follows the stage's probability in the metadata, not its name."""
    assert outcome("Closed Won", STAGES) == "won"
    assert outcome("Closed Lost", STAGES) == "lost"
    assert outcome("Negotiation", STAGES) == "open"
    assert outcome("Closed Won", {"Closed Won": 40}) == "open"
    assert outcome("Signed", {"Signed": 100}) == "won"


def test_a_stage_the_metadata_does_not_know_has_no_outcome():
    """An unknown stage, no stage or no metadata: None, never a guess from the name."""
    assert outcome("Closed Won", {}) is None
    assert outcome("Closed Won", None) is None
    assert outcome(None, STAGES) is None


# -- rule 1: an unknown stage ---------------------------------------------------------------


def test_a_deal_at_an_unknown_stage_is_skipped_naming_the_stage_and_the_known_ones(quotes):
    """The skip names the deal, the stage, the CRM side's metadata and the known stages."""
    found = quotes.decide(RID, deal(stage="Closed Won Lost"))
    assert isinstance(found, Skip) and found.outcome is None
    assert "deal crm:1 (Big order)" in found.reason
    assert "stage 'Closed Won Lost' is not in crm's stage metadata (known: " in found.reason
    assert "Negotiation" in found.reason


def test_a_deal_with_no_stage_metadata_is_skipped_even_with_a_document(invoices):
    """No metadata at all skips the deal, and a deal whose document exists is not changed
    on a guess either."""
    assert isinstance(invoices.evaluate(RID, deal(stage="Closed Won")), Create)
    found = invoices.decide(RID, deal(stage="Closed Lost"), stages={})
    assert isinstance(found, Skip) and "not in crm's stage metadata" in found.reason
    document = invoices.document(RID)
    found = decide(
        INVOICE, RID, "1", deal(stage="Closed Lost"), None, document, books=BOOKS, maps=MAPS
    )
    assert isinstance(found, Skip) and "(it has none)" in found.reason


# -- rule 2: the create condition -------------------------------------------------------------


def test_a_quote_on_created_is_made_at_any_stage_with_every_value_the_module_maps(quotes):
    """A new deal makes its quote at once: customer, subject, salesperson, the deal's id and
    name, one free-text line, and draft while the deal is open."""
    found = quotes.decide(RID, deal())
    assert isinstance(found, Create) and found.outcome == "open"
    assert found.fields == {
        "customer": "crm:acct1",
        "subject": "Big order",
        "salesperson": "ann@example.com",
        "deal": "1",
        "deal_name": "Big order",
        "lines": [_line()],
        "status": "draft",
    }


def test_a_quote_made_for_a_won_or_lost_deal_is_accepted_or_declined(quotes):
    """The status of a new quote follows the deal's outcome."""
    won = quotes.decide(RID, deal(stage="Closed Won"))
    lost = quotes.decide(RID, deal(stage="Closed Lost"))
    assert isinstance(won, Create) and won.fields["status"] == "accepted"
    assert isinstance(lost, Create) and lost.fields["status"] == "declined"


def test_only_the_fields_the_document_module_maps_are_set():
    """A module without salesperson or the deal fields gets none of them."""
    docs = Documents(QUOTE, maps=frozenset({"customer", "lines", "status"}))
    try:
        found = docs.decide(RID, deal())
        assert isinstance(found, Create)
        assert set(found.fields) == {"customer", "lines", "status"}
    finally:
        docs.close()


def test_a_deal_without_an_amount_makes_a_line_at_rate_zero(quotes):
    """No amount: the line's rate is 0 (never None), its description the deal's."""
    found = quotes.decide(RID, deal(amount=None, description=None))
    assert isinstance(found, Create)
    assert found.fields["lines"] == [_line(rate=Decimal(0), description=None)]


@pytest.mark.parametrize(
    ("stage", "made"),
    [
        ("Qualification", False),
        ("Proposal/Price Quote", True),
        ("Negotiation", True),
        ("Closed Won", True),
        ("Closed Lost", False),
    ],
)
def test_a_quote_on_a_stage_is_made_once_the_probability_reaches_that_stages(stage, made):
    """on = a stage: made at that stage's probability or more, won included, lost never."""
    docs = Documents(TriggerSpec("quote", "estimates", "Proposal/Price Quote"))
    try:
        found = docs.decide(RID, deal(stage=stage))
        assert isinstance(found, Create) is made
        if not made:
            assert found is None
    finally:
        docs.close()


def test_a_lost_deal_makes_no_quote_even_when_the_trigger_stage_is_at_probability_0():
    """Lost is excluded from "reaches", whatever the trigger's stage's probability."""
    docs = Documents(TriggerSpec("quote", "estimates", "Closed Lost to Competition"))
    try:
        assert docs.decide(RID, deal(stage="Closed Lost")) is None
        assert isinstance(docs.decide(RID, deal(stage="Qualification")), Create)
    finally:
        docs.close()


def test_a_quote_on_a_stage_the_metadata_does_not_know_is_skipped_naming_it():
    """The trigger's own stage must be in the metadata: else a skip says so."""
    docs = Documents(TriggerSpec("quote", "estimates", "Proposal"))
    try:
        found = docs.decide(RID, deal(stage="Negotiation"))
        assert isinstance(found, Skip)
        assert found.reason.startswith("deal crm:1 (Big order): the quote trigger's stage")
        assert "'Proposal' is not in the stage metadata" in found.reason
    finally:
        docs.close()


@pytest.mark.parametrize(("stage", "made"), [("Negotiation", False), ("Closed Lost", False)])
def test_an_invoice_is_made_only_when_the_deal_is_won(invoices, stage, made):
    """Open and lost deals make no invoice; a won one makes a draft invoice."""
    assert invoices.decide(RID, deal(stage=stage)) is None
    won = invoices.decide(RID, deal(stage="Closed Won"))
    assert isinstance(won, Create) and won.fields["status"] == "draft" and won.outcome == "won"


def test_a_deal_without_an_account_makes_nothing_and_says_why(quotes, invoices):
    """The create condition met but no customer: a skip naming the deal, and no document."""
    found = quotes.decide(RID, deal(customer=None))
    assert isinstance(found, Skip)
    assert found.reason.startswith("deal crm:1 (Big order) has no account: no quote made")
    assert "Qualification (probability 10)" in found.reason
    assert invoices.decide(RID, deal(customer=None)) is None  # not won: nothing to say
    won = invoices.decide(RID, deal(customer=None, stage="Closed Won"))
    assert isinstance(won, Skip) and "has no account: no invoice made" in won.reason


# -- rule 3: what a later change sends -------------------------------------------------------


def test_a_document_is_made_once_then_nothing_while_the_deal_is_unchanged(invoices):
    """Re-evaluating the same deal, before or after the push, decides nothing."""
    won = deal(stage="Closed Won")
    assert isinstance(invoices.evaluate(RID, won), Create)
    assert invoices.decide(RID, won) is None
    invoices.push(RID)
    assert invoices.decide(RID, won) is None
    assert invoices.creates == 1 and invoices.crm_writes == 0


def test_only_what_the_deal_changed_is_sent(quotes):
    """A new amount changes the line alone."""
    quotes.evaluate(RID, deal())
    quotes.push(RID)
    found = quotes.evaluate(RID, deal(amount=Decimal("99")))
    assert isinstance(found, Update)
    assert found.fields == {"lines": [_line(rate=Decimal("99"))]}
    renamed = quotes.decide(RID, deal(amount=Decimal("99"), name="Bigger order"))
    assert isinstance(renamed, Update)
    assert set(renamed.fields) == {"subject", "deal_name", "lines"}


def test_a_persons_later_value_stays_until_the_deal_changes_that_field(quotes):
    """A subject a person set in Books is not put back while the deal's name is unchanged;
    a new amount sends the line alone; a new deal name sends the subject again."""
    quotes.evaluate(RID, deal())
    quotes.push(RID)
    quotes.person_edits(RID, subject="Pumps for ACME")
    assert quotes.decide(RID, deal()) is None
    quotes.evaluate(RID, deal(amount=Decimal("10")))
    quotes.push(RID)
    books = quotes.books_values(RID)
    assert books is not None and books["subject"] == "Pumps for ACME"
    assert books["lines"][0]["rate"] == Decimal("10")
    quotes.evaluate(RID, deal(amount=Decimal("10"), name="Pumps"))
    quotes.push(RID)
    assert quotes.books_values(RID)["subject"] == "Pumps"  # type: ignore[index]


def test_a_deal_that_loses_its_account_leaves_the_documents_customer(invoices):
    """No customer after the create sends no empty customer."""
    invoices.evaluate(RID, deal(stage="Closed Won"))
    assert invoices.decide(RID, deal(stage="Closed Won", customer=None)) is None


def test_the_status_after_the_create_follows_only_won_and_lost(quotes, invoices):
    """Quote: draft, accepted when won, nothing on an open stage after, declined when lost.
    Invoice: draft when won, nothing on an open stage after, void when lost, draft when won
    again."""
    quotes.evaluate(RID, deal())
    won = quotes.evaluate(RID, deal(stage="Closed Won"))
    assert isinstance(won, Update) and won.fields == {"status": "accepted"}
    assert quotes.decide(RID, deal(stage="Negotiation")) is None
    lost = quotes.evaluate(RID, deal(stage="Closed Lost"))
    assert isinstance(lost, Update) and lost.fields == {"status": "declined"}
    invoices.evaluate(RID, deal(stage="Closed Won"))
    invoices.push(RID)
    assert invoices.decide(RID, deal(stage="Negotiation")) is None
    void = invoices.evaluate(RID, deal(stage="Closed Lost"))
    assert isinstance(void, Update) and void.fields == {"status": "void"}
    invoices.push(RID)
    assert invoices.decide(RID, deal(stage="Qualification")) is None
    again = invoices.evaluate(RID, deal(stage="Closed Won"))
    assert isinstance(again, Update) and again.fields == {"status": "draft"}


# -- rule 4: a sent document is left alone ---------------------------------------------------


def test_a_document_marked_sent_in_books_is_no_longer_touched_and_the_skip_says_why(invoices):
    """After a person marks the invoice sent, the deal lost skips, naming the document, the
    status and the deal; an unchanged deal says nothing at all."""
    invoices.evaluate(RID, deal(stage="Closed Won"))
    invoices.push(RID)
    invoices.person_edits(RID, status="sent")
    assert invoices.decide(RID, deal(stage="Closed Won")) is None
    found = invoices.evaluate(RID, deal(stage="Closed Lost"))
    assert isinstance(found, Skip) and found.outcome == "lost"
    assert found.reason.startswith(
        "invoice invoice:crm:1 is sent in books (status sent): deal changes no longer touch it"
    )
    assert "deal crm:1 (Big order) at Closed Lost (probability 0)" in found.reason
    assert invoices.books_values(RID)["status"] == "sent"  # type: ignore[index]


def test_any_status_a_person_moved_the_document_to_counts_as_sent(quotes):
    """A quote a person accepted by hand (the trigger set draft) is the person's."""
    quotes.evaluate(RID, deal())
    quotes.push(RID)
    quotes.person_edits(RID, status="accepted")
    found = quotes.decide(RID, deal(amount=Decimal(5)))
    assert isinstance(found, Skip) and "(status accepted)" in found.reason


def test_sent_on_the_triggers_own_way_to_accepted_is_not_a_persons_send(quotes):
    """Books moves an estimate to accepted through sent: a pull that sees sent while the
    trigger last set accepted does not stop the trigger from declining it later."""
    quotes.evaluate(RID, deal())
    quotes.push(RID)
    quotes.evaluate(RID, deal(stage="Closed Won"))
    quotes.push(RID)
    quotes.person_edits(RID, status="sent")  # the read between Books' two status moves
    found = quotes.decide(RID, deal(stage="Closed Lost"))
    assert isinstance(found, Update) and found.fields == {"status": "declined"}


def test_a_status_the_trigger_set_before_a_crash_is_not_a_persons_send(quotes):
    """Declined pushed, accepted journaled but not pushed (a crash): Books still holds the
    trigger's own declined, so a new amount is sent, not skipped as a person's send
    (found by the property test)."""
    quotes.evaluate(RID, deal(stage="Closed Lost"))
    quotes.push(RID)
    quotes.evaluate(RID, deal(stage="Closed Won"))
    found = quotes.decide(RID, deal(stage="Closed Won", amount=Decimal(3)))
    assert isinstance(found, Update) and set(found.fields) == {"lines"}
    quotes.push(RID)
    assert quotes.books_values(RID)["status"] == "accepted"  # type: ignore[index]


def test_a_document_deleted_in_books_is_not_made_again(invoices):
    """A deal change after the invoice's delete in Books is a skip saying so."""
    invoices.evaluate(RID, deal(stage="Closed Won"))
    invoices.push(RID)
    state = invoices.document(RID)
    assert state is not None
    held = state.held_wire(BOOKS)
    assert held is not None
    invoices.journal.append([new_entry(Tombstone(id=str(held.id)), "invoices", state.rid, BOOKS)])
    found = invoices.decide(RID, deal(stage="Closed Lost"))
    assert isinstance(found, Skip) and "was deleted in books" in found.reason


# -- reasons and entries -----------------------------------------------------------------------


def test_reasons_name_the_deal_its_stage_and_probability_and_what_was_done(invoices):
    """Made and changed: the deal's rid and name, the stage and its probability."""
    made = invoices.evaluate(RID, deal(stage="Closed Won"))
    assert isinstance(made, Create)
    assert (
        made.reason == "deal crm:1 (Big order) reached Closed Won (probability 100): invoice made"
    )
    changed = invoices.decide(RID, deal(stage="Closed Lost"))
    assert isinstance(changed, Update)
    assert changed.reason == (
        "deal crm:1 (Big order) is at Closed Lost (probability 0):"
        " invoice invoice:crm:1 changed (status)"
    )


def test_a_triggers_entry_is_on_the_document_with_the_next_trigger_dot_over_its_clock(invoices):
    """The entry: document module and rid, side TRIGGER, dot n + 1 of the TRIGGER counter,
    context the record's whole clock, fields the values, payload Triggered."""
    first = invoices.decide(RID, deal(stage="Closed Won"))
    assert isinstance(first, Create)
    entry = triggered_entry(INVOICE, RID, first, None, books=BOOKS)
    assert (entry.kind, entry.module, entry.rid, entry.side) == (
        Kind.TRIGGER,
        "invoices",
        "invoice:crm:1",
        TRIGGER,
    )
    assert entry.dot == Dot(TRIGGER, 1) and entry.context == VectorClock()
    payload = decode(Kind.TRIGGER, entry.meta)
    assert payload == Triggered(
        deal=RID, trigger="invoice", outcome="won", create=True, only=(BOOKS,), reason=first.reason
    )
    invoices.evaluate(RID, deal(stage="Closed Won"))
    invoices.push(RID)
    state = invoices.document(RID)
    assert state is not None
    second = invoices.decide(RID, deal(stage="Closed Lost"))
    assert isinstance(second, Update)
    entry = triggered_entry(INVOICE, RID, second, state, books=BOOKS)
    assert entry.dot == Dot(TRIGGER, 2) and entry.context == state.clock
    assert decode(Kind.TRIGGER, entry.meta).create is False  # type: ignore[attr-defined]


def test_a_skips_entry_is_on_the_deal_with_no_side():
    """A TriggerSkipped entry: module deals, the deal's rid, side None."""
    skip = Skip("deal crm:1 (Big order) has no account: no invoice made", "won")
    entry = skipped_entry(INVOICE, "deals", RID, skip, None)
    assert (entry.kind, entry.module, entry.rid, entry.side, entry.dot) == (
        Kind.TRIGGER,
        "deals",
        RID,
        None,
        None,
    )
    assert decode(Kind.TRIGGER, entry.meta) == TriggerSkipped(
        trigger="invoice", outcome="won", reason=skip.reason, document=None
    )


def test_decide_is_pure_over_its_arguments():
    """The same arguments give the same decision, with no journal at all."""
    args = (INVOICE, RID, "1", deal(stage="Closed Won"), STAGES, None)
    first = decide(*args, books=BOOKS, maps=MAPS)
    assert first == decide(*args, books=BOOKS, maps=MAPS)


def test_a_deal_that_met_the_condition_before_the_triggers_were_on_makes_nothing(quotes, invoices):
    """A baseline (the deal as first read) that already met the create condition makes no
    document; one that did not, and meets it now, does; a quote on created never comes
    for a deal that existed before."""
    won = deal(stage="Closed Won")
    assert invoices.decide(RID, won, baseline=won) is None
    assert isinstance(invoices.decide(RID, won, baseline=deal(stage="Qualification")), Create)
    assert quotes.decide(RID, won, baseline=deal(stage="Qualification")) is None
    assert invoices.decide(RID, won, baseline=deal(stage="Not a stage")) is None
