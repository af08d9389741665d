"""Anchors over every backend: a journal's heads are kept outside it (a file beside a
SQLite journal, a table outside a PostgreSQL journal's schema), and the check before a
write finds a journal that no longer holds an anchored head."""

from __future__ import annotations

from journal.anchors import Anchor, check_anchors, check_tail, write_anchor
from tests.journal.contract.backends import Harness
from tests.journal.contract.test_contract import KEY, Folding, fixed_now, observed, three


def test_the_head_is_anchored_once_outside_the_journal(store: Harness):
    """write_anchor appends the head to the journal's anchor log, once per head; the log
    gives them back in order and the last one is the head."""
    location = store.location()
    with store.backend.open(location, Folding(), key=KEY, now=fixed_now) as journal:
        log = journal.anchor_log()
        assert log is not None and log.last() is None and log.read() == ([], [])
        assert write_anchor(journal) is None  # empty: nothing to anchor
        journal.append(three())
        first = write_anchor(journal)
        assert write_anchor(journal) is None  # the same head again
        journal.append([observed("crm:2", 1, name="Initech")])
        second = write_anchor(journal)
        assert first is not None and second is not None
        assert (first.seq, second.seq) == (3, 4)
        assert (second.hash, second.at) == (journal.head()[1], fixed_now())
        anchors, problems = log.read()
        assert [(a.seq, a.hash) for a in anchors] == [(3, first.hash), (4, second.hash)]
        assert problems == [] and log.last() == anchors[-1]
        assert check_anchors(journal, anchors).ok
        assert check_tail(journal, log.last()) is None
        assert journal.hashes([4, 3, 99]) == {3: first.hash, 4: second.hash}


def test_a_journal_replaced_by_a_new_one_fails_the_check_before_a_write(store: Harness):
    """A journal thrown away and made again at its location (a bad restore, a deleted
    file or schema) still has its anchors: the check before a write refuses it."""
    location = store.location()
    with store.backend.open(location, Folding(), key=KEY, now=fixed_now) as journal:
        journal.append(three())
        anchored = write_anchor(journal)
    assert anchored is not None
    store.drop(location)
    with store.backend.open(location, Folding(), key=KEY, now=fixed_now) as again:
        again.append([observed("crm:9", 1, name="Hooli")])
        log = again.anchor_log()
        last = None if log is None else log.last()
        assert last is not None and (last.seq, last.hash) == (anchored.seq, anchored.hash)
        problem = check_tail(again, last)
        assert problem is not None and "ends at entry 1" in problem


def test_an_anchor_that_names_another_hash_is_reported(store: Harness):
    """An anchor whose hash is not the one the journal holds at its seq fails the check
    (the entries up to it were rewritten)."""
    with store.backend.open(store.location(), Folding(), key=KEY, now=fixed_now) as journal:
        journal.append(three())
        wrong = Anchor(2, "0" * 64)
        result = check_anchors(journal, [wrong])
        assert not result.ok and "entry 2 does not match" in (result.problem or "")
