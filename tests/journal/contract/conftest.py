"""The storage contract's fixtures: one harness per backend (SQLite always; PostgreSQL,
marked ``postgres``, on the session's throwaway cluster: ``pg_cluster`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journal.contract.backends import Harness, harness

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    cluster = request.getfixturevalue("pg_cluster") if request.param == "postgres" else None
    made = harness(request.param, tmp_path, cluster)
    yield made
    made.close()
