"""The connector contract (DESIGN section 6), as a base class every connector's tests subclass.

A subclass provides :meth:`ConnectorContract.make_harness`: a fresh side holding the
``customers`` table of :data:`MODULE` (columns ``name`` NOT NULL, ``email``, ``city``),
its connector, and a way to change it as "another program" would.  The side must refuse a
write whose ``name`` is None (a SQLite NOT NULL column; a reject hook in memory).

Cursors are opaque: the contract checks only that they are ordered (each page's cursor at
least the one before) and move past a change, not that they are ints (SQLite's change
sequence) rather than times (Zoho's watermarks, which a descending walk may hold still
for a page).  A side that cannot report deletions made by others (Zoho Books has no
deleted-records feed for contacts) says so with ``Harness.reports_deletes = False``: the
tests then check everything else and that no deletion is invented.
"""

from __future__ import annotations

import abc
import datetime as dt
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replicator.connectors.base import Change, Connector, Cursor, Page, SideModule, Write

MODULE = SideModule(
    name="customers",
    table="customers",
    id="id",
    columns=("name", "email", "city"),
    match=("name",),
)
REFUSED = {"name": None, "email": "refused@example.com", "city": None}


class Harness(abc.ABC):
    """A side under test: its connector and the hands of another program."""

    connector: Connector
    module: SideModule = MODULE
    # False: rows deleted by another program are never reported (a documented limitation
    # of the side's API, such as Zoho Books contacts); the rest of the contract holds
    reports_deletes: bool = True
    table: str = MODULE.table  # the table's name on the side (errors name it)

    @abc.abstractmethod
    def insert(self, values: Mapping[str, Any]) -> str:
        """Insert a row as another program; returns its id as str."""

    @abc.abstractmethod
    def update(self, id: str, values: Mapping[str, Any]) -> None:
        """Update a row as another program."""

    @abc.abstractmethod
    def delete(self, id: str) -> None:
        """Delete a row as another program."""

    @abc.abstractmethod
    def rows(self) -> dict[str, dict[str, Any]]:
        """Every current row, by id as str, with the module's columns."""

    def close(self) -> None:
        self.connector.close()

    def tick(self) -> None:  # noqa: B027 - optional: most sides have no clock to move
        """Time passes (a side whose clock a test can move moves it by a second)."""


def pull_all(
    connector: Connector, since: Cursor | None, *, page_size: int = 1000, module=MODULE
) -> tuple[list[Page], Cursor | None]:
    """Every page of one pull, and the cursor it ends on (``since`` if none)."""
    pages = list(connector.pull(module, since, page_size=page_size))
    return pages, (pages[-1].cursor if pages else since)


def changes_of(pages: list[Page]) -> list[Change]:
    return [change for page in pages for change in page.changes]


def by_id(pages: list[Page]) -> dict[str, Change]:
    """The last change of each id across pages."""
    return {change.id: change for change in changes_of(pages)}


def person(n: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"Person {n}", "email": f"p{n}@example.com", "city": "Oslo", **extra}


def create(key: str, values: Mapping[str, Any]) -> Write:
    return Write(key=key, id=None, values=dict(values))


class ConnectorContract:
    """The behaviour every connector shares; subclasses provide :meth:`make_harness`."""

    @abc.abstractmethod
    def make_harness(self, directory: Path) -> Harness:
        """A fresh side in ``directory`` (empty customers table)."""

    @pytest.fixture
    def side(self, tmp_path: Path) -> Iterator[Harness]:
        harness = self.make_harness(tmp_path)
        yield harness
        harness.close()

    # -- pull --------------------------------------------------------------------------

    def test_first_pull_snapshots_existing_rows(self, side: Harness) -> None:
        """A pull with no cursor returns every existing row with its values."""
        ids = [side.insert(person(n)) for n in range(3)]
        pages, cursor = pull_all(side.connector, None)
        seen = by_id(pages)
        assert sorted(seen) == sorted(ids)
        for n, id in enumerate(ids):
            change = seen[id]
            assert dict(change.values) == person(n)
            assert not change.deleted
            assert change.modified is not None
            assert change.modified.utcoffset() == dt.timedelta(0)
        assert cursor is not None

    def test_first_pull_of_an_empty_side_still_gives_a_cursor(self, side: Harness) -> None:
        """Snapshotting an empty side yields no changes but a cursor to continue from."""
        pages, cursor = pull_all(side.connector, None)
        assert changes_of(pages) == []
        assert cursor is not None
        id = side.insert(person(1))
        assert list(by_id(pull_all(side.connector, cursor)[0])) == [id]

    def test_changes_by_others_show_up_in_the_next_pull(self, side: Harness) -> None:
        """Inserts, updates and deletes made by another program come in the next pull."""
        kept, gone = side.insert(person(1)), side.insert(person(2))
        _, cursor = pull_all(side.connector, None)
        added = side.insert(person(3))
        side.update(kept, {"city": "Bergen"})
        side.delete(gone)
        seen = by_id(pull_all(side.connector, cursor)[0])
        if side.reports_deletes:
            assert set(seen) == {kept, gone, added}
            assert seen[gone].deleted and dict(seen[gone].values) == {}
        else:
            assert set(seen) == {kept, added}
        assert dict(seen[kept].values) == person(1, city="Bergen")
        assert dict(seen[added].values) == person(3)
        assert not seen[added].deleted and not seen[kept].deleted

    def test_row_inserted_and_deleted_between_pulls_comes_as_a_deletion(
        self, side: Harness
    ) -> None:
        """A row that came and went between two pulls is reported deleted, with no values."""
        _, cursor = pull_all(side.connector, None)
        id = side.insert(person(1))
        side.delete(id)
        seen = by_id(pull_all(side.connector, cursor)[0])
        assert set(seen) <= {id}
        assert all(change.deleted for change in seen.values())

    def test_several_changes_to_one_row_collapse_to_its_latest_values(self, side: Harness) -> None:
        """Within a page one row appears once, with the values it holds now."""
        id = side.insert(person(1))
        _, cursor = pull_all(side.connector, None)
        for city in ("A", "B", "C"):
            side.update(id, {"city": city})
        changes = changes_of(pull_all(side.connector, cursor)[0])
        assert [change.id for change in changes] == [id]
        assert changes[0].values["city"] == "C"

    def test_pulling_again_from_the_last_cursor_returns_nothing(self, side: Harness) -> None:
        """With no new change, a pull from the last cursor returns no change."""
        for n in range(5):
            side.insert(person(n))
        _, cursor = pull_all(side.connector, None, page_size=2)
        pages, again = pull_all(side.connector, cursor)
        assert changes_of(pages) == []
        assert again == cursor
        side.tick()  # an idle pull in a later second (of the server's clock) too
        pages, again = pull_all(side.connector, cursor)
        assert changes_of(pages) == []
        assert again == cursor

    def test_cursors_never_go_back(self, side: Harness) -> None:
        """Each page's cursor is at least the previous one, within a pull and across pulls,
        and a pull that read new changes ends beyond where it started."""
        ids = [side.insert(person(n)) for n in range(9)]
        pages, cursor = pull_all(side.connector, None, page_size=2)
        for id in ids[:5]:
            side.update(id, {"city": "Rome"})
        more, last = pull_all(side.connector, cursor, page_size=2)
        cursors = [page.cursor for page in pages + more]
        assert len({type(c) for c in cursors}) == 1  # one kind of cursor: they compare
        assert cursors == sorted(cursors)  # type: ignore[type-var]
        assert last > cursor  # type: ignore[operator]

    def test_pages_respect_page_size_and_cover_everything(self, side: Harness) -> None:
        """No page holds more than page_size changes, and together they hold every row."""
        ids = [side.insert(person(n)) for n in range(23)]
        pages, _ = pull_all(side.connector, None, page_size=4)
        assert len(pages) >= 6
        assert all(len(page.changes) <= 4 for page in pages)
        assert sorted(change.id for change in changes_of(pages)) == sorted(ids)

    def test_pull_resumed_from_a_middle_page_misses_nothing(self, side: Harness) -> None:
        """Stopping after any page and resuming from its cursor still delivers every row."""
        ids = [side.insert(person(n)) for n in range(10)]
        first = next(iter(side.connector.pull(MODULE, None, page_size=3)))
        rest, _ = pull_all(side.connector, first.cursor, page_size=3)
        assert sorted(c.id for c in [*first.changes, *changes_of(rest)]) == sorted(ids)

    # -- push --------------------------------------------------------------------------

    def test_pushed_creates_return_ids_and_the_rows_exist(self, side: Harness) -> None:
        """Each pushed create returns the new row's id, and the row holds the values."""
        outcomes = side.connector.push(MODULE, [create(f"k{n}", person(n)) for n in range(3)])
        assert [o.key for o in outcomes] == ["k0", "k1", "k2"]
        assert all(o.ok and isinstance(o.id, str) for o in outcomes)
        rows = side.rows()
        for n, outcome in enumerate(outcomes):
            assert rows[outcome.id] == person(n)

    def test_pushed_updates_change_the_row(self, side: Harness) -> None:
        """A pushed update changes the given columns and leaves the others."""
        id = side.insert(person(1))
        pull_all(side.connector, None)
        [outcome] = side.connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
        assert outcome.ok and outcome.id == id
        assert side.rows()[id] == person(1, city="Lima")

    def test_pushed_writes_are_not_pulled_back_but_concurrent_external_changes_are(
        self, side: Harness
    ) -> None:
        """Our own writes never come back as changes (no echo); another program's do."""
        ours, theirs = side.insert(person(1)), side.insert(person(2))
        _, cursor = pull_all(side.connector, None)
        outcomes = side.connector.push(
            MODULE, [Write("r1", ours, {"city": "Paris"}), create("r2", person(3))]
        )
        assert all(o.ok for o in outcomes)
        side.update(theirs, {"city": "Cairo"})
        seen = by_id(pull_all(side.connector, cursor)[0])
        assert list(seen) == [theirs]
        assert seen[theirs].values["city"] == "Cairo"

    def test_a_retried_create_returns_the_same_id_and_makes_no_second_row(
        self, side: Harness
    ) -> None:
        """Pushing a create again with the same key finds the row it made before."""
        [first] = side.connector.push(MODULE, [create("k1", person(1))])
        [again] = side.connector.push(MODULE, [create("k1", person(1, city="Quito"))])
        assert first.ok and again.ok and again.id == first.id
        rows = side.rows()
        assert len(rows) == 1
        assert rows[first.id]["city"] == "Quito"

    def test_an_update_never_overwrites_a_change_not_yet_read(self, side: Harness) -> None:
        """A row another program changed after our last pull is left as is, to retry."""
        id = side.insert(person(1))
        _, cursor = pull_all(side.connector, None)
        side.update(id, {"city": "Oslo"})
        [outcome] = side.connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
        assert not outcome.ok and outcome.retry and id in (outcome.error or "")
        assert side.rows()[id]["city"] == "Oslo"
        pull_all(side.connector, cursor)
        [outcome] = side.connector.push(MODULE, [Write("r1", id, {"city": "Lima"})])
        assert outcome.ok and side.rows()[id]["city"] == "Lima"

    def test_a_retried_create_keeps_an_edit_made_since(self, side: Harness) -> None:
        """A create retried after another program edited its row links it, edit intact."""
        pull_all(side.connector, None)
        [first] = side.connector.push(MODULE, [create("k1", person(1))])
        side.update(first.id, {"city": "Oslo"})
        [again] = side.connector.push(MODULE, [create("k1", person(1, city="Quito"))])
        assert again.ok and again.id == first.id
        assert side.rows() == {first.id: person(1, city="Oslo")}

    def test_a_create_repeated_in_one_batch_makes_one_row(self, side: Harness) -> None:
        """The same key twice in one batch gives one row and the same id twice."""
        outcomes = side.connector.push(MODULE, [create("k", person(1)), create("k", person(2))])
        assert all(o.ok for o in outcomes)
        assert outcomes[0].id == outcomes[1].id
        assert side.rows() == {outcomes[0].id: person(2)}

    def test_a_retried_create_whose_row_was_deleted_makes_a_new_row(self, side: Harness) -> None:
        """If another program deleted the row a create made, the retry creates it again."""
        [first] = side.connector.push(MODULE, [create("k1", person(1))])
        side.delete(first.id)
        [again] = side.connector.push(MODULE, [create("k1", person(1))])
        assert again.ok  # the id may be reused: SQLite numbers a rowid table max + 1
        assert side.rows() == {again.id: person(1)}

    def test_a_rejected_write_does_not_stop_the_batch(self, side: Harness) -> None:
        """One refused write gets an error outcome; the others apply; outcomes keep order."""
        existing = side.insert(person(9))
        pull_all(side.connector, None)
        writes = [
            create("a", person(1)),
            create("bad", REFUSED),
            Write("upd", existing, {"city": "Baku"}),
            Write("bad-upd", existing, {"name": None}),
            create("b", person(2)),
        ]
        outcomes = side.connector.push(MODULE, writes)
        assert [o.key for o in outcomes] == ["a", "bad", "upd", "bad-upd", "b"]
        assert [o.ok for o in outcomes] == [True, False, True, False, True]
        assert outcomes[1].error and outcomes[3].error
        rows = side.rows()
        assert rows[outcomes[0].id] == person(1)
        assert rows[outcomes[4].id] == person(2)
        assert rows[existing] == person(9, city="Baku")
        assert len(rows) == 3

    def test_update_of_a_missing_id_is_an_error_outcome(self, side: Harness) -> None:
        """Updating a row another program deleted is that write's error, naming the id."""
        id = side.insert(person(1))
        side.delete(id)
        [outcome] = side.connector.push(MODULE, [Write("r1", id, {"city": "Oslo"})])
        assert not outcome.ok
        assert id in outcome.error and side.table in outcome.error
        assert side.rows() == {}

    def test_push_of_nothing_returns_nothing(self, side: Harness) -> None:
        """An empty batch is no work and no outcome."""
        assert side.connector.push(MODULE, []) == []

    # -- reads -------------------------------------------------------------------------

    def test_get_returns_one_row_or_none(self, side: Harness) -> None:
        """get returns a row's current values, and None for an id that does not exist."""
        id = side.insert(person(1))
        change = side.connector.get(MODULE, id)
        assert change is not None and change.id == id
        assert dict(change.values) == person(1)
        side.delete(id)
        assert side.connector.get(MODULE, id) is None

    def test_search_matches_the_match_columns_case_insensitively(self, side: Harness) -> None:
        """search finds rows whose match columns contain the text, ignoring case."""
        alice = side.insert(person(1, name="Alice Smith"))
        side.insert(person(2, name="Bob Jones", city="alice springs"))
        found = side.connector.search(MODULE, "aLiCe")
        assert [c.id for c in found] == [alice]
        assert found[0].values["name"] == "Alice Smith"
        assert side.connector.search(MODULE, "nobody") == []

    def test_search_returns_at_most_a_hundred_rows(self, side: Harness) -> None:
        """A broad search is capped at 100 results."""
        for n in range(105):
            side.insert(person(n))
        assert len(side.connector.search(MODULE, "person")) == 100

    def test_schema_names_the_module_columns(self, side: Harness) -> None:
        """schema lists at least the module's columns, each with a type name."""
        side.insert(person(1))
        schema = side.connector.schema(MODULE)
        assert set(MODULE.columns) <= set(schema)
        assert all(isinstance(t, str) for t in schema.values())

    def test_views_is_a_list_of_names(self, side: Harness) -> None:
        """views returns a list of str (possibly empty)."""
        views = side.connector.views(MODULE)
        assert isinstance(views, list) and all(isinstance(v, str) for v in views)

    def test_reads_change_nothing(self, side: Harness) -> None:
        """get, search and schema leave the rows and the change feed as they were."""
        id = side.insert(person(1))
        _, cursor = pull_all(side.connector, None)
        side.connector.get(MODULE, id)
        side.connector.search(MODULE, "person")
        side.connector.schema(MODULE)
        assert changes_of(pull_all(side.connector, cursor)[0]) == []
        assert side.rows() == {id: person(1)}

    # -- a law -------------------------------------------------------------------------

    @settings(
        max_examples=30,
        deadline=None,
        # Each subclass runs it on its own connector: the executors differ by design.
        suppress_health_check=[HealthCheck.differing_executors],
    )
    @given(
        steps=st.lists(
            st.one_of(
                st.tuples(st.just("insert"), st.integers(0, 99)),
                st.tuples(st.just("update"), st.integers(0, 99)),
                st.tuples(st.just("delete"), st.integers(0, 99)),
                st.tuples(st.just("pull"), st.integers(1, 5)),
            ),
            max_size=40,
        )
    )
    def test_folding_every_pull_reproduces_the_side(self, steps) -> None:
        """Applying all pulled pages, in order, to an empty copy yields the side's rows."""
        with tempfile.TemporaryDirectory() as directory:
            side = self.make_harness(Path(directory))
            try:
                copy: dict[str, dict[str, Any]] = {}
                cursor: Cursor | None = None

                def pull(since: Cursor | None, page_size: int) -> Cursor | None:
                    last = since
                    for page in side.connector.pull(MODULE, since, page_size=page_size):
                        for change in page.changes:
                            if change.deleted:
                                copy.pop(change.id, None)
                            else:
                                copy[change.id] = dict(change.values)
                        assert last is None or page.cursor >= last  # type: ignore[operator]
                        last = page.cursor
                    return last

                for action, n in steps:
                    ids = sorted(side.rows())
                    if action == "insert":
                        side.insert(person(n))
                    elif action == "update" and ids:
                        side.update(ids[n % len(ids)], {"city": f"City {n}"})
                    elif action == "delete" and ids:
                        side.delete(ids[n % len(ids)])
                    elif action == "pull":
                        cursor = pull(cursor, n)
                pull(cursor, 3)
                rows = side.rows()
                if side.reports_deletes:
                    assert copy == rows
                else:  # deleted rows linger in the copy; every live row is exact
                    assert {id: copy.get(id) for id in rows} == rows
            finally:
                side.close()
