"""What the PostgreSQL journal adds to the storage contract (tests/journal/contract):
TRUNCATE refused, two writers of one journal chain one after the other, and its messages
name where a journal is without a password."""

from __future__ import annotations

import pytest

from journal import ChainKey, StorageError
from tests.journal.contract.test_contract import Folding, fixed_now, observed, three
from tests.pg import Cluster

pytestmark = pytest.mark.postgres
KEY = ChainKey(bytes(range(32)))


@pytest.fixture
def location(pg_cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = "x_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    return f"{pg_cluster.conninfo}#{name}"


def test_truncate_is_refused_by_the_database(location: str):
    import psycopg  # the optional extra; marked tests skip without it

    from journal.postgres import POSTGRES

    journal = POSTGRES.open(location, Folding(), key=KEY, now=fixed_now)
    try:
        journal.append(three())
        with pytest.raises(psycopg.errors.RaiseException, match="append-only: TRUNCATE"):
            journal.conn.execute(f"TRUNCATE {journal.schema}.entries")
        assert journal.count() == 3
    finally:
        journal.close()


def test_two_writers_of_one_journal_chain_one_after_the_other(location: str):
    """A second connection's append starts from the head the first one committed (the
    transaction re-reads it under the table lock): no seq twice, the chain verifies."""
    from journal.postgres import POSTGRES

    first = POSTGRES.open(location, Folding(), key=KEY, now=fixed_now)
    second = POSTGRES.open(location, Folding(), key=KEY, now=fixed_now)
    try:
        (a,) = first.append([observed("crm:1", 1, name="Acme")])
        (b,) = second.append([observed("crm:2", 1, name="Globex")])
        (c,) = first.append([observed("crm:1", 2, name="Acme Ltd")])
        assert [(e.seq, e.prev_hash) for e in (b, c)] == [(2, a.hash), (3, b.hash)]
        found = POSTGRES.verify(first)
        assert found.ok, found.problem
    finally:
        first.close()
        second.close()


def test_messages_name_the_database_and_schema_never_a_password(pg_cluster: Cluster):
    from journal.postgres import POSTGRES

    wrong = "host=127.0.0.1 port=1 user=x password=hunter2-SECRET dbname=fleet#acme"
    with pytest.raises(StorageError) as caught:
        POSTGRES.open(wrong, Folding())
    assert "postgresql://127.0.0.1:1/fleet#acme" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(StorageError, match="CONNINFO#SCHEMA"):
        POSTGRES.open(f"{pg_cluster.conninfo}#Bad-Schema", Folding())
