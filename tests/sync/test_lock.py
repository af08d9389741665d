"""The lock: Books owns a document once it is past draft; a CRM edit then is refused,
journaled and held (never retried in a loop), and Books changes keep flowing to CRM."""

from __future__ import annotations

import pytest

from journal import verify
from replicator.sync import lifecycle
from replicator.sync.status import status_data
from tests.sync.documents import Documents


@pytest.fixture
def docs(tmp_path):
    world = Documents(tmp_path)
    yield world
    world.close()


def sent_invoice(docs, status="sent"):
    """A Books invoice past draft, synced to CRM; returns (books id, crm id, rid)."""
    books_id = docs.books.insert("invoices", {"reference": "INV-1", "notes": "a", "status": status})
    docs.sync()
    rid = docs.rid("invoices", "books", books_id)
    return books_id, docs.side_id("invoices", rid, "crm"), rid


def test_a_crm_edit_of_a_sent_invoice_is_refused_journaled_and_held(docs):
    """The edit is not written to Books; the error entry names record, status and side;
    the record needs no attention, and the next cycle writes nothing (no retry loop)."""
    books_id, crm_id, rid = sent_invoice(docs)
    writes_before = len(docs.writes("books", "invoices"))
    docs.crm.update("crm_invoices", crm_id, {"description": "b"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["notes"] == "a"
    assert len(docs.writes("books", "invoices")) == writes_before
    ((entry, error),) = docs.failures(stage="push")
    assert entry.side == "books" and entry.rid == rid
    assert error.reason == (
        f"invoices record {rid} is sent in books: edits from crm reach books only while it "
        "is draft; refused (notes not written)"
    )
    assert not error.retry and error.attempt is None
    state = docs.journal.record("invoices", rid)
    assert not state.attention and state.retries == {}
    assert state.errors["books"] == error.reason
    before = docs.journal.last_seq
    docs.sync()
    docs.sync()
    assert docs.journal.last_seq == before  # held: nothing planned, nothing journaled
    assert verify(docs.journal).ok


def test_a_draft_lets_crm_edits_through(docs):
    """While Books holds the invoice as a draft, a CRM edit is written to Books."""
    books_id, crm_id, _ = sent_invoice(docs, status="draft")
    docs.crm.update("crm_invoices", crm_id, {"description": "b"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["notes"] == "b"
    assert docs.failures() == []


def test_a_void_from_crm_passes_a_sent_invoice(docs):
    """A write that only sets the status to a passes value (void) goes through."""
    books_id, crm_id, _ = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"stage": "Void"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["status"] == "void"
    assert docs.failures() == []


def test_a_void_with_another_edit_voids_and_refuses_the_edit(docs):
    """Void plus a changed description: the void goes through the lock on its own (a
    void propagates), the description is refused and journaled with the reason."""
    books_id, crm_id, rid = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"stage": "Void", "description": "b"})
    docs.sync()
    row = docs.books.rows("invoices")[books_id]
    assert row["status"] == "void" and row["notes"] != "b"
    ((_, error),) = docs.failures(stage="push")
    assert "refused (notes not written)" in error.reason


def test_a_status_other_than_passes_is_refused(docs):
    """Setting a sent invoice back to draft from CRM is an edit like any other: refused."""
    books_id, crm_id, _ = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"stage": "Draft"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["status"] == "sent"
    assert len(docs.failures(stage="push")) == 1


def test_books_back_to_draft_plans_the_held_crm_edit_again(docs):
    """A later change of the record (Books makes it a draft again) plans it: the CRM edit
    held since then reaches Books."""
    books_id, crm_id, rid = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"description": "b"})
    docs.sync()
    docs.books.update("invoices", books_id, {"status": "draft"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["notes"] == "b"
    assert docs.crm.rows("crm_invoices")[crm_id]["stage"] == "Draft"
    state = docs.journal.record("invoices", rid)
    assert "books" not in state.errors  # the write that went ends the refusal
    assert len(docs.failures(stage="push")) == 1


def test_books_changes_keep_flowing_to_crm_while_the_invoice_is_locked(docs):
    """Books edits reach CRM (its own concurrent edit loses under prefer:books); the
    held CRM edit is refused again, once per change, never in a loop."""
    books_id, crm_id, _ = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"description": "b", "subject": "Mine"})
    docs.sync()
    docs.books.update("invoices", books_id, {"notes": "c", "status": "overdue"})
    docs.sync()
    crm_row = docs.crm.rows("crm_invoices")[crm_id]
    assert crm_row["description"] == "c"  # Books' concurrent value wins (prefer:books)
    books_row = docs.books.rows("invoices")[books_id]
    assert books_row["reference"] == "INV-1" and books_row["notes"] == "c"
    refusals = docs.failures(stage="push")
    assert len(refusals) == 2
    assert "is overdue in books" in refusals[1][1].reason
    assert "refused (subject not written)" in refusals[1][1].reason
    before = docs.journal.last_seq
    docs.sync()
    assert docs.journal.last_seq == before


def test_a_create_is_never_locked(docs):
    """A CRM invoice already sent is created in Books (a create is no edit of Books'
    document); from then on Books owns it."""
    crm_id = docs.crm.insert("crm_invoices", {"subject": "Q1", "stage": "Sent", "description": "x"})
    docs.sync()
    (books_id, books_row) = next(iter(docs.books.rows("invoices").items()))
    assert books_row["status"] == "sent" and books_row["notes"] == "x"
    docs.crm.update("crm_invoices", crm_id, {"description": "y"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["notes"] == "x"
    assert len(docs.failures(stage="push")) == 1


def test_an_edit_books_cannot_see_is_no_refusal(docs):
    """A change of a field Books does not map (CRM's own total) sends Books nothing, so
    nothing is refused."""
    _, crm_id, _ = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "12.5"})
    docs.sync()
    assert docs.failures() == []


def test_status_and_history_show_the_refusal(docs):
    """`status` counts the record with an error and lists it among the last run's; the
    run's `history` entry has the failure with its stage and reason."""
    _, crm_id, rid = sent_invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"description": "b"})
    docs.sync()
    data = status_data(docs.config, docs.journal)
    invoices = next(m for m in data["modules"] if m["module"] == "invoices")
    assert invoices["records_with_errors"] == 1 and invoices["last_run_errors"] == 1
    (failure,) = data["last_run"]["errors"]
    assert failure["record"] == rid and failure["side"] == "books" and failure["stage"] == "push"
    run = lifecycle.last_run(docs.journal)
    assert run is not None
    history = lifecycle.run_data(docs.journal, run)
    assert [f["reason"] for f in history["failures"]] == [failure["reason"]]
    assert history["by_module"]["invoices"]["books"]["failed"] == 1


@pytest.mark.parametrize("first", ["books", "crm"])
def test_a_refusal_by_the_lock_keeps_another_sides_retry(tmp_path, first):
    """CRM refuses the Books change while the lock keeps the CRM edit from Books, in
    either order: CRM's write is still retried after its backoff, and goes."""
    docs = Documents(tmp_path, first=first)
    closed = [True]
    docs.crm.reject = lambda module, write: "CRM is busy" if closed[0] and write.id else None
    try:
        books_id, crm_id, rid = sent_invoice(docs)
        docs.crm.update("crm_invoices", crm_id, {"description": "b"})
        docs.books.update("invoices", books_id, {"reference": "INV-1b"})
        docs.sync()
        assert docs.crm.rows("crm_invoices")[crm_id]["subject"] == "INV-1"
        assert docs.journal.record("invoices", rid).attention  # CRM's retry is due later
        closed[0] = False
        docs.skip(hours=1)
        docs.sync()
        assert docs.crm.rows("crm_invoices")[crm_id]["subject"] == "INV-1b"
        assert docs.books.rows("invoices")[books_id]["notes"] == "a"
    finally:
        docs.close()
