"""The keyed chain, its upgrade, the anchors, the triggers and the file's own integrity."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
import shutil
import sqlite3
import stat

import pytest

from journal import (
    Anchor,
    ChainKey,
    ChainKeyError,
    Journal,
    Kind,
    NewEntry,
    anchor_path,
    check_tail,
    read_anchors,
    rebuild,
    verify,
    write_anchor,
)
from journal.anchors import chain_texts, check_anchors, last_anchor
from journal.entry import GENESIS, chain_text
from journal.store import CHAIN_RID, JOURNAL_MODULE, TRIGGERS
from tests.journal.tamper import insert_row, read_row, set_hashes, time_edit
from tests.journal.test_store import CountingReducer, fixed_now

SECRET = bytes(range(32))
KEY = ChainKey(SECRET)


def entry(n: int, rid: str | None = None) -> NewEntry:
    return NewEntry(Kind.OBSERVED, "customers", rid or f"crm:{n}", "crm", meta={"n": n})


def open_journal(path, key=KEY) -> Journal:
    return Journal(path, CountingReducer(), key=key, now=fixed_now)


def fill(path, n: int, key=KEY, *, start: int = 1) -> None:
    with open_journal(path, key) as journal:
        journal.append([entry(i) for i in range(start, start + n)])


def raw(path) -> contextlib.closing[sqlite3.Connection]:
    """The file as plain sqlite3 sees it: what someone with write access can do."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


def rechain(path, since: int, digest) -> None:
    """Recompute prev_hash and hash of every entry from ``since`` with ``digest`` (triggers
    dropped for it and put back afterwards, as an attacker who knows the schema would)."""
    with raw(path) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        found = conn.execute("SELECT hash FROM entries WHERE seq = ?", (since - 1,)).fetchone()
        prev = found[0] if found else GENESIS
        rows = conn.execute(
            "SELECT seq, at, module, rid, side, kind, dot, context, fields, meta FROM entries "
            "WHERE seq >= ? ORDER BY seq",
            (since,),
        ).fetchall()
        for row in rows:
            new = digest(chain_text(prev, *row))
            set_hashes(conn, row[0], prev, new)
            prev = new
        for sql in TRIGGERS.values():
            conn.execute(sql)


def plain_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wrong_key(data: bytes) -> str:
    return hmac.new(b"not the journal key, guessed...", data, hashlib.sha256).hexdigest()


# -- the keyed chain ----------------------------------------------------------------------


def test_a_keyed_journal_chains_entries_with_hmac_sha256_under_its_key(tmp_path):
    """Each hash is HMAC-SHA256 of the canonical row under the key, not a plain sha256."""
    path = tmp_path / "j.db"
    fill(path, 3)
    with raw(path) as conn:
        rows = [read_row(conn, seq) for seq in (1, 2, 3)]  # as the journal reads them
    for row in rows:
        data = chain_text(row[10], *row[:10])
        assert row[11] == hmac.new(SECRET, data, hashlib.sha256).hexdigest()
        assert row[11] != plain_sha256(data)
    with open_journal(path) as journal:
        assert journal.keyed_from == 1 and verify(journal).ok


@pytest.mark.parametrize("size", [16, 32, 64, 65, 200])
def test_a_chain_key_digest_is_hmac_sha256_for_keys_of_any_length(size):
    """The key's digest (two keyed sha256 states copied per entry) is exactly the standard
    library's HMAC-SHA256, for keys shorter than, equal to and longer than a block."""
    secret = bytes((i * 37 + size) % 256 for i in range(size))
    for data in (b"", b"x", "\x1f".join(["é", "1"] * 200).encode()):
        assert ChainKey(secret).digest(data) == hmac.new(secret, data, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("digest", [plain_sha256, wrong_key], ids=["plain-sha256", "wrong-key"])
def test_an_edit_with_every_later_hash_recomputed_without_the_key_fails(tmp_path, digest):
    """Editing an entry and recomputing the rest of the chain without the key (plain sha256,
    or HMAC under a guessed key) fails verification at the edited entry."""
    path = tmp_path / "j.db"
    fill(path, 10)
    with raw(path) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute("UPDATE entries SET meta = '{\"n\":99}' WHERE seq = 4")
        conn.execute(TRIGGERS["entries_no_update"])
    rechain(path, 4, digest)
    with open_journal(path) as journal:
        result = verify(journal)
    assert not result.ok and not result.chain_ok and result.first_bad_seq == 4
    assert "entry 4" in str(result.problem) and "keyed hash" in str(result.problem)


def test_sqlite_makes_the_canonical_text_of_a_row_as_chain_text_does(tmp_path):
    """The chain check hashes the text SQLite makes of a stored row after its link, the
    link's hex in front: the same bytes as chain_text, with empty text for NULL columns
    and non-ASCII values."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append(
            [
                NewEntry(Kind.CONFIG, "@journal", meta={"why": "caf\u00e9 \u2603"}),
                NewEntry(Kind.OBSERVED, "customers", "crm:1", "crm", fields={"name": "\u00c5sa"}),
            ]
        )
        made = [row for rows in journal.chain_batches(batch=1) for row in rows]
        stored = [row for rows in journal.row_batches() for row in rows]
    texts = chain_texts([row[10] for row in stored], [r[3] for r in made])
    assert texts == [chain_text(row[10], *row[:10]) for row in stored]
    hashes = [(r[0], r[1].hex(), r[2].hex()) for r in made]  # formats 2 and 3: their bytes
    assert hashes == [(row[0], row[10], row[11]) for row in stored]


@pytest.mark.parametrize("column", ["fields", "meta", "rid", "at"])
def test_an_edit_that_appends_a_nul_and_more_to_a_column_fails(tmp_path, column):
    """Text added after a NUL character is part of what is hashed: the edit is found."""
    path = tmp_path / "j.db"
    fill(path, 12)
    with raw(path) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        edit = f"{column} = {column} || char(0) || 'x'"
        conn.execute(f"UPDATE entries SET {time_edit(conn, edit)} WHERE seq = 7")
    with open_journal(path) as journal:
        result = verify(journal)
    assert not result.chain_ok and result.first_bad_seq == 7


def test_a_forged_append_with_a_correct_unkeyed_hash_fails(tmp_path):
    """A row added by plain sqlite3 with a well-formed sha256 link to the head is named."""
    path = tmp_path / "j.db"
    fill(path, 5)
    with raw(path) as conn:
        (prev,) = conn.execute("SELECT hash FROM entries WHERE seq = 5").fetchone()
        row = (6, "2026-11-27T12:00:00.000000+00:00", "customers", "crm:9", "crm", "observed")
        rest = (None, None, "{}", "{}")
        insert_row(conn, (*row, *rest, prev, plain_sha256(chain_text(prev, *row, *rest))))
    with open_journal(path) as journal:
        result = verify(journal)
        tail = check_tail(journal, None)
    assert not result.ok and result.first_bad_seq == 6
    assert tail is not None and "entry 6" in tail


def test_a_keyed_journal_is_not_written_without_its_key(tmp_path):
    """Opened without the key, a keyed journal refuses appends and cannot be verified."""
    path = tmp_path / "j.db"
    fill(path, 2)
    with Journal(path, CountingReducer()) as journal:
        assert journal.keyed_from == 1
        with pytest.raises(ChainKeyError, match="journal key"):
            journal.append([entry(3)])
        result = verify(journal)
    assert not result.ok and "no journal key" in str(result.problem)


def test_the_key_never_shows_in_its_repr():
    """A ChainKey prints as *** (it may end up in a log line or an error)."""
    assert repr(KEY) == str(KEY) == "ChainKey(***)"
    assert SECRET.hex() not in repr(KEY)


def test_a_key_that_is_too_short_or_not_hex_is_refused():
    """Key text is hex of at least 16 bytes."""
    with pytest.raises(ChainKeyError):
        ChainKey.from_text("abcd")
    with pytest.raises(ChainKeyError):
        ChainKey.from_text("zz" * 32)
    key, text = ChainKey.generate()
    assert len(text) == 64 and ChainKey.from_text(text).digest(b"x") == key.digest(b"x")


# -- the upgrade of an unkeyed journal ----------------------------------------------------


def test_an_unkeyed_journal_verifies_as_before_and_is_upgraded_by_a_journaled_entry(tmp_path):
    """A plain sha256 chain verifies without a key; upgrade() appends a config entry saying
    from which seq the chain is keyed; entries before it verify as unkeyed, after it keyed."""
    path = tmp_path / "j.db"
    fill(path, 4, key=None)
    with Journal(path, CountingReducer()) as journal:
        assert journal.keyed_from is None and verify(journal).ok
    with open_journal(path) as journal:
        assert journal.needs_upgrade
        marker = journal.upgrade()
        assert marker is not None and marker.seq == 5 and marker.kind is Kind.CONFIG
        assert (marker.module, marker.rid) == (JOURNAL_MODULE, CHAIN_RID)
        assert marker.meta["keyed_from"] == 5 and marker.meta["unkeyed"] == [1, 4]
        assert journal.upgrade() is None  # once
        journal.append([entry(6)])
        result = verify(journal)
    assert result.ok and result.keyed_from == 5 and result.unkeyed == 4
    with open_journal(path) as journal:
        assert journal.keyed_from == 5 and verify(journal).ok


def test_an_unkeyed_journal_is_not_written_while_a_key_is_in_use(tmp_path):
    """With a key given, an unkeyed chain is refused for writing and fails verification
    until upgraded: it may be a keyed chain recomputed without the key."""
    path = tmp_path / "j.db"
    fill(path, 3, key=None)
    with open_journal(path) as journal:
        with pytest.raises(ChainKeyError, match="upgrade"):
            journal.append([entry(4)])
        result = verify(journal)
        assert not result.ok and "no entry is keyed" in str(result.problem)
        assert "unkeyed" in str(check_tail(journal, None))


def test_a_keyed_chain_rewritten_as_an_unkeyed_one_fails_while_the_key_is_in_use(tmp_path):
    """Rewriting a whole keyed journal with plain sha256 (a downgrade) does not verify."""
    path = tmp_path / "j.db"
    fill(path, 5)
    rechain(path, 1, plain_sha256)
    with open_journal(path) as journal:
        assert journal.needs_upgrade
        assert not verify(journal).ok


# -- triggers and the file ----------------------------------------------------------------


def test_dropped_triggers_are_reported_and_not_recreated_on_open(tmp_path):
    """A trigger dropped through plain sqlite3 stays missing when the journal is opened again;
    verify and the tail check name it; repair_triggers puts it back and journals that."""
    path = tmp_path / "j.db"
    fill(path, 2)
    with raw(path) as conn:
        conn.execute("DROP TRIGGER entries_no_delete")
    with open_journal(path) as journal:
        assert journal.missing_triggers() == ["entries_no_delete"]
        result = verify(journal)
        assert not result.ok and not result.storage_ok
        assert "entries_no_delete" in str(result.problem)
        assert "entries_no_delete" in str(check_tail(journal, None))
    with open_journal(path) as journal:
        assert journal.missing_triggers() == ["entries_no_delete"]
        repaired = journal.repair_triggers()
        assert repaired is not None and repaired.meta == {
            "event": "repair-triggers",
            "recreated": ["entries_no_delete"],
        }
        assert journal.missing_triggers() == [] and journal.repair_triggers() is None
        assert verify(journal).ok
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            journal.conn.execute("DELETE FROM entries")


def test_a_trigger_replaced_by_a_harmless_one_counts_as_missing(tmp_path):
    """A trigger of the right name that no longer refuses anything is reported."""
    path = tmp_path / "j.db"
    fill(path, 1)
    with raw(path) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute(
            "CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT 1; END"
        )
    with open_journal(path) as journal:
        assert journal.missing_triggers() == ["entries_no_update"]


def test_a_corrupt_index_fails_verification_through_sqlites_integrity_check(tmp_path):
    """An index that no longer matches its table (integrity_check reports rows missing from
    it) fails verify, though every hash still checks out."""
    path = tmp_path / "j.db"
    fill(path, 20)
    with raw(path) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX entries_record ON entries (rid, module)' "
            "WHERE name = 'entries_record'"
        )
    with open_journal(path) as journal:
        result = verify(journal)
    assert not result.ok and not result.storage_ok
    assert "integrity check failed" in str(result.problem)
    assert "entries_record" in str(result.problem)


def test_a_new_journal_and_its_wal_and_shm_are_created_0600(tmp_path):
    """The journal holds customer data: only its owner may read the file or its WAL/SHM."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append([entry(1)])
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(os.stat(f"{path}{suffix}").st_mode)
            assert mode == 0o600, (suffix, oct(mode))


# -- anchors ------------------------------------------------------------------------------


def test_write_anchor_appends_the_head_once_to_a_0600_file(tmp_path):
    """An anchor per new head, one JSON line each, in a file only its owner can read."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        assert write_anchor(journal) is None  # empty: nothing to anchor
        journal.append([entry(1), entry(2)])
        first = write_anchor(journal)
        assert write_anchor(journal) is None  # the same head again
        journal.append([entry(3)])
        second = write_anchor(journal)
    assert first is not None and second is not None
    assert (first.seq, second.seq) == (2, 3)
    anchors, problems = read_anchors(anchor_path(path))
    assert [(a.seq, a.hash) for a in anchors] == [(2, first.hash), (3, second.hash)]
    assert not problems and last_anchor(anchor_path(path)) == anchors[-1]
    assert stat.S_IMODE(os.stat(anchor_path(path)).st_mode) == 0o600


def test_a_deleted_tail_fails_the_anchors_naming_the_last_good_one(tmp_path):
    """Entries deleted from the end and written again still chain, but the anchor of the old
    head no longer matches: named, with the last anchor that still does."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append([entry(i) for i in range(1, 6)])
        good = write_anchor(journal)
        journal.append([entry(i) for i in range(6, 11)])
        later = write_anchor(journal)
    with raw(path) as conn:
        conn.execute("DROP TRIGGER entries_no_delete")
        conn.execute("DELETE FROM entries WHERE seq > 7")
        conn.execute(TRIGGERS["entries_no_delete"])
    with open_journal(path) as journal:
        rebuild(journal)  # `journal replay`: the state agrees with the entries again
        assert verify(journal).ok  # the chain alone cannot see it
        journal.append([entry(i, rid=f"crm:x{i}") for i in range(8, 11)])
        anchors, _ = read_anchors(anchor_path(path))
        result = verify(journal, anchors=anchors)
        assert check_tail(journal, later) is not None
    assert good is not None and later is not None
    assert not result.ok and not result.anchors_ok and result.chain_ok
    assert result.last_good_anchor == good
    assert "entry 10 does not match" in str(result.problem)
    assert "last good anchor: entry 5" in str(result.problem)


def test_a_rollback_to_an_older_copy_fails_the_anchors(tmp_path):
    """The file swapped for a copy taken before later cycles: the later anchors name entries
    past its end."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append([entry(1), entry(2)])
        good = write_anchor(journal)
    shutil.copy(path, tmp_path / "old.db")
    with open_journal(path) as journal:
        journal.append([entry(3), entry(4)])
        write_anchor(journal)
    shutil.copy(tmp_path / "old.db", path)
    with open_journal(path) as journal:
        anchors, _ = read_anchors(anchor_path(path))
        result = verify(journal, anchors=anchors)
        tail = check_tail(journal, anchors[-1])
    assert not result.ok and result.last_good_anchor == good
    assert "ends at entry 2" in str(result.problem) and "rolled back" in str(result.problem)
    assert tail is not None and "rolled back" in tail


def test_an_expected_anchor_given_by_hand_is_checked(tmp_path):
    """SEQ:HASH parses into an anchor; a wrong hash for an existing entry fails."""
    path = tmp_path / "j.db"
    fill(path, 3)
    with open_journal(path) as journal:
        _, digest, _ = journal.head()
        right = Anchor.parse(f"3:{digest}")
        wrong = Anchor.parse(f"2:{digest}")
        assert check_anchors(journal, [right]).ok
        failed = check_anchors(journal, [right, wrong])
    assert not failed.ok and "entry 2 does not match" in str(failed.problem)
    assert "--expect" in str(failed.problem)
    with pytest.raises(ValueError, match="SEQ:HASH"):
        Anchor.parse("3:nothex")


def test_an_anchor_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    """A line cut short by a crash does not swallow the next anchor."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append([entry(1)])
        anchor_path(path).write_text('{"seq": 1, "ha', encoding="utf-8")
        anchor = write_anchor(journal)
    anchors, problems = read_anchors(anchor_path(path))
    assert anchors == [anchor] and len(problems) == 1


def test_a_garbled_anchors_file_line_is_a_problem(tmp_path):
    """A line of the anchors file that is not an anchor is reported, not skipped silently."""
    path = tmp_path / "j.db"
    anchor_path(path).write_text('{"seq": 1}\nnot json\n', encoding="utf-8")
    anchors, problems = read_anchors(anchor_path(path))
    assert anchors == [] and len(problems) == 2 and "line 2" in problems[1]


def test_the_tail_check_passes_on_a_sound_journal_with_or_without_an_anchor(tmp_path):
    """A journal whose tail links up to its last anchor passes the check before a write."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append([entry(i) for i in range(1, 4)])
        anchor = write_anchor(journal)
        journal.append([entry(4)])
        assert check_tail(journal, anchor) is None
        assert check_tail(journal, None) is None


def test_anchors_carry_an_aware_time(tmp_path):
    """An anchor's time is the journal clock's (aware UTC)."""
    path = tmp_path / "j.db"
    with open_journal(path) as journal:
        journal.append([entry(1)])
        anchor = write_anchor(journal)
    assert anchor is not None and anchor.at == fixed_now()
    assert anchor.at.tzinfo is dt.UTC or anchor.at.utcoffset() == dt.timedelta(0)
