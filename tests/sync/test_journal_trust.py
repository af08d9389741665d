"""The journal as an auditor meets it through the command line: the key, the anchors, every
tamper case of issue 10 reported by `journal verify`, and writes refused on a bad tail."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from journal.anchors import anchor_path, read_anchors
from journal.entry import chain_text
from journal.store import CHAIN_RID, JOURNAL_MODULE, TRIGGERS
from replicator.daemon.state import published_anchor
from replicator.sync.app import KEY_ENV, KEY_FILE_ENV
from tests.cli.test_cli import Folder, _seed
from tests.journal.tamper import insert_row
from tests.journal.tamper import rechain as tamper_rechain

FIXTURES = Path(__file__).resolve().parents[1] / "journal" / "fixtures"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Folder:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    return Folder(tmp_path)


def key_file(folder: Folder) -> Path:
    return folder.journal.with_name("journal.db.key")


def raw(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """The journal as plain sqlite3 sees it: what anyone with write access can do."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


def add_customers(folder: Folder, n: int, prefix: str) -> None:
    with raw(folder.books) as conn:
        conn.executemany(
            "INSERT INTO customers (name, email, credit_limit) VALUES (?, ?, ?)",
            [(f"{prefix} {i}", f"{prefix.lower()}{i}@x.example", i) for i in range(n)],
        )


def head(folder: Folder) -> int:
    with raw(folder.journal) as conn:
        return int(conn.execute("SELECT max(seq) FROM entries").fetchone()[0])


def rechain(path: Path, since: int) -> None:
    """Recompute prev_hash and hash of every entry from ``since`` with plain sha256 (what
    someone without the key can do), triggers dropped meanwhile and put back after."""
    with raw(path) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        tamper_rechain(conn, since)  # over the rows as the journal reads them, any format
        for sql in TRIGGERS.values():
            conn.execute(sql)


def fails(folder: Folder, *args: str) -> str:
    """`journal verify` exits non-zero, with one message and no traceback; its output."""
    result = folder.cli("journal", "verify", *args)
    assert result.exit_code == 1, result.output
    assert "journal verify failed" in result.output and "Traceback" not in result.output
    return result.output


def synced_twice(folder: Folder) -> None:
    _seed(folder)
    folder.ok("sync")
    add_customers(folder, 3, "Delta")
    folder.ok("sync")


# -- intact ---------------------------------------------------------------------------------


def test_an_intact_journal_verifies_against_its_anchors(folder):
    """After two syncs the journal verifies, with an anchor per cycle that wrote entries."""
    synced_twice(folder)
    folder.ok("sync")  # an idle cycle: no new head, no new anchor
    anchors, problems = read_anchors(anchor_path(folder.journal))
    assert len(anchors) == 2 and not problems and anchors[-1].seq == head(folder)
    out = folder.ok("journal", "verify").stdout
    assert out.startswith(f"intact: {head(folder)} entries")
    assert f"2 anchor(s) match, the last at entry {head(folder)}" in out
    data = folder.json("journal", "verify")
    assert data["ok"] and data["anchors"] == 2 and data["keyed_from"] == 1
    assert data["unkeyed"] == 0


def test_journal_head_prints_an_anchor_verify_expect_takes(folder):
    """`journal head` prints SEQ:HASH of the head; `verify --expect` accepts it, and fails
    on a hash the entry does not have."""
    synced_twice(folder)
    printed = folder.ok("journal", "head").stdout.splitlines()[0]
    seq, digest = printed.split(":")
    assert int(seq) == head(folder) and len(digest) == 64
    data = folder.json("journal", "head")
    assert data["expect"] == printed and data["last_anchor"]["hash"] == digest
    folder.ok("journal", "verify", "--expect", printed)
    out = fails(folder, "--expect", f"{seq}:{'0' * 64}")
    assert f"entry {seq} does not match" in out and "--expect" in out
    bad = folder.cli("journal", "verify", "--expect", "12")
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.output


def test_the_journal_its_wal_the_anchors_and_the_key_are_created_0600(folder):
    """Every file the journal makes is readable by its owner only."""
    _seed(folder)
    folder.ok("sync")
    files = [folder.journal, anchor_path(folder.journal), key_file(folder)]
    with raw(folder.journal) as conn:  # keep the WAL and SHM while looking at them
        conn.execute("SELECT count(*) FROM entries").fetchone()
        files += [Path(f"{folder.journal}-wal"), Path(f"{folder.journal}-shm")]
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


# -- tamper cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("anchors_kept", [True, False], ids=["with-anchors", "anchors-deleted"])
def test_an_edit_with_the_chain_recomputed_and_replayed_fails(folder, anchors_kept):
    """An entry edited, every later hash recomputed with plain sha256 and `journal replay`
    run: verify names the entry (the key), and the anchors fail too while they exist."""
    synced_twice(folder)
    with raw(folder.journal) as conn:
        (seq,) = conn.execute(
            "SELECT min(seq) FROM entries WHERE fields LIKE '%Acme Ltd%'"
        ).fetchone()
        conn.execute("DROP TRIGGER entries_no_update")
        conn.execute(
            "UPDATE entries SET fields = replace(fields, 'Acme Ltd', 'Acne Ltd') WHERE seq = ?",
            (seq,),
        )
        conn.execute(TRIGGERS["entries_no_update"])
    rechain(folder.journal, seq)
    if not anchors_kept:
        anchor_path(folder.journal).unlink()
    folder.cli("journal", "replay")  # refused or not, the attacker tries it
    out = fails(folder)
    assert f"entry {seq}" in out and "keyed hash" in out
    if anchors_kept:
        assert "does not match the anchor" in out
    data = json.loads(folder.cli("journal", "verify", "--json").stdout)
    assert data["ok"] is False and data["first_bad_seq"] == seq


def test_a_forged_append_with_a_correctly_computed_unkeyed_hash_fails(folder):
    """A row appended by plain sqlite3 that links to the head with a valid sha256 hash."""
    synced_twice(folder)
    last = head(folder)
    with raw(folder.journal) as conn:
        (prev,) = conn.execute("SELECT hash FROM entries WHERE seq = ?", (last,)).fetchone()
        row = (last + 1, "2026-12-01T00:00:00.000000+00:00", "customers", "x", "crm", "observed")
        rest = (None, None, '{"name":"Forged"}', "{}")
        digest = hashlib.sha256(chain_text(prev, *row, *rest)).hexdigest()
        insert_row(conn, (*row, *rest, prev, digest))
    out = fails(folder)
    assert f"entry {last + 1}" in out and "keyed hash" in out


def test_the_last_500_entries_deleted_and_replayed_fail_naming_the_last_good_anchor(folder):
    """Triggers dropped through plain sqlite3, the last 500 entries deleted, `journal replay`
    run: verify reports the deleted tail and names the anchor that still holds."""
    _seed(folder)
    folder.ok("sync")
    (good,) = read_anchors(anchor_path(folder.journal))[0]
    add_customers(folder, 250, "Bulk")
    folder.ok("sync")
    total = head(folder)
    assert total - 500 > good.seq
    with raw(folder.journal) as conn:
        conn.execute("DROP TRIGGER entries_no_delete")
        conn.execute("DELETE FROM entries WHERE seq > ?", (total - 500,))
    folder.ok("journal", "replay")
    out = fails(folder)
    assert f"ends at entry {total - 500}" in out and f"names entry {total}" in out
    assert f"last good anchor: entry {good.seq}" in out
    assert "entries_no_delete" in out  # and the dropped trigger, reported on its own
    with raw(folder.journal) as conn:  # the attacker puts the trigger back: still caught
        conn.execute(TRIGGERS["entries_no_delete"])
    out = fails(folder)
    assert f"last good anchor: entry {good.seq}" in out and "entries_no_delete" not in out


def test_a_rollback_to_an_older_copy_of_the_file_fails(folder, tmp_path):
    """The journal file replaced by a copy taken one cycle earlier."""
    _seed(folder)
    folder.ok("sync")
    (good,) = read_anchors(anchor_path(folder.journal))[0]
    shutil.copy(folder.journal, tmp_path / "copy.db")
    add_customers(folder, 2, "Later")
    folder.ok("sync")
    shutil.copy(tmp_path / "copy.db", folder.journal)
    out = fails(folder)
    assert "rolled back" in out and f"last good anchor: entry {good.seq}" in out


def test_an_index_sqlite_finds_corrupt_fails(folder):
    """An index that no longer matches its table: `PRAGMA integrity_check` complains."""
    synced_twice(folder)
    with raw(folder.journal) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX entries_record ON entries (rid, module)'"
            " WHERE name = 'entries_record'"
        )
    out = fails(folder)
    assert "integrity check failed" in out and "entries_record" in out


def test_dropped_triggers_are_reported_not_recreated_and_repaired_only_by_the_command(folder):
    """DROP TRIGGER through plain sqlite3: every command leaves it missing, verify names it,
    `journal repair-triggers` re-creates it with an entry saying so."""
    synced_twice(folder)
    with raw(folder.journal) as conn:
        conn.execute("DROP TRIGGER entries_no_update")
    folder.ok("journal", "log")
    folder.ok("status")
    out = fails(folder)
    assert "entries_no_update" in out
    with raw(folder.journal) as conn:
        names = {
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='entries'"
            )
        }
    assert names == {"entries_no_delete"}
    assert "re-created entries_no_update" in folder.ok("journal", "repair-triggers").stdout
    assert "nothing to repair" in folder.ok("journal", "repair-triggers").stdout
    with raw(folder.journal) as conn:
        (meta,) = conn.execute(
            "SELECT meta FROM entries WHERE module = ? AND rid = '@triggers'", (JOURNAL_MODULE,)
        ).fetchone()
    assert json.loads(meta)["recreated"] == ["entries_no_update"]
    folder.ok("journal", "verify")


# -- writes refused on a bad tail -------------------------------------------------------------


def test_sync_refuses_a_journal_failing_its_tail_check_unless_forced(folder):
    """A forged entry after the last anchor: sync writes nothing and says why in one line;
    --force writes, and the forcing is journaled."""
    synced_twice(folder)
    last = head(folder)
    with raw(folder.journal) as conn:
        (prev,) = conn.execute("SELECT hash FROM entries WHERE seq = ?", (last,)).fetchone()
        row = (last + 1, "2026-12-01T00:00:00.000000+00:00", "customers", "x", "crm", "observed")
        rest = (None, None, "{}", "{}")
        digest = hashlib.sha256(chain_text(prev, *row, *rest)).hexdigest()
        insert_row(conn, (*row, *rest, prev, digest))
    add_customers(folder, 1, "Waiting")
    result = folder.cli("sync")
    assert result.exit_code == 1 and "Traceback" not in result.output
    message = result.output.strip()
    assert "\n" not in message and "nothing was written" in message
    assert f"entry {last + 1}" in message and "replicator journal verify" in message
    assert head(folder) == last + 1
    folder.ok("sync", "--force")
    with raw(folder.journal) as conn:
        (meta,) = conn.execute(
            "SELECT meta FROM entries WHERE module = ? AND rid = '@forced'", (JOURNAL_MODULE,)
        ).fetchone()
    forced = json.loads(meta)
    assert forced["event"] == "forced-write" and f"entry {last + 1}" in forced["problem"]
    assert "Waiting 0" in folder.crm_rows()


def test_sync_refuses_a_rolled_back_journal(folder, tmp_path):
    """A journal older than its last anchor is not written to (its next cycle would bury
    the rollback under a fresh head)."""
    _seed(folder)
    folder.ok("sync")
    shutil.copy(folder.journal, tmp_path / "copy.db")
    add_customers(folder, 1, "Later")
    folder.ok("sync")
    shutil.copy(tmp_path / "copy.db", folder.journal)
    result = folder.cli("sync")
    assert result.exit_code == 1 and "rolled back" in result.output


# -- the key ----------------------------------------------------------------------------------


def test_the_key_never_reaches_the_journal_an_export_or_a_log(folder, caplog):
    """The key's text and bytes appear in no journal byte, no export line, no output or log
    line of sync, verify, head or log."""
    caplog.set_level(logging.DEBUG)
    _seed(folder)
    outputs = [folder.ok("sync").output]
    text = key_file(folder).read_text(encoding="ascii").strip()
    secret = bytes.fromhex(text)
    outputs += [folder.ok(*args).output for args in (("journal", "verify"), ("journal", "head"))]
    outputs += [folder.ok("journal", "log").output, folder.ok("journal", "export").output]
    outputs += [folder.ok("journal", "verify", "--json").output]
    outputs.append(caplog.text)
    for path in folder.path.iterdir():
        if path != key_file(folder):
            data = path.read_bytes()
            assert text.encode() not in data and secret not in data, path
    for out in outputs:
        assert text not in out and text.upper() not in out


def test_a_keyed_journal_whose_key_file_is_gone_is_refused_not_rekeyed(folder):
    """A new key would make every keyed entry fail: the command says to restore the key."""
    synced_twice(folder)
    key_file(folder).unlink()
    result = folder.cli("journal", "verify")
    assert result.exit_code == 1 and "key file is missing" in result.output
    assert not key_file(folder).exists()


def test_the_key_can_come_from_the_environment(folder, monkeypatch):
    """REPLICATOR_JOURNAL_KEY (64 hex digits) is the key: no key file is made; another key
    fails verification."""
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    synced_twice(folder)
    assert not key_file(folder).exists()
    folder.ok("journal", "verify")
    monkeypatch.setenv(KEY_ENV, "cd" * 32)
    assert "keyed hash" in fails(folder)
    monkeypatch.setenv(KEY_ENV, "not hex")
    result = folder.cli("journal", "verify")
    assert result.exit_code == 1 and KEY_ENV in result.output and "not hex" not in result.output


def test_a_key_file_others_can_read_is_refused(folder):
    """The key file must be 0600, like the credentials."""
    synced_twice(folder)
    key_file(folder).chmod(0o644)
    result = folder.cli("journal", "verify")
    assert result.exit_code == 1 and "chmod 600" in result.output


def test_the_key_file_can_live_elsewhere(folder, tmp_path, monkeypatch):
    """REPLICATOR_JOURNAL_KEY_FILE names the key file (created there on first use)."""
    elsewhere = tmp_path / "secrets" / "journal.key"
    monkeypatch.setenv(KEY_FILE_ENV, str(elsewhere))
    synced_twice(folder)
    assert elsewhere.exists() and not key_file(folder).exists()
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o600
    folder.ok("journal", "verify")


# -- a journal made before keyed chains -------------------------------------------------------


def load_fixture(folder: Folder) -> int:
    """The a5dca57 journal folder (plain sha256 chain) in place of the folder's files."""
    for name, path in (("journal", folder.journal), ("books", folder.books), ("crm", folder.crm)):
        path.unlink(missing_ok=True)
        with raw(path) as conn:
            conn.executescript((FIXTURES / f"a5dca57_{name}.sql").read_text(encoding="utf-8"))
    return head(folder)


def test_a_journal_of_the_old_format_is_upgraded_on_first_use_and_verifies(folder):
    """The first command on an a5dca57 journal creates the key and journals the upgrade;
    verify says which entries are unkeyed; later syncs write keyed entries that verify."""
    old = load_fixture(folder)
    assert old == 17
    out = folder.ok("journal", "verify").stdout
    assert out.startswith(f"intact: {old + 2} entries")
    assert f"entries 1-{old + 1} are unkeyed" in out and f"keyed from entry {old + 2}" in out
    with raw(folder.journal) as conn:
        (kind, meta) = conn.execute(
            "SELECT kind, meta FROM entries WHERE module = ? AND rid = ?",
            (JOURNAL_MODULE, CHAIN_RID),
        ).fetchone()
    assert kind == "config" and json.loads(meta)["keyed_from"] == old + 2
    add_customers(folder, 2, "After")
    folder.ok("sync")
    data = folder.json("journal", "verify")
    assert data["ok"] and data["unkeyed"] == old + 1 and data["keyed_from"] == old + 2
    assert head(folder) > old + 2
    assert "After 0" in folder.crm_rows()


def test_an_old_journal_with_a_key_from_the_environment_waits_for_journal_upgrade(
    folder, monkeypatch
):
    """With REPLICATOR_JOURNAL_KEY set, nothing upgrades silently: verify and sync say the
    chain is unkeyed; `journal upgrade` journals the switch."""
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    old = load_fixture(folder)
    assert "not upgraded" in fails(folder)
    assert "unkeyed" in folder.cli("sync").output
    assert f"keyed from entry {old + 2}" in folder.ok("journal", "upgrade").stdout
    assert "nothing to upgrade" in folder.ok("journal", "upgrade").stdout
    folder.ok("journal", "verify")
    folder.ok("sync")


def test_an_upgraded_journal_rewritten_without_the_key_fails(folder):
    """Every entry rewritten with plain sha256 (the upgrade entry dropped, the anchors
    deleted): the key that exists says the journal must be keyed."""
    old = load_fixture(folder)
    folder.ok("sync")
    with raw(folder.journal) as conn:
        conn.execute("DROP TRIGGER entries_no_delete")
        conn.execute("DELETE FROM entries WHERE seq > ?", (old,))
        conn.execute(TRIGGERS["entries_no_delete"])
    rechain(folder.journal, 1)
    anchor_path(folder.journal).unlink()
    folder.cli("journal", "replay")
    assert "no entry is keyed" in fails(folder)


# -- the daemon's published state ---------------------------------------------------------


def test_the_daemon_publishes_the_last_anchor(folder):
    """What the daemon puts in its state file: the anchors file's last line."""
    synced_twice(folder)
    anchors, _ = read_anchors(anchor_path(folder.journal))
    assert published_anchor(folder.journal) == anchors[-1].to_json()
    assert published_anchor(folder.path / "none.db") is None
