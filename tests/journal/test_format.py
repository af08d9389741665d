"""The entries table's format is a property of the journal file: a new journal stores no
link and its times as integers (format 3), a journal made before keeps its format (2: the
hashes as bytes; 1: as hex text), and all read, replay and verify the same way, an edit to
any stored byte, a deleted or a moved row found in each."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pytest

from conflicts import RecordReducer
from journal import ChainKey, Journal, Kind, NewEntry, verify
from journal.anchors import chain_texts
from journal.entry import chain_text, micros_of, utc_text
from journal.schema import ENTRIES_FORMAT, entries_format, entry_columns, kinds_held
from journal.store import TRIGGERS
from tests.journal.test_store import CountingReducer, fixed_now

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEY = ChainKey(bytes(range(32)))


def fixture_journal(folder: Path, fmt: int = 1) -> tuple[Path, ChainKey]:
    """The fixture of entries format ``fmt`` (1 or 2: 23 entries, keyed, anchored at 14 and
    23) as a journal file with its anchors beside it, and its key."""
    path = folder / "journal.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / f"format{fmt}_journal.sql").read_text(encoding="utf-8"))
    conn.close()
    shutil.copy(FIXTURES / f"format{fmt}_journal.anchors", folder / "journal.db.anchors")
    key = ChainKey.from_text((FIXTURES / "format1_journal.key").read_text())
    # opened once as the sync would: its state is rebuilt by this release's reducer
    # (journaled), so a later edit is read by verify, not by that rebuild
    Journal(path, RecordReducer(), key=key).close()
    return path, key


def format1_journal(folder: Path) -> tuple[Path, ChainKey]:
    return fixture_journal(folder, 1)


def anchors_of(journal: Journal):
    log = journal.anchor_log()
    assert log is not None
    return log.read()[0]


def edit(path: Path, sql: str, *params: object) -> None:
    """Change the file as plain sqlite3 can (its append-only triggers dropped and put back)."""
    with sqlite3.connect(path, isolation_level=None) as conn:
        for name in TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute(sql, params)
        for trigger in TRIGGERS.values():
            conn.execute(trigger)
    conn.close()


def test_a_new_journal_is_made_in_format_3_without_links_and_with_integer_times(tmp_path):
    """A new file stores each time as integer microseconds and each hash as its 32 bytes,
    no link; it reads them as format 1's text (the link from the row before), and its
    chain is computed over the same text as formats 1 and 2."""
    path = tmp_path / "j.db"
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        assert journal.format == ENTRIES_FORMAT == 3
        at = dt.datetime(
            1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-5))
        )
        stored = journal.append(
            [NewEntry(Kind.OBSERVED, "customers", f"crm:{i}", "crm") for i in range(3)]
            + [NewEntry(Kind.OBSERVED, "customers", "crm:9", "crm", at=at)]
        )
        rows = [row for batch in journal.row_batches(batch=2) for row in batch]
        assert [(r[1], r[10], r[11]) for r in rows] == [
            (utc_text(e.at), e.prev_hash, e.hash) for e in stored
        ]
        assert list(journal.read()) == stored
        assert list(journal.read(descending=True, limit=2)) == stored[:1:-1]
        assert list(journal.history("crm:1", module="customers")) == [stored[1]]
        columns = {r[1] for r in journal.conn.execute("PRAGMA table_info(entries)")}
        assert "prev" not in columns and "prev_hash" not in columns
        raw = journal.conn.execute(
            "SELECT typeof(micros), micros, typeof(digest), length(digest), at FROM entries"
        ).fetchall()
        assert [r[:4] for r in raw] == [("integer", micros_of(e.at), "blob", 32) for e in stored]
        assert [r[4] for r in raw] == [r[1] for r in rows]  # SQL's text is Python's
        sql = f"SELECT {entry_columns(3)} FROM entries ORDER BY seq"
        assert journal.conn.execute(sql).fetchall() == rows  # SQL reads the same rows
        made = [row for batch in journal.chain_batches(batch=3) for row in batch]
        texts = chain_texts([r[10] for r in rows], [r[3] for r in made])
        assert texts == [chain_text(r[10], *r[:10]) for r in rows]
        assert verify(journal).ok


def test_the_format_1_fixture_replays_and_verifies_against_its_anchors(tmp_path):
    """A journal of format 1 (made by the release before format 2) stays format 1: it
    verifies (chain, anchors, replay equals live), takes new entries in its own format,
    and verifies again."""
    path, key = format1_journal(tmp_path)
    with Journal(path, RecordReducer(), key=key) as journal:
        assert journal.format == 1
        anchors = anchors_of(journal)
        assert [a.seq for a in anchors] == [14, 23]
        result = verify(journal, anchors=anchors)
        assert result.ok, result.problem
        journal.append([NewEntry(Kind.CONFIG, "@config", "@test", meta={"n": 1})])
        assert verify(journal, anchors=anchors).ok
    with sqlite3.connect(path) as conn:
        assert entries_format(conn) == 1
        assert conn.execute("SELECT typeof(hash) FROM entries").fetchall() == [("text",)] * (
            journal.last_seq
        )
    conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE entries SET fields = replace(fields, 'Acme', 'Acne') WHERE seq = 10",
        "UPDATE entries SET at = at || char(0) || 'x' WHERE seq = 10",
        "UPDATE entries SET hash = '0' || substr(hash, 2) WHERE seq = 10",
    ],
    ids=["fields", "nul", "hash"],
)
def test_an_edit_to_the_format_1_fixture_is_found(tmp_path, sql):
    """Editing one row of the format-1 journal fails verify at that entry."""
    path, key = format1_journal(tmp_path)
    edit(path, sql)
    with Journal(path, RecordReducer(), key=key) as journal:
        result = verify(journal, anchors=anchors_of(journal))
    assert not result.ok and result.first_bad_seq == 10, result.problem


def test_the_format_2_fixture_replays_and_verifies_against_its_anchors(tmp_path):
    """A journal of format 2 (made by the release before format 3) stays format 2: it
    verifies (chain, anchors, replay equals live), takes new entries in its own format,
    and verifies again."""
    path, key = fixture_journal(tmp_path, 2)
    with Journal(path, RecordReducer(), key=key) as journal:
        assert journal.format == 2
        anchors = anchors_of(journal)
        assert [a.seq for a in anchors] == [14, 23]
        result = verify(journal, anchors=anchors)
        assert result.ok, result.problem
        (added,) = journal.append([NewEntry(Kind.CONFIG, "@config", "@test", meta={"n": 1})])
        assert added.prev_hash == journal.hashes([added.seq - 1])[added.seq - 1]
        assert verify(journal, anchors=anchors).ok
    with sqlite3.connect(path) as conn:
        assert entries_format(conn) == 2
        assert conn.execute("SELECT DISTINCT typeof(prev), typeof(at) FROM entries").fetchall() == [
            ("blob", "text")
        ]
    conn.close()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE entries SET digest = ? WHERE seq = 4", (bytes(32),)),
        ("UPDATE entries SET prev = ? WHERE seq = 4", (bytes(32),)),
        ("UPDATE entries SET digest = digest || x'00' WHERE seq = 4", ()),
        ("UPDATE entries SET digest = lower(hex(digest)) WHERE seq = 4", ()),
        ("UPDATE entries SET meta = meta || char(0) WHERE seq = 4", ()),
        ("UPDATE entries SET at = '2026-12-05T03:51:12.000000+00:00' WHERE seq = 4", ()),
    ],
    ids=["digest", "prev", "longer", "as-text", "nul", "at"],
)
def test_an_edit_to_the_format_2_fixture_is_found(tmp_path, sql, params):
    """A format-2 row whose hash bytes are changed, lengthened or stored as text, or whose
    text is edited, fails verify at that entry."""
    path, key = fixture_journal(tmp_path, 2)
    edit(path, sql, *params)
    with Journal(path, RecordReducer(), key=key) as journal:
        result = verify(journal, anchors=anchors_of(journal))
    assert not result.ok and result.first_bad_seq == 4, result.problem


_SWAP = (
    "UPDATE entries SET seq = CASE seq WHEN 4 THEN 5 ELSE 4 END + 100 WHERE seq IN (4, 5)",
    "UPDATE entries SET seq = seq - 100 WHERE seq > 100",
)


@pytest.mark.parametrize(
    ("sql", "params", "bad"),
    [
        ("UPDATE entries SET micros = micros + 1 WHERE seq = 4", (), 4),
        ("UPDATE entries SET micros = -micros WHERE seq = 4", (), 4),
        ("UPDATE entries SET micros = -1 WHERE seq = 4", (), 4),
        ("UPDATE entries SET micros = ? WHERE seq = 4", (2**62,), 4),
        ("UPDATE entries SET micros = ? WHERE seq = 4", (253_402_300_800_000_000,), 4),
        ("UPDATE entries SET micros = CAST(micros AS TEXT) || 'x' WHERE seq = 4", (), 4),
        ("UPDATE entries SET micros = micros + 0.5 WHERE seq = 4", (), 4),
        ("UPDATE entries SET micros = CAST(micros AS BLOB) WHERE seq = 4", (), 4),
        (
            "UPDATE entries SET micros = (SELECT micros FROM entries WHERE seq = 1) WHERE seq = 4",
            (),
            4,
        ),
        ("UPDATE entries SET digest = ? WHERE seq = 4", (bytes(32),), 4),
        ("UPDATE entries SET digest = digest || x'00' WHERE seq = 4", (), 4),
        ("UPDATE entries SET digest = lower(hex(digest)) WHERE seq = 4", (), 4),
        ("UPDATE entries SET meta = meta || char(0) WHERE seq = 4", (), 4),
        ("DELETE FROM entries WHERE seq = 4", (), 4),
        ("DELETE FROM entries WHERE seq = 1", (), 1),
        (_SWAP[0] + "; " + _SWAP[1], (), 4),
    ],
    ids=[
        "micros+1",
        "negated",
        "negative",
        "huge",
        "past-9999",
        "as-text",
        "real",
        "as-blob",
        "another-time",
        "digest",
        "longer",
        "digest-as-text",
        "nul",
        "deleted",
        "first-deleted",
        "swapped",
    ],
)
def test_an_edit_to_a_format_3_row_is_found(tmp_path, sql, params, bad):
    """A format-3 row whose time is another integer (another time, a negative one, one
    past any time), not an integer, whose hash bytes are changed, or a row deleted or
    two rows swapped: verify fails at that entry (a row's link is the hash of the row
    before it, so the row after a deleted or moved one no longer checks out)."""
    path = tmp_path / "j.db"
    times = (fixed_now() + dt.timedelta(seconds=n, microseconds=7) for n in range(8))
    with Journal(path, CountingReducer(), key=KEY, now=lambda: next(times)) as journal:
        for i in range(8):  # one batch an entry: each its own time
            journal.append([NewEntry(Kind.OBSERVED, "customers", f"crm:{i}", "crm")])
        assert journal.format == 3
    for statement in sql.split("; "):
        edit(path, statement, *params)
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        result = verify(journal)
    assert not result.ok and result.first_bad_seq == bad, result.problem


def _plan(conn: sqlite3.Connection, sql: str, params: list[object]) -> str:
    return " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.parametrize("layout", ["partial", "every-kind"])
def test_the_kinds_index_leaves_out_a_syncs_kinds_and_an_older_one_still_serves(tmp_path, layout):
    """A new journal's kinds' index holds no observation or applied write (an append of
    them pays nothing for it); a journal made before holds every kind in it, and is left so.
    Both read entries by kind, their last times and the kinds they hold through the index,
    and verify (replay equals live)."""
    path = tmp_path / "j.db"
    kinds = [Kind.OBSERVED, Kind.APPLIED, Kind.ERROR, Kind.CURSOR, Kind.OBSERVED, Kind.ERROR]
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        meta = {"cursor": "c1"}
        journal.append(
            [
                NewEntry(
                    kind,
                    "customers",
                    None if kind is Kind.CURSOR else f"crm:{i}",
                    "crm",
                    meta=meta if kind is Kind.CURSOR else {},
                )
                for i, kind in enumerate(kinds)
            ]
        )
    if layout == "every-kind":  # the index as journals made before this change have it
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("DROP INDEX entries_kind")
            conn.execute("CREATE INDEX entries_kind ON entries (kind)")
        conn.close()
    with Journal(path, CountingReducer(), key=KEY, now=fixed_now) as journal:
        (sql,) = journal.conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'entries_kind'"
        ).fetchone()
        assert ("WHERE kind NOT IN ('applied', 'observed')" in sql) == (layout == "partial")
        assert [e.seq for e in journal.read(kinds=[Kind.ERROR])] == [3, 6]
        assert [e.seq for e in journal.read(kinds=[Kind.ERROR, Kind.APPLIED])] == [2, 3, 6]
        assert [e.seq for e in journal.read(kinds=["observed"])] == [1, 5]
        assert list(journal.last_times(kinds=[Kind.CURSOR])) == ["customers"]
        assert kinds_held(journal.conn) == sorted({str(k) for k in kinds})
        where, params = journal._where(kinds=[Kind.ERROR, Kind.CURSOR])
        assert "entries_kind" in _plan(
            journal.conn, f"SELECT seq FROM entries WHERE {where}", params
        )
        assert verify(journal).ok
        journal.append([NewEntry(Kind.ERROR, "customers", "crm:9", "crm")])
        assert [e.seq for e in journal.read(kinds=[Kind.ERROR])] == [3, 6, 7]
        assert verify(journal).ok
