"""The ``demo`` seed: a small company's CRM and Books, overlapping as real ones do.

CRM: 10 accounts, 12 contacts (two without an account), 4 vendors, 8 products, 6 deals
across the pipeline, 2 quotes, a sales order, an invoice and a purchase order, all with
line items.  Books: 9 customers (one an individual) and 3 vendors with contact persons,
6 items, one estimate, sales order, invoice (sent; its line taxed 20 % VAT after a 10 %
discount) and purchase order, and 3 expenses billable to customers.

The two sides share records the way a company that ran both apps apart would:

- exact duplicates: Acme Ltd, Initech, Stark Industries, Vandelay Industries, Tyrell
  Components; items Widget Pro, Widget Mini, Installation Service, Sprocket;
- near duplicates: Globex Corporation / Globex Corp, Hooli / Hooli Inc., Oscorp Logistics /
  Oscorp Logistics Ltd;
- differences inside duplicates: Initech's phone, Vandelay's billing city, Widget Pro's
  price (45.00 in CRM, 49.00 in Books), Sprocket's SKU (SPR-001 / SPR-1);
- one side only: Umbrella Health, Wayne Enterprises, ... in CRM; Duff Beverages, Krusty
  Entertainment, Maria Lopez, Monarch Paper, Gadget Max, Consulting Hour in Books.

It also adds the custom fields the Books integration asks for: CRM ``Product_Type``
(Goods / Services) on Products and ``Payment_Terms`` (integer) on Accounts, and the fields
of the ``keys`` seed.  Records are back-dated over the last 30 days.  Seeding twice does
nothing the second time.

The ``keys`` seed adds only the unique custom fields replicator's connectors key their
idempotent creates on (no records): ``Replicator_Id`` (unique text) on the CRM Accounts,
Contacts, Vendors, Products, Quotes, Sales_Orders, Invoices and Purchase_Orders, and
``cf_replicator_id`` (unique text) on every Books resource of the default organisation.
Against a real Zoho organisation an admin makes these fields once (``replicator setup`` makes
the CRM ones through the fields API); the connectors' errors say so when they are missing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import attrs

from .books_schema import RESOURCES
from .crm_schema import OTHER

if TYPE_CHECKING:
    from .app import SandboxState

DAY = 86_400.0

ACCOUNTS = [
    ("Acme Ltd", "Manufacturing", "+44 20 7946 0001", "London", "United Kingdom", 30),
    ("Globex Corporation", "Technology", "+1 415 555 0142", "San Francisco", "United States", 45),
    ("Initech", "Technology", "+1 512 555 0199", "Austin", "United States", 30),
    ("Umbrella Health", "Financial Services", "+1 206 555 0110", "Seattle", "United States", 15),
    ("Stark Industries", "Manufacturing", "+1 212 555 0175", "New York", "United States", 60),
    ("Wayne Enterprises", "Large Enterprise", "+1 201 555 0133", "Gotham", "United States", 30),
    ("Hooli", "Technology", "+1 650 555 0188", "Palo Alto", "United States", 30),
    ("Soylent Foods", "Retail", "+1 503 555 0122", "Portland", "United States", 0),
    ("Vandelay Industries", "Retail", "+1 973 555 0166", "Newark", "United States", 30),
    ("Cyberdyne Systems", "Technology", "+1 408 555 0191", "Sunnyvale", "United States", 45),
]
CONTACTS = [
    ("Wile", "Coyote", "wile@acme.example", "Acme Ltd"),
    ("Hank", "Scorpio", "hank@globex.example", "Globex Corporation"),
    ("Bill", "Lumbergh", "bill.lumbergh@initech.example", "Initech"),
    ("Peter", "Gibbons", "peter@initech.example", "Initech"),
    ("Alice", "Marsh", "alice@umbrella.example", "Umbrella Health"),
    ("Pepper", "Potts", "pepper@stark.example", "Stark Industries"),
    ("Lucius", "Fox", "lucius@wayne.example", "Wayne Enterprises"),
    ("Gavin", "Belson", "gavin@hooli.example", "Hooli"),
    ("Art", "Vandelay", "art@vandelay.example", "Vandelay Industries"),
    ("Miles", "Dyson", "miles@cyberdyne.example", "Cyberdyne Systems"),
    ("Jane", "Freelance", "jane@freelance.example", None),
    ("Sam", "Solo", "sam.solo@example.org", None),
]
VENDORS = [
    ("Wonka Supplies", "orders@wonka.example", "Chicago"),
    ("Tyrell Components", "sales@tyrell.example", "Los Angeles"),
    ("Oscorp Logistics", "freight@oscorp.example", "New York"),
    ("Gringotts Finance", "vaults@gringotts.example", "London"),
]
PRODUCTS = [
    ("Widget Pro", "WID-PRO", 45.00, "Goods", "Hardware"),
    ("Widget Mini", "WID-MIN", 19.50, "Goods", "Hardware"),
    ("Gizmo 3000", "GIZ-3000", 120.00, "Goods", "Hardware"),
    ("Installation Service", "SVC-INST", 150.00, "Services", "Services"),
    ("Support Plan (Annual)", "SVC-SUP", 990.00, "Services", "Services"),
    ("Sprocket", "SPR-001", 3.25, "Goods", "Hardware"),
    ("Cable Kit", "CAB-KIT", 12.00, "Goods", "Hardware"),
    ("Training Day", "SVC-TRN", 800.00, "Services", "Services"),
]
DEALS = [
    ("Acme - Widget rollout", "Acme Ltd", "Wile", 12000, "Proposal/Price Quote", 20),
    ("Globex - Support renewal", "Globex Corporation", "Hank", 990, "Negotiation/Review", 10),
    ("Initech - TPS upgrade", "Initech", "Peter", 4500, "Qualification", 45),
    ("Stark - Gizmo order", "Stark Industries", "Pepper", 36000, "Closed Won", -5),
    ("Hooli - Pilot", "Hooli", "Gavin", 2500, "Closed Lost", -12),
    ("Wayne - Cable kits", "Wayne Enterprises", "Lucius", 1200, "Value Proposition", 30),
]
BOOKS_CUSTOMERS = [
    (
        "Acme Ltd",
        "business",
        ("Wile", "Coyote", "wile@acme.example", "+44 20 7946 0001"),
        "London",
        30,
    ),
    (
        "Globex Corp",
        "business",
        ("Hank", "Scorpio", "hank@globex.example", "+1 415 555 0142"),
        "San Francisco",
        45,
    ),
    (
        "Initech",
        "business",
        ("Bill", "Lumbergh", "bill.lumbergh@initech.example", "+1 512 555 0100"),
        "Austin",
        30,
    ),
    (
        "Stark Industries",
        "business",
        ("Pepper", "Potts", "pepper@stark.example", "+1 212 555 0175"),
        "New York",
        60,
    ),
    (
        "Hooli Inc.",
        "business",
        ("Gavin", "Belson", "gavin@hooli.example", "+1 650 555 0188"),
        "Palo Alto",
        30,
    ),
    (
        "Vandelay Industries",
        "business",
        ("Art", "Vandelay", "art@vandelay.example", "+1 973 555 0166"),
        "New York",
        30,
    ),
    (
        "Duff Beverages",
        "business",
        ("Duffman", "Jones", "duffman@duff.example", "+1 555 555 0101"),
        "Springfield",
        15,
    ),
    (
        "Krusty Entertainment",
        "business",
        ("Herschel", "Krustofsky", "krusty@krusty.example", "+1 555 555 0102"),
        "Springfield",
        30,
    ),
    (
        "Maria Lopez",
        "individual",
        ("Maria", "Lopez", "maria.lopez@example.org", "+34 91 555 0103"),
        "Madrid",
        0,
    ),
]
BOOKS_VENDORS = [
    ("Tyrell Components", ("Eldon", "Tyrell", "sales@tyrell.example"), "Los Angeles"),
    ("Oscorp Logistics Ltd", ("Norman", "Osborn", "freight@oscorp.example"), "New York"),
    ("Monarch Paper", ("Jan", "Levinson", "jan@monarch.example"), "Scranton"),
]
BOOKS_ITEMS = [
    ("Widget Pro", "WID-PRO", 49.00, "goods"),
    ("Widget Mini", "WID-MIN", 19.50, "goods"),
    ("Installation Service", "SVC-INST", 150.00, "service"),
    ("Sprocket", "SPR-1", 3.25, "goods"),
    ("Gadget Max", "GAD-MAX", 75.00, "goods"),
    ("Consulting Hour", "SVC-HOUR", 120.00, "service"),
]

BOOKS_EXPENSES = [
    ("Acme Ltd", "Travel Expense", "412.80", "Site visit: train and hotel"),
    ("Stark Industries", "Meals and Entertainment", "86.50", "Kick-off lunch"),
    ("Duff Beverages", "Consultant Expense", "1200.00", "Packaging consultant"),
]


def _backdate(
    state: SandboxState, api: str, scope: str, module: str, record_id: str, days_ago: float
) -> None:
    row = state.store.get(api, scope, module, record_id)
    if row is None:
        return
    created = state.clock.now() - days_ago * DAY
    modified = min(state.clock.now(), created + DAY / 3)
    state.store.put(api, scope, module, attrs.evolve(row, created=created, modified=modified))


def _crm(state: SandboxState, module_name: str, records: list[dict[str, Any]]) -> list[str]:
    module = state.crm_schema.module(module_name)
    assert module is not None
    results = state.crm.write(module, records, mode="insert", user_id=OTHER.id, notify=False)
    ids = []
    for result in results:
        if result["status"] != "success":
            raise ValueError(f"demo seed: {module_name}: {result}")
        ids.append(result["details"]["id"])
    return ids


def _books(
    state: SandboxState, org: str, resource: str, body: dict[str, Any], status: str | None = None
) -> str:
    row = state.books.create(org, RESOURCES[resource], body)
    if status:
        state.books.touch(org, RESOURCES[resource], row, {**row.data, "status": status})
    return row.id


CRM_KEY_FIELD = "Replicator_Id"
CRM_KEY_MODULES = (
    "Accounts",
    "Contacts",
    "Vendors",
    "Products",
    "Quotes",
    "Sales_Orders",
    "Invoices",
    "Purchase_Orders",
)
BOOKS_KEY_FIELD = "cf_replicator_id"


def seed_keys(state: SandboxState) -> dict[str, int]:
    """The unique key fields replicator's creates need; the number of fields added."""
    added = 0
    with state.store.transaction():
        for name in CRM_KEY_MODULES:
            module = state.crm_schema.module(name)
            assert module is not None
            if not any(f.api_name == CRM_KEY_FIELD for f in module.fields):
                state.crm_schema.add_field(
                    name,
                    {
                        "field_label": "Replicator Id",
                        "api_name": CRM_KEY_FIELD,
                        "data_type": "text",
                        "unique": True,
                    },
                )
                added += 1
        org = state.books_schema.default_org()
        for resource in RESOURCES:
            if not any(
                f.api_name == BOOKS_KEY_FIELD
                for f in state.books_schema.custom_fields(org, resource)
            ):
                state.books_schema.add_custom_field(
                    org,
                    resource,
                    {
                        "label": "Replicator Id",
                        "api_name": BOOKS_KEY_FIELD,
                        "data_type": "text",
                        "is_unique": True,
                    },
                )
                added += 1
    return {"fields": added}


def seed_demo(state: SandboxState) -> dict[str, int]:
    """Seed the demo data once; the number of records made per side and module."""
    if state.store.kv_get("seeded.demo"):
        return {}
    seed_keys(state)
    with state.store.transaction():
        counts = _seed_crm(state) | _seed_books(state)
        state.store.kv_set("seeded.demo", True)
    return counts


def _seed_crm(state: SandboxState) -> dict[str, int]:
    schema = state.crm_schema
    if not any(f.api_name == "Product_Type" for f in schema.module("Products").fields):  # type: ignore[union-attr]
        schema.add_field(
            "Products",
            {
                "field_label": "Product Type",
                "api_name": "Product_Type",
                "data_type": "picklist",
                "pick_list_values": ["-None-", "Goods", "Services"],
            },
        )
    if not any(f.api_name == "Payment_Terms" for f in schema.module("Accounts").fields):  # type: ignore[union-attr]
        schema.add_field(
            "Accounts",
            {"field_label": "Payment Terms", "api_name": "Payment_Terms", "data_type": "integer"},
        )
    account_ids = _crm(
        state,
        "Accounts",
        [
            {
                "Account_Name": name,
                "Industry": industry,
                "Phone": phone,
                "Billing_City": city,
                "Billing_Country": country,
                "Account_Type": "Customer",
                "Payment_Terms": terms,
                "Website": f"www.{name.split()[0].lower()}.example",
            }
            for name, industry, phone, city, country, terms in ACCOUNTS
        ],
    )
    by_account = dict(zip([a[0] for a in ACCOUNTS], account_ids, strict=True))
    contact_ids = _crm(
        state,
        "Contacts",
        [
            {
                "First_Name": first,
                "Last_Name": last,
                "Email": email,
                **({"Account_Name": {"id": by_account[account]}} if account else {}),
            }
            for first, last, email, account in CONTACTS
        ],
    )
    by_first = dict(zip([c[0] for c in CONTACTS], contact_ids, strict=True))
    vendor_ids = _crm(
        state,
        "Vendors",
        [{"Vendor_Name": name, "Email": email, "City": city} for name, email, city in VENDORS],
    )
    product_ids = _crm(
        state,
        "Products",
        [
            {
                "Product_Name": name,
                "Product_Code": code,
                "Unit_Price": price,
                "Product_Type": kind,
                "Product_Category": category,
                "Product_Active": True,
            }
            for name, code, price, kind, category in PRODUCTS
        ],
    )
    product = dict(zip([p[0] for p in PRODUCTS], product_ids, strict=True))
    today = state.clock.now()
    deal_ids = _crm(
        state,
        "Deals",
        [
            {
                "Deal_Name": name,
                "Account_Name": {"id": by_account[account]},
                "Contact_Name": {"id": by_first[first]},
                "Amount": amount,
                "Stage": stage,
                "Closing_Date": _date(today + days * DAY),
            }
            for name, account, first, amount, stage, days in DEALS
        ],
    )

    def lines(*items: tuple[str, float]) -> list[dict[str, Any]]:
        return [{"Product_Name": {"id": product[n]}, "Quantity": q} for n, q in items]

    quotes = _crm(
        state,
        "Quotes",
        [
            {
                "Subject": "Quote for Acme widgets",
                "Deal_Name": {"id": deal_ids[0]},
                "Account_Name": {"id": by_account["Acme Ltd"]},
                "Contact_Name": {"id": by_first["Wile"]},
                "Quote_Stage": "Delivered",
                "Quoted_Items": lines(("Widget Pro", 100), ("Installation Service", 2)),
            },
            {
                "Subject": "Globex support quote",
                "Deal_Name": {"id": deal_ids[1]},
                "Account_Name": {"id": by_account["Globex Corporation"]},
                "Quote_Stage": "Draft",
                "Quoted_Items": lines(("Support Plan (Annual)", 1)),
            },
        ],
    )
    orders = _crm(
        state,
        "Sales_Orders",
        [
            {
                "Subject": "SO Stark gizmos",
                "Deal_Name": {"id": deal_ids[3]},
                "Account_Name": {"id": by_account["Stark Industries"]},
                "Status": "Approved",
                "Ordered_Items": lines(("Gizmo 3000", 300)),
            }
        ],
    )
    invoices = _crm(
        state,
        "Invoices",
        [
            {
                "Subject": "Invoice Stark gizmos",
                "Sales_Order": {"id": orders[0]},
                "Account_Name": {"id": by_account["Stark Industries"]},
                "Status": "Created",
                "Invoice_Date": _date(today),
                "Invoiced_Items": lines(("Gizmo 3000", 300)),
            }
        ],
    )
    purchases = _crm(
        state,
        "Purchase_Orders",
        [
            {
                "Subject": "PO Tyrell components",
                "Vendor_Name": {"id": vendor_ids[1]},
                "Status": "Created",
                "Purchase_Items": lines(("Sprocket", 1000)),
            }
        ],
    )
    made = {
        "Accounts": account_ids,
        "Contacts": contact_ids,
        "Vendors": vendor_ids,
        "Products": product_ids,
        "Deals": deal_ids,
        "Quotes": quotes,
        "Sales_Orders": orders,
        "Invoices": invoices,
        "Purchase_Orders": purchases,
    }
    for module, ids in made.items():
        for i, record_id in enumerate(ids):
            _backdate(state, "crm", "", module, record_id, 30 - i * 2.5)
    return {f"crm.{module}": len(ids) for module, ids in made.items()}


def _seed_books(state: SandboxState) -> dict[str, int]:
    org = state.books_schema.default_org()
    made: dict[str, list[str]] = {r: [] for r in RESOURCES}
    for name, sub_type, (first, last, email, phone), city, terms in BOOKS_CUSTOMERS:
        made["contacts"].append(
            _books(
                state,
                org,
                "contacts",
                {
                    "contact_name": name,
                    "company_name": name if sub_type == "business" else "",
                    "contact_type": "customer",
                    "customer_sub_type": sub_type,
                    "payment_terms": terms,
                    "billing_address": {"city": city},
                    "contact_persons": [
                        {
                            "first_name": first,
                            "last_name": last,
                            "email": email,
                            "phone": phone,
                            "is_primary_contact": True,
                        }
                    ],
                },
            )
        )
    for name, (first, last, email), city in BOOKS_VENDORS:
        made["contacts"].append(
            _books(
                state,
                org,
                "contacts",
                {
                    "contact_name": name,
                    "company_name": name,
                    "contact_type": "vendor",
                    "billing_address": {"city": city},
                    "contact_persons": [{"first_name": first, "last_name": last, "email": email}],
                },
            )
        )
    for name, sku, rate, kind in BOOKS_ITEMS:
        made["items"].append(
            _books(
                state,
                org,
                "items",
                {
                    "name": name,
                    "sku": sku,
                    "rate": rate,
                    "product_type": kind,
                    "description": f"{name} ({kind})",
                },
            )
        )
    contact = dict(
        zip([c[0] for c in BOOKS_CUSTOMERS + BOOKS_VENDORS], made["contacts"], strict=True)
    )
    item = dict(zip([i[0] for i in BOOKS_ITEMS], made["items"], strict=True))
    vat = next(t["tax_id"] for t in state.books_schema.taxes(org) if t["tax_name"] == "VAT")
    made["invoices"].append(
        _books(
            state,
            org,
            "invoices",
            {
                "customer_id": contact["Duff Beverages"],
                "line_items": [
                    {
                        "item_id": item["Gadget Max"],
                        "quantity": 10,
                        "discount": "10%",
                        "tax_id": vat,
                    }
                ],
            },
            status="sent",
        )
    )
    made["estimates"].append(
        _books(
            state,
            org,
            "estimates",
            {
                "customer_id": contact["Krusty Entertainment"],
                "line_items": [{"item_id": item["Consulting Hour"], "quantity": 8}],
            },
        )
    )
    made["salesorders"].append(
        _books(
            state,
            org,
            "salesorders",
            {
                "customer_id": contact["Acme Ltd"],
                "line_items": [{"item_id": item["Widget Mini"], "quantity": 50}],
            },
            status="open",
        )
    )
    made["purchaseorders"].append(
        _books(
            state,
            org,
            "purchaseorders",
            {
                "vendor_id": contact["Monarch Paper"],
                "line_items": [{"item_id": item["Sprocket"], "quantity": 500, "rate": 2.5}],
            },
        )
    )
    for customer, account, spent, what in BOOKS_EXPENSES:
        made["expenses"].append(
            _books(
                state,
                org,
                "expenses",
                {
                    "customer_id": contact[customer],
                    "account_name": account,
                    "amount": spent,
                    "description": what,
                },
            )
        )
    for resource, ids in made.items():
        for i, record_id in enumerate(ids):
            _backdate(state, "books", org, resource, record_id, 29 - i * 2.2)
    return {f"books.{resource}": len(ids) for resource, ids in made.items()}


def _date(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()


SEEDS = {"demo": seed_demo, "keys": seed_keys}
SEEDED = ("seeded.demo",)  # the flags that make a seed run once; a reset clears them

__all__ = ["BOOKS_KEY_FIELD", "CRM_KEY_FIELD", "SEEDED", "SEEDS", "seed_demo", "seed_keys"]
