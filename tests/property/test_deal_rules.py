"""The deal trigger laws (issue 13), over random lives of one deal: creations, stage changes
back and forth among stages of probability 0 to 100 (and one the metadata does not know),
new amounts, names and accounts (or none), callback re-deliveries, crashes between a
decision and its push or between Books' moves of an estimate through sent, a person
marking the document sent, and journal replays.

The rules (:func:`conflicts.deals.decide`) run over a real journal and reducer with a fake
Books (:class:`tests.conflicts.deal_docs.Documents`).  Laws: at most one document per deal
and trigger, made in Books alone; a decision journaled, the same deal decides nothing
again; the replay of the journal is its live state; and once everything is delivered and
pushed, the document's status follows the last won / lost state the trigger saw since it
made it (its first status when none), unless a person marked it sent before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import event, given, note
from hypothesis import strategies as st

from conflicts.deals import Create, Skip, TriggerSpec, Update, outcome
from journal import rebuild
from tests.conflicts.deal_docs import BOOKS, INVOICE, QUOTE, STAGES, Documents, deal

RID = "crm:1"
SPECS = (QUOTE, INVOICE, TriggerSpec("quote", "estimates", "Proposal/Price Quote"))
STATUS = {
    "quote": {"won": "accepted", "lost": "declined"},
    "invoice": {"won": "draft", "lost": "void"},
}

# stage changes are the most of a deal's life; won and lost come often
_stage = st.tuples(
    st.just("stage"), st.sampled_from([*STAGES, "Closed Won", "Closed Lost", "Mystery"])
)
_change = st.one_of(
    _stage,
    _stage,
    _stage,
    st.tuples(st.just("amount"), st.decimals(0, 10_000, places=2) | st.none()),
    st.tuples(st.just("name"), st.sampled_from(["Big order", "Bigger order", "Pumps"])),
    st.tuples(st.just("customer"), st.sampled_from([None, "crm:acct1", "crm:acct2"])),
)
# after a change: delivered and pushed; delivered with no push before the next delivery (a
# crash between the decision and its outcome); delivered twice (a re-delivered callback or
# a polling overlap) and pushed; not delivered (a change the next poll reads with more); or
# delivered and pushed with a crash between Books' moves of an estimate through sent
_delivery = st.sampled_from(["push", "crash", "twice", "none", "midway"])
# then, sometimes: a person marks the document sent in Books, or the journal is replayed
_then = st.sampled_from([None, None, "sent", "replay"])
_step = st.tuples(_change, _delivery, _then)


@given(spec=st.sampled_from(SPECS), steps=st.lists(_step, min_size=1, max_size=25))
def test_a_deal_makes_at_most_one_document_whose_status_follows_it_unless_sent(spec, steps):
    """At most one document per deal and trigger, in Books alone; a journaled decision is
    not decided again; the replay equals the live state; the final status follows the last
    won / lost state seen since the create unless a person marked the document sent."""
    docs = Documents(spec)
    try:
        values: dict[str, Any] = deal()
        creates = 0
        sent = False
        status: str | None = None  # what the document's status should be in the end

        def deliver() -> None:
            nonlocal creates, status
            decision = docs.evaluate(RID, values)
            note(f"{values['stage']}, {values['customer']}: {decision}")
            if isinstance(decision, (Create, Update)):
                assert docs.decide(RID, values) is None  # idempotent once journaled
            if isinstance(decision, Create):
                creates += 1
                status = decision.fields["status"]
            out = outcome(values["stage"], STAGES)
            if docs.document(RID) is not None and out in ("won", "lost") and not sent:
                status = STATUS[spec.name][out]
            if isinstance(decision, Skip) and out is not None and not sent:
                assert docs.document(RID) is None  # only a document sent is left alone

        for (field, value), delivery, then in steps:
            values[field] = value
            if delivery != "none":
                deliver()
            if delivery == "twice":
                deliver()
            if delivery in ("push", "twice"):
                docs.push(RID)
            elif delivery == "midway":
                docs.push(RID, crash_on_the_way=True)
            if then == "sent":
                state = docs.document(RID)
                books = docs.books_values(RID)
                if (
                    state is not None
                    and not state.dirty
                    and books is not None
                    and books.get("status") == "draft"
                ):
                    docs.person_edits(RID, status="sent")
                    sent = True
            elif then == "replay":
                live = docs.document(RID)
                rebuild(docs.journal)
                assert docs.document(RID) == live
        deliver()
        docs.push(RID)
        event(f"documents: {creates}, sent: {sent}")

        assert creates <= 1 and docs.creates <= 1 and len(docs.books) <= 1
        assert docs.crm_writes == 0
        assert (docs.document(RID) is None) is (creates == 0)
        books = docs.books_values(RID)
        if creates:
            assert books is not None
            assert books["status"] == ("sent" if sent else status)
            assert books["deal"] == "1"
    finally:
        docs.close()


def test_the_deal_laws_see_a_lost_deal_won_again():
    """A known example the laws cover: an invoice made, voided, then drafted again."""
    docs = Documents(INVOICE)
    try:
        for stage in ("Closed Won", "Closed Lost", "Negotiation", "Closed Won"):
            docs.evaluate(RID, deal(stage=stage))
            docs.push(RID)
        books = docs.books_values(RID)
        assert books is not None and books["status"] == "draft" and docs.creates == 1
        state = docs.document(RID)
        assert state is not None and state.held_wire(BOOKS) is not None
    finally:
        docs.close()


def test_amounts_never_pass_through_float():
    """The line's rate is the deal's Decimal amount, exact."""
    docs = Documents(INVOICE)
    try:
        docs.evaluate(RID, deal(stage="Closed Won", amount=Decimal("0.10")))
        docs.push(RID)
        books = docs.books_values(RID)
        assert books is not None
        rate = books["lines"][0]["rate"]
        assert type(rate) is Decimal and rate == Decimal("0.1")
    finally:
        docs.close()
