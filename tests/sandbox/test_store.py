"""The sandbox's SQLite store: lookups by JSON path."""

from __future__ import annotations

import attrs
import pytest

from replicator.sandbox import StoreError
from replicator.sandbox.store import DeletedRow, Row, Store


def test_find_compares_text_case_insensitively_and_uses_an_index(tmp_path):
    """find() matches trimmed text case-insensitively, numbers exactly, and the lookup runs
    on an index of its expression (a uniqueness check must not scan thousands of rows)."""
    store = Store(tmp_path / "s.db")
    for n, name in enumerate(["Acme Ltd", " acme ltd ", "Other"]):
        store.put(
            "books",
            "org",
            "contacts",
            Row(str(n), {"contact_name": name, "n": n}, 0.0, 0.0, "api", "api", 0),
        )
    assert [r.id for r in store.find("books", "org", "contacts", "$.contact_name", "ACME LTD")] == [
        "0",
        "1",
    ]
    assert [r.id for r in store.find("books", "org", "contacts", "$.n", 2)] == ["2"]
    plan = store.query(
        "EXPLAIN QUERY PLAN SELECT id FROM records WHERE api = ? AND scope = ? AND module = ? "
        "AND lower(trim(json_extract(data, '$.contact_name'))) = lower(trim(?))",
        ("books", "org", "contacts", "x"),
    )
    assert any("records_find_" in str(row) for row in plan)
    store.close()


def test_find_refuses_a_path_it_cannot_put_in_sql(tmp_path):
    """Only plain $.a.b paths are taken: the path becomes part of an index's SQL."""
    store = Store(tmp_path / "s.db")
    with pytest.raises(StoreError):
        store.find("crm", "", "Accounts", "$.x') OR 1=1 --", "v")
    store.close()


def test_a_page_of_the_deleted_feed_is_its_slice_newest_first(tmp_path):
    """deleted_page() is the slice of the whole feed (newest first, then by id) of one kind
    and deleted in a whole second after ``since``, read from the feed's index."""
    store = Store(tmp_path / "s.db")
    for n in range(40):
        kind = "recycle" if n % 3 else "permanent"
        row = DeletedRow(str(100 + n % 7), f"r{n}", kind, 10 + n // 4 + 0.5, "u", "u", {})
        store.add_deleted("crm", "", f"M{n // 7}", row)
        store.add_deleted("crm", "", "Accounts", attrs.evolve(row, id=str(n)))
    every = store.deleted_rows("crm", "", "Accounts")
    for kind in (None, "recycle", "permanent"):
        for since in (None, 9.0, 13.0, 13.7, 30.0):
            expected = [
                d.id
                for d in every
                if (kind is None or d.kind == kind) and (since is None or int(d.deleted) > since)
            ]
            for size in (1, 6, 50):
                pages = [
                    [
                        d.id
                        for d in store.deleted_page(
                            "crm", "", "Accounts", limit=size, offset=o, kind=kind, since=since
                        )
                    ]
                    for o in range(0, 45, size)
                ]
                assert [i for page in pages for i in page] == expected
    plan = store.query(
        "EXPLAIN QUERY PLAN SELECT id FROM deleted WHERE api = ? AND scope = ? AND module = ? "
        "ORDER BY deleted DESC, id DESC LIMIT 5",
        ("crm", "", "Accounts"),
    )
    assert any("deleted_order" in str(row) for row in plan)
    assert not any("TEMP B-TREE" in str(row) for row in plan)
    store.close()
