"""The hash chain checked by a fold's own reads (``journal.replay._Tally``: a fold by record
of a journal of format 3 reads each row once for both): a sound journal is never read
again in seq order, and an edited one is reported as the check in seq order reports it,
the same entry and words, by one process or two."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conflicts import RecordReducer
from journal import IntegrityError, Journal, replay, verify, verify_chain
from journal.store import TRIGGERS
from tests.journal.test_shared_chain import KEY, RECORDS, _build, _edit
from tests.journal.test_trust import raw

# edits of a value's storage class, which the chain hashes as SQLite's text of it
TYPED = {
    # the same bytes as a blob: SQLite's text of it is the text hashed, the chain holds
    "meta-blob": "UPDATE entries SET meta = CAST(meta AS BLOB) WHERE seq = ?",
    "rid-integer": "UPDATE entries SET rid = 7 WHERE seq = ?",
    "fields-real": "UPDATE entries SET fields = 1.5 WHERE seq = ?",
    "digest-text": "UPDATE entries SET digest = lower(hex(digest)) WHERE seq = ?",
    "micros-text": "UPDATE entries SET micros = CAST(micros AS TEXT) WHERE seq = ?",
}
# rows added where no entry is (a seq before the first, a gap after the last)
ADDED = {
    "before": "INSERT INTO entries (seq, micros, module, rid, side, kind, dot, context, "
    "fields, meta, digest) SELECT 0, micros, module, rid, side, kind, dot, context, fields, "
    "meta, digest FROM entries WHERE seq = ?",
    "gap": "INSERT INTO entries (seq, micros, module, rid, side, kind, dot, context, fields, "
    "meta, digest) SELECT (SELECT max(seq) FROM entries) + 2, micros, module, rid, side, kind, "
    "dot, context, fields, meta, digest FROM entries WHERE seq = ?",
}


def _sql_edit(path: Path, sql: str, seq: int) -> None:
    with raw(path) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute(sql, (seq,))
        for text in TRIGGERS.values():
            conn.execute(text)


def _seq_order(journal: Journal) -> tuple[Any, ...]:
    """The check in seq order by one process: ok and the count, or the first fault."""
    try:
        return ("ok", verify_chain(journal, workers=1))
    except IntegrityError as exc:
        return ("fault", exc.seq, str(exc))


def _rebuilt(journal: Journal, workers: int) -> tuple[Any, ...]:
    try:
        return ("ok", replay.rebuild(journal, workers=workers))
    except IntegrityError as exc:
        return ("fault", exc.seq, str(exc))
    except Exception as exc:  # a fold that fails on a journal whose chain checks out
        return ("failed", type(exc).__name__)


def _edited(path: Path, how: str, seq: int) -> None:
    if how in TYPED:
        _sql_edit(path, TYPED[how], seq)
    elif how in ADDED:
        _sql_edit(path, ADDED[how], seq)
    else:
        _edit(path, how, seq)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    how=st.sampled_from(
        [
            "fields",
            "nul",
            "digest",
            "prev",
            "as-text",
            "delete",
            "rechained",
            "at-nul",
            *TYPED,
            *ADDED,
        ]
    ),
    seq=st.integers(1, 2 * RECORDS),
    keyed=st.booleans(),
    workers=st.sampled_from([1, 2]),
)
def test_an_edit_found_by_the_folds_reads_names_the_entry_the_seq_order_check_names(
    how, seq, keyed, workers
):
    """A journal edited one way at one entry: a rebuild (the chain checked by the fold's
    reads) fails with the fault the check in seq order finds, word for word, or, when
    that check finds none, does what a fold of the entries does; verify names the same
    first entry."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.db"
        key = KEY if keyed else None
        _build(path, key)
        _edited(path, how, seq)
        with Journal(path, RecordReducer(), key=key, rebuild_state=False) as journal:
            expected = _seq_order(journal)
            result = verify(journal, workers=workers)
            if expected[0] == "fault":
                assert _rebuilt(journal, workers) == expected
                assert not result.chain_ok and result.first_bad_seq == expected[1]
                assert expected[2] in result.problems
            else:
                assert result.chain_ok
                assert _rebuilt(journal, workers)[0] in ("ok", "failed")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_sound_journal_is_replayed_and_verified_without_a_check_in_seq_order(
    tmp_path, monkeypatch, workers
):
    """An intact journal of format 3: rebuild and verify check its chain in the fold's own
    reads (no row read again in seq order), and the state replayed is the live one."""
    path = tmp_path / "j.db"
    _build(path, KEY)

    def refused(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("the chain was read again in seq order")

    with Journal(path, RecordReducer(), key=KEY) as journal:
        live = journal.conn.execute("SELECT * FROM records ORDER BY module, rid").fetchall()
        monkeypatch.setattr(replay, "verify_chain", refused)
        monkeypatch.setattr(replay, "check_span", refused)
        result = verify(journal, workers=workers)
        assert result.ok and result.entries == journal.last_seq
        assert replay.rebuild(journal, workers=workers) == journal.last_seq
        again = journal.conn.execute("SELECT * FROM records ORDER BY module, rid").fetchall()
        assert again == live


@pytest.mark.parametrize("workers", [1, 2])
def test_a_value_stored_as_a_blob_of_its_bytes_leaves_the_verdict_to_the_seq_order_check(
    tmp_path, monkeypatch, workers
):
    """A text stored as a blob of the same bytes hashes as it did (SQLite's text of it):
    the fold's reads doubt it, the check in seq order is asked and finds the chain sound,
    as it did before the fold checked the chain."""
    path = tmp_path / "j.db"
    _build(path, KEY)
    _sql_edit(path, TYPED["meta-blob"], 5)
    asked: list[int] = []
    checked = replay.verify_chain

    def counted(journal: Journal, *args: Any, **kwargs: Any) -> int:
        asked.append(1)
        return checked(journal, *args, **kwargs)

    with Journal(path, RecordReducer(), key=KEY, rebuild_state=False) as journal:
        assert _seq_order(journal) == ("ok", journal.last_seq)
        monkeypatch.setattr(replay, "verify_chain", counted)
        result = verify(journal, workers=workers)
        assert result.chain_ok and asked


def test_a_tally_counts_only_the_entries_of_its_moment():
    """Rows after the last entry of the check's moment (appended since) are neither
    counted nor doubted; a row numbered below 1 is a doubt."""
    tally = replay._Tally(None, None, 0)
    rows = [
        (1, 0, "m", None, None, "k", None, None, "{}", "{}", b"", None),
    ]
    assert [r[0] for r in tally.rows(rows)] == [1]
    assert tally.checked == 0 and not tally.faulty and tally.whole
    low = replay._Tally(None, None, 5)
    low.rows([(0, 0, "m", None, None, "k", None, None, "{}", "{}", b"", None)])
    assert low.faulty and not low.whole
