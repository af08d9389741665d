"""``replicator demo``: a two-way sync told end to end, and the Zoho scene it runs on.

The default demo starts the Zoho sandbox (:mod:`replicator.sandbox`) in this process on a
free loopback port, seeded with a small company that ran CRM and Books apart (duplicates
across the two, differences inside them), writes a ``replicator.toml`` whose
``[integration]`` table syncs customers, vendors and items both ways, syncs with progress
bars, edits both sides through their APIs (including one field changed on both: a
conflict) and syncs again.  It prints what each sync created, updated, linked, skipped
and held (near names such as Globex Corp / Globex Corporation are held for a person), the
conflicts and why each value won,
the API requests the sandbox counted, and ``journal verify``.  Its files stay in the
folder it names; ``replicator sandbox --data FOLDER/sandbox --port PORT`` serves the same
Zoho again for more syncs.  ``--sqlite`` tells the same story over two local SQLite
databases (no network).

The scene is shared with the integration tests and ``benchmarks/api_calls.py``:

- :func:`zoho_config` writes a ``replicator.toml`` with sides ``crm`` (``zoho_crm``) and
  ``books`` (``zoho_books``) reading one credentials file, and two-way modules ``customers``
  (CRM Accounts <-> Books contacts of type customer), ``vendors`` (CRM Vendors <-> Books
  vendor contacts) and ``items`` (CRM Products <-> Books items);
- :class:`ZohoApi` edits records through the published APIs, as a person in the web UI or
  another integration would: its own OAuth token, no journal, no echo tracking.

Secrets stay in the credentials file; the config only names it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from journal import verify
from replicator.cli import journal as cli_journal
from replicator.cli import main as cli
from replicator.config.load import Config, load_config
from replicator.connectors.zoho.credentials import read_credentials_file
from replicator.sync.app import open_journal
from replicator.sync.engine import CycleReport

# what a demo writes in its folder: a folder holding any of these is not reused
FILES = ("replicator.toml", "journal.db", "sandbox", "books.db", "crm.db")

# module -> (CRM module, Books table, [(canonical field, CRM field, Books column, type)])
MODULES: dict[str, tuple[str, str, list[tuple[str, str, str, str]]]] = {
    "customers": (
        "Accounts",
        "customers",
        [
            ("name", "Account_Name", "contact_name", "text"),
            ("phone", "Phone", "phone", "text"),
            ("website", "Website", "website", "text"),
        ],
    ),
    "vendors": (
        "Vendors",
        "vendors",
        [
            ("name", "Vendor_Name", "contact_name", "text"),
            ("email", "Email", "email", "text"),
            ("website", "Website", "website", "text"),
        ],
    ),
    "items": (
        "Products",
        "items",
        [
            ("name", "Product_Name", "name", "text"),
            ("sku", "Product_Code", "sku", "text"),
            ("rate", "Unit_Price", "rate", "decimal"),
        ],
    ),
}


def zoho_config(
    credentials: str | Path,
    *,
    modules: Sequence[str] = ("customers",),
    journal: str = "journal.db",
    duplicates: str | Mapping[str, str] = "overwrite",
    conflicts: str = "newest",
    books_per_minute: int = 100,
    page_size: int | None = None,
) -> str:
    """The text of a ``replicator.toml`` syncing CRM and Books both ways.

    ``duplicates`` is one policy, or one per module (``overwrite`` where not named).
    ``books_per_minute`` is the Books connector's limiter (Books allows 100 requests a
    minute per organisation: raise it only against a sandbox that allows more).
    """
    lines = [
        "# Zoho CRM <-> Zoho Books, both ways.  Secrets live in the credentials file only.",
        "[journal]",
        f"path = {json.dumps(journal)}",
        "",
        "[sides.crm]",
        'connector = "zoho_crm"',
        f"credentials = {json.dumps(str(credentials))}",
        "",
        "[sides.books]",
        'connector = "zoho_books"',
        f"credentials = {json.dumps(str(credentials))}",
        f"requests_per_minute = {books_per_minute}",
    ]

    def policy(module: str) -> str:
        if isinstance(duplicates, str):
            return duplicates
        return duplicates.get(module, "overwrite")

    for name in modules:
        crm_module, books_table, fields = MODULES[name]
        crm_match, books_match = fields[0][1], fields[0][2]
        lines += [
            "",
            f"[modules.{name}]",
            'sync = "both_ways"',
            f'duplicates = "{policy(name)}"',
            f'conflicts = "{conflicts}"',
            *([f"page_size = {page_size}"] if page_size else []),
            f'crm = {{ table = "{crm_module}", match = "{crm_match}", '
            'modified = "Modified_Time" }',
            f'books = {{ table = "{books_table}", match = "{books_match}", '
            'modified = "last_modified_time" }',
            "",
            f"[modules.{name}.fields]",
        ]
        for field, crm_field, books_column, kind in fields:
            typed = f', type = "{kind}"' if kind != "text" else ""
            lines.append(f'{field} = {{ crm = "{crm_field}", books = "{books_column}"{typed} }}')
    return "\n".join(lines) + "\n"


class ZohoApi:
    """Another program editing CRM and Books through their published APIs."""

    def __init__(self, credentials: str | Path | Mapping[str, str], *, timeout: float = 30):
        if not isinstance(credentials, Mapping):
            credentials = read_credentials_file(credentials)
        self.credentials = dict(credentials)
        self.http = httpx.Client(timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ZohoApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def token(self) -> str:
        if self._token is None:
            answer = self.http.post(
                f"{self.credentials['accounts_url']}/oauth/v2/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": self.credentials["client_id"],
                    "client_secret": self.credentials["client_secret"],
                    "refresh_token": self.credentials["refresh_token"],
                },
            )
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return self._token

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Zoho-oauthtoken {self.token()}"}
        response = self.http.request(method, url, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: HTTP {response.status_code}: {response.text}")
        return response.json() if response.content else {}

    # -- CRM -------------------------------------------------------------------------------

    def crm(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call(method, f"{self.credentials['api_domain']}/crm/v8{path}", **kwargs)

    def crm_create(self, module: str, *records: Mapping[str, Any]) -> list[str]:
        """Insert records (100 a call); their ids."""
        ids: list[str] = []
        for start in range(0, len(records), 100):
            answer = self.crm(
                "POST", f"/{module}", json={"data": list(records[start : start + 100])}
            )
            for result in answer["data"]:
                if result["status"] != "success":
                    raise RuntimeError(f"CRM {module}: {result}")
                ids.append(str(result["details"]["id"]))
        return ids

    def crm_update(self, module: str, id: str, **fields: Any) -> None:
        [result] = self.crm("PUT", f"/{module}", json={"data": [{"id": id, **fields}]})["data"]
        if result["status"] != "success":
            raise RuntimeError(f"CRM {module} {id}: {result}")

    def crm_records(self, module: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every record of a module with ``fields`` (and ``id``)."""
        records: list[dict[str, Any]] = []
        params: dict[str, Any] = {"fields": ",".join(fields), "per_page": 200}
        page, token = 1, None
        while True:
            query = {**params, **({"page_token": token} if token else {"page": page})}
            answer = self.crm("GET", f"/{module}", params=query)
            records += answer.get("data") or []
            info = answer.get("info") or {}
            if not info.get("more_records"):
                return records
            token = info.get("next_page_token") if page * 200 >= 2000 or token else None
            page += 1

    # -- Books -----------------------------------------------------------------------------

    def books(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        query = {"organization_id": self.credentials["organization_id"], **(params or {})}
        url = f"{self.credentials['api_domain']}/books/v3{path}"
        return self._call(method, url, params=query, **kwargs)

    def books_create_contact(
        self,
        name: str,
        *,
        kind: str = "customer",
        phone: str = "",
        website: str = "",
        email: str = "",
    ) -> str:
        body: dict[str, Any] = {"contact_name": name, "contact_type": kind}
        if website:
            body["website"] = website
        if phone or email:
            body["contact_persons"] = [
                {
                    "first_name": name.split()[0],
                    "phone": phone,
                    "email": email,
                    "is_primary_contact": True,
                }
            ]
        return str(self.books("POST", "/contacts", json=body)["contact"]["contact_id"])

    def books_update_contact(self, id: str, **fields: Any) -> None:
        """Update a contact; ``phone`` / ``email`` go to its primary contact person."""
        body = {k: v for k, v in fields.items() if k not in ("phone", "email")}
        person: dict[str, Any] = {k: fields[k] for k in ("phone", "email") if k in fields}
        if person:
            current = self.books("GET", f"/contacts/{id}")["contact"]["contact_persons"]
            primary = next((p for p in current if p["is_primary_contact"]), None)
            others = [
                {"contact_person_id": p["contact_person_id"]} for p in current if p is not primary
            ]
            mine: dict[str, Any] = {**person, "is_primary_contact": True}
            if primary is not None:
                mine["contact_person_id"] = primary["contact_person_id"]
            body["contact_persons"] = [*others, mine]
        self.books("PUT", f"/contacts/{id}", json=body)

    def books_contacts(self, kind: str = "customer") -> list[dict[str, Any]]:
        """Every contact of ``kind`` as the list shows it (primary person's phone and email)."""
        records: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.books(
                "GET", "/contacts", params={"contact_type": kind, "page": page, "per_page": 200}
            )
            records += answer["contacts"]
            if not answer["page_context"]["has_more_page"]:
                return records
            page += 1


# -- the Zoho demo ---------------------------------------------------------------------------

# duplicates policy per module: Zoho's own (overwrite), skip, and our field-by-field link
DEMO_POLICIES = {"customers": "overwrite", "vendors": "skip", "items": "link"}


def run_zoho_demo(folder: Path, console: Console) -> None:
    """The Zoho demo in ``folder`` (which must hold none of :data:`FILES`)."""
    from replicator.sandbox import Sandbox

    console.print(f"[b]demo folder:[/b] {folder}")
    with Sandbox(folder / "sandbox", seed="demo") as box:
        console.print(
            f"Zoho sandbox (CRM v8, Books v3, OAuth) on {box.url}, seeded with a small company "
            "whose CRM and Books overlap; credentials in "
            f"{box.credentials_path.relative_to(folder)} (mode 0600)"
        )
        config_path = folder / "replicator.toml"
        config_path.write_text(_demo_config(box.credentials_path), encoding="utf-8")
        config = load_config(config_path)
        with ZohoApi(box.credentials_path) as api:
            _show_sides(console, api, "before the first sync")
            console.rule("first sync")
            first = cli.run_sync(config)
            cli.print_report(console, config, first)
            _explain_first(console, first)

            console.rule("edits made through the Zoho APIs, on both sides")
            box.admin.advance_clock(1)  # people edit a moment later (Zoho times are seconds)
            for line in _edit_zoho(api, box.admin):
                console.print(f"- {line}")

            console.rule("second sync")
            second = cli.run_sync(config)
            cli.print_report(console, config, second)
            _show_sides(console, api, "after the second sync")
        _show_requests(console, box.admin.counters())
        port = box.port
    _conflicts_and_verify(console, config)
    cfg = f"replicator --config {config_path}"
    console.print(f"\nThe demo is in {folder}. Try:")
    for line in (
        f"{cfg} status",
        f"{cfg} conflicts list",
        f"{cfg} journal log --module customers",
        f"replicator sandbox --data {folder / 'sandbox'} --port {port}   # Zoho again, then:",
        f"{cfg} sync",
    ):
        console.print(f"  {line}", soft_wrap=True)


def _demo_config(credentials: Path) -> str:
    """The demo's config: the Books <-> CRM integration as Zoho's setup pages describe it."""
    path = json.dumps(str(credentials.relative_to(credentials.parent.parent)))
    return f"""# Zoho CRM <-> Zoho Books, both ways.  Secrets live in the credentials file only.
[journal]
path = "journal.db"

[sides.crm]
connector = "zoho_crm"
credentials = {path}

[sides.books]
connector = "zoho_books"
credentials = {path}

[integration]
crm = "crm"
books = "books"

[integration.customers]
crm_module = "accounts"            # CRM Accounts <-> Books business customers
duplicates = "{DEMO_POLICIES["customers"]}"
payment_terms = "Payment_Terms"    # a CRM integer field for Books' payment terms

[integration.vendors]
duplicates = "{DEMO_POLICIES["vendors"]}"

[integration.items]
duplicates = "{DEMO_POLICIES["items"]}"
product_type = "Product_Type"      # a CRM picklist Goods / Services
"""


def _show_sides(console: Console, api: ZohoApi, when: str) -> None:
    crm = len(api.crm_records("Accounts", ["Account_Name"]))
    books = len(api.books_contacts())
    console.print(f"{when}: {crm} accounts in CRM, {books} customers in Books")


def _explain_first(console: Console, report: CycleReport) -> None:
    def total(module: str, what: str) -> int:
        return sum(n for m, _, w, n in report.rows() if m == module and w == what)

    console.print(
        f"customers: {total('customers', 'linked')} name(s) on both sides were linked, not "
        "copied (duplicates = overwrite: CRM's values replaced Books'); vendors: "
        f"{total('vendors', 'skipped') // 2} name(s) on both sides left alone (duplicates = "
        f"skip); items: {total('items', 'linked')} linked and merged field by field "
        "(duplicates = link: where both had a different value, the newer won, journaled as a "
        "conflict)"
    )
    refused = total("items", "rejected")
    if refused:
        console.print(
            f"items: {refused} refused by Books (Sprocket: one name, two SKUs, so not a "
            "duplicate by name plus SKU, and Books item names are unique): `replicator "
            "history` shows why"
        )
    held = sum(n for m, _, w, n in report.rows() if w == "suggested")
    if held:
        console.print(
            f"near matches: {held} record(s) whose names differ only in case, punctuation or "
            "a legal suffix (Globex Corp / Globex Corporation) were held for a person, not "
            "copied: `replicator conflicts list` shows them, `conflicts resolve ID --value "
            "link` pairs them"
        )


def _edit_zoho(api: ZohoApi, admin: Any) -> list[str]:
    """Edits on both sides, as people would make them; what was done."""
    done = []
    accounts = {r["Account_Name"]: r["id"] for r in api.crm_records("Accounts", ["Account_Name"])}
    customers = {c["contact_name"]: c["contact_id"] for c in api.books_contacts()}
    api.crm_create(
        "Accounts",
        {
            "Account_Name": "Juniper Yoga Studios",
            "Phone": "+1 555 0150",
            "Website": "www.juniper.example",
        },
    )
    done.append("crm: created account 'Juniper Yoga Studios'")
    api.crm_update("Accounts", accounts["Umbrella Health"], Phone="+1 415 555 0199")
    done.append("crm: changed the phone of 'Umbrella Health'")
    api.crm("DELETE", f"/Accounts/{accounts['Cyberdyne Systems']}")
    done.append("crm: deleted 'Cyberdyne Systems' (it stays in Books: deletes do not propagate)")
    api.books_create_contact(
        "Quayside Ferries Ltd", phone="+44 29 5555 0101", website="www.quayside.example"
    )
    done.append("books: created customer 'Quayside Ferries Ltd'")
    api.books_update_contact(customers["Duff Beverages"], website="www.duff.example")
    done.append("books: set the website of 'Duff Beverages'")
    # one field of one customer changed on both sides between two syncs
    api.crm_update("Accounts", accounts["Initech"], Phone="+1 512 555 0111")
    admin.advance_clock(2)
    api.books_update_contact(customers["Initech"], phone="+1 512 555 0222")
    done.append("both: changed the phone of 'Initech' (CRM first, Books 2 s later)")
    return done


def _show_requests(console: Console, counters: list[dict[str, Any]]) -> None:
    table = Table(
        title="API requests the sandbox answered (both syncs and the edits)", title_justify="left"
    )
    for column in ("api", "method", "route", "status", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    totals: Counter[str] = Counter()
    for row in sorted(counters, key=lambda r: (r["api"], r["path"], r["method"])):
        table.add_row(row["api"], row["method"], row["path"], str(row["status"]), str(row["count"]))
        totals[row["api"]] += row["count"]
    console.print(table)
    console.print("requests: " + ", ".join(f"{api} {n}" for api, n in sorted(totals.items())))


def _conflicts_and_verify(console: Console, config: Config) -> None:
    """The conflicts (and why each value won), then the journal's verification."""
    console.rule("conflicts")
    with open_journal(config) as journal:
        items = [cli_journal.conflict_data(r) for r in journal.conflicts()]
        result = verify(journal)
    groups: dict[tuple[str, ...], list[int]] = {}
    for c in items:
        if c["kind"] == "suggestion" and c["status"] == "open":
            candidates = c["duplicate"]["candidates"]
            names = tuple(f"{x['key']!r} ({x['side']})" for x in candidates)
            groups.setdefault((c["module"], *names), []).append(c["id"])
    for (module, *spelled), ids in groups.items():
        console.print(
            f"{' / '.join(f'#{i}' for i in ids)} open: {module} near match "
            f"{' ~ '.join(spelled)}: held for a person (`conflicts resolve ID --value link` "
            "pairs them, `--value clone` keeps both)",
            soft_wrap=True,
        )
    for c in items:
        if c["kind"] == "suggestion" and c["status"] == "open":
            continue
        values = ", ".join(f"{s}: {cli.show(v)}" for s, v in c["values"].items())
        winner = c["winner"]
        won = f"{winner['side']} ({cli.show(winner['value'])})" if winner else "held for a person"
        console.print(
            f"#{c['id']} {c['status']}: {c['module']} {c['rid']} {c['field']}: {values} -> "
            f"{won}; {c['reason']}",
            soft_wrap=True,
        )
    if not items:
        console.print("no conflicts")
    console.rule("journal verify")
    if not result.ok:
        raise cli.click.ClickException(f"journal verify failed: {result.problem}")
    console.print(f"intact: {result.entries} entries")


# -- the SQLite demo -------------------------------------------------------------------------

SQLITE_CONFIG = """\
# Written by `replicator demo`: two local SQLite databases kept in sync both ways.
[journal]
path = "journal.db"

[sides.books]
connector = "sqlite"
path = "books.db"

[sides.crm]
connector = "sqlite"
path = "crm.db"

[modules.customers]
sync = "both_ways"
first = "crm"
duplicates = "overwrite"
conflicts = "newest"
books = { table = "customers", id = "id", match = "name", modified = "updated_at" }
crm = { table = "accounts", id = "id", match = "account_name", modified = "modified_time" }

[modules.customers.fields]
name = { books = "name", crm = "account_name" }
email = { books = "email", crm = "email" }
phone = { books = "phone", crm = "phone" }
credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }
"""

_FIRST = (
    "Northwind",
    "Blue Harbor",
    "Cedar",
    "Summit",
    "Riverside",
    "Golden Gate",
    "Ironwood",
    "Maple",
    "Pioneer",
    "Silverline",
    "Evergreen",
    "Redwood",
    "Lakeshore",
    "Granite",
    "Horizon",
    "Oakridge",
    "Bright Path",
    "Copperfield",
    "Westbrook",
    "Harborview",
)
_SECOND = (
    "Traders",
    "Logistics",
    "Bakery",
    "Dental",
    "Builders",
    "Analytics",
    "Outfitters",
    "Foods",
    "Consulting",
    "Print Works",
    "Motors",
    "Farms",
    "Studios",
    "Pharmacy",
    "Electric",
    "Textiles",
    "Hardware",
    "Coffee",
    "Labs",
    "Marine",
)
_SUFFIX = ("Ltd", "Inc", "LLC", "Co", "GmbH", "Pvt Ltd")


def _companies(rng: random.Random, n: int) -> list[str]:
    names = [f"{a} {b} {c}" for a in _FIRST for b in _SECOND for c in _SUFFIX]
    return rng.sample(names, n)


def _customer(rng: random.Random, name: str) -> tuple[str, str, str, str]:
    domain = "".join(ch for ch in name.split()[0].lower() if ch.isalnum())
    email = f"{rng.choice(['accounts', 'billing', 'info', 'finance'])}@{domain}.example"
    phone = f"+1 555 {rng.randrange(100, 1000)} {rng.randrange(1000, 10000)}"
    limit = str(Decimal(rng.randrange(10, 500) * 100) + Decimal(rng.choice([0, 50])) / 100)
    return name, email, phone, limit


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _seed(folder: Path, records: int, rng: random.Random) -> list[str]:
    """Both databases, as another program would make them; returns the shared names."""
    shared = min(5, records)
    names = _companies(rng, 2 * records - shared)
    books_names = names[:records]
    crm_names = names[records - shared : 2 * records - shared]
    with contextlib.closing(sqlite3.connect(folder / "books.db")) as db, db:
        db.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT, "
            "phone TEXT, credit_limit NUMERIC, updated_at TEXT)"
        )
        db.executemany(
            "INSERT INTO customers (name, email, phone, credit_limit, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(*_customer(rng, n), _now()) for n in books_names],
        )
    with contextlib.closing(sqlite3.connect(folder / "crm.db")) as db, db:
        db.execute(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, account_name TEXT, email TEXT, "
            "phone TEXT, credit_limit NUMERIC, modified_time TEXT)"
        )
        db.executemany(
            "INSERT INTO accounts (account_name, email, phone, credit_limit, "
            "modified_time) VALUES (?, ?, ?, ?, ?)",
            [(*_customer(rng, n), _now()) for n in crm_names],
        )
    return books_names[records - shared :]


def _edit(folder: Path, rng: random.Random) -> list[str]:
    """Edit both databases directly, as their own apps would; returns what was done."""
    done = []
    with (
        contextlib.closing(sqlite3.connect(folder / "books.db")) as books,
        books,
        contextlib.closing(sqlite3.connect(folder / "crm.db")) as crm,
        crm,
    ):
        name, email, phone, limit = _customer(rng, "Quayside Ferries Ltd")
        books.execute(
            "INSERT INTO customers (name, email, phone, credit_limit, updated_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, email, phone, limit, _now()),
        )
        done.append(f"books: inserted customer {name!r}")
        name, email, phone, limit = _customer(rng, "Juniper Yoga Studios")
        crm.execute(
            "INSERT INTO accounts (account_name, email, phone, credit_limit, "
            "modified_time) VALUES (?, ?, ?, ?, ?)",
            (name, email, phone, limit, _now()),
        )
        done.append(f"crm: inserted account {name!r}")
        bid, bname = books.execute("SELECT id, name FROM customers ORDER BY id LIMIT 1").fetchone()
        books.execute(
            "UPDATE customers SET credit_limit = ?, updated_at = ? WHERE id = ?",
            ("12500.00", _now(), bid),
        )
        done.append(f"books: raised the credit limit of {bname!r} to 12500.00")
        cid, cname = crm.execute(
            "SELECT id, account_name FROM accounts ORDER BY id LIMIT 1"
        ).fetchone()
        crm.execute(
            "UPDATE accounts SET phone = ?, modified_time = ? WHERE id = ?",
            ("+1 555 010 2030", _now(), cid),
        )
        done.append(f"crm: changed the phone of {cname!r}")
        did, dname = crm.execute(
            "SELECT id, account_name FROM accounts ORDER BY id DESC LIMIT 1 OFFSET 1"
        ).fetchone()
        crm.execute("DELETE FROM accounts WHERE id = ?", (did,))
        done.append(f"crm: deleted {dname!r} (it stays in books: deletes are not propagated)")
        # the same field of the same customer, changed on both sides between two syncs
        kid, kname = books.execute(
            "SELECT id, name FROM customers ORDER BY id LIMIT 1 OFFSET 2"
        ).fetchone()
        books.execute(
            "UPDATE customers SET email = ?, updated_at = ? WHERE id = ?",
            ("ap@books-edit.example", _now(), kid),
        )
        crm.execute(
            "UPDATE accounts SET email = ?, modified_time = ? WHERE account_name = ?",
            ("sales@crm-edit.example", _now(), kname),
        )
        done.append(f"both: changed the email of {kname!r} (books first, then crm)")
    return done


def run_sqlite_demo(folder: Path, console: Console, *, records: int, seed: int) -> None:
    """Sync two SQLite databases end to end: seed, sync, edit both, sync, show the journal."""
    rng = random.Random(seed)
    console.print(f"[b]demo folder:[/b] {folder}")
    shared = _seed(folder, records, rng)
    config_path = folder / "replicator.toml"
    config_path.write_text(SQLITE_CONFIG, encoding="utf-8")
    console.print(
        f"seeded {records} customers in books.db and {records} accounts in crm.db; "
        f"{len(shared)} names are on both sides: {', '.join(shared)}"
    )
    config = load_config(config_path)

    console.rule("first sync")
    report = cli.run_sync(config)
    cli.print_report(console, config, report)
    console.print(
        f"{report.total('linked')} customers on both sides were linked, not copied "
        "(duplicates = overwrite: the CRM values replaced the Books ones)"
    )

    console.rule("edits made directly in both databases")
    for line in _edit(folder, rng):
        console.print(f"- {line}")

    console.rule("second sync")
    cli.print_report(console, config, cli.run_sync(config))
    _conflicts_and_verify(console, config)
    with open_journal(config) as journal:
        items = [cli_journal.conflict_data(r) for r in journal.conflicts()]
    cfg = f"replicator --config {config_path}"
    tries = [f"{cfg} status", f"{cfg} conflicts list"]
    if items:
        first = items[0]
        loser = next(
            (s for s in first["values"] if first["winner"] is None or s != first["winner"]["side"]),
            "books",
        )
        tries += [
            f"{cfg} conflicts show {first['id']}",
            f"{cfg} conflicts resolve {first['id']} --take {loser}   # then sync",
            f"{cfg} journal log --record {first['rid']}",
        ]
    tries += [f"{cfg} sync", f"{cfg} journal verify"]
    console.print(f"\nThe demo is in {folder}. Try:")
    for line in tries:
        console.print(f"  {line}", soft_wrap=True)


__all__ = [
    "FILES",
    "MODULES",
    "ZohoApi",
    "run_sqlite_demo",
    "run_zoho_demo",
    "zoho_config",
]
