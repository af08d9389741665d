"""Two writers of one journal at once (two workers of a fleet, two processes on one file):
each append chains from the head the other committed, and each fold starts from the
state the other left, whatever either kept in memory."""

from __future__ import annotations

import threading
from typing import Any

from tests.journal.contract.backends import Harness
from tests.journal.contract.test_contract import KEY, Folding, fixed_now, observed

ROUNDS = 15


def test_two_writers_at_once_chain_and_fold_one_after_the_other(store: Harness):
    location = store.location()
    writers: list[Any] = [
        store.backend.open(location, Folding(), key=KEY, now=fixed_now) for _ in range(2)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(journal: Any, side: str) -> None:
        try:
            start.wait()
            for n in range(1, ROUNDS + 1):
                # both touch the shared record: a fold from a stale state would lose a count
                journal.append([observed("crm:shared", n, side=side, **{side: n})])
                journal.append([observed(f"{side}:own", n, side=side, name=f"{side} {n}")])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(j, side))
        for j, side in zip(writers, ("crm", "books"), strict=True)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        first, second = writers
        assert [e.seq for e in first.read()] == list(range(1, 4 * ROUNDS + 1))
        # a transaction reads what the other committed (outside one, a journal may answer
        # from what it kept: as of its own last transaction)
        with second.transaction():
            shared = second.record("customers", "crm:shared")
        assert shared["n"] == 2 * ROUNDS
        assert shared["fields"] == {"crm": ROUNDS, "books": ROUNDS}
        with first.transaction():
            assert first.record("customers", "crm:shared") == shared
        found = store.backend.verify(first)
        assert found.ok and found.entries == 4 * ROUNDS, found.problem
    finally:
        for journal in writers:
            journal.close()
