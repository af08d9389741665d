"""A console over two SQLite databases: the config (with ``[console]``), an admin, an
integration user, a clock tests move, and a signed-in test client."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount

from journal import Entry
from replicator.config.load import load_config
from replicator.console.app import create_console_app
from replicator.console.auth import hash_password, set_admin, store_path, update_store
from replicator.console.controls import LibraryActions
from replicator.sync.app import open_journal
from tests.cli.test_cli import Folder

with warnings.catch_warnings():  # Starlette's notice that httpx2 will follow httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CONSOLE = "\n[console]\nenabled = true\nsession_minutes = 30\n"
ADMIN, PASSWORD = "ada", "correct horse battery staple"
USER, USER_PASSWORD = "ivy@example.com", "integration pass phrase"


class Clock:
    """A clock that moves only when a test moves it."""

    def __init__(self) -> None:
        self.at = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.at

    def move(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


class Site(Folder):
    """A folder whose config turns the console on, with an admin and an integration user."""

    def __init__(self, path: Path, conflicts: str = "newest") -> None:
        path.mkdir(parents=True, exist_ok=True)
        super().__init__(path, conflicts)
        self.config.write_text(self.config.read_text(encoding="utf-8") + CONSOLE, "utf-8")
        self.store = store_path(self.journal)
        self.clock = Clock()
        set_admin(self.store, ADMIN, PASSWORD)
        with update_store(self.store) as data:
            data["users"][USER] = {"hash": hash_password(USER_PASSWORD)}

    def seed(self) -> None:
        self.sql(
            self.books,
            "INSERT INTO customers (name, email, credit_limit) VALUES "
            "('Acme Ltd', 'ap@acme.example', 1500.50)",
        )
        self.ok("sync")

    def conflict(self) -> int:
        """An open conflict on Acme's email (the folder's policy must be manual)."""
        self.sql(self.books, "UPDATE customers SET email = 'b@acme.example' WHERE id = 1")
        self.sql(self.crm, "UPDATE accounts SET email = 'c@acme.example' WHERE id = 1")
        self.ok("sync")
        (conflict,) = self.json("conflicts", "list", "--open")
        return int(conflict["id"])

    def client(self, *, served_on: str = "127.0.0.1", **options: Any) -> TestClient:
        config = load_config(self.config)
        app = create_console_app(
            config, actions=LibraryActions(config), served_on=served_on, now=self.clock, **options
        )
        root = Starlette(routes=[Mount("/console", app)])
        return TestClient(root, base_url="http://127.0.0.1", follow_redirects=False)

    def signed_in(self, name: str = ADMIN, password: str = PASSWORD) -> TestClient:
        client = self.client()
        answer = client.post("/console/signin", data=signin_form(client, name, password))
        assert answer.status_code == 303, answer.text
        return client

    def entries(self) -> list[Entry]:
        journal = open_journal(load_config(self.config))
        try:
            return list(journal.read())
        finally:
            journal.close()


def csrf_of(client: TestClient, page: str = "/console/signin") -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def signin_form(client: TestClient, name: str, password: str) -> dict[str, str]:
    return {"csrf": csrf_of(client), "name": name, "password": password}


def alert(html: str) -> str:
    """The text of a page's alert (a refusal's message)."""
    found = re.search(r'role="alert">([^<]*)<', html)
    assert found is not None, html
    return found.group(1)


def apart_from_who(entry: Entry) -> dict[str, Any]:
    """An entry as JSON without what differs between two journals (seq, time, hashes) and
    without who made it."""
    data = entry.to_json()
    for key in ("seq", "at", "prev_hash", "hash"):
        data.pop(key, None)
    data["meta"] = {k: v for k, v in data["meta"].items() if k != "by"}
    return data
