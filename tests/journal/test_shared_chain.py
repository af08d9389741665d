"""The chain check shared by processes (``journal.replay``: a span of entries each, beside
the fold): on any edited journal, 1 and N processes give the same verdict and the same
first fault, for keyed and unkeyed chains and with anchors."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conflicts import RecordReducer
from journal import Anchor, ChainKey, IntegrityError, Journal, replay, verify, verify_chain
from journal.anchors import check_span
from journal.store import TRIGGERS
from tests.conflicts.test_apply_row import _sync
from tests.journal.tamper import nul_in_time, rechain, time_column
from tests.journal.test_store import CountingReducer
from tests.journal.test_trust import entry, raw

KEY = ChainKey(bytes(range(32)))
RECORDS = 14  # two entries each
# an applied write's reference to its observation (``[-1]``) made to name another entry
RENAME = (
    "UPDATE entries SET fields = CASE WHEN fields LIKE '[-%' THEN '[-1' || substr(fields, 3) "
    "ELSE replace(fields, 'Acme', 'Acne') END WHERE seq = ?"
)


def _build(path: Path, key: ChainKey | None) -> list[Anchor]:
    """A journal of a sync's entries over RECORDS records; anchors at a third and at the
    head."""
    with Journal(path, RecordReducer(), key=key) as journal:
        anchors = []
        for i in range(RECORDS):
            journal.append(_sync(f"books:{i:02d}"))
            if i in (RECORDS // 3, RECORDS - 1):
                seq, digest, _ = journal.head()
                anchors.append(Anchor(seq, digest))
    return anchors


def _edit(path: Path, how: str, seq: int) -> None:
    """Edit entry ``seq`` of the file ``how``, the append-only triggers put back."""
    with raw(path) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        if how == "fields":
            conn.execute(RENAME, (seq,))
        elif how == "nul":
            conn.execute("UPDATE entries SET meta = meta || char(0) || 'x' WHERE seq = ?", (seq,))
        elif how == "digest":
            conn.execute("UPDATE entries SET digest = zeroblob(32) WHERE seq = ?", (seq,))
        elif how == "prev" and time_column(conn) == "micros":  # format 3 stores no link
            conn.execute("UPDATE entries SET micros = micros + 1 WHERE seq = ?", (seq,))
        elif how == "prev":
            conn.execute("UPDATE entries SET prev = x'01' || zeroblob(31) WHERE seq = ?", (seq,))
        elif how == "as-text":
            conn.execute("UPDATE entries SET digest = lower(hex(digest)) WHERE seq = ?", (seq,))
        elif how == "delete":
            conn.execute("DELETE FROM entries WHERE seq = ?", (seq,))
        elif how in ("rechained", "at-nul"):  # edited, the hashes from it made again unkeyed
            if how == "rechained":
                conn.execute(RENAME, (seq,))
            else:
                nul_in_time(conn, seq)
            rechain(conn, seq)
        for sql in TRIGGERS.values():
            conn.execute(sql)


def _chain(journal: Journal, workers: int) -> tuple[Any, ...]:
    try:
        return ("ok", verify_chain(journal, workers=workers))
    except IntegrityError as exc:
        return ("fault", exc.seq, str(exc))


def _verdict(journal: Journal, anchors: list[Anchor], workers: int) -> Any:
    return verify(journal, anchors=anchors, workers=workers)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    how=st.sampled_from(
        ["fields", "nul", "digest", "prev", "as-text", "delete", "rechained", "at-nul"]
    ),
    seq=st.integers(1, 2 * RECORDS),
    keyed=st.booleans(),
    workers=st.sampled_from([2, 3]),
)
def test_one_and_many_processes_give_the_same_verdict_and_first_fault(how, seq, keyed, workers):
    """A journal edited one way at one entry: its chain check and its verify (chain,
    anchors, replay) by N processes say what one process says, word for word."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.db"
        key = KEY if keyed else None
        anchors = _build(path, key)
        _edit(path, how, seq)
        with Journal(path, RecordReducer(), key=key, rebuild_state=False) as journal:
            one = _chain(journal, 1)
            # (an entry deleted at the end, or one rechained without a key: no fault)
            assert one[0] == "fault" or how in ("delete", "rechained", "at-nul")
            assert _chain(journal, workers) == one
            assert _verdict(journal, anchors, workers) == _verdict(journal, anchors, 1)


@pytest.mark.parametrize("workers", [2, 3])
def test_a_shared_check_of_a_whole_journal_passes_and_replays_as_one_process(tmp_path, workers):
    """An intact journal: every span checks out, verify by N processes is ok, and a
    rebuild by N processes checks and folds every entry."""
    path = tmp_path / "j.db"
    anchors = _build(path, KEY)
    with Journal(path, RecordReducer(), key=KEY) as journal:
        assert _chain(journal, workers) == ("ok", journal.last_seq)
        result = _verdict(journal, anchors, workers)
        assert result.ok and result.anchors == 2 and result.problems == ()
        assert replay.rebuild(journal, workers=workers) == journal.last_seq


def test_spans_of_a_journal_check_what_the_whole_check_does(tmp_path):
    """Spans cut anywhere: the sum of their counts, each linked to the stored hash before
    it (the genesis for the first)."""
    path = tmp_path / "j.db"
    _build(path, None)
    with Journal(path, RecordReducer()) as journal:
        last = journal.last_seq
        for cut in range(0, last + 1, 5):
            assert check_span(journal, 0, cut) + check_span(journal, cut, last - cut) == last


def test_a_shared_chain_check_beside_a_fold_in_seq_order(tmp_path):
    """A reducer that folds in seq order (no fold by record): the chain's spans go to
    processes of their own, the fault found is the one-process one."""
    path = tmp_path / "j.db"
    with Journal(path, CountingReducer(), key=KEY) as journal:
        journal.append([entry(i) for i in range(1, 31)])
    _edit(path, "nul", 23)
    with Journal(path, CountingReducer(), key=KEY, rebuild_state=False) as journal:
        one = _verdict(journal, [], 1)
        assert one.first_bad_seq == 23
        assert _verdict(journal, [], 3) == one


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_finds_a_time_with_a_nul_appended_and_its_hash_made_again(tmp_path, workers):
    """Python's fromisoformat reads a time up to a NUL: an entry's time with a NUL
    appended, its hash and those after made again (an unkeyed chain allows it), still
    fails verify at that entry, named; a replay refuses it."""
    path = tmp_path / "j.db"
    _build(path, None)
    _edit(path, "at-nul", 9)
    with Journal(path, RecordReducer(), rebuild_state=False) as journal:
        assert _chain(journal, workers) == ("ok", journal.last_seq)
        result = verify(journal, workers=workers)
        assert not result.ok and result.chain_ok and result.first_bad_seq == 9
        assert "entry 9" in str(result.problem) and "its at" in str(result.problem)
        with pytest.raises(ValueError, match="entry 9"):
            replay.rebuild(journal, workers=workers)


def test_a_worker_that_fails_leaves_its_share_to_the_replays_own_process(tmp_path, monkeypatch):
    """Worker processes that die at once (a broken interpreter, killed): their spans are
    checked and their records folded by the replay's own process, the same tables and
    the same verdicts as one process, no hang."""
    path = tmp_path / "j.db"
    anchors = _build(path, KEY)
    with Journal(path, RecordReducer(), key=KEY) as journal:
        one = _verdict(journal, anchors, 1)
        target = replay.scratch(str(tmp_path / "one.db"))
        replay.replay_into(journal, target, workers=1)
        expected = target.execute("SELECT * FROM records ORDER BY 1, 2").fetchall()
        target.close()
        monkeypatch.setattr(replay, "_WORKER", "import sys; sys.exit(3)")
        assert _verdict(journal, anchors, 3) == one
        target = replay.scratch(str(tmp_path / "three.db"))
        assert replay.replay_into(journal, target, workers=3, chain=True) == journal.last_seq
        assert target.execute("SELECT * FROM records ORDER BY 1, 2").fetchall() == expected
        target.close()
    _edit(path, "fields", 20)
    with Journal(path, RecordReducer(), key=KEY, rebuild_state=False) as journal:
        assert _chain(journal, 3)[:2] == ("fault", 20)


def test_a_shared_replays_progress_counts_every_processs_rows(tmp_path):
    """The progress of a replay by three processes goes up to every entry folded, by
    this process and its workers, never past it nor back."""
    path = tmp_path / "j.db"
    _build(path, KEY)
    told: list[tuple[int, int]] = []
    with Journal(path, RecordReducer(), key=KEY) as journal:
        replay.rebuild(journal, lambda done, total: told.append((done, total)), workers=3)
        total = journal.last_seq
    assert told and told[-1] == (total, total)
    assert all(t == total and 0 <= done <= total for done, t in told)
    assert [done for done, _ in told] == sorted(done for done, _ in told)


def test_a_corrupt_index_fails_verify_by_many_processes_as_by_one(tmp_path):
    """SQLite's integrity check, made by a process of its own beside the chain check and
    the fold, finds an index that no longer matches its table: the same verification as
    one process's."""
    path = tmp_path / "j.db"
    anchors = _build(path, KEY)
    with raw(path) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX entries_record ON entries (rid, module)' "
            "WHERE name = 'entries_record'"
        )
    with Journal(path, RecordReducer(), key=KEY, rebuild_state=False) as journal:
        one = _verdict(journal, anchors, 1)
        assert not one.storage_ok and "entries_record" in str(one.problem)
        assert _verdict(journal, anchors, 2) == one
