"""Duplicates on a first sync between Zoho CRM and Zoho Books (the sandbox, over HTTP).

Before the first sync, CRM holds 1,000 Accounts and Books 1,000 customers; 300 names are on
both sides: 200 spelled exactly alike and 100 that differ only in case or legal suffix
("Near 0001 Ltd" in CRM, "Near 0001 Limited" or "NEAR 0001 LTD" in Books).  The customers
module runs with ``suggest = true`` under each duplicates policy:

- the 200 exact pairs follow the policy (overwrite: linked and CRM's values replace Books';
  link: linked and merged; skip: both left alone and journaled as skipped; clone: both stay
  and each side gains a copy of the other's, named by the ``clone_name`` rule);
- the 100 near matches are listed as suggestions, one group each, and nothing is applied:
  no copy is made of them on either side;
- every other record is created on the other side;
- a suggestion a person resolves with ``replicator conflicts resolve ID --value link`` is
  linked by the next sync.

Seeding writes through the sandbox's admin API (CRM a hundred records a call, Books one).
Books refuses a second customer with a name it has (its default, kept here): the clone
variant's copies carry the side and id they came from in their names.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from journal import Kind, verify
from replicator.cli.demo.zoho import zoho_config
from replicator.cli.main import main
from replicator.config.load import Config, load_config
from replicator.sandbox import AdminClient, Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_app, open_journal
from replicator.sync.record import CycleReport
from tests.integration.conftest import fresh

EXACT, NEAR, ONLY = 200, 100, 700  # per side: 200 + 100 + 700 = 1,000
Values = tuple[str | None, str | None]  # (phone, website)


def exact(i: int) -> str:
    return f"Exact {i:04d} Ltd"


def near_crm(i: int) -> str:
    return f"Near {i:04d} Ltd"


def near_books(i: int) -> str:
    """Half differ in case only, half in the legal suffix only."""
    return f"NEAR {i:04d} LTD" if i % 2 == 0 else f"Near {i:04d} Limited"


def crm_phone(i: int) -> str:
    return f"+1 555 {i:04d}"


def books_site(n: int) -> str:
    """The website of the n-th Books customer seeded (exact pairs first, then near ones)."""
    return f"books-{n:04d}.example"


@pytest.fixture
def admin(sandbox: Sandbox, policy: str) -> AdminClient:
    return fresh(sandbox)  # Books refuses a second customer with one name, as Zoho does


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[ZohoApi]:
    with ZohoApi(sandbox.credentials_path) as client:
        yield client


def seed(admin: AdminClient) -> None:
    """CRM Accounts carry a phone, Books customers a website, so a merge shows both."""
    accounts: list[dict[str, Any]] = []
    accounts += [{"Account_Name": exact(i), "Phone": crm_phone(i)} for i in range(EXACT)]
    accounts += [{"Account_Name": near_crm(i), "Phone": crm_phone(i)} for i in range(NEAR)]
    accounts += [{"Account_Name": f"Crm Only {i:04d}", "Phone": crm_phone(i)} for i in range(ONLY)]
    for start in range(0, len(accounts), 100):
        admin.crm_create("Accounts", *accounts[start : start + 100], notify=False)
    names = [exact(i) for i in range(EXACT)] + [near_books(i) for i in range(NEAR)]
    names += [f"Books Only {i:04d}" for i in range(ONLY)]
    for n, name in enumerate(names):
        admin.books_create(
            "contacts", {"contact_name": name, "contact_type": "customer", "website": books_site(n)}
        )
    admin.advance_clock(1)


def write_config(folder: Path, credentials: Path, duplicates: str) -> Config:
    text = zoho_config(credentials, duplicates=duplicates, books_per_minute=100_000)
    line = f'duplicates = "{duplicates}"\n'
    assert text.count(line) == 1
    text = text.replace(line, line + "suggest = true\n")
    path = folder / "replicator.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def sync(config: Config) -> CycleReport:
    with open_app(config) as app:
        return app.engine.run()


def crm_side(api: ZohoApi) -> dict[str, list[Values]]:
    out: dict[str, list[Values]] = {}
    for r in api.crm_records("Accounts", ["Account_Name", "Phone", "Website"]):
        out.setdefault(r["Account_Name"], []).append(
            (r.get("Phone") or None, r.get("Website") or None)
        )
    return out


def books_side(api: ZohoApi) -> dict[str, list[Values]]:
    out: dict[str, list[Values]] = {}
    for c in api.books_contacts():
        out.setdefault(c["contact_name"], []).append(
            (c.get("phone") or None, c.get("website") or None)
        )
    return out


def cli(config: Config, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--config", str(config.path)])
    assert result.exit_code == 0, result.output
    return result.output


# what each side holds of exact pair i after the first sync, per policy: (CRM, Books)
EXPECTED: dict[str, Any] = {
    "overwrite": lambda i: ([(crm_phone(i), None)], [(crm_phone(i), None)]),
    "link": lambda i: ([(crm_phone(i), books_site(i))], [(crm_phone(i), books_site(i))]),
    "skip": lambda i: ([(crm_phone(i), None)], [(None, books_site(i))]),
    # each side keeps its own under the name; the other's copy is renamed (checked apart)
    "clone": lambda i: ([(crm_phone(i), None)], [(None, books_site(i))]),
}
COPIES = {"overwrite": 0, "link": 0, "skip": 0, "clone": EXACT}  # extra records per side


@pytest.mark.parametrize(
    "policy",
    [
        "overwrite",
        "link",
        pytest.param("skip", marks=pytest.mark.slow),
        pytest.param("clone", marks=pytest.mark.slow),
    ],
)
def test_a_first_sync_of_2000_customers_follows_the_policy_and_suggests_near_matches(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi, policy: str
) -> None:
    """Exact pairs follow the duplicates policy, the 100 near matches are 100 suggestions
    with nothing applied, everything else is copied across, and a suggestion resolved with
    --value link through the CLI is linked by the next sync."""
    started = time.monotonic()
    seed(admin)
    seeded = time.monotonic()
    config = write_config(tmp_path, sandbox.credentials_path, policy)
    report = sync(config)
    synced = time.monotonic()

    crm, books = crm_side(api), books_side(api)
    assert sum(map(len, crm.values())) == 1000 + ONLY + COPIES[policy]
    assert sum(map(len, books.values())) == 1000 + ONLY + COPIES[policy]
    for i in range(EXACT):
        want_crm, want_books = EXPECTED[policy](i)
        assert sorted(crm[exact(i)], key=str) == want_crm, exact(i)
        assert sorted(books[exact(i)], key=str) == want_books, exact(i)
    if policy == "clone":  # "<name> (<side> <id>)": each copy says where it came from
        for side, copies, value in (("books", crm, books_site), ("crm", books, crm_phone)):
            for i in range(EXACT):
                named = [v for n, v in copies.items() if n.startswith(f"{exact(i)} ({side} ")]
                want = (None, value(i)) if side == "books" else (value(i), None)
                assert named == [[want]], exact(i)
    for i in range(ONLY):  # every other record was created on the other side
        assert books[f"Crm Only {i:04d}"] == [(crm_phone(i), None)]
        assert crm[f"Books Only {i:04d}"] == [(None, books_site(EXACT + NEAR + i))]
    for i in range(NEAR):  # nothing applied to a near match: no copy either way
        assert near_crm(i) not in books and near_books(i) not in crm
        assert crm[near_crm(i)] == [(crm_phone(i), None)]
        assert books[near_books(i)] == [(None, books_site(EXACT + i))]

    listed = json.loads(cli(config, "conflicts", "list", "--open", "--json"))
    suggestions = [c for c in listed if c["kind"] == "suggestion"]
    groups = {tuple(sorted(m["rid"] for m in c["duplicate"]["candidates"])) for c in suggestions}
    assert len(groups) == NEAR and len(suggestions) == 2 * NEAR
    assert all(c["reason"].startswith("near match") for c in suggestions)
    assert [c for c in listed if c["kind"] != "suggestion"] == []  # exact pairs are no question
    keys = {frozenset(m["key"] for m in c["duplicate"]["candidates"]) for c in suggestions}
    assert frozenset({near_crm(0), near_books(0)}) in keys
    assert frozenset({near_crm(1), near_books(1)}) in keys
    assert report.total("suggested") == 2 * NEAR
    with open_journal(config) as journal:
        skipped = list(journal.read(kinds=[Kind.SKIPPED]))
        assert len(skipped) == (2 * EXACT if policy == "skip" else 0)
        assert report.total("linked") == (EXACT if policy in ("overwrite", "link") else 0)

    # a person says the first suggestion is one customer
    (first,) = [
        c
        for c in suggestions
        if {m["key"] for m in c["duplicate"]["candidates"]} >= {near_crm(0)}
        and c["rid"].startswith("crm:")
    ]
    out = cli(config, "conflicts", "resolve", str(first["id"]), "--value", "link")
    assert "resolved: link" in out
    resolved = time.monotonic()
    sync(config)
    crm, books = crm_side(api), books_side(api)
    assert sum(map(len, crm.values())) == 1000 + ONLY + COPIES[policy]  # still no copy
    assert sum(map(len, books.values())) == 1000 + ONLY + COPIES[policy]
    if policy == "overwrite":  # CRM's values (its name too) replace Books'
        assert books[near_crm(0)] == crm[near_crm(0)] == [(crm_phone(0), None)]
        assert near_books(0) not in books
    else:  # merged field by field: both sides show one record with both values
        (name,) = [n for n in crm if n.casefold() == "near 0000 ltd"]
        assert crm[name] == books[name] == [(crm_phone(0), books_site(EXACT))]
    left = json.loads(cli(config, "conflicts", "list", "--open", "--json"))
    assert len(left) == 2 * (NEAR - 1)
    with open_journal(config) as journal:
        links = journal.links("customers", first["rid"])
        assert set(links) == {"crm", "books"}
        assert verify(journal).ok
    finished = time.monotonic()
    print(
        f"\n[{policy}] seed {seeded - started:.1f} s, first sync {synced - seeded:.1f} s, "
        f"checks {resolved - synced:.1f} s, resolve + sync + verify {finished - resolved:.1f} s, "
        f"total {finished - started:.1f} s"
    )
