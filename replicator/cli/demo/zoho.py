"""``replicator demo``: a two-way sync between Zoho CRM and Zoho Books told end to end, and
the Zoho scene it runs on.

The demo starts the Zoho sandbox (:mod:`replicator.sandbox`) in this process on a free
loopback port, seeded with a small company that ran CRM and Books apart (duplicates
across the two, differences inside them), writes a ``replicator.toml`` whose
``[integration]`` table syncs customers, vendors and items both ways, syncs with progress
bars, edits both sides through their APIs (including one field changed on both: a
conflict) and syncs again.  It prints what each sync created, updated, linked, skipped
and held (near names such as Globex Corp / Globex Corporation are held for a person), the
conflicts and why each value won, the API requests the sandbox counted, and ``journal
verify``.  Its files stay in the folder it names; ``replicator sandbox --data
FOLDER/sandbox --port PORT`` serves the same Zoho again for more syncs.

The scene is shared with the integration tests and ``benchmarks/api_calls.py``:

- :func:`zoho_config` writes a ``replicator.toml`` with sides ``crm`` (``zoho_crm``) and
  ``books`` (``zoho_books``) reading one credentials file, and two-way modules ``customers``
  (CRM Accounts <-> Books contacts of type customer), ``vendors`` (CRM Vendors <-> Books
  vendor contacts) and ``items`` (CRM Products <-> Books items);
- edits go through :class:`replicator.sandbox.api_client.ZohoApi`, the published APIs as a
  person in the web UI or another integration would use them: its own OAuth token, no
  journal, no echo tracking.

Secrets stay in the credentials file; the config only names it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from replicator.cli.demo.deals import run_deals
from replicator.cli.demo.dry_run import show_dry_run
from replicator.cli.demo.story import conflicts_and_verify
from replicator.cli.demo.transactions import run_transactions, set_up_crm
from replicator.cli.demo.undo import show_undo
from replicator.cli.sync import print_report, run_sync
from replicator.config.load import Config, load_config
from replicator.sandbox import AdminClient, Sandbox
from replicator.sandbox.api_client import ZohoApi
from replicator.sync.record import CycleReport

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


# -- the Zoho demo ---------------------------------------------------------------------------

# duplicates policy per module: Zoho's own (overwrite), skip, and our field-by-field link
DEMO_POLICIES = {"customers": "overwrite", "vendors": "skip", "items": "link"}


def run_zoho_demo(
    folder: Path, console: Console, *, then: Callable[[Config], None] | None = None
) -> None:
    """The Zoho demo in ``folder`` (a new one: the command checks it holds no demo files);
    ``then(config)`` runs last, the sandbox still up."""
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
            made = set_up_crm(config)  # `replicator setup`: the status values CRM lacks
            console.print(f"replicator setup: {made} field(s) or picklist value set(s) made in CRM")
            show_dry_run(console, config)  # the plan first (issue 15)
            console.rule("first sync")
            first = run_sync(config, yes=True)  # the plan was shown: past the guard
            print_report(console, config, first)
            _explain_first(console, first)

            console.rule("edits made through the Zoho APIs, on both sides")
            box.admin.advance_clock(1)  # people edit a moment later (Zoho times are seconds)
            for line in _edit_zoho(api, box.admin):
                console.print(f"- {line}")

            console.rule("second sync")
            second = run_sync(config)
            print_report(console, config, second)
            _show_sides(console, api, "after the second sync")
            run_transactions(console, config, api, box.admin)
            run_deals(console, config, api, box.admin)
            show_undo(console, config, second.entries_after)  # the second sync's run
        _show_requests(console, box.admin.counters())
        port = box.port
        conflicts_and_verify(console, config)
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
        if then is not None:  # `demo --console`: the console, served while Zoho is up
            then(config)


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

[integration.transactions]          # quotes, sales orders, invoices, purchase orders

[integration.deals]                 # stage triggers (won / lost from CRM's stage metadata)
quote = "created"                   # a Books estimate when a deal is created
invoice = true                      # a Books invoice when it is won, voided when lost
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


def _edit_zoho(api: ZohoApi, admin: AdminClient) -> list[str]:
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


__all__ = ["DEMO_POLICIES", "MODULES", "run_zoho_demo", "zoho_config"]
