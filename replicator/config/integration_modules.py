"""The modules the Zoho Books <-> CRM integration makes: default field maps and builders.

:func:`master_modules` turns one master module's ``[integration.<module>]`` table into the
generic ``[modules.*]`` tables it makes for one Books side (customers may make three:
``customers``, ``contact_persons``, ``individual_customers``); the field tables below are
the documented default maps.  :mod:`replicator.config.integration` validates the
``[integration]`` table around them and names the modules.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from replicator.config.check import fail, refuse_unknown

CRM_MODULES = ("accounts", "contacts", "accounts_and_contacts")
DIRECTIONS = ("both_ways", "from_crm", "to_crm")
# the keys each table reads (check.refuse_unknown refuses any other)
MODULE_KEYS = {  # [integration.MODULE]
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


# (made module's name, its [modules.*] table, the CRM module choice it came from)
Made = tuple[str, dict[str, Any], str]


def choose(
    path: Path, raw: Mapping[str, Any], key: str, where: str, choices: Any, default: str
) -> str:
    """``raw[key]`` (or ``default``), refused unless it is one of ``choices``."""
    value = raw.get(key, default)
    if value not in choices:
        raise fail(path, f"{where}.{key}", f"must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _flag(path: Path, raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise fail(path, f"{where}.{key}", f"must be true or false, not {value!r}")
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
        raise fail(path, f"{where}.{key}", f"must be a non-empty string, not {value!r}")
    return value


def fields_of(
    path: Path,
    where: str,
    defaults: list[tuple[str, str, str, str]],
    spec: Mapping[str, Any],
    crm: str,
    books: str,
) -> dict[str, Any]:
    """A made module's ``fields`` table: the ``defaults`` less ``spec``'s ``exclude``, plus
    ``spec``'s ``fields`` (their ``crm`` / ``books`` keys renamed to the sides' names)."""
    exclude = spec.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise fail(path, f"{where}.exclude", f"must be a list of field names, not {exclude!r}")
    names = {f[0] for f in defaults}
    for name in exclude:
        if name not in names:
            raise fail(
                path, f"{where}.exclude", f"{name!r} is not a default field ({sorted(names)})"
            )
    fields: dict[str, Any] = {}
    for name, crm_field, books_column, kind in defaults:
        if name not in exclude:
            fields[name] = {crm: crm_field, books: books_column, "type": kind}
    extra = spec.get("fields", {})
    if not isinstance(extra, dict):
        raise fail(path, f"{where}.fields", "must be a table of fields")
    for name, field in extra.items():
        if not isinstance(field, dict):
            raise fail(path, f"{where}.fields.{name}", "must be a table")
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


@attrs.frozen
class _Setup:
    """One master module's setup for one Books side: what each module it makes shares."""

    path: Path
    where: str  # integration.<master>
    spec: Mapping[str, Any]  # the [integration.<master>] table
    crm: str
    books: str
    common: Mapping[str, Any]  # sync (and source), duplicates, clone_name, conflicts, page_size
    suggest: bool

    def module(
        self,
        crm_table: str,
        books_table: str,
        defaults: str,
        *,
        spec: Mapping[str, Any],
        crm_view: str | None = None,
        crm_where: dict[str, Any] | None = None,
        books_where: dict[str, Any] | None = None,
        match: tuple[str, str] | tuple[list[str], list[str]] | None = None,
        first: str | None = None,
        lookups: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``[modules.*]`` table pairing ``crm_table`` with ``books_table``; its fields
        are the ``defaults`` map less ``spec``'s ``exclude``, plus ``spec``'s ``fields``."""
        crm, books = self.crm, self.books
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
            **self.common,
            crm: crm_side,
            books: books_side,
            "fields": fields_of(self.path, self.where, DEFAULT_FIELDS[defaults], spec, crm, books),
            "suggest": self.suggest,
        }
        if first is not None and self.common["sync"] == "both_ways":
            body["first"] = crm if first == "crm" else books
        if lookups:
            # persons of customers outside the module (individuals, other views) stay out
            body["lookups"] = lookups
            body["lookup_missing"] = "skip"
        return body


def master_modules(
    path: Path, master: str, spec: Mapping[str, Any], crm: str, books: str, second: bool
) -> list[Made]:
    """The generic modules one master module's setup makes for one Books side (a
    ``second`` Books organisation syncs one way, from the CRM)."""
    where = f"integration.{master}"
    refuse_unknown(path, where, spec, MODULE_KEYS)
    sync = choose(path, spec, "sync", where, DIRECTIONS, "both_ways")
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
    setup = _Setup(path, where, spec, crm, books, common, suggest)
    if master == "customers":
        return _customers(setup, view, contact_view)
    if master == "vendors":
        return _vendors(setup, view)
    return _items(setup, view)


def _customers(setup: _Setup, view: str | None, contact_view: str | None) -> list[Made]:
    """CRM Accounts or Contacts <-> Books customers; with ``accounts_and_contacts`` the
    accounts' contacts <-> contact persons too, and with ``orphan_contacts`` the contacts
    of no account <-> individual customers."""
    path, spec, where = setup.path, setup.spec, setup.where
    out: list[Made] = []
    choice = choose(path, spec, "crm_module", where, CRM_MODULES, "accounts")
    orphans = _flag(path, spec, "orphan_contacts", where, False)
    if orphans and choice != "accounts_and_contacts":
        raise fail(
            path,
            f"{where}.orphan_contacts",
            'only applies with crm_module = "accounts_and_contacts"',
        )
    if contact_view and choice != "accounts_and_contacts":
        raise fail(
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
            raise fail(
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
                setup.module(
                    "Contacts",
                    "customers",
                    "contacts",
                    crm_view=view,
                    books_where={"customer_sub_type": "individual"},
                    match=("Full_Name", "contact_name"),
                    first="crm",
                    spec=customer_spec,
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
                setup.module(
                    "Accounts",
                    "customers",
                    "accounts",
                    crm_view=view,
                    books_where={"customer_sub_type": "business"},
                    match=("Account_Name", "contact_name"),
                    first="crm",
                    spec=account_spec,
                ),
                choice,
            )
        )
    if choice == "accounts_and_contacts":
        plain: dict[str, Any] = {"exclude": [], "fields": {}}
        out.append(
            (
                "contact_persons",
                setup.module(
                    "Contacts",
                    "contactpersons",
                    "persons",
                    crm_view=contact_view,
                    crm_where={"Account_Name": {"present": True}},
                    match=("Email", "email"),
                    first="crm",
                    spec=plain,
                    lookups={"account": "customers"},
                ),
                choice,
            )
        )
        if orphans:
            out.append(
                (
                    "individual_customers",
                    setup.module(
                        "Contacts",
                        "customers",
                        "contacts",
                        crm_view=contact_view,
                        crm_where={"Account_Name": {"present": False}},
                        books_where={"customer_sub_type": "individual"},
                        match=("Full_Name", "contact_name"),
                        first="crm",
                        spec=plain,
                    ),
                    choice,
                )
            )
    return out


def _vendors(setup: _Setup, view: str | None) -> list[Made]:
    """CRM Vendors <-> Books vendors."""
    path, spec, where = setup.path, setup.spec, setup.where
    out: list[Made] = []
    for key in (
        "crm_module",
        "orphan_contacts",
        "contact_view",
        "payment_terms",
        "product_type",
    ):
        if key in spec:
            raise fail(path, f"{where}.{key}", "applies to customers or items, not vendors")
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
            setup.module(
                "Vendors",
                "vendors",
                "vendors",
                crm_view=view,
                match=("Vendor_Name", "contact_name"),
                first="crm",
                spec={**spec, "fields": vendor_fields},
            ),
            "vendors",
        )
    )
    return out


def _items(setup: _Setup, view: str | None) -> list[Made]:
    """CRM Products <-> Books items, matched on name plus SKU."""
    path, spec, where = setup.path, setup.spec, setup.where
    out: list[Made] = []
    for key in ("crm_module", "orphan_contacts", "contact_view", "payment_terms", "addresses"):
        if key in spec:
            raise fail(path, f"{where}.{key}", "applies to customers, not items")
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
            setup.module(
                "Products",
                "items",
                "items",
                crm_view=view,
                match=(["Product_Name", "Product_Code"], ["name", "sku"]),
                first="books",
                spec={**spec, "fields": extra_fields},
            ),
            "items",
        )
    )
    return out


__all__ = [
    "ADDRESS_PARTS",
    "CRM_MODULES",
    "DEFAULT_FIELDS",
    "DIRECTIONS",
    "MODULE_KEYS",
    "PRODUCT_TYPES",
    "Made",
    "choose",
    "fields_of",
    "master_modules",
]
