"""A cycle's pulls written in bulk (``replicator.sync.pull.BulkPulls``: the state without
its secondary indexes and tally triggers, made once when the pulls end) leave the very
journal the row-by-row path leaves: the same entries, chain and all, the same state
tables and tallies, the same rows on each side, the same indexes in the end."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conflicts import RecordReducer
from journal import Journal
from replicator.config.load import parse_config
from replicator.connectors.memory import MemoryConnector
from replicator.sync import pull
from replicator.sync.engine import Engine
from tests.sync.backends import verify

AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
STATE = ("records", "links", "cursors", "conflicts", "records_tally", "links_tally")


def _now() -> dt.datetime:
    return AT


def _config(folder: Path, policy: str, suggest: bool, page_size: int) -> Any:
    spec = {
        "sync": "both_ways",
        "first": "crm",
        "duplicates": policy,
        "suggest": suggest,
        "page_size": page_size,
        "books": {"table": "customers", "id": "id", "match": "name"},
        "crm": {"table": "accounts", "id": "id", "match": "account_name"},
        "fields": {
            "name": {"books": "name", "crm": "account_name"},
            "email": {"books": "email", "crm": "email"},
        },
    }
    data = {
        "journal": {"path": "journal.db"},
        "sides": {"books": {"connector": "memory"}, "crm": {"connector": "memory"}},
        "modules": {"customers": spec},
    }
    return parse_config(data, folder / "replicator.toml")


def _synced(folder: Path, world: dict[str, Any]) -> tuple[Any, ...]:
    """Two syncs of ``world`` (a first copy, then one after an edit on each side) into a
    journal in ``folder``: its tables, the sides' rows, and its indexes."""
    config = _config(folder, world["policy"], world["suggest"], world["page_size"])
    books, crm = MemoryConnector("books", now=_now), MemoryConnector("crm", now=_now)
    for name in world["books"]:
        books.insert("customers", {"name": name, "email": f"{name}@books"})
    for name in world["crm"]:
        crm.insert("accounts", {"account_name": name, "email": f"{name}@crm"})
    journal = Journal(folder / "journal.db", RecordReducer(), now=_now)
    try:
        engine = Engine(config, journal, {"books": books, "crm": crm}, batch_size=3)
        engine.run()
        for table, side in (("customers", books), ("accounts", crm)):
            rows = side.rows(table)
            if rows:
                side.update(table, min(rows), {"email": "edited@x"})
        engine.run()
        assert verify(journal).ok
    finally:
        journal.close()
    with contextlib.closing(sqlite3.connect(folder / "journal.db")) as conn:
        tables = {t: sorted(conn.execute(f"SELECT * FROM {t}")) for t in STATE}
        # each entry but its hash and, for a run's marker, its meta (which says how
        # many milliseconds the run took)
        tables["entries"] = list(
            conn.execute(
                "SELECT seq, micros, module, rid, side, kind, dot, context, fields, "
                "CASE rid WHEN '@run' THEN '' ELSE meta END FROM entries ORDER BY seq"
            )
        )
        indexes = sorted(conn.execute("SELECT type, name, sql FROM sqlite_master"))
    return tables, books.rows("customers"), crm.rows("accounts"), indexes


NAMES = st.lists(st.sampled_from(["Acme", "acme", "Beta", "Gamma", "Delta", "Eps"]), max_size=7)


@given(
    world=st.fixed_dictionaries(
        {
            "books": NAMES,
            "crm": NAMES,
            "policy": st.sampled_from(["overwrite", "link", "skip", "clone"]),
            "suggest": st.booleans(),
            "page_size": st.integers(1, 4),
        }
    )
)
def test_pulls_written_in_bulk_leave_the_journal_the_row_by_row_path_leaves(
    world: dict[str, Any],
) -> None:
    # both in one folder, one after the other: the config entry names the file
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "world"
        folder.mkdir()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pull.BulkPulls, "page", lambda self, n: None)
            reference = _synced(folder, world)
        shutil.rmtree(folder)
        folder.mkdir()
        calls: list[bool] = []
        real = pull.BulkPulls.page

        def page(self: pull.BulkPulls, n: int) -> None:
            real(self, n)
            calls.append(self.on)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pull.BulkPulls, "page", page)
            bulk = _synced(folder, world)
    assert bulk == reference
    if world["books"] or world["crm"]:
        assert any(calls), "the first copy was not written in bulk"


def test_a_block_that_fails_or_is_killed_leaves_a_journal_that_opens_whole(
    tmp_path: Path,
) -> None:
    """Inside :meth:`Journal.bulk_state` the indexes and tally triggers are gone; an error
    in the block makes them again; a process that dies inside (its connection closed, the
    block never ended) leaves them missing until the next open, which makes them again
    and counts the tallies from the rows: the journal then verifies."""
    config = _config(tmp_path, "overwrite", False, 2)
    books, crm = MemoryConnector("books", now=_now), MemoryConnector("crm", now=_now)
    for n in range(5):
        crm.insert("accounts", {"account_name": f"N{n}", "email": "e@x"})
    path = tmp_path / "journal.db"
    journal = Journal(path, RecordReducer(), now=_now)
    engine = Engine(config, journal, {"books": books, "crm": crm})
    whole = _names(path)
    with pytest.raises(RuntimeError), journal.bulk_state():
        assert "records_key" not in _names(path)
        raise RuntimeError("stopped")
    assert _names(path) == whole
    block = journal.bulk_state()
    block.__enter__()  # never left: the process dies in it
    engine.pull(config.modules["customers"], "crm", _report())
    assert {"records_key", "records_tally_insert", "links_tally_insert"} & _names(path) == set()
    journal.close()
    reopened = Journal(path, RecordReducer(), now=_now)
    try:
        assert _names(path) == whole
        assert reopened.record_tallies()["customers"].total == 5
        assert reopened.link_counts() == {("customers", "crm", "active"): 5}
        assert verify(reopened).ok
        engine = Engine(config, reopened, {"books": books, "crm": crm})
        engine.run()
        assert sorted(r["name"] for r in books.rows("customers").values()) == [
            f"N{n}" for n in range(5)
        ]
        assert verify(reopened).ok
    finally:
        reopened.close()


def _names(path: Path) -> set[str]:
    """The names of the tables, indexes and triggers of the journal at ``path``."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}


def _report() -> Any:
    from replicator.sync.record import CycleReport

    return CycleReport()


def test_the_queries_of_the_indexes_put_aside_answer_the_same_meanwhile(tmp_path: Path) -> None:
    """While a bulk block has the state's secondary indexes put aside (a reader in another
    process sees the same file), the queries that name them answer as with them: the
    records needing attention, by key, by label, the first label."""
    config = _config(tmp_path, "overwrite", False, 2)
    books, crm = MemoryConnector("books", now=_now), MemoryConnector("crm", now=_now)
    for n in range(5):
        crm.insert("accounts", {"account_name": f"N{n}", "email": "e@x"})
    books.insert("customers", {"name": "N1", "email": "b@x"})
    journal = Journal(tmp_path / "journal.db", RecordReducer(), now=_now)
    try:
        engine = Engine(config, journal, {"books": books, "crm": crm})
        for side in ("crm", "books"):  # pulled, nothing planned: every record needs attention
            engine.pull(config.modules["customers"], side, _report())

        def answers() -> tuple[Any, ...]:
            return (
                journal.attention("customers", after="crm:m1", limit=3),
                journal.with_keys("customers", ["N1", "N3", "none"]),
                journal.labelled(["customers"], holding="n", limit=2, offset=1),
                journal.labelled(["customers"]),
                journal.first_label("customers"),
            )

        before = answers()
        assert before[0] and before[1]["N1"] == ["books:m1", "crm:m2"]
        with journal.bulk_state():
            assert "records_label" not in _names(tmp_path / "journal.db")
            assert answers() == before
        assert answers() == before
    finally:
        journal.close()
