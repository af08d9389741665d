"""A replay shared by worker processes (``journal.replay``'s fold by record in ranges of
records) makes the tables one process makes, and verify still finds any edit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from conflicts import RecordReducer
from journal import Dot, Journal, Kind, NewEntry, VectorClock, replay, verify
from journal.schema import STATE_TABLES, TALLY_TABLES
from tests.conflicts.test_apply_row import _by_record, _conflict, _obs, _resolution, _sync


def _tables(journal: Journal, path: Any, workers: int) -> dict[str, list[tuple[Any, ...]]]:
    """The state tables a replay by ``workers`` processes makes, and their schema."""
    target = replay.scratch(str(path))
    try:
        replay.replay_into(journal, target, workers=workers)
        tables = {
            table: target.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in (*STATE_TABLES, *TALLY_TABLES)
        }
        tables["schema"] = target.execute("SELECT * FROM sqlite_master ORDER BY name").fetchall()
    finally:
        target.close()
    return tables


def test_a_replay_shared_by_processes_makes_the_tables_one_process_makes(tmp_path, monkeypatch):
    """Records of two modules, cursors, a conflict and its resolution, and side ids that
    two records far apart linked (the later entry's wins): folded by 1, 2 or 3 processes
    (each a range of records), the same tables, the same as live."""
    calls = _by_record(monkeypatch)
    with Journal(tmp_path / "j.db", RecordReducer(labels={"customers": "name"})) as journal:
        for i in range(12):
            journal.append(_sync(f"books:{i:02d}"))
        journal.append(
            [
                NewEntry(Kind.CURSOR, "customers", None, "books", meta={"cursor": 5}),
                NewEntry(Kind.CURSOR, "invoices", None, "crm", meta={"cursor": "a"}),
                NewEntry(Kind.CURSOR, "customers", None, "books", meta={"cursor": 7}),
            ]
        )
        invoices = [
            NewEntry(
                Kind.OBSERVED,
                "invoices",
                f"crm:{i}",
                "crm",
                Dot("crm", 1),
                VectorClock(),
                {"total": Decimal(i)},
                {"id": f"i{i}"},
            )
            for i in range(4)
        ]
        journal.append(invoices)
        # an id linked by the first record and the last, and the other way round
        journal.append([_obs("books:00", "web", "shared"), _obs("books:11", "web", "shared")])
        journal.append([_obs("books:11", "shop", "other"), _obs("books:00", "shop", "other")])
        journal.append([_conflict("books:05")])
        journal.append([_resolution("books:05", journal.last_seq)])
        assert journal.rid_for("customers", "web", "shared") == "books:11"
        assert journal.rid_for("customers", "shop", "other") == "books:00"
        assert len(replay._bounds(journal.conn, 3)) == 2
        one = _tables(journal, tmp_path / "one.db", 1)
        assert one == _tables(journal, tmp_path / "two.db", 2)
        assert one == _tables(journal, tmp_path / "three.db", 3)
        for workers in (1, 2):
            result = verify(journal, workers=workers)
            assert result.ok, result.problem
        assert replay.rebuild(journal, workers=2) == journal.last_seq
        assert verify(journal, workers=1).ok
    assert len(calls) == 7  # the tables thrice, three verifies and the rebuild


def test_a_replay_shared_by_processes_finds_a_state_edited(tmp_path):
    """A row of a record another process folded, edited: verify names the table."""
    with Journal(tmp_path / "j.db", RecordReducer()) as journal:
        for i in range(6):
            journal.append(_sync(f"books:{i}"))
        # its text edited, or (stored by reference to its entries) the entries it names
        journal.conn.execute(
            "UPDATE records SET state = CASE WHEN state GLOB '@*' THEN '@1,1' "
            "ELSE replace(state, 'Acme', 'Evil') END WHERE rid = 'books:5'"
        )
        result = verify(journal, workers=2)
    assert not result.state_ok
    assert "records" in str(result.problem)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("moment", ["after the chain check", "after the replay"])
def test_verify_checks_one_snapshot_while_another_process_appends(tmp_path, workers, moment):
    """``journal verify`` run while a sync appends (another connection commits entries
    and their state between verify's steps: after the chain check, before the replay's
    processes start; after the replay, before the live tables are compared with it): no
    false alarm, and the result is the journal as it was when verify began (what was
    appended meanwhile is the next verify's)."""
    path = tmp_path / "j.db"
    with Journal(path, RecordReducer(labels={"customers": "name"})) as journal:
        for i in range(6):
            journal.append(_sync(f"books:{i:02d}"))
        before = journal.last_seq
        appended: list[int] = []
        ends: list[int] = []

        def meanwhile(done: int, total: int) -> None:
            if done == total:
                ends.append(done)  # the chain check's end, then the replay's
            if appended or len(ends) != (1 if moment == "after the chain check" else 2):
                return
            with Journal(path, RecordReducer(labels={"customers": "name"})) as writer:
                writer.append([_obs("books:03", "books", "bbooks:03", 2, name="Acme 2")])
                writer.append(_sync("books:99"))
                appended.append(writer.last_seq)

        result = verify(journal, meanwhile, workers=workers)
        assert appended and appended[0] > before  # the other writer committed meanwhile
        assert result.ok, result.problem
        assert result.entries == before
        # the next verify sees the entries appended meanwhile, and they check out too
        after = verify(journal, workers=workers)
        assert after.ok, after.problem
        assert after.entries == appended[0]
