"""The journal side of deal triggers: the trigger payloads' stored form, what the reducer
folds of them, the plan of a trigger-made document, and replay."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from conflicts import (
    ConflictPolicy,
    Direction,
    ModulePolicy,
    RecordReducer,
    Sibling,
    Sync,
    TriggerInfo,
    plan,
)
from conflicts.deals import TRIGGER, Create, Update
from journal import Dot, Journal, Kind, VectorClock, rebuild, verify
from journal.errors import PayloadError
from journal.payloads import (
    DealAssociation,
    Observed,
    Triggered,
    TriggerSkipped,
    decode,
    encode,
    new_entry,
    variant,
)
from tests.conflicts.deal_docs import BOOKS, CRM, INVOICE, QUOTE, Documents, deal

RID = "crm:1"


# -- the payloads --------------------------------------------------------------------------


def test_the_trigger_payloads_store_the_keys_the_contract_names():
    """Triggered, TriggerSkipped and DealAssociation write exactly their keys."""
    triggered = Triggered(
        deal="crm:1", trigger="invoice", outcome="won", create=True, only=("books",), reason="r"
    )
    assert encode(triggered) == {
        "deal": "crm:1",
        "trigger": "invoice",
        "outcome": "won",
        "create": True,
        "only": ["books"],
        "reason": "r",
    }
    skipped = TriggerSkipped(trigger="quote", outcome=None, reason="r", document=None)
    assert encode(skipped) == {"trigger": "quote", "outcome": None, "reason": "r", "document": None}
    association = DealAssociation(
        document="invoice/9",
        deal="4876",
        deal_name=None,
        action="associate",
        by="person",
        number="INV-00001",
    )
    assert encode(association) == {
        "document": "invoice/9",
        "deal": "4876",
        "deal_name": None,
        "action": "associate",
        "by": "person",
        "number": "INV-00001",
    }
    for payload in (triggered, skipped, association):
        assert payload.KIND is Kind.TRIGGER
        assert decode(Kind.TRIGGER, encode(payload)) == payload


def test_the_variants_of_a_trigger_entry_are_told_by_their_keys():
    """``action``: an association; ``create``: a trigger's values; else a skip."""
    assert variant(Kind.TRIGGER, {"action": "associate", "create": True}) is DealAssociation
    assert variant(Kind.TRIGGER, {"create": False}) is Triggered
    assert variant(Kind.TRIGGER, {"trigger": "quote"}) is TriggerSkipped


def test_a_trigger_meta_missing_a_required_key_is_refused_naming_it():
    """A Triggered meta without ``only`` is refused, naming the key and the class."""
    meta = {"deal": "crm:1", "trigger": "quote", "outcome": "open", "create": True, "reason": "r"}
    with pytest.raises(PayloadError, match="'only'.*Triggered"):
        decode(Kind.TRIGGER, meta)


# -- the reducer ---------------------------------------------------------------------------


@pytest.fixture
def invoices():
    docs = Documents(INVOICE)
    yield docs
    docs.close()


def test_a_triggered_entry_makes_the_document_record_as_the_trigger_set_it(invoices):
    """The record is new, of origin TRIGGER, needs attention; each value is a register
    write with the entry's dot; ``trigger`` says the deal, trigger, outcome, sides and
    values."""
    made = invoices.evaluate(RID, deal(stage="Closed Won"))
    assert isinstance(made, Create)
    state = invoices.document(RID)
    assert state is not None
    assert state.origin == TRIGGER and state.attention and state.counter(TRIGGER) == 1
    assert state.wire_values("status") == [(TRIGGER, "draft")]
    assert [s[:2] for s in state.siblings("lines")] == [[TRIGGER, 1]]
    assert state.trigger == TriggerInfo(
        deal=RID, trigger="invoice", outcome="won", only=(BOOKS,), values=made.fields
    )
    assert state.only == (BOOKS,)


def test_a_second_triggered_entry_merges_its_values_over_what_the_trigger_set(invoices):
    """Only the changed status is written; the trigger's values keep the rest, and the
    register's value is the new one with the second dot."""
    made = invoices.evaluate(RID, deal(stage="Closed Won"))
    changed = invoices.evaluate(RID, deal(stage="Closed Lost"))
    assert isinstance(made, Create) and isinstance(changed, Update)
    state = invoices.document(RID)
    assert state is not None and state.trigger is not None
    assert state.trigger.values == {**made.fields, "status": "void"}
    assert state.trigger.outcome == "lost"
    assert state.wire_values("status") == [(TRIGGER, "void")]
    assert state.counter(TRIGGER) == 2 and state.attention


def test_a_trigger_made_document_is_planned_to_its_only_side_alone(invoices):
    """A module syncing both ways plans the document to Books only, never to CRM."""
    invoices.evaluate(RID, deal(stage="Closed Won"))
    state = invoices.document(RID)
    assert state is not None
    policy = ModulePolicy("invoices", (CRM, BOOKS), Direction(Sync.BOTH_WAYS))
    writes = plan(state, policy).writes
    assert [(w.side, w.id) for w in writes] == [(BOOKS, None)]
    assert writes[0].values["status"] == "draft"
    assert writes[0].values["lines"][0]["rate"] == {"$decimal": "1200.5"}


def test_a_record_without_a_trigger_is_planned_to_every_target_as_before():
    """No ``tg``: ``only`` is None and the plan goes to both sides."""
    journal = Journal(":memory:", RecordReducer())
    try:
        journal.append(
            [
                new_entry(
                    Observed(id="5"),
                    "invoices",
                    "crm:5",
                    CRM,
                    dot=Dot(CRM, 1),
                    context=VectorClock(),
                    fields={"status": "draft"},
                )
            ]
        )
        state = journal.record("invoices", "crm:5")
        assert state is not None and state.trigger is None and state.only is None
        policy = ModulePolicy("invoices", (CRM, BOOKS), Direction(Sync.BOTH_WAYS))
        assert [w.side for w in plan(state, policy).writes] == [BOOKS]
    finally:
        journal.close()


def test_a_persons_books_edit_after_the_push_supersedes_the_triggers_value(invoices):
    """Books read after our write has seen the trigger's dot: its edit is the one value,
    no conflict; the trigger's next change of another field leaves it."""
    invoices.evaluate(RID, deal(stage="Closed Won"))
    invoices.push(RID)
    invoices.person_edits(RID, subject="By hand")
    state = invoices.document(RID)
    assert state is not None
    assert state.wire_values("subject") == [(BOOKS, "By hand")]
    invoices.evaluate(RID, deal(stage="Closed Won", amount=Decimal(7)))
    state = invoices.document(RID)
    assert state is not None and state.wire_values("subject") == [(BOOKS, "By hand")]
    assert not any(reg.in_conflict for reg in state.fields.values())


def test_skips_and_associations_change_no_state():
    """A TriggerSkipped or DealAssociation entry makes no record and leaves one as it was."""
    docs = Documents(QUOTE)
    try:
        docs.evaluate(RID, deal(customer=None))  # journals a skip on the deal
        assert docs.journal.record("deals", RID) is None
        assert docs.document(RID) is None
        docs.evaluate(RID, deal())
        before = docs.document(RID)
        association = DealAssociation(
            document="estimate/1",
            deal="1",
            deal_name="Big order",
            action="associate",
            by="person",
            number=None,
        )
        skipped = TriggerSkipped(trigger="quote", outcome=None, reason="r", document="quote:crm:1")
        docs.journal.append(
            [
                new_entry(association, "deals", RID),
                new_entry(skipped, "deals", RID),
                new_entry(skipped, "estimates", "quote:crm:1"),
            ]
        )
        assert docs.journal.record("deals", RID) is None
        assert docs.document(RID) == before
        kinds = [e.kind for e in docs.journal.history(RID, module="deals")]
        assert kinds == [Kind.TRIGGER, Kind.TRIGGER, Kind.TRIGGER]
    finally:
        docs.close()


def test_a_journal_with_trigger_entries_replays_to_its_live_state(tmp_path):
    """Creates, updates, skips, associations, pushes and a person's edit: the replay of
    the journal equals the live state, and the chain verifies."""
    docs = Documents(QUOTE)
    docs.journal.close()
    docs.journal = Journal(tmp_path / "j.db", RecordReducer())
    try:
        docs.evaluate("crm:2", deal(customer=None))
        docs.evaluate(RID, deal())
        docs.push(RID)
        docs.evaluate(RID, deal(stage="Closed Won"))
        docs.push(RID)
        docs.person_edits(RID, subject="By hand")
        docs.evaluate(RID, deal(stage="Closed Lost", amount=Decimal(3)))
        association = DealAssociation(
            document="invoice/9",
            deal="1",
            deal_name=None,
            action="dissociate",
            by="person",
            number="INV-1",
        )
        docs.journal.append([new_entry(association, "deals", RID)])
        live = docs.document(RID)
        result = verify(docs.journal)
        assert result.ok, result.problem
        rebuild(docs.journal)
        assert docs.document(RID) == live
        assert live is not None and live.trigger is not None
        assert live.trigger.values["status"] == "declined"
    finally:
        docs.close()


def test_sent_read_from_books_mid_way_to_accepted_does_not_undo_the_triggers_accepted():
    """A crash between Books' two status moves (draft -> sent -> accepted): the pull after
    reads sent, concurrent with the trigger's accepted; the trigger's value stands, the
    plan sends accepted again, and a later loss still declines the quote."""
    docs = Documents(QUOTE)
    try:
        docs.evaluate(RID, deal())
        docs.push(RID)
        docs.evaluate(RID, deal(stage="Closed Won"))
        docs.person_edits(RID, status="sent")  # Books' first move landed, then the crash
        state = docs.document(RID)
        assert state is not None
        assert sorted(state.wire_values("status")) == [(BOOKS, "sent"), (TRIGGER, "accepted")]
        docs.push(RID)
        assert docs.books_values(RID)["status"] == "accepted"  # type: ignore[index]
        lost = docs.evaluate(RID, deal(stage="Closed Lost"))
        assert isinstance(lost, Update) and lost.fields == {"status": "declined"}
    finally:
        docs.close()


@pytest.mark.parametrize("policy", ["newest", "prefer:books", "manual"])
def test_a_deal_triggers_value_wins_over_a_concurrent_sides_under_every_policy(policy):
    """Whatever the module's conflict policy, a trigger's sibling is the visible value,
    and the reason says so."""
    early = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    late = early + dt.timedelta(hours=1)
    siblings = [
        Sibling(Dot(TRIGGER, 2), "accepted", early),
        Sibling(Dot(BOOKS, 3), "sent", late),
    ]
    decision = ConflictPolicy.parse(policy, (BOOKS, CRM)).choose(siblings, (BOOKS, CRM))
    assert decision.winner is not None and decision.winner.value == "accepted"
    assert "deal trigger's value wins over books's" in decision.reason
