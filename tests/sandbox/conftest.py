"""Fixtures: one demo sandbox for the session, fresh empty ones on demand, and clients.

The session sandbox's Books per-minute limit is raised so the suite's own calls never
trip it; the limit tests use a fresh sandbox with the real numbers.  After every test the
session sandbox's faults, settings, limit windows and credentials are put back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from replicator.sandbox import Sandbox, Settings
from tests.sandbox.zoho import Receiver, Zoho

BASELINE = Settings(books_per_minute=100_000, books_per_day=1_000_000)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), seed="demo", settings=BASELINE) as box:
        yield box


@pytest.fixture(scope="session")
def session_zoho(sandbox: Sandbox) -> Iterator[Zoho]:
    client = Zoho(sandbox.credentials)
    yield client
    client.close()


@pytest.fixture
def zoho(sandbox: Sandbox, session_zoho: Zoho) -> Iterator[Zoho]:
    """A spec-only client of the session sandbox (one access token for the session)."""
    yield session_zoho
    admin = sandbox.admin
    admin.clear_faults()
    admin.settings(**BASELINE.as_dict())
    admin.reset_limits()
    admin.restore()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Callable[..., Sandbox]]:
    """Start empty sandboxes of one's own: ``fresh(**settings)``."""
    started: list[Sandbox] = []

    def start(seed: str | None = None, data_dir: Path | None = None, **settings: object) -> Sandbox:
        box = Sandbox(
            data_dir or tmp_path / f"box{len(started)}", seed=seed, settings=Settings(**settings)
        )  # type: ignore[arg-type]
        started.append(box.start())
        return box

    yield start
    for box in started:
        box.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()
