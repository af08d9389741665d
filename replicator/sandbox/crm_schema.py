"""The CRM's metadata: modules, their fields, users and custom views.

One module, over 600 lines, on purpose: it is data (nine modules' field tables, as Zoho
names and types them), read as one schema.

Nine modules with the fields a Books <-> CRM sync touches, named and typed as Zoho names
them (``Account_Name``, ``Billing_City``, ``Unit_Price``, ``Quoted_Items``, ...), the
system fields every record has (``Owner``, ``Created_Time``, ``Modified_By``, ...), and a
few custom fields (``custom_field: true``).  More custom fields are added through the admin
API (for example the ``Product_Type`` picklist and the ``Payment_Terms`` integer the
Books integration asks for) or ``POST /settings/fields``; they are kept in the store.

Each line-item subform (``Quoted_Items``, ``Ordered_Items``, ``Invoiced_Items``,
``Purchase_Items``) is also a module of its own, as in Zoho: its fields (``Product_Name``,
``Quantity``, ``List_Price``, ``Discount``, ``line_tax``, the computed ``Tax`` and totals)
are described by ``GET /settings/fields?module=Quoted_Items``; its rows live in the parent
record.  The transaction modules carry ``Terms_and_Conditions`` and, as in a
multi-currency org, ``Currency`` and ``Exchange_Rate``.  Picklist values added through
``PATCH /settings/fields`` are kept in the store; the org's taxes are in
:mod:`.crm_taxes`.

Each module has the predefined views Zoho gives it (All, My, Recently Created, Recently
Modified; Deals also Open Deals); admins can add views with criteria.  Criteria use the
v8 JSON form ``{comparator, field: {api_name}, value}`` or ``{group_operator, group}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from .crm_taxes import CrmTaxes
from .store import Store

ID_BASE = 4876876000000000000

LOOKUP_TYPES = ("lookup", "ownerlookup")
NUMBER_TYPES = ("integer", "bigint", "double", "currency", "percent")
CUSTOM_TYPES = (
    "text",
    "textarea",
    "email",
    "phone",
    "website",
    "integer",
    "bigint",
    "double",
    "currency",
    "percent",
    "boolean",
    "date",
    "datetime",
    "picklist",
    "multiselectpicklist",
)
JSON_TYPES = {
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "subform": "jsonarray",
    "multiselectpicklist": "jsonarray",
    "linetax": "jsonarray",
}
STAGES = {
    "Qualification": 10,
    "Needs Analysis": 20,
    "Value Proposition": 40,
    "Id. Decision Makers": 60,
    "Proposal/Price Quote": 75,
    "Negotiation/Review": 90,
    "Closed Won": 100,
    "Closed Lost": 0,
    "Closed-Lost to Competition": 0,
}
# the longest a custom field of each text type may be (and its length when none is given)
MAX_LENGTHS = {"text": 255, "email": 100, "phone": 30, "website": 255, "textarea": 32000}
# the currencies a multi-currency org has enabled (the sandbox's Books knows the same four)
CURRENCIES = ("USD", "EUR", "GBP", "INR")


@attrs.frozen
class Field:
    """One field of a module, as ``GET /settings/fields`` describes it."""

    api_name: str
    label: str
    data_type: str
    id: str
    length: int | None = None
    mandatory: bool = False
    read_only: bool = False
    custom: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    lookup: str | None = None  # the module a lookup points at
    decimal_place: int | None = None
    # a deal's Stage: each value's probability (0..100: 100 is won, 0 lost), which the
    # field metadata shows and a deal's Probability follows
    probabilities: tuple[tuple[str, int], ...] = ()

    def probability(self, value: str) -> int | None:
        return dict(self.probabilities).get(value)


@attrs.frozen
class Module:
    api_name: str
    singular: str
    id: str
    sequence: int
    name_field: str  # the field a lookup to this module shows as its name
    unique_keys: tuple[str, ...]  # default duplicate_check_fields of an upsert
    line_items: str | None  # the subform holding line items, if any
    fields: tuple[Field, ...]
    parent: str | None = None  # a subform's own module: the module whose records hold it

    @property
    def plural(self) -> str:
        return self.api_name.replace("_", " ")


@attrs.frozen
class User:
    id: str
    full_name: str
    email: str

    def minified(self) -> dict[str, str]:
        return {"id": self.id, "name": self.full_name, "email": self.email}


ADMIN = User(str(ID_BASE + 225013), "Sandbox Admin", "admin@sandbox.example")
OTHER = User(str(ID_BASE + 225021), "Sam Seller", "sam.seller@sandbox.example")
USERS = (ADMIN, OTHER)


def _address(prefix: str, code: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{prefix}_Street", "text", {"length": 250}),
        (f"{prefix}_City", "text", {"length": 100}),
        (f"{prefix}_State", "text", {"length": 100}),
        (f"{prefix}_{code}", "text", {"length": 30}),
        (f"{prefix}_Country", "text", {"length": 100}),
    ]


_NONE = "-None-"
_LEAD_SOURCE = (
    _NONE,
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "External Referral",
    "Online Store",
    "Partner",
    "Public Relations",
    "Sales Email Alias",
    "Seminar",
    "Trade Show",
    "Web Download",
    "Web Research",
    "Chat",
)
_ORDER_STATUS = ("Created", "Approved", "Delivered", "Cancelled")
_CARRIER = ("FedEX", "UPS", "USPS", "DHL", "BlueDart")


def _transaction(items: str, extra: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    return [
        ("Subject", "text", {"length": 200, "mandatory": True}),
        *extra,
        ("Contact_Name", "lookup", {"lookup": "Contacts"}),
        ("Carrier", "picklist", {"picklist": _CARRIER}),
        # a multi-currency org's record currency and its rate to the home currency
        ("Currency", "picklist", {"picklist": CURRENCIES}),
        ("Exchange_Rate", "double", {"decimal_place": 9}),
        *_address("Billing", "Code"),
        *_address("Shipping", "Code"),
        (items, "subform", {}),
        ("Sub_Total", "currency", {"read_only": True, "decimal_place": 2}),
        ("Discount", "currency", {"decimal_place": 2}),
        ("Tax", "currency", {"decimal_place": 2}),
        ("Adjustment", "currency", {"decimal_place": 2}),
        ("Grand_Total", "currency", {"read_only": True, "decimal_place": 2}),
        ("Terms_and_Conditions", "textarea", {"length": 32000}),
    ]


def _line_item_fields(parent: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The fields of a line-item subform (``Quoted_Items`` ...), as Zoho's inventory
    modules have them: ``Tax`` and the totals are computed, ``line_tax`` names org taxes."""
    amount = {"decimal_place": 2}
    computed = {"read_only": True, "decimal_place": 2}
    return [
        ("Product_Name", "lookup", {"lookup": "Products", "mandatory": True}),
        ("Product_Description", "textarea", {"length": 2000}),
        ("Quantity", "double", amount),
        ("List_Price", "currency", amount),
        ("Total", "currency", computed),
        ("Discount", "currency", amount),
        ("Total_After_Discount", "currency", computed),
        ("line_tax", "linetax", {}),
        ("Tax", "currency", computed),
        ("Net_Total", "currency", computed),
        ("Parent_Id", "lookup", {"lookup": parent, "read_only": True}),
    ]


_MODULES: list[tuple[str, str, str, tuple[str, ...], str | None, list[Any]]] = [
    (
        "Accounts",
        "Account",
        "Account_Name",
        ("Account_Name",),
        None,
        [
            ("Account_Name", "text", {"length": 200, "mandatory": True}),
            ("Account_Number", "text", {"length": 40}),
            ("Account_Site", "text", {"length": 80}),
            ("Parent_Account", "lookup", {"lookup": "Accounts"}),
            (
                "Account_Type",
                "picklist",
                {
                    "picklist": (
                        _NONE,
                        "Analyst",
                        "Competitor",
                        "Customer",
                        "Distributor",
                        "Integrator",
                        "Investor",
                        "Other",
                        "Partner",
                        "Press",
                        "Prospect",
                        "Reseller",
                        "Supplier",
                        "Vendor",
                    )
                },
            ),
            (
                "Industry",
                "picklist",
                {
                    "picklist": (
                        _NONE,
                        "Communications",
                        "Consulting",
                        "Education",
                        "Financial Services",
                        "Government/Military",
                        "Large Enterprise",
                        "Manufacturing",
                        "Retail",
                        "Service Provider",
                        "Small/Medium Enterprise",
                        "Technology",
                    )
                },
            ),
            ("Annual_Revenue", "currency", {"decimal_place": 2}),
            ("Employees", "integer", {}),
            ("Phone", "phone", {"length": 30}),
            ("Fax", "phone", {"length": 30}),
            ("Website", "website", {"length": 255}),
            *_address("Billing", "Code"),
            *_address("Shipping", "Code"),
            ("Customer_Since", "date", {"custom": True}),
        ],
    ),
    (
        "Contacts",
        "Contact",
        "Full_Name",
        ("Email",),
        None,
        [
            ("Salutation", "picklist", {"picklist": (_NONE, "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")}),
            ("First_Name", "text", {"length": 40}),
            ("Last_Name", "text", {"length": 80, "mandatory": True}),
            ("Full_Name", "text", {"length": 121, "read_only": True}),
            ("Account_Name", "lookup", {"lookup": "Accounts"}),
            ("Vendor_Name", "lookup", {"lookup": "Vendors"}),
            ("Email", "email", {"length": 100}),
            ("Secondary_Email", "email", {"length": 100}),
            ("Phone", "phone", {"length": 30}),
            ("Mobile", "phone", {"length": 30}),
            ("Title", "text", {"length": 100}),
            ("Department", "text", {"length": 30}),
            ("Lead_Source", "picklist", {"picklist": _LEAD_SOURCE}),
            ("Date_of_Birth", "date", {}),
            ("Email_Opt_Out", "boolean", {}),
            *_address("Mailing", "Zip"),
            (
                "Preferred_Channel",
                "picklist",
                {"picklist": (_NONE, "Email", "Phone", "SMS"), "custom": True},
            ),
        ],
    ),
    (
        "Vendors",
        "Vendor",
        "Vendor_Name",
        ("Vendor_Name",),
        None,
        [
            ("Vendor_Name", "text", {"length": 200, "mandatory": True}),
            ("Email", "email", {"length": 100}),
            ("Phone", "phone", {"length": 30}),
            ("Website", "website", {"length": 255}),
            ("Category", "text", {"length": 120}),
            ("Street", "text", {"length": 250}),
            ("City", "text", {"length": 100}),
            ("State", "text", {"length": 100}),
            ("Zip_Code", "text", {"length": 30}),
            ("Country", "text", {"length": 100}),
        ],
    ),
    (
        "Products",
        "Product",
        "Product_Name",
        ("Product_Name",),
        None,
        [
            ("Product_Name", "text", {"length": 200, "mandatory": True}),
            ("Product_Code", "text", {"length": 40}),
            ("Vendor_Name", "lookup", {"lookup": "Vendors"}),
            ("Product_Active", "boolean", {}),
            ("Manufacturer", "text", {"length": 120}),
            (
                "Product_Category",
                "picklist",
                {"picklist": (_NONE, "Hardware", "Software", "CRM Applications", "Services")},
            ),
            ("Sales_Start_Date", "date", {}),
            ("Sales_End_Date", "date", {}),
            ("Unit_Price", "currency", {"decimal_place": 2}),
            ("Commission_Rate", "currency", {"decimal_place": 2}),
            (
                "Usage_Unit",
                "picklist",
                {
                    "picklist": (
                        _NONE,
                        "Box",
                        "Carton",
                        "Dozen",
                        "Each",
                        "Hour(s)",
                        "Pack",
                        "Pieces",
                        "Quantity",
                        "Sq Ft",
                    )
                },
            ),
            ("Qty_in_Stock", "double", {"decimal_place": 2}),
            ("Reorder_Level", "double", {"decimal_place": 2}),
            ("Taxable", "boolean", {}),
            ("Warranty_Months", "integer", {"custom": True}),
        ],
    ),
    (
        "Deals",
        "Deal",
        "Deal_Name",
        ("Deal_Name",),
        None,
        [
            ("Deal_Name", "text", {"length": 120, "mandatory": True}),
            ("Account_Name", "lookup", {"lookup": "Accounts"}),
            ("Contact_Name", "lookup", {"lookup": "Contacts"}),
            ("Amount", "currency", {"decimal_place": 2}),
            ("Closing_Date", "date", {}),
            (
                "Stage",
                "picklist",
                {
                    "picklist": tuple(STAGES),
                    "mandatory": True,
                    "probabilities": tuple(STAGES.items()),
                },
            ),
            ("Probability", "integer", {}),
            ("Expected_Revenue", "currency", {"read_only": True, "decimal_place": 2}),
            ("Type", "picklist", {"picklist": (_NONE, "Existing Business", "New Business")}),
            ("Next_Step", "text", {"length": 100}),
            ("Lead_Source", "picklist", {"picklist": _LEAD_SOURCE}),
            ("Source_Campaign", "text", {"length": 255, "custom": True}),
        ],
    ),
    (
        "Quotes",
        "Quote",
        "Subject",
        (),
        "Quoted_Items",
        _transaction(
            "Quoted_Items",
            [
                ("Deal_Name", "lookup", {"lookup": "Deals"}),
                ("Account_Name", "lookup", {"lookup": "Accounts"}),
                (
                    "Quote_Stage",
                    "picklist",
                    {
                        "picklist": (
                            "Draft",
                            "Negotiation",
                            "Delivered",
                            "On Hold",
                            "Confirmed",
                            "Closed Won",
                            "Closed Lost",
                        )
                    },
                ),
                ("Valid_Till", "date", {}),
            ],
        ),
    ),
    (
        "Sales_Orders",
        "Sales Order",
        "Subject",
        (),
        "Ordered_Items",
        _transaction(
            "Ordered_Items",
            [
                ("Deal_Name", "lookup", {"lookup": "Deals"}),
                ("Quote_Name", "lookup", {"lookup": "Quotes"}),
                ("Account_Name", "lookup", {"lookup": "Accounts"}),
                ("Customer_No", "text", {"length": 40}),
                ("Purchase_Order", "text", {"length": 40}),
                ("Due_Date", "date", {}),
                ("Status", "picklist", {"picklist": _ORDER_STATUS}),
            ],
        ),
    ),
    (
        "Invoices",
        "Invoice",
        "Subject",
        (),
        "Invoiced_Items",
        _transaction(
            "Invoiced_Items",
            [
                ("Deal_Name", "lookup", {"lookup": "Deals"}),
                ("Sales_Order", "lookup", {"lookup": "Sales_Orders"}),
                ("Account_Name", "lookup", {"lookup": "Accounts"}),
                ("Invoice_Date", "date", {}),
                ("Due_Date", "date", {}),
                ("Purchase_Order", "text", {"length": 40}),
                ("Status", "picklist", {"picklist": _ORDER_STATUS}),
            ],
        ),
    ),
    (
        "Purchase_Orders",
        "Purchase Order",
        "Subject",
        (),
        "Purchase_Items",
        _transaction(
            "Purchase_Items",
            [
                ("Vendor_Name", "lookup", {"lookup": "Vendors", "mandatory": True}),
                ("Requisition_No", "text", {"length": 40}),
                ("Tracking_Number", "text", {"length": 40}),
                ("PO_Date", "date", {}),
                ("Due_Date", "date", {}),
                ("Status", "picklist", {"picklist": _ORDER_STATUS}),
            ],
        ),
    ),
]

_SYSTEM_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("Created_By", "ownerlookup", {"read_only": True}),
    ("Modified_By", "ownerlookup", {"read_only": True}),
    ("Created_Time", "datetime", {"read_only": True}),
    ("Modified_Time", "datetime", {"read_only": True}),
    ("Description", "textarea", {"length": 32000}),
]


def _label(api_name: str) -> str:
    return api_name.replace("_", " ")


def _fields(seq: int, specs: list[Any]) -> tuple[Field, ...]:
    return tuple(
        Field(name, _label(name), data_type, str(ID_BASE + 2_000 + seq * 1_000 + index), **opts)
        for index, (name, data_type, opts) in enumerate(specs)
    )


def _build() -> tuple[dict[str, Module], dict[str, Module]]:
    modules: dict[str, Module] = {}
    subforms: dict[str, Module] = {}
    for seq, (api, singular, name_field, keys, items, specs) in enumerate(_MODULES, 1):
        all_specs = [("Owner", "ownerlookup", {}), *specs, *_SYSTEM_FIELDS]
        modules[api] = Module(
            api,
            singular,
            str(ID_BASE + 100 + seq),
            seq,
            name_field,
            keys,
            items,
            _fields(seq, all_specs),
        )
        if items:
            # a subform is a module of its own in Zoho: its fields are described by
            # GET /settings/fields?module=Quoted_Items, not listed by /settings/modules
            subforms[items] = Module(
                items,
                _label(items)[:-1],
                str(ID_BASE + 200 + seq),
                seq + 50,
                "Product_Name",
                (),
                None,
                _fields(seq + 50, _line_item_fields(api)),
                parent=api,
            )
    return modules, subforms


BASE_MODULES, SUBFORM_MODULES = _build()


def _criterion(field: str, comparator: str, value: Any) -> dict[str, Any]:
    return {"comparator": comparator, "field": {"api_name": field}, "value": value}


def _predefined(module: Module) -> list[dict[str, Any]]:
    plural = module.plural
    base = ID_BASE + 87_000 + module.sequence * 10
    views = [
        ("All " + plural, "ALLVIEWS", None),
        ("My " + plural, "MYVIEWS", _criterion("Owner", "equal", "${CURRENTUSER}")),
        (
            "Recently Created " + plural,
            "RECENTLYCREATED",
            _criterion("Created_Time", "between", "${LAST7DAYS}"),
        ),
        (
            "Recently Modified " + plural,
            "RECENTLYMODIFIED",
            _criterion("Modified_Time", "between", "${LAST7DAYS}"),
        ),
    ]
    if module.api_name == "Deals":
        views.append(
            (
                "Open Deals",
                "OPENDEALS",
                {
                    "group_operator": "and",
                    "group": [
                        _criterion("Stage", "not_equal", "Closed Won"),
                        _criterion("Stage", "not_equal", "Closed Lost"),
                        _criterion("Stage", "not_equal", "Closed-Lost to Competition"),
                    ],
                },
            )
        )
    return [
        {
            "id": str(base + i),
            "name": name,
            "display_value": name,
            "system_name": system,
            "system_defined": True,
            "default": i == 0,
            "criteria": criteria,
            "module": {"api_name": module.api_name, "id": module.id},
        }
        for i, (name, system, criteria) in enumerate(views)
    ]


class CrmSchema:
    """Base modules plus the custom fields, picklist values and views kept in the store,
    and the org's taxes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.taxes = CrmTaxes(store, id_base=ID_BASE + 93_000)

    def modules(self) -> list[Module]:
        return [self.module(name) for name in BASE_MODULES]  # type: ignore[misc]

    def module(self, name: str) -> Module | None:
        """The module with that API name (case-insensitive, as Zoho accepts), with its
        custom fields."""
        return self._overlaid(_named(BASE_MODULES, name))

    def subform(self, name: str) -> Module | None:
        """A line-item subform's own module (``Quoted_Items`` ...): its fields are metadata
        only, its rows live in the records of its ``parent``."""
        return self._overlaid(_named(SUBFORM_MODULES, name))

    def _overlaid(self, base: Module | None) -> Module | None:
        if base is None:
            return None
        custom = self._store.kv_get("crm.custom_fields", {}).get(base.api_name, [])
        added_values = self._store.kv_get("crm.picklist_values", {}).get(base.api_name, {})
        if not custom and not added_values:
            return base
        added_odds = self._store.kv_get("crm.stage_probabilities", {}).get(base.api_name, {})
        fields = base.fields + tuple(
            Field(
                **{
                    **spec,
                    "picklist": tuple(spec["picklist"]),
                    "probabilities": tuple(tuple(p) for p in spec.get("probabilities", ())),
                }
            )
            for spec in custom
        )
        fields = tuple(
            attrs.evolve(
                f,
                picklist=f.picklist + tuple(added_values[f.api_name]),
                probabilities=f.probabilities + tuple(added_odds.get(f.api_name, {}).items()),
            )
            if f.api_name in added_values
            else f
            for f in fields
        )
        return attrs.evolve(base, fields=fields)

    def add_picklist_values(self, module: Module, field: Field, given: Any) -> Field:
        """``field`` with the ``pick_list_values`` ``given`` added at the end of its
        picklist (values it has are skipped); ``ValueError`` if it is not a picklist or a
        value is not text.  A new value of a deal's ``Stage`` needs its ``probability``
        (an integer 0..100), as the CRM asks for one when a stage is added."""
        if field.data_type not in ("picklist", "multiselectpicklist"):
            raise ValueError(f"{field.api_name} is a {field.data_type} field, not a picklist")
        wanted = _picklist_values(given)
        odds = _stage_probabilities(given) if field.probabilities else {}
        with self._store.transaction():
            # what another request added since ``field`` was read counts as there already
            added = self._store.kv_get("crm.picklist_values", {})
            stored = added.setdefault(module.api_name, {}).setdefault(field.api_name, [])
            new = [v for v in wanted if v not in field.picklist and v not in stored]
            if field.probabilities:
                missing = [v for v in new if v not in odds]
                if missing:
                    raise ValueError(
                        f"the {field.api_name} value {missing[0]!r} needs a probability "
                        "(an integer from 0 to 100)"
                    )
            if new:
                stored.extend(new)
                self._store.kv_set("crm.picklist_values", added)
                if field.probabilities:
                    all_odds = self._store.kv_get("crm.stage_probabilities", {})
                    kept = all_odds.setdefault(module.api_name, {}).setdefault(field.api_name, {})
                    kept.update({v: odds[v] for v in new})
                    self._store.kv_set("crm.stage_probabilities", all_odds)
        current = self.module(module.api_name) or module
        found = next((f for f in current.fields if f.api_name == field.api_name), None)
        if found is not None:
            return found
        known = field.picklist + tuple(v for v in stored if v not in field.picklist)
        return attrs.evolve(field, picklist=known)

    def add_field(self, module_name: str, spec: Mapping[str, Any]) -> Field:
        """A new custom field; ``ValueError`` says what is wrong with ``spec``."""
        module = self.module(module_name)
        if module is None:
            raise ValueError(f"no module {module_name!r}")
        label = str(spec.get("field_label") or spec.get("label") or "").strip()
        if not label:
            raise ValueError("field_label is required")
        api_name = str(spec.get("api_name") or re.sub(r"\W+", "_", label).strip("_"))
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", api_name):
            raise ValueError(f"invalid api_name {api_name!r}")
        if any(f.api_name.lower() == api_name.lower() for f in module.fields):
            raise ValueError(f"{module.api_name} already has a field {api_name}")
        data_type = str(spec.get("data_type", "text"))
        if data_type not in CUSTOM_TYPES:
            raise ValueError(f"data_type must be one of {', '.join(CUSTOM_TYPES)}")
        values = _picklist_values(spec.get("pick_list_values", []))
        if data_type in ("picklist", "multiselectpicklist") and not values:
            raise ValueError("a picklist needs pick_list_values")
        limit = MAX_LENGTHS.get(data_type)
        length = spec.get("length") or limit
        if limit is not None and (
            isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= limit
        ):
            raise ValueError(f"length of a {data_type} field is 1 to {limit}")
        field = Field(
            api_name,
            label,
            data_type,
            str(ID_BASE + 1_000_000 + self._store.next_value("crm.field")),
            length=length,
            mandatory=bool(spec.get("mandatory", False)),
            custom=True,
            unique=bool(spec.get("unique", False)),
            picklist=tuple(values),
            decimal_place=2 if data_type in ("double", "currency", "percent") else None,
        )
        with self._store.transaction():
            # checked again inside the transaction: two requests may add one name at once
            current = self.module(module.api_name) or module
            if any(f.api_name.lower() == api_name.lower() for f in current.fields):
                raise ValueError(f"{module.api_name} already has a field {api_name}")
            custom = self._store.kv_get("crm.custom_fields", {})
            custom.setdefault(module.api_name, []).append(attrs.asdict(field))
            self._store.kv_set("crm.custom_fields", custom)
        return field

    # -- views ---------------------------------------------------------------------------

    def views(self, module: Module) -> list[dict[str, Any]]:
        added = self._store.kv_get("crm.custom_views", {}).get(module.api_name, [])
        return _predefined(module) + added

    def view(self, module: Module, view_id: str) -> dict[str, Any] | None:
        return next((v for v in self.views(module) if v["id"] == view_id), None)

    def add_view(self, module: Module, name: str, criteria: Any) -> dict[str, Any]:
        if not name:
            raise ValueError("a view needs a name")
        view = {
            "id": str(ID_BASE + 88_000 + self._store.next_value("crm.view")),
            "name": name,
            "display_value": name,
            "system_name": None,
            "system_defined": False,
            "default": False,
            "criteria": criteria,
            "module": {"api_name": module.api_name, "id": module.id},
        }
        with self._store.transaction():
            views = self._store.kv_get("crm.custom_views", {})
            views.setdefault(module.api_name, []).append(view)
            self._store.kv_set("crm.custom_views", views)
        return view


def _picklist_values(given: Any) -> list[str]:
    """The values of a ``pick_list_values`` list: each a text, or an object with its
    ``actual_value`` (or ``display_value``); ``ValueError`` otherwise."""
    if not isinstance(given, list):
        raise ValueError("pick_list_values is a list")
    values: list[str] = []
    for item in given:
        value = (
            item.get("actual_value", item.get("display_value")) if isinstance(item, dict) else item
        )
        if not isinstance(value, str) or not value.strip():
            raise ValueError("each of pick_list_values is a text or {display_value, actual_value}")
        if value not in values:
            values.append(value)
    return values


def _stage_probabilities(given: Any) -> dict[str, int]:
    """The ``probability`` each object of a ``pick_list_values`` list gives its value;
    ``ValueError`` for one that is not an integer from 0 to 100."""
    odds: dict[str, int] = {}
    for item in given if isinstance(given, list) else ():
        if not isinstance(item, dict) or "probability" not in item:
            continue
        value = item.get("actual_value", item.get("display_value"))
        chance = item["probability"]
        if isinstance(chance, bool) or not isinstance(chance, int) or not 0 <= chance <= 100:
            raise ValueError(f"the probability of {value!r} is an integer from 0 to 100")
        odds[str(value)] = chance
    return odds


def _named(modules: Mapping[str, Module], name: str) -> Module | None:
    return modules.get(name) or next(
        (m for m in modules.values() if m.api_name.lower() == name.lower()), None
    )


def user(user_id: str) -> User | None:
    return next((u for u in USERS if u.id == user_id), None)


__all__ = [
    "ADMIN",
    "BASE_MODULES",
    "CURRENCIES",
    "CUSTOM_TYPES",
    "CrmSchema",
    "Field",
    "ID_BASE",
    "LOOKUP_TYPES",
    "Module",
    "NUMBER_TYPES",
    "OTHER",
    "STAGES",
    "SUBFORM_MODULES",
    "USERS",
    "User",
    "user",
]
