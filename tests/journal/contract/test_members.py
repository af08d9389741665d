"""The PostgreSQL journal answers everything SQLite's :class:`journal.Journal` answers,
with the same parameters: the sync engine runs on the latter's members
(docs/postgres-journal-gaps.md), so a member added to one and not to the other fails here
rather than in a fleet worker."""

from __future__ import annotations

import inspect

import pytest

from journal.store import Journal

# what the engine reads of a journal that is not a method of the class (set in __init__)
ATTRIBUTES = ("reducer", "key", "keyed_from", "now", "where")
# members known not to be on the PostgreSQL journal (or not alike): a member added to
# journal.Journal goes to journal/postgres.py too, or here with a line in
# docs/postgres-journal-gaps.md.  ``path``: a SQLite journal's file (the embedded mode's
# CLI finds its files beside it; the engine asks ``anchor_log()`` and ``where`` instead).
KNOWN_GAPS = ("path",)


def public_members(cls: type) -> dict[str, object]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


def parameters(function: object) -> list[tuple[str, object, object]]:
    """A callable's parameters (name, kind, default), its annotations left out."""
    found = inspect.signature(function)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in found.parameters.values()]


def test_every_member_of_the_sqlite_journal_is_on_the_postgres_one_alike():
    pytest.importorskip("psycopg")  # the optional extra `fleet`
    from journal.postgres import PostgresJournal

    theirs = public_members(PostgresJournal)
    missing, different = [], []
    for name, ours in public_members(Journal).items():
        if name in KNOWN_GAPS:
            continue
        if name not in theirs:
            missing.append(name)
        elif isinstance(ours, property) != isinstance(theirs[name], property):
            different.append(f"{name}: a property on one only")
        elif not isinstance(ours, property) and parameters(ours) != parameters(theirs[name]):
            different.append(f"{name}: {parameters(ours)} != {parameters(theirs[name])}")
    assert (missing, different) == ([], []), (
        "journal.Journal and journal.postgres.PostgresJournal differ: add the member to "
        "journal/postgres.py, or to KNOWN_GAPS here and to docs/postgres-journal-gaps.md"
    )


@pytest.mark.postgres
def test_the_attributes_the_engine_reads_are_set_on_both(tmp_path, pg_cluster):
    from tests.journal.contract.backends import PostgresHarness
    from tests.journal.contract.test_contract import Folding

    harness = PostgresHarness(pg_cluster)
    sqlite = Journal(tmp_path / "j.db", Folding())
    postgres = harness.backend.open(harness.location(), Folding())
    try:
        for name in ATTRIBUTES:
            assert hasattr(sqlite, name) and hasattr(postgres, name), name
        assert [n for n in KNOWN_GAPS if not hasattr(postgres, n)] == list(KNOWN_GAPS)
    finally:
        sqlite.close()
        postgres.close()
        harness.close()
