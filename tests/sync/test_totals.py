"""Totals: each app's own, read on its side, never written; a difference is journaled
once per differing pair of figures and shown by status and history."""

from __future__ import annotations

import pytest

from journal.payloads import RetryIntent, new_entry
from replicator.sync import lifecycle
from replicator.sync.status import status_data
from tests.sync.backends import verify
from tests.sync.documents import Documents, over_both_backends  # noqa: F401 (autouse)

REASON = "totals differ: books 118.00, crm 117.99 (each app computes its own tax and rounding)"


@pytest.fixture
def docs(tmp_path):
    world = Documents(tmp_path)
    yield world
    world.close()


def invoice(docs, books_total="118.00"):
    """A Books draft invoice with its total, synced; returns (books id, crm id, rid)."""
    books_id = docs.books.insert(
        "invoices", {"reference": "INV-1", "status": "draft", "total": books_total}
    )
    docs.sync()
    rid = docs.rid("invoices", "books", books_id)
    return books_id, docs.side_id("invoices", rid, "crm"), rid


def test_totals_that_differ_are_journaled_once_with_both_figures(docs):
    """CRM computes 117.99 where Books has 118.00: one error entry (stage totals) against
    the record, and later cycles add none."""
    _, crm_id, rid = invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "117.99"})
    docs.sync()
    ((entry, error),) = docs.failures()
    assert error.stage == "totals" and error.reason == REASON
    assert entry.rid == rid and entry.side == "crm"
    assert docs.journal.record("invoices", rid).errors == {"crm": REASON}
    before = docs.journal.last_seq
    docs.sync()
    docs.sync()
    assert docs.journal.last_seq == before
    assert verify(docs.journal).ok


def test_the_same_difference_compared_again_is_not_journaled_again(docs):
    """A record planned again with nothing new (a person's `retry`) compares its totals
    again: the difference it shows already is not journaled twice."""
    _, crm_id, rid = invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "117.99"})
    docs.sync()
    docs.journal.append([new_entry(RetryIntent(retry=(rid,), by="test"), "invoices")])
    assert docs.journal.record("invoices", rid).attention
    docs.sync()
    assert not docs.journal.record("invoices", rid).attention
    assert len(docs.failures(stage="totals")) == 1


def test_a_new_pair_of_figures_is_journaled_again(docs):
    """A difference that changes (CRM now 117.98) is a new entry with the new figures."""
    _, crm_id, _ = invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "117.99"})
    docs.sync()
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "117.98"})
    docs.sync()
    reasons = [p.reason for _, p in docs.failures(stage="totals")]
    assert reasons == [REASON, REASON.replace("117.99", "117.98")]


def test_equal_totals_flag_nothing(docs):
    """118.00 on Books and 118 on CRM are one amount."""
    _, crm_id, _ = invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "118"})
    docs.sync()
    assert docs.failures() == []


def test_totals_are_never_written_and_a_change_of_one_sends_nothing(docs):
    """Neither total goes to the other side: a change of one alone writes nothing."""
    books_id, crm_id, _ = invoice(docs)
    sent = {side: len(docs.pushed[side]) for side in ("books", "crm")}
    docs.books.update("invoices", books_id, {"total": "120"})
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "120"})
    docs.sync()
    assert {side: len(docs.pushed[side]) for side in ("books", "crm")} == sent
    assert "grand_total" not in docs.books.rows("invoices")[books_id]
    assert docs.crm.rows("crm_invoices")[crm_id].get("total") is None
    for _, write in docs.pushed["crm"] + docs.pushed["books"]:
        assert "total" not in write.values and "grand_total" not in write.values


def test_a_total_is_not_compared_while_the_other_side_has_not_recomputed_its_own(docs):
    """A CRM edit of the lines goes to Books: Books' total is stale until Books is read
    again, so no difference is flagged in between (nor after, when Books agrees)."""
    books_id, crm_id, _ = invoice(docs, books_total="40")
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "40"})
    docs.sync()
    lines = [{"quantity": "5", "rate": "10"}]
    docs.crm.update("crm_invoices", crm_id, {"items": lines, "grand_total": "50"})
    docs.sync()
    assert docs.books.rows("invoices")[books_id]["line_items"][0]["rate"] == "10"
    assert docs.failures() == []
    docs.books.update("invoices", books_id, {"total": "50.00"})  # Books recomputed
    docs.sync()
    assert docs.failures() == []


def test_status_and_history_show_the_difference(docs):
    """`status` counts the record with an error and lists the run's difference; `history`
    has it among the run's failures, with both figures."""
    _, crm_id, rid = invoice(docs)
    docs.crm.update("crm_invoices", crm_id, {"grand_total": "117.99"})
    docs.sync()
    data = status_data(docs.config, docs.journal)
    invoices = next(m for m in data["modules"] if m["module"] == "invoices")
    assert invoices["records_with_errors"] == 1 and invoices["last_run_errors"] == 1
    (failure,) = data["last_run"]["errors"]
    assert failure["stage"] == "totals" and failure["reason"] == REASON
    assert failure["record"] == rid and failure["side"] == "crm"
    run = lifecycle.last_run(docs.journal)
    assert run is not None
    assert [f["reason"] for f in lifecycle.run_data(docs.journal, run)["failures"]] == [REASON]


def test_a_module_without_totals_compares_nothing(tmp_path):
    """No totals option: two differing one-sided amounts are just fields."""
    docs = Documents(tmp_path, totals=False)
    try:
        _, crm_id, _ = invoice(docs)
        docs.crm.update("crm_invoices", crm_id, {"grand_total": "1"})
        docs.sync()
        assert docs.failures() == []
    finally:
        docs.close()


def test_a_locked_record_whose_edit_was_kept_back_is_compared(docs):
    """A CRM edit the lock refused sends nothing: the totals are as each app holds them,
    so their difference is flagged in that same cycle."""
    books_id = docs.books.insert(
        "invoices", {"reference": "INV-1", "status": "sent", "total": "118.00"}
    )
    docs.sync()
    crm_id = docs.other_id("invoices", "books", books_id, "crm")
    docs.crm.update("crm_invoices", crm_id, {"description": "b", "grand_total": "117.99"})
    docs.sync()
    assert [p.stage for _, p in docs.failures()] == ["push", "totals"]
    assert docs.failures(stage="totals")[0][1].reason == REASON
