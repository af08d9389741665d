"""Fleet tests' set-up: a tenant's files as a single daemon would have them."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from replicator.fleet import KEY_ENV, new_key
from tests.integration.test_integration_zoho import write_config
from tests.redis_server import RedisServer, need_redis

# distinctive texts, searched for in everything the fleet prints and stores
CLIENT_SECRET = "cs-VERY-SECRET-5f1e0c"
REFRESH_TOKEN = "1000.rt-VERY-SECRET-9a8b7c"
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN)


@attrs.frozen
class Files:
    folder: Path
    config: Path
    credentials: Path


def write_private(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def files(tmp_path: Path) -> Files:
    """A Zoho integration's config, its 0600 credentials file, its folder."""
    folder = tmp_path / "acme"
    folder.mkdir()
    credentials = write_private(
        folder / "zoho.json",
        {
            "client_id": "1000.CLIENTID",
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "data_centre": "eu",
            "organization_id": "20099",
        },
    )
    config = write_config(folder, credentials, {"customers": {"crm_module": "accounts"}})
    return Files(folder, config, credentials)


@pytest.fixture
def fleet_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = new_key()
    monkeypatch.setenv(KEY_ENV, key)
    return key


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway redis-server for the session (skipped, or failed under CI, without it)."""
    with RedisServer(need_redis()) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
