"""The Zoho Books <-> CRM integration: its setup steps as config, expanded into modules.

``[integration]`` describes the integration as Zoho's setup pages do; :func:`expand` turns it
into the generic ``[modules.*]`` tables the engine runs (so everything the engine does,
the journal records and the CLI shows works the same).  Shape::

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
- for a second Books org ``books_eu``: the same modules named ``customers@books_eu`` etc.,
  one way from CRM.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from replicator.config.check import refuse_unknown
from replicator.errors import ConfigError

MASTER_MODULES = ("customers", "vendors", "items")
TRANSACTION_MODULES = ("invoices", "estimates", "salesorders", "purchaseorders", "deals")
CRM_MODULES = ("accounts", "contacts", "accounts_and_contacts")
DIRECTIONS = ("both_ways", "from_crm", "to_crm")
MODULE_KEYS = {
    "crm_module",
    "orphan_contacts",
    "sync",
    "duplicates",
    "clone_name",
    "conflicts",
    "suggest",
    "view",
    "contact_view",
    "payment_terms",
    "product_type",
    "addresses",
    "exclude",
    "fields",
    "page_size",
}
# the keys each table reads (config_check.refuse_unknown refuses any other); transaction
# modules are known so that they get their own message
INTEGRATION_KEYS = {"crm", "books", "orgs", *MASTER_MODULES, *TRANSACTION_MODULES}
ORG_KEYS = {"sync", "modules"}  # [integration.orgs.SIDE]
FIELD_KEYS = {"crm", "books", "type", "values"}  # [integration.MODULE.fields.FIELD]
# (canonical field, CRM field, Books column, type): the documented default maps
ACCOUNT_FIELDS = [
    ("name", "Account_Name", "contact_name", "text"),
    ("phone", "Phone", "phone", "text"),
    ("website", "Website", "website", "text"),
    ("notes", "Description", "notes", "text"),
]
CONTACT_FIELDS = [
    ("name", "Full_Name", "contact_name", "text"),
    ("first_name", "First_Name", "first_name", "text"),
    ("last_name", "Last_Name", "last_name", "text"),
    ("email", "Email", "email", "text"),
    ("phone", "Phone", "phone", "text"),
    ("mobile", "Mobile", "mobile", "text"),
    ("notes", "Description", "notes", "text"),
]
PERSON_FIELDS = [
    ("email", "Email", "email", "text"),
    ("first_name", "First_Name", "first_name", "text"),
    ("last_name", "Last_Name", "last_name", "text"),
    ("phone", "Phone", "phone", "text"),
    ("mobile", "Mobile", "mobile", "text"),
    ("department", "Department", "department", "text"),
    ("designation", "Title", "designation", "text"),
    ("account", "Account_Name", "contact_id", "text"),
]
VENDOR_FIELDS = [
    ("name", "Vendor_Name", "contact_name", "text"),
    ("email", "Email", "email", "text"),
    ("phone", "Phone", "phone", "text"),
    ("website", "Website", "website", "text"),
    ("notes", "Description", "notes", "text"),
]
ITEM_FIELDS = [
    ("name", "Product_Name", "name", "text"),
    ("sku", "Product_Code", "sku", "text"),
    ("rate", "Unit_Price", "rate", "decimal"),
    ("description", "Description", "description", "text"),
]
DEFAULT_FIELDS = {
    "accounts": ACCOUNT_FIELDS,
    "contacts": CONTACT_FIELDS,
    "persons": PERSON_FIELDS,
    "vendors": VENDOR_FIELDS,
    "items": ITEM_FIELDS,
}
# billing and shipping addresses: (canonical part, CRM suffix, Books part); Accounts name
# the postal code Billing_Code, Vendors have one address (Street, City, ...)
ADDRESS_PARTS = [
    ("street", "Street", "address"),
    ("city", "City", "city"),
    ("state", "State", "state"),
    ("zip", "Code", "zip"),
    ("country", "Country", "country"),
]
# Books' product types as a CRM Goods / Services picklist names them
PRODUCT_TYPES = {"Goods": "goods", "Services": "service"}


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


def _fail(path: Path, key: str, reason: str) -> ConfigError:
    return ConfigError(str(path), key, reason)


def _choice(
    path: Path, raw: Mapping[str, Any], key: str, where: str, choices: Any, default: str
) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise _fail(path, f"{where}.{key}", f"must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _flag(path: Path, raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise _fail(path, f"{where}.{key}", f"must be true or false, not {value!r}")
    return value


def _extra_fields(spec: Mapping[str, Any]) -> Any:
    """A copy of the user's ``fields`` table to add options' fields to (a wrong type is
    left for :func:`_fields` to refuse)."""
    extra = spec.get("fields", {})
    return dict(extra) if isinstance(extra, dict) else extra


def _text(path: Path, raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(path, f"{where}.{key}", f"must be a non-empty string, not {value!r}")
    return value


def expand(data: Mapping[str, Any], path: Path) -> tuple[dict[str, Any], Integration]:
    """The config with ``[integration]`` turned into ``[modules.*]``; raises ConfigError."""
    raw = data["integration"]
    if not isinstance(raw, dict):
        raise _fail(path, "integration", "must be a table")
    sides: dict[str, Any] = data["sides"] if isinstance(data.get("sides"), dict) else {}
    crm = raw.get("crm", "crm")
    books_raw = raw.get("books", "books")
    if not isinstance(books_raw, str | list):
        raise _fail(path, "integration.books", f"must name Books side(s), not {books_raw!r}")
    books = (books_raw,) if isinstance(books_raw, str) else tuple(books_raw)
    if not books or not all(isinstance(b, str) and b for b in books):
        raise _fail(path, "integration.books", f"must name Books side(s), not {books_raw!r}")
    if len(set(books)) != len(books):
        raise _fail(path, "integration.books", "names a side twice")
    for key, side in [("crm", crm), *[("books", b) for b in books]]:
        if not isinstance(side, str) or side not in sides:
            raise _fail(
                path,
                f"integration.{key}",
                f"{side!r} is not a side (add [sides.{side}] or name one of {sorted(sides)})",
            )
    if crm in books:
        raise _fail(path, "integration.crm", "the CRM side cannot also be a Books side")
    orgs: dict[str, str] = {}
    for side in books:
        # a side that is not a table, or an id that is not text, is refused with the sides
        org = sides[side].get("organization_id") if isinstance(sides[side], dict) else None
        org = org if isinstance(org, str) else None
        if org is not None and org in orgs:
            raise _fail(
                path,
                f"sides.{side}.organization_id",
                f"is the same organisation as side {orgs[org]!r}: connect each Books org once",
            )
        if org is not None:
            orgs[org] = side
    refuse_unknown(path, "integration", raw, INTEGRATION_KEYS)
    for key in raw:
        if key in TRANSACTION_MODULES:
            raise _fail(
                path,
                f"integration.{key}",
                "transaction modules are not part of this integration yet: sync customers, "
                "vendors and items (a second Books organisation never gets them)",
            )
    orgs_raw = raw.get("orgs", {})
    if not isinstance(orgs_raw, dict):
        raise _fail(path, "integration.orgs", "must be a table of Books sides")
    for side, options in orgs_raw.items():
        where = f"integration.orgs.{side}"
        if side not in books[1:]:
            raise _fail(
                path,
                where,
                f"is not a second Books organisation (those are {list(books[1:]) or 'none'}); "
                f"the first, {books[0]!r}, is set up by [integration.<module>]",
            )
        if not isinstance(options, dict):
            raise _fail(path, where, "must be a table")
        refuse_unknown(path, where, options, ORG_KEYS | set(TRANSACTION_MODULES))
        wanted = options.get("modules", list(MASTER_MODULES))
        if not isinstance(wanted, list) or not all(m in MASTER_MODULES for m in wanted):
            raise _fail(
                path,
                f"{where}.modules",
                f"must be a list of {', '.join(MASTER_MODULES)}, not {wanted!r}",
            )
        for key, value in options.items():
            if key == "sync" and value != "from_crm":
                raise _fail(
                    path,
                    f"{where}.sync",
                    f"a second Books organisation connected to the same CRM org syncs one way, "
                    f"CRM -> Books (from_crm), not {value!r}",
                )
            if key in TRANSACTION_MODULES:
                raise _fail(
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
            raise _fail(path, f"integration.{master}", "must be a table")
        for side in books:
            second = side != books[0]
            if second:
                wanted = orgs_raw.get(side, {}).get("modules")
                if wanted is not None and master not in wanted:
                    continue
            for name, module, choice in _master(path, master, spec, crm, side, second):
                key = name if not second else f"{name}@{side}"
                if second and "lookups" in module:
                    module["lookups"] = {f: f"{m}@{side}" for f, m in module["lookups"].items()}
                if key in user_modules:
                    raise _fail(path, f"modules.{key}", "is made by [integration]: set it up there")
                modules[key] = module
                made[key] = (master, side, choice)
    if not modules:
        raise _fail(
            path, "integration", f"set up at least one module ({', '.join(MASTER_MODULES)})"
        )
    out = {k: v for k, v in data.items() if k != "integration"}
    out["modules"] = {**modules, **user_modules}
    return out, Integration(crm, books, made)


def _fields(
    path: Path,
    where: str,
    defaults: list[tuple[str, str, str, str]],
    spec: Mapping[str, Any],
    crm: str,
    books: str,
) -> dict[str, Any]:
    exclude = spec.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise _fail(path, f"{where}.exclude", f"must be a list of field names, not {exclude!r}")
    names = {f[0] for f in defaults}
    for name in exclude:
        if name not in names:
            raise _fail(
                path, f"{where}.exclude", f"{name!r} is not a default field ({sorted(names)})"
            )
    fields: dict[str, Any] = {}
    for name, crm_field, books_column, kind in defaults:
        if name not in exclude:
            fields[name] = {crm: crm_field, books: books_column, "type": kind}
    extra = spec.get("fields", {})
    if not isinstance(extra, dict):
        raise _fail(path, f"{where}.fields", "must be a table of fields")
    for name, field in extra.items():
        if not isinstance(field, dict):
            raise _fail(path, f"{where}.fields.{name}", "must be a table")
        refuse_unknown(path, f"{where}.fields.{name}", field, FIELD_KEYS | {crm, books})
        renamed: dict[str, Any] = {}
        aliases: dict[str, str] = {"crm": crm, "books": books}
        for key, value in field.items():
            # the user writes crm / books; the sides may have other names
            if key == "values" and isinstance(value, dict):
                value = {aliases.get(k, k): v for k, v in value.items()}
            renamed[aliases.get(str(key), str(key))] = value
        fields[name] = renamed
    return fields


def _master(
    path: Path, master: str, spec: Mapping[str, Any], crm: str, books: str, second: bool
) -> list[tuple[str, dict[str, Any], str]]:
    """The generic modules one master module's setup makes for one Books side."""
    where = f"integration.{master}"
    refuse_unknown(path, where, spec, MODULE_KEYS)
    sync = _choice(path, spec, "sync", where, DIRECTIONS, "both_ways")
    if second:
        sync = "from_crm"
    common: dict[str, Any] = {}
    if sync == "both_ways":
        common["sync"] = "both_ways"
    else:
        common["sync"] = "one_way"
        common["source"] = crm if sync == "from_crm" else books
    for key in ("duplicates", "clone_name", "conflicts", "page_size"):
        if key in spec:
            value = spec[key]
            if key == "conflicts" and isinstance(value, str) and value.startswith("prefer:"):
                value = "prefer:" + {"crm": crm, "books": books}.get(value[7:], value[7:])
            common[key] = value
    suggest = _flag(path, spec, "suggest", where, True)
    view = _text(path, spec, "view", where)
    contact_view = _text(path, spec, "contact_view", where)
    out: list[tuple[str, dict[str, Any], str]] = []

    def module(
        crm_table: str,
        books_table: str,
        defaults: str,
        *,
        crm_view: str | None = None,
        crm_where: dict[str, Any] | None = None,
        books_where: dict[str, Any] | None = None,
        match: tuple[str, str] | tuple[list[str], list[str]] | None = None,
        first: str | None = None,
        fields_spec: Mapping[str, Any] = spec,
        lookups: dict[str, str] | None = None,
        duplicates: bool = True,
    ) -> dict[str, Any]:
        crm_side: dict[str, Any] = {"table": crm_table, "modified": "Modified_Time"}
        books_side: dict[str, Any] = {"table": books_table}
        if books_table != "contactpersons":
            books_side["modified"] = "last_modified_time"
        if crm_view:
            crm_side["view"] = crm_view
        if crm_where:
            crm_side["where"] = crm_where
        if books_where:
            books_side["where"] = books_where
            if books_table != "contactpersons":
                books_side["create"] = dict(books_where)
        if match is not None:
            crm_side["match"], books_side["match"] = match
        body: dict[str, Any] = {
            **common,
            crm: crm_side,
            books: books_side,
            "fields": _fields(path, where, DEFAULT_FIELDS[defaults], fields_spec, crm, books),
            "suggest": suggest and duplicates,
        }
        if not duplicates:
            body.pop("duplicates", None)
            body.pop("clone_name", None)
        if first is not None and common["sync"] == "both_ways":
            body["first"] = crm if first == "crm" else books
        if lookups:
            # persons of customers outside the module (individuals, other views) stay out
            body["lookups"] = lookups
            body["lookup_missing"] = "skip"
        return body

    if master == "customers":
        choice = _choice(path, spec, "crm_module", where, CRM_MODULES, "accounts")
        orphans = _flag(path, spec, "orphan_contacts", where, False)
        if orphans and choice != "accounts_and_contacts":
            raise _fail(
                path,
                f"{where}.orphan_contacts",
                'only applies with crm_module = "accounts_and_contacts"',
            )
        if contact_view and choice != "accounts_and_contacts":
            raise _fail(
                path,
                f"{where}.contact_view",
                'only applies with crm_module = "accounts_and_contacts" (with "contacts", '
                "`view` is the contacts' view)",
            )
        extra_fields = _extra_fields(spec)
        terms = _text(path, spec, "payment_terms", where)
        if terms is not None and isinstance(extra_fields, dict):
            extra_fields["payment_terms"] = {
                "crm": terms,
                "books": "payment_terms",
                "type": "integer",
            }
        addresses = _flag(path, spec, "addresses", where, False)
        if addresses and isinstance(extra_fields, dict):
            if choice == "contacts":
                raise _fail(
                    path,
                    f"{where}.addresses",
                    "CRM Contacts have one mailing address, not billing and shipping: map "
                    "it in fields (Mailing_City = billing_address.city, ...)",
                )
            for address in ("billing", "shipping"):
                for part, crm_suffix, books_part in ADDRESS_PARTS:
                    extra_fields[f"{address}_{part}"] = {
                        "crm": f"{address.title()}_{crm_suffix}",
                        "books": f"{address}_address.{books_part}",
                    }
        customer_spec = {**spec, "fields": extra_fields}
        if choice == "contacts":
            out.append(
                (
                    "customers",
                    module(
                        "Contacts",
                        "customers",
                        "contacts",
                        crm_view=view,
                        books_where={"customer_sub_type": "individual"},
                        match=("Full_Name", "contact_name"),
                        first="crm",
                        fields_spec=customer_spec,
                    ),
                    choice,
                )
            )
        else:
            account_spec = customer_spec
            excluded = spec.get("exclude", [])
            if (
                choice == "accounts_and_contacts"
                and isinstance(extra_fields, dict)
                and not (isinstance(excluded, list) and "phone" in excluded)
            ):
                # the Books customer's own phone is its primary person's, which the persons
                # carry: the account's phone is the billing address phone (never dropped)
                phone = {"crm": "Phone", "books": "billing_address.phone"}
                account_spec = {**customer_spec, "fields": {"phone": phone, **extra_fields}}
            out.append(
                (
                    "customers",
                    module(
                        "Accounts",
                        "customers",
                        "accounts",
                        crm_view=view,
                        books_where={"customer_sub_type": "business"},
                        match=("Account_Name", "contact_name"),
                        first="crm",
                        fields_spec=account_spec,
                    ),
                    choice,
                )
            )
        if choice == "accounts_and_contacts":
            plain: dict[str, Any] = {"exclude": [], "fields": {}}
            out.append(
                (
                    "contact_persons",
                    module(
                        "Contacts",
                        "contactpersons",
                        "persons",
                        crm_view=contact_view,
                        crm_where={"Account_Name": {"present": True}},
                        match=("Email", "email"),
                        first="crm",
                        fields_spec=plain,
                        lookups={"account": "customers"},
                    ),
                    choice,
                )
            )
            if orphans:
                out.append(
                    (
                        "individual_customers",
                        module(
                            "Contacts",
                            "customers",
                            "contacts",
                            crm_view=contact_view,
                            crm_where={"Account_Name": {"present": False}},
                            books_where={"customer_sub_type": "individual"},
                            match=("Full_Name", "contact_name"),
                            first="crm",
                            fields_spec=plain,
                        ),
                        choice,
                    )
                )
        return out
    if master == "vendors":
        for key in (
            "crm_module",
            "orphan_contacts",
            "contact_view",
            "payment_terms",
            "product_type",
        ):
            if key in spec:
                raise _fail(path, f"{where}.{key}", "applies to customers or items, not vendors")
        vendor_fields = _extra_fields(spec)
        addresses = _flag(path, spec, "addresses", where, False)
        if addresses and isinstance(vendor_fields, dict):
            # a CRM vendor has one address (Street, City, ..., Zip_Code): Books' billing one
            for part, crm_suffix, books_part in ADDRESS_PARTS:
                crm_field = "Zip_Code" if crm_suffix == "Code" else crm_suffix
                vendor_fields[f"billing_{part}"] = {
                    "crm": crm_field,
                    "books": f"billing_address.{books_part}",
                }
        out.append(
            (
                "vendors",
                module(
                    "Vendors",
                    "vendors",
                    "vendors",
                    crm_view=view,
                    match=("Vendor_Name", "contact_name"),
                    first="crm",
                    fields_spec={**spec, "fields": vendor_fields},
                ),
                "vendors",
            )
        )
        return out
    for key in ("crm_module", "orphan_contacts", "contact_view", "payment_terms", "addresses"):
        if key in spec:
            raise _fail(path, f"{where}.{key}", "applies to customers, not items")
    extra_fields = _extra_fields(spec)
    kind = _text(path, spec, "product_type", where)
    if kind is not None and isinstance(extra_fields, dict):
        extra_fields["product_type"] = {
            "crm": kind,
            "books": "product_type",
            "type": "picklist",
            "values": {"crm": dict(PRODUCT_TYPES)},
        }
    out.append(
        (
            "items",
            module(
                "Products",
                "items",
                "items",
                crm_view=view,
                match=(["Product_Name", "Product_Code"], ["name", "sku"]),
                first="books",
                fields_spec={**spec, "fields": extra_fields},
            ),
            "items",
        )
    )
    return out


__all__ = ["Integration", "expand"]
