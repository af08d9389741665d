"""The sandbox's SQLite store: lookups by JSON path."""

from __future__ import annotations

import pytest

from replicator.sandbox import StoreError
from replicator.sandbox.store import Row, Store


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
