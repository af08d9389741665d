"""The Zoho Books <-> CRM integration: its setup steps as config, expanded into modules.

``[integration]`` describes the integration as Zoho's setup pages do; :func:`expand` turns it
into the generic ``[modules.*]`` tables the engine runs (so everything the engine does,
the journal records and the CLI shows works the same).  This module checks the table, its
sides and organisations; what each master module makes, with the default field maps, is
:mod:`replicator.config.integration_modules` (documents:
:mod:`replicator.config.integration_transactions`).  Shape::

    [integration]
    crm = "crm"                       # the CRM side
    books = ["books", "books_eu"]     # Books sides: the first syncs both ways, later ones
                                      # (a second org on the same CRM org) CRM -> Books only

    [integration.customers]
    crm_module = "accounts"           # accounts | contacts | accounts_and_contacts
    orphan_contacts = false           # accounts_and_contacts: contacts of no account too
    sync = "both_ways"                # both_ways | from_crm | to_crm
    duplicates = "overwrite"          # clone | overwrite | skip | link
    clone_name = "{name} ({side} {id})"  # clone: the name on a side that has it already
    conflicts = "newest"              # newest | prefer:<side> | manual
    suggest = true                    # near matches (case, suffix...) listed for a person
    view = "All Accounts"             # a CRM custom view (name or id) of the CRM module
    contact_view = "All Contacts"     # accounts_and_contacts: the contacts' view
    payment_terms = "Payment_Terms"   # a CRM integer custom field for Books payment terms
    addresses = true                  # billing and shipping addresses too (each changed
                                      # contact then costs Books one more GET)
    exclude = ["website"]             # default fields not to sync
    [integration.customers.fields]    # more fields (custom fields), as in [modules.*.fields]
    region = { crm = "Region", books = "cf_region" }

    [integration.vendors]
    [integration.items]
    product_type = "Product_Type"     # a CRM picklist Goods / Services -> Books product type

    [integration.transactions]        # estimates, sales orders, invoices, purchase orders
                                      # with their lines: see integration_transactions
    [integration.deals]               # deal automation: quote = "created", invoice = true
                                      # (see integration_deals)

Modules made (names are what ``sync``, ``status`` and the journal show):

- ``customers``: CRM Accounts <-> Books business customers (``crm_module = "accounts"`` or
  ``accounts_and_contacts``), or CRM Contacts <-> Books individual customers (``contacts``);
- ``contact_persons`` (``accounts_and_contacts``): CRM Contacts with an Account <-> the
  contact persons of that account's Books customer (``account`` is a lookup into
  ``customers``);
- ``individual_customers`` (``orphan_contacts``): CRM Contacts with no Account <-> Books
  individual customers;
- ``vendors``: CRM Vendors <-> Books vendors; ``items``: CRM Products <-> Books items,
  matched on name plus SKU;
- ``estimates``, ``salesorders``, ``invoices``, ``purchaseorders`` (``[integration.
  transactions]``, first Books org only): Books documents <-> CRM Quotes, Sales_Orders,
  Invoices, Purchase_Orders with their lines, owned by Books; the shape, the defaults and
  the masters they need are :mod:`replicator.config.integration_transactions`'s;
- ``deals`` (``[integration.deals]``, first Books org only): CRM Deals watched (read,
  never written), whose stage triggers make and settle Books estimates and invoices; placed
  after every other module (:mod:`replicator.config.integration_deals`);
- for a second Books org ``books_eu``: the same master modules named ``customers@books_eu``
  etc., one way from CRM (no transaction modules, as in Zoho's integration).

``[integration.invoices]`` and the like are refused with a pointer to
``[integration.transactions]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from replicator.config.check import fail, refuse_unknown
from replicator.config.integration_deals import (
    DEALS,
    check_documents,
    deal_triggers,
    deals_module,
)
from replicator.config.integration_modules import master_modules
from replicator.config.integration_transactions import TRANSACTIONS, transaction_modules

MASTER_MODULES = ("customers", "vendors", "items")
TRANSACTION_MODULES = ("invoices", "estimates", "salesorders", "purchaseorders")
# the keys each table reads (check.refuse_unknown refuses any other); transaction
# modules are known so that they get their own message
INTEGRATION_KEYS = {
    "crm",
    "books",
    "orgs",
    TRANSACTIONS,
    DEALS,
    *MASTER_MODULES,
    *TRANSACTION_MODULES,
}
ORG_KEYS = {"sync", "modules"}  # [integration.orgs.SIDE]


@attrs.frozen
class Integration:
    """What the ``[integration]`` table set up: sides, and each made module's origin."""

    crm: str
    books: tuple[str, ...]
    # made module -> (master module, Books side, CRM module choice)
    modules: Mapping[str, tuple[str, str, str]] = attrs.field(factory=dict)

    @property
    def primary(self) -> str:
        return self.books[0]

    def crm_module(self, master: str = "customers") -> str | None:
        for made, (name, _, choice) in self.modules.items():
            if name == master and "@" not in made:
                return choice
        return None


def expand(data: Mapping[str, Any], path: Path) -> tuple[dict[str, Any], Integration]:
    """The config with ``[integration]`` turned into ``[modules.*]``; raises ConfigError."""
    raw = data["integration"]
    if not isinstance(raw, dict):
        raise fail(path, "integration", "must be a table")
    sides: dict[str, Any] = data["sides"] if isinstance(data.get("sides"), dict) else {}
    crm = raw.get("crm", "crm")
    books_raw = raw.get("books", "books")
    if not isinstance(books_raw, str | list):
        raise fail(path, "integration.books", f"must name Books side(s), not {books_raw!r}")
    books = (books_raw,) if isinstance(books_raw, str) else tuple(books_raw)
    if not books or not all(isinstance(b, str) and b for b in books):
        raise fail(path, "integration.books", f"must name Books side(s), not {books_raw!r}")
    if len(set(books)) != len(books):
        raise fail(path, "integration.books", "names a side twice")
    for key, side in [("crm", crm), *[("books", b) for b in books]]:
        if not isinstance(side, str) or side not in sides:
            raise fail(
                path,
                f"integration.{key}",
                f"{side!r} is not a side (add [sides.{side}] or name one of {sorted(sides)})",
            )
    if crm in books:
        raise fail(path, "integration.crm", "the CRM side cannot also be a Books side")
    orgs: dict[str, str] = {}
    for side in books:
        # a side that is not a table, or an id that is not text, is refused with the sides
        org = sides[side].get("organization_id") if isinstance(sides[side], dict) else None
        org = org if isinstance(org, str) else None
        if org is not None and org in orgs:
            raise fail(
                path,
                f"sides.{side}.organization_id",
                f"is the same organisation as side {orgs[org]!r}: connect each Books org once",
            )
        if org is not None:
            orgs[org] = side
    refuse_unknown(path, "integration", raw, INTEGRATION_KEYS)
    for key in raw:
        if key in TRANSACTION_MODULES:
            raise fail(
                path,
                f"integration.{key}",
                f"documents are set up under [integration.transactions] "
                f"([integration.transactions.{key}] for this type alone)",
            )
    orgs_raw = raw.get("orgs", {})
    if not isinstance(orgs_raw, dict):
        raise fail(path, "integration.orgs", "must be a table of Books sides")
    for side, options in orgs_raw.items():
        where = f"integration.orgs.{side}"
        if side not in books[1:]:
            raise fail(
                path,
                where,
                f"is not a second Books organisation (those are {list(books[1:]) or 'none'}); "
                f"the first, {books[0]!r}, is set up by [integration.<module>]",
            )
        if not isinstance(options, dict):
            raise fail(path, where, "must be a table")
        refuse_unknown(path, where, options, ORG_KEYS | {TRANSACTIONS, DEALS, *TRANSACTION_MODULES})
        wanted = options.get("modules", list(MASTER_MODULES))
        if not isinstance(wanted, list) or not all(m in MASTER_MODULES for m in wanted):
            raise fail(
                path,
                f"{where}.modules",
                f"must be a list of {', '.join(MASTER_MODULES)}, not {wanted!r}",
            )
        for key, value in options.items():
            if key == "sync" and value != "from_crm":
                raise fail(
                    path,
                    f"{where}.sync",
                    f"a second Books organisation connected to the same CRM org syncs one way, "
                    f"CRM -> Books (from_crm), not {value!r}",
                )
            if key in (TRANSACTIONS, DEALS) or key in TRANSACTION_MODULES:
                raise fail(
                    path,
                    f"{where}.{key}",
                    "a second Books organisation gets no transaction modules",
                )
    modules: dict[str, Any] = {}
    made: dict[str, tuple[str, str, str]] = {}
    user_modules = data.get("modules", {})
    for master in MASTER_MODULES:
        if master not in raw:
            continue
        spec = raw[master]
        if not isinstance(spec, dict):
            raise fail(path, f"integration.{master}", "must be a table")
        for side in books:
            second = side != books[0]
            if second:
                wanted = orgs_raw.get(side, {}).get("modules")
                if wanted is not None and master not in wanted:
                    continue
            for name, module, choice in master_modules(path, master, spec, crm, side, second):
                key = name if not second else f"{name}@{side}"
                if second and "lookups" in module:
                    module["lookups"] = {f: f"{m}@{side}" for f, m in module["lookups"].items()}
                if key in user_modules:
                    raise fail(path, f"modules.{key}", "is made by [integration]: set it up there")
                modules[key] = module
                made[key] = (master, side, choice)
    out = {k: v for k, v in data.items() if k != "integration"}
    customers = made.get("customers")
    customer_module = customers[2] if customers else None
    # the triggers first: their document modules get the deal fields
    triggers = deal_triggers(path, raw[DEALS]) if DEALS in raw else {}
    documents_made: dict[str, Any] = {}
    if TRANSACTIONS in raw:
        documents, taxes = transaction_modules(
            path,
            raw[TRANSACTIONS],
            crm=crm,
            books=books[0],
            masters=raw,
            customer_module=customer_module,
            deals=[trigger["module"] for trigger in triggers.values()],
        )
        for name, module in documents:
            if name in user_modules:
                raise fail(path, f"modules.{name}", "is made by [integration]: set it up there")
            modules[name] = module
            documents_made[name] = module
            made[name] = (TRANSACTIONS, books[0], name)
        if taxes:
            # the connectors pick a tax by percentage; these name the one to take when a
            # side has several of one percentage
            out["sides"] = {**sides}
            for side, names in taxes.items():
                if isinstance(sides[side], dict):
                    out["sides"][side] = {**sides[side], "taxes": names}
    if not modules:
        raise fail(path, "integration", f"set up at least one module ({', '.join(MASTER_MODULES)})")
    out["modules"] = {**modules, **user_modules}
    if triggers:
        check_documents(path, triggers, documents_made, books=books[0])
        if DEALS in user_modules:
            raise fail(path, f"modules.{DEALS}", "is made by [integration]: set it up there")
        # last: the documents it makes and the customers it names run before it
        out["modules"][DEALS] = deals_module(triggers, crm=crm, customer_module=customer_module)
        made[DEALS] = (DEALS, books[0], customer_module or "accounts")
    return out, Integration(crm, books, made)


__all__ = ["MASTER_MODULES", "TRANSACTION_MODULES", "Integration", "expand"]
