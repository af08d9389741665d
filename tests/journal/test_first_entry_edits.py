"""Entry 1 edited by hand in its storage class (an attacker with the file): the journal
still opens, whatever its chain, and verify names entry 1, as it names any later entry so
edited.  Opening hashes the first row to tell a keyed chain from a plain one; a value of a
type no entry is written with once made that raise a bare TypeError."""

from __future__ import annotations

from pathlib import Path

import pytest

from conflicts import RecordReducer
from journal import Journal, verify
from tests.journal.test_fused_chain import TYPED, _sql_edit
from tests.journal.test_shared_chain import KEY, _build

# the same time stored as its text: the same content hashed, no fault at any entry
SAME_CONTENT = {"micros-text"}


@pytest.mark.parametrize("keyed", [False, True])
@pytest.mark.parametrize("how", sorted(TYPED))
def test_an_edit_of_entry_one_opens_and_is_named_by_verify(tmp_path: Path, how: str, keyed: bool):
    key = KEY if keyed else None
    verdicts = {}
    for seq in (1, 5):
        path = tmp_path / f"{seq}.db"
        _build(path, key)
        _sql_edit(path, TYPED[how], seq)
        for rebuild_state in (False, True):
            with Journal(path, RecordReducer(), key=key, rebuild_state=rebuild_state) as journal:
                result = verify(journal)
                verdicts[seq, rebuild_state] = result.ok
                if how in SAME_CONTENT:
                    assert result.ok
                else:
                    assert not result.ok and result.first_bad_seq == seq, result.problems
                    assert result.problems
    assert len(set(verdicts.values())) == 1  # entry 1 is told as entry 5 is
