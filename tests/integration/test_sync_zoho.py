"""End to end: the engine syncing Zoho CRM and Zoho Books (the sandbox) over real HTTP.

The config is what a user writes (:func:`replicator.cli.demo.zoho.zoho_config`): sides ``crm``
(``zoho_crm``) and ``books`` (``zoho_books``) reading the credentials file the sandbox
wrote, and the two-way ``customers`` module, CRM Accounts <-> Books contacts of type
customer, mapping ``Account_Name`` <-> ``contact_name``, ``Phone`` <-> ``phone`` (the
primary contact person's in Books) and ``Website`` <-> ``website``.  Other programs edit
both sides through the published APIs (:class:`replicator.sandbox.api_client.ZohoApi`), a
second or more apart as people would (Zoho's times have whole seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from journal import Kind, verify
from replicator.cli.demo.zoho import zoho_config
from replicator.config.load import Config, load_config
from replicator.connectors.base import Connector
from replicator.connectors.zoho.books import from_options as books_from_options
from replicator.connectors.zoho.crm import from_options as crm_from_options
from replicator.errors import ZohoError
from replicator.sandbox import AdminClient, Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.app import open_app, open_journal
from replicator.sync.engine import Engine
from replicator.sync.record import CycleReport
from tests.integration.conftest import fresh

Values = dict[str, tuple[str | None, str | None]]  # name -> (phone, website)


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[ZohoApi]:
    with ZohoApi(sandbox.credentials_path) as client:
        yield client


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


def write_config(folder: Path, credentials: Path, **options: Any) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "replicator.toml"
    path.write_text(zoho_config(credentials, **options), encoding="utf-8")
    return load_config(path)


def sync(config: Config) -> CycleReport:
    """One cycle as ``replicator sync`` runs it: connectors built from the config."""
    with open_app(config) as app:
        return app.engine.run()


def crm_state(api: ZohoApi) -> Values:
    records = api.crm_records("Accounts", ["Account_Name", "Phone", "Website"])
    return {r["Account_Name"]: (r.get("Phone") or None, r.get("Website") or None) for r in records}


def books_state(api: ZohoApi) -> Values:
    return {
        c["contact_name"]: (c.get("phone") or None, c.get("website") or None)
        for c in api.books_contacts()
    }


def assert_no_duplicates(api: ZohoApi) -> None:
    crm = [r["Account_Name"] for r in api.crm_records("Accounts", ["Account_Name"])]
    books = [c["contact_name"] for c in api.books_contacts()]
    assert len(crm) == len(set(crm)) and len(books) == len(set(books))


def seed_both(api: ZohoApi, admin: AdminClient) -> dict[str, str]:
    """Three accounts in CRM, three customers in Books, one name on both; their ids."""
    ids = dict(
        zip(
            ["crm:Acme Ltd", "crm:Globex", "crm:Initech"],
            api.crm_create(
                "Accounts",
                {"Account_Name": "Acme Ltd", "Phone": "+44 20 1", "Website": "acme.example"},
                {"Account_Name": "Globex", "Phone": "+1 415 2"},
                {"Account_Name": "Initech", "Website": "initech.example"},
            ),
            strict=True,
        )
    )
    ids["books:Acme Ltd"] = api.books_create_contact("Acme Ltd", phone="+44 20 9")
    ids["books:Duff"] = api.books_create_contact("Duff", phone="+1 555 1", website="duff.example")
    ids["books:Krusty"] = api.books_create_contact("Krusty", website="krusty.example")
    admin.advance_clock(1)
    return ids


FIRST = {
    "Acme Ltd": ("+44 20 1", "acme.example"),  # duplicates = overwrite: CRM's values win
    "Globex": ("+1 415 2", None),
    "Initech": (None, "initech.example"),
    "Duff": ("+1 555 1", "duff.example"),
    "Krusty": (None, "krusty.example"),
}


def test_a_first_sync_links_duplicates_and_copies_the_rest_both_ways(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """After one sync both sides hold the same five customers; Acme Ltd, on both sides
    before, is linked rather than copied."""
    seed_both(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path)
    report = sync(config)
    assert crm_state(api) == books_state(api) == FIRST
    assert report.total("linked") == 1
    assert report.total("created") == 4
    assert_no_duplicates(api)
    with open_journal(config) as journal:
        assert verify(journal).ok


def test_edits_through_the_api_on_both_sides_reach_the_other_side(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """A phone changed in CRM and a website changed in Books both arrive across."""
    ids = seed_both(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path)
    sync(config)
    api.crm_update("Accounts", ids["crm:Globex"], Phone="+1 415 999")
    api.books_update_contact(ids["books:Duff"], website="duff.example/new")
    api.books_update_contact(ids["books:Krusty"], phone="+1 555 7")  # a first contact person
    admin.advance_clock(1)
    report = sync(config)
    expected = {
        **FIRST,
        "Globex": ("+1 415 999", None),
        "Duff": ("+1 555 1", "duff.example/new"),
        "Krusty": ("+1 555 7", "krusty.example"),
    }
    assert crm_state(api) == books_state(api) == expected
    assert report.total("updated") == 3 and report.total("created") == 0


def test_a_concurrent_edit_becomes_a_journaled_conflict(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """The same field changed on both sides between two syncs: a conflict with both values,
    settled by the newest edit (Books' here, made two seconds later) on both sides."""
    ids = seed_both(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path)
    sync(config)
    api.crm_update("Accounts", ids["crm:Initech"], Phone="+1 512 100")
    admin.advance_clock(2)
    books_id = {c["contact_name"]: c["contact_id"] for c in api.books_contacts()}["Initech"]
    api.books_update_contact(books_id, phone="+1 512 200")
    admin.advance_clock(1)
    report = sync(config)
    assert report.total("conflicts") == 1
    with open_journal(config) as journal:
        [conflict] = journal.conflicts()
        data = conflict["data"]
    assert conflict["field"] == "phone"
    assert {s["side"]: s["value"] for s in data["siblings"]} == {
        "crm": "+1 512 100",
        "books": "+1 512 200",
    }
    assert data["winner"]["side"] == "books"
    assert (
        crm_state(api)["Initech"]
        == books_state(api)["Initech"]
        == (
            "+1 512 200",
            "initech.example",
        )
    )


def test_a_sync_with_nothing_new_costs_one_list_request_per_side(
    tmp_path: Path, sandbox: Sandbox, admin: AdminClient, api: ZohoApi
) -> None:
    """Once in sync, another cycle reads one list page per side (plus CRM's deleted
    feed and field metadata, and at most one token for both sides), writes nothing and journals
    nothing.  (Within the overlap window after the last change, a cycle may still move a
    cursor's read time: that is the cycle after the gap below.)"""
    seed_both(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path)
    sync(config)
    sync(config)  # reads back the writes of the first (echo: no entries, no writes)
    admin.advance_clock(600)  # the next scheduled sync comes later than the overlap
    sync(config)
    admin.advance_clock(600)
    admin.reset_counters()
    report = sync(config)
    counts = {(r["method"], r["path"]): r["count"] for r in admin.counters()}
    assert counts.get(("GET", "/crm/v8/{module}"), 0) <= 1
    assert counts.get(("GET", "/books/v3/contacts"), 0) <= 1
    writes = {k: n for k, n in counts.items() if k[0] in ("POST", "PUT", "DELETE")}
    # at most one token for both sides: none while the one an earlier sync took is good
    assert set(writes) <= {("POST", "/oauth/v2/token")}
    assert writes.get(("POST", "/oauth/v2/token"), 0) <= 1
    assert sum(counts.values()) <= 5, counts
    assert report.entries_after == report.entries_before
    assert report.total("created") == report.total("updated") == 0


class FastTime:
    """A clock for the connectors that the sandbox shares: a wait moves both forward at
    once, so a limiter's minute passes in no time and the sandbox counts it as a minute."""

    def __init__(self, admin: AdminClient) -> None:
        self.admin = admin
        self.t = 1_000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds
            self.slept += seconds
            self.admin.advance_clock(seconds)


def connectors(
    config: Config, *, sleep: Callable[[float], None], clock: Callable[[], float]
) -> dict[str, Connector]:
    options = {"env": {}, "sleep": sleep, "clock": clock}
    return {
        "crm": crm_from_options("crm", config.sides["crm"].options, **options),
        "books": books_from_options("books", config.sides["books"].options, **options),
    }


def run_cycle(config: Config, sides: Mapping[str, Connector]) -> CycleReport:
    with open_journal(config) as journal:
        return Engine(config, journal, sides).run()


def test_the_books_limiter_keeps_under_the_limit_the_sandbox_enforces(
    tmp_path: Path, sandbox: Sandbox, api: ZohoApi
) -> None:
    """With Books (the sandbox) allowing 20 requests a minute and the connector set to the
    same, a sync needing more than 20 Books requests waits instead of meeting a 429."""
    admin = fresh(sandbox, books_per_minute=20)
    api.crm_create("Accounts", *({"Account_Name": f"Limited {n}"} for n in range(30)))
    config = write_config(tmp_path, sandbox.credentials_path, books_per_minute=20)
    time = FastTime(admin)
    sides = connectors(config, sleep=time.sleep, clock=time.monotonic)
    admin.reset_counters()
    run_cycle(config, sides)
    books = [r for r in admin.counters("books")]
    assert sum(r["count"] for r in books) > 20  # more than one minute's allowance
    assert not [r for r in books if r["status"] == "429"]
    assert len(api.books_contacts()) == 30
    assert time.slept >= 60  # the limiter waited out at least one minute (of fast time)


# -- faults ----------------------------------------------------------------------------------

FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "status": 429, "probability": 0.10},
    {"kind": "status", "status": 503, "probability": 0.05},
    {"kind": "drop", "probability": 0.02},
]
# every 20th record of a CRM bulk write fails (5%), with a passing error: deterministic, so
# each run has refused writes to check
PARTIAL = {"kind": "partial", "api": "crm", "record_every": 20, "record_code": "INTERNAL_ERROR"}
RECORDS = 60


def build_scene(api: ZohoApi, admin: AdminClient) -> None:
    """60 customers: 25 only in CRM, 25 only in Books, 10 names on both sides."""
    api.crm_create(
        "Accounts",
        *(
            {"Account_Name": f"Company {n:02}", "Phone": f"+1 555 {n:04}"}
            for n in [*range(25), *range(50, 60)]
        ),
    )
    for n in range(25, 60):
        api.books_create_contact(f"Company {n:02}", website=f"c{n}.example")
    admin.advance_clock(1)


def edit_scene(api: ZohoApi, admin: AdminClient) -> None:
    """Edits on both sides after the first sync: phones in CRM, websites in Books."""
    crm = {r["Account_Name"]: r["id"] for r in api.crm_records("Accounts", ["Account_Name"])}
    books = {c["contact_name"]: c["contact_id"] for c in api.books_contacts()}
    for n in range(0, 60, 7):
        api.crm_update("Accounts", crm[f"Company {n:02}"], Phone=f"+44 {n:04}")
    for n in range(3, 60, 9):
        api.books_update_contact(books[f"Company {n:02}"], website=f"new{n}.example")
    admin.advance_clock(1)


def sync_until_quiet(config: Config, sides: Mapping[str, Connector]) -> tuple[int, int]:
    """Cycles until one completes with nothing to do; (cycles run, cycles a fault aborted)."""
    aborted = 0
    for cycle in range(1, 30):
        try:
            report = run_cycle(config, sides)
        except ZohoError:
            aborted += 1  # a call failed past its retries: the next cycle resumes
            continue
        busy = sum(report.total(w) for w in ("observed", "created", "updated", "rejected"))
        if not busy:
            return cycle, aborted
    raise AssertionError("the sync never went quiet")


def final_state(api: ZohoApi) -> tuple[Values, Values]:
    assert_no_duplicates(api)
    return crm_state(api), books_state(api)


def run_scenario(
    tmp_path: Path, sandbox: Sandbox, api: ZohoApi, *, faults: bool
) -> tuple[tuple[Values, Values], Config, int]:
    admin = fresh(sandbox)
    build_scene(api, admin)
    config = write_config(tmp_path, sandbox.credentials_path, books_per_minute=100_000)
    # no waiting: the faults are drawn per request, not in time
    sides = connectors(config, sleep=lambda s: None, clock=lambda: 0.0)
    hits = 0
    for step in (None, edit_scene):
        if step is not None:
            step(api, admin)  # the other program's calls meet no fault
        if faults:
            for fault in FAULTS:
                for which in ("crm", "books"):
                    admin.add_fault(api=which, **fault)
            admin.add_fault(**PARTIAL)
        sync_until_quiet(config, sides)
        hits += sum(f["hits"] for f in admin.faults())
        admin.clear_faults()
    for side in sides.values():
        side.close()
    return final_state(api), config, hits


@pytest.mark.parametrize("records", [RECORDS])
def test_faults_change_nothing_but_the_journal(
    tmp_path: Path, sandbox: Sandbox, api: ZohoApi, records: int
) -> None:
    """With 10% 429s, 5% 5xx and 2% dropped connections on both APIs, and 5% of CRM bulk
    records failing, syncing until quiet ends where a sync without faults ends: every
    record once on each side, every edit arrived, and every refused write journaled."""
    clean, _, _ = run_scenario(tmp_path / "clean", sandbox, api, faults=False)
    assert len(clean[0]) == len(clean[1]) == records
    assert clean[0] == clean[1]
    faulty, config, hits = run_scenario(tmp_path / "faulty", sandbox, api, faults=True)
    assert hits > 0
    assert faulty == clean
    with open_journal(config) as journal:
        assert verify(journal).ok
        entries = list(journal.read())
    errors = [e for e in entries if e.kind is Kind.ERROR]
    applied = {(e.rid, e.side) for e in entries if e.kind is Kind.APPLIED}
    assert errors, "the faults refused no write: nothing to check"
    # every refused write is journaled with its reason, and was applied later on
    assert all(e.meta.get("reason") for e in errors)
    assert all((e.rid, e.side) in applied for e in errors if e.meta.get("retry"))
