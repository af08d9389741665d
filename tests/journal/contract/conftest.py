"""The storage contract's fixture: one harness per backend (SQLite, always)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journal.contract.backends import Harness, harness

BACKENDS = [pytest.param("sqlite", id="sqlite")]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    made = harness(request.param, tmp_path)
    yield made
    made.close()
