"""State tables filled in bulk (journal.bulk): without their secondary indexes and tally
triggers, those made once at the end, the same tables, indexes, triggers and tallies as
rows written one by one with them in place; a process killed anywhere in between leaves a
journal that opens as it was (one transaction), or whose open makes again and counts
afresh what was put aside (across transactions)."""

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from journal import Journal, rebuild, verify
from journal.bulk import put_aside, unindexed
from journal.schema import STATE_TABLES, TALLY_TABLES
from tests.journal.test_tallies import MarkingReducer, recount, seen, tallies

ROOT = Path(__file__).resolve().parents[2]


def schema_objects(conn):
    """The state tables' indexes and triggers, by name, their SQL without spacing
    differences or ``IF NOT EXISTS``."""
    return {
        name: " ".join(sql.replace("IF NOT EXISTS ", "").split())
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND sql IS NOT NULL"
        )
    }


def state_rows(conn):
    """The state tables' rows, and the tallies' (a count of 0 is no row, as verify reads
    them: the triggers leave such rows, a count afresh makes none)."""
    rows = {
        table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        for table in STATE_TABLES
    }
    for table in TALLY_TABLES:
        rows[table] = sorted(conn.execute(f"SELECT * FROM {table} WHERE n != 0").fetchall())
    return rows


records = st.lists(
    st.tuples(
        st.sampled_from(["customers", "items"]),
        st.integers(0, 6),
        st.sampled_from([None, "merged", "active"]),
        st.sampled_from([None, "errors", "errors held:books"]),
        st.sampled_from([None, "active", "deleted"]),
    ),
    max_size=12,
)


def write(journal, rows):
    entries = []
    for module, i, status, marks, link in rows:
        meta = {k: v for k, v in (("status", status), ("marks", marks), ("link", link)) if v}
        entries.append(seen(f"crm:{i}", module=module, **meta))
    if entries:
        journal.append(entries)


@given(records)
def test_tables_filled_without_their_indexes_and_triggers_end_as_filled_with_them(rows):
    """The state's rows deleted and written again inside ``unindexed`` (one transaction):
    the same rows, the same indexes and triggers, and tallies equal to the triggers' (and
    to a recount)."""
    with Journal(":memory:", MarkingReducer()) as journal:
        write(journal, rows)
        conn = journal.conn
        before, objects = state_rows(conn), schema_objects(conn)
        with journal.transaction(), unindexed(conn, STATE_TABLES):
            put = schema_objects(conn)
            assert not any(name.startswith(("records_", "links_")) for name in put)
            for table in STATE_TABLES:
                held = conn.execute(f"SELECT * FROM {table}").fetchall()
                conn.execute(f"DELETE FROM {table}")
                for row in held:
                    conn.execute(f"INSERT INTO {table} VALUES ({','.join('?' * len(row))})", row)
            for table in TALLY_TABLES:  # whatever the tallies held is counted afresh
                conn.execute(f"UPDATE {table} SET n = n + 7")
        assert state_rows(conn) == before
        assert schema_objects(conn) == objects
        assert tallies(journal) == recount(journal)


# a child process: a journal opened, its state put aside (and refilled) up to a point,
# then killed (os._exit: nothing cleaned up, nothing rolled back by Python)
_CHILD = """
import os, sys
sys.path.insert(0, sys.argv[1])
from journal import Journal, rebuild
import journal.bulk as bulk
from journal.schema import STATE_TABLES
from tests.journal.test_tallies import MarkingReducer
path, how = sys.argv[2], sys.argv[3]
journal = Journal(path, MarkingReducer())
conn = journal.conn
if how == "one transaction":
    conn.execute("BEGIN IMMEDIATE")
    bulk.put_aside(conn, STATE_TABLES)
    conn.execute("DELETE FROM links")
    conn.execute("INSERT INTO records (module, rid, state, status) VALUES ('x', 'y', '{}', 'z')")
    os._exit(9)
if how == "across transactions":
    bulk.put_aside(conn, STATE_TABLES)  # autocommit: committed at once
    conn.execute("DELETE FROM links WHERE side_id = 'crm:1'")
    conn.execute("INSERT INTO records (module, rid, state, status) VALUES ('x', 'y', '{}', 'z')")
    os._exit(9)
# a rebuild killed in its copy into the live tables: after the indexes and triggers
# were put aside, or after the tallies were counted, before the indexes were made
real_aside, real_recount = bulk.put_aside, bulk.recount
def aside(*args):
    made = real_aside(*args)
    if how == "rebuild, put aside":
        os._exit(9)
    return made
def counted(*args):
    real_recount(*args)
    os._exit(9)
bulk.put_aside, bulk.recount = aside, counted
rebuild(journal)
os._exit(3)  # not reached
"""


def killed(path, how):
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(path), how],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 9, done.stderr


def made(path):
    with Journal(path, MarkingReducer()) as journal:
        write(journal, [("customers", i, None, "errors", "active") for i in range(5)])
        write(journal, [("items", 1, "merged", None, "deleted")])
        return state_rows(journal.conn), schema_objects(journal.conn)


def test_a_kill_inside_one_transaction_leaves_the_state_as_it_was(tmp_path):
    path = tmp_path / "j.db"
    before, objects = made(path)
    for how in ("one transaction", "rebuild, put aside", "rebuild, counted"):
        killed(path, how)
        with Journal(path, MarkingReducer()) as journal:
            assert state_rows(journal.conn) == before, how
            assert schema_objects(journal.conn) == objects, how
            assert verify(journal).ok, how


def test_a_kill_between_transactions_is_made_good_by_the_next_open(tmp_path):
    """Indexes and tally triggers put aside and committed, rows changed, then killed: the
    next open makes them again and counts the tallies afresh from the rows."""
    path = tmp_path / "j.db"
    _, objects = made(path)
    killed(path, "across transactions")
    with Journal(path, MarkingReducer()) as journal:
        assert schema_objects(journal.conn) == objects
        assert tallies(journal) == recount(journal)
        assert journal.record_tallies()["x"].statuses == {"z": 1}
        rebuild(journal)  # the state is the entries' again
        assert verify(journal).ok
        assert schema_objects(journal.conn) == objects


def test_put_aside_keeps_a_trigger_of_another_purpose(tmp_path):
    with Journal(tmp_path / "j.db", MarkingReducer()) as journal:
        conn = journal.conn
        conn.execute("CREATE TRIGGER records_watch AFTER INSERT ON records BEGIN SELECT 1; END")
        put_aside(conn, STATE_TABLES)
        assert "records_watch" in schema_objects(conn)
        assert not any(name.endswith("_tally_insert") for name in schema_objects(conn))


def test_a_second_opener_in_the_middle_of_a_bulk_block_leaves_the_state_whole(tmp_path):
    """Two runs at once: while one journal writes in bulk across transactions (a first
    copy's pulls), another opens the same file, whose schema check makes the indexes and
    tally triggers again; the first goes on writing and ends its block: the indexes,
    triggers and tallies are those of rows written one by one, and the journal verifies."""
    path = tmp_path / "j.db"
    _, objects = made(path)
    with Journal(path, MarkingReducer()) as first:
        with first.bulk_state():
            write(first, [("customers", i, None, "errors", "active") for i in range(5, 9)])
            assert not set(objects) <= set(schema_objects(first.conn))  # put aside
            with Journal(path, MarkingReducer()) as second:
                assert schema_objects(second.conn) == objects  # made again by its open
                assert tallies(second) == recount(second)
            write(first, [("items", i, "merged", None, "deleted") for i in range(2, 6)])
        assert schema_objects(first.conn) == objects
        assert tallies(first) == recount(first)
        assert verify(first).ok


def test_a_reader_opened_before_a_bulk_block_counts_the_rows_written_in_it(tmp_path):
    """A status reader (the console, a daemon) holds the journal open when a first copy
    starts writing in bulk: the tally triggers are aside, so its tally tables fall behind,
    yet its tallies and link counts are the rows' own, in the block and after it."""
    path = tmp_path / "j.db"
    made(path)
    with Journal(path, MarkingReducer()) as reader, Journal(path, MarkingReducer()) as first:
        with first.bulk_state():
            write(first, [("customers", i, None, "errors", "active") for i in range(5, 9)])
            write(first, [("items", i, "merged", None, "deleted") for i in range(2, 6)])
            assert not any(name.endswith("_tally_insert") for name in schema_objects(reader.conn))
            held = tallies(reader)
            assert held == recount(reader)
            stale = reader.conn.execute(
                "SELECT sum(n) FROM records_tally WHERE module = 'customers'"
            ).fetchone()[0]
            assert stale == 5  # the tally table alone leaves out the block's rows
            assert reader.record_tallies()["customers"].total == 9
            assert sum(n for (m, _, _), n in reader.link_counts().items() if m == "items") == 5
        assert tallies(reader) == recount(reader) == held
