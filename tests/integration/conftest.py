"""The Zoho sandbox on loopback for the whole session, and helpers to talk to it.

One :class:`~replicator.sandbox.Sandbox` serves every integration test on 127.0.0.1 (a free
port); it stops by itself when the session ends, and removes its temporary folder.  Each
test that needs a known scene calls :func:`fresh` first: it wipes the records, faults,
counters and limit windows and puts the session's settings back (fields and credentials
stay), so tests do not see each other's records.

The session's settings differ from Zoho's numbers in two ways, both to keep the suite fast
and independent of how many connectors it opens:

- the OAuth allowance (10 access tokens per refresh token per 10 minutes) is raised: every
  test opens new connectors and each takes a token;
- the Books per-minute limit is raised; the test of the real limit lowers it on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from replicator.sandbox import AdminClient, Sandbox, Settings

SESSION = Settings(
    tokens_per_window=100_000,
    books_per_minute=100_000,
    books_per_day=10_000_000,
    crm_credits_per_day=10_000_000,
)


def fresh(sandbox: Sandbox, **settings: object) -> AdminClient:
    """Wipe the session sandbox back to no records (and ``settings`` on top of the
    session's); the unique key fields replicator needs stay in place."""
    admin = sandbox.admin
    admin.reset()
    admin.seed("keys")
    if settings:
        admin.settings(**settings)
    return admin


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The session's sandbox, serving CRM v8, Books v3 and OAuth on 127.0.0.1:<free port>."""
    folder = tmp_path_factory.mktemp("zoho-sandbox")
    with Sandbox(folder, host="127.0.0.1", port=0, settings=SESSION) as box:
        box.admin.seed("keys")
        yield box


@pytest.fixture(scope="session")
def credentials(sandbox: Sandbox) -> Path:
    """The credentials file the sandbox wrote (0600): what a user's config points at."""
    return sandbox.credentials_path
