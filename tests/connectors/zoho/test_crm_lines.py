"""Line items of CRM transaction modules: read as the neutral lines form, written whole.

Against the fake CRM v8 (tests/connectors/zoho/fakes.py) through ``httpx.MockTransport``,
and, for what the sandbox already serves (Quoted_Items rows with a product, quantity, list
price and discount; no line taxes yet), against the sandbox over HTTP.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from replicator.connectors.base import SideModule, Write
from replicator.connectors.zoho.crm_lines import (
    Tax,
    new_rows,
    parse_taxes,
    pick_tax,
    read_lines,
)
from replicator.connectors.zoho.values import digest
from tests.connectors.zoho.conftest import crm_connector
from tests.connectors.zoho.fakes import FakeClock, FakeCRM, reply

QUOTES = SideModule(
    "estimates",
    "Quotes",
    columns=("Subject", "Quoted_Items", "Grand_Total"),
    modified="Modified_Time",
)
HEADERS_ONLY = SideModule("estimates", "Quotes", columns=("Subject",), modified="Modified_Time")
TAXES = [
    {"id": "t1", "name": "VAT", "display_label": "VAT", "value": 20},
    {"id": "t2", "name": "Reduced", "display_label": "Reduced", "value": 5},
    {"id": "t3", "name": "VAT export", "display_label": "VAT export", "value": 20},
]


def quotes_crm(clock: FakeClock) -> FakeCRM:
    crm = FakeCRM(
        clock,
        fields={"Subject": "text", "Quoted_Items": "subform", "Grand_Total": "currency"},
        mandatory=("Subject",),
    )
    crm.taxes = TAXES
    return crm


def row(product: str, quantity: Any, price: Any, **extra: Any) -> dict[str, Any]:
    """A stored Quoted_Items row as CRM shows it."""
    return {
        "id": f"row-{product}-{quantity}",
        "Product_Name": {"id": product, "name": f"name of {product}"},
        "Quantity": quantity,
        "List_Price": price,
        "Discount": extra.pop("discount", 0.0),
        "Product_Description": extra.pop("description", None),
        "Total": 0.0,
        "Net_Total": 0.0,
        "Tax": 0.0,
        **extra,
    }


def line(item: str, quantity: str, rate: str, **extra: Any) -> dict[str, Any]:
    """A line in the neutral form, as the engine gives it to write."""
    return {
        "item": item,
        "description": extra.get("description"),
        "quantity": quantity,
        "rate": rate,
        "discount": extra.get("discount", "0"),
        "tax": extra.get("tax"),
    }


def gets_by_id(crm: FakeCRM, module: str = "Quotes") -> list[str]:
    """The ids of single-record reads (``GET /{Module}/{id}``), in order."""
    prefix = f"/crm/v8/{module}/"
    return [
        r.url.path.removeprefix(prefix)
        for r in crm.requests
        if r.method == "GET"
        and r.url.path.startswith(prefix)
        and r.url.path.removeprefix(prefix) not in ("deleted", "search")
    ]


def bodies(crm: FakeCRM, method: str) -> list[dict[str, Any]]:
    return [
        json.loads(r.content)
        for r in crm.requests
        if r.method == method and r.url.path.startswith("/crm/v8/Quotes")
    ]


def tax_reads(crm: FakeCRM) -> int:
    return sum(1 for r in crm.requests if r.url.path == "/crm/v8/org/taxes")


def pull_all(connector, since, module=QUOTES):
    pages = list(connector.pull(module, since))
    return [c for p in pages for c in p.changes], pages[-1].cursor


# -- the neutral form ----------------------------------------------------------------------


def test_a_row_reads_as_item_description_quantity_rate_discount_and_tax() -> None:
    """Product_Name.id, Product_Description, Quantity, List_Price, Discount and the sum of
    the line_tax percentages make a line; no line_tax is tax None; row ids are dropped."""
    rows = [
        row("p1", Decimal("2.0"), Decimal("10.5"), discount=Decimal("1"), description="Blue"),
        row(
            "p2",
            1,
            Decimal("3"),
            line_tax=[
                {"name": "VAT", "percentage": Decimal("20"), "value": Decimal("0.6")},
                {"name": "Levy", "percentage": Decimal("2.5"), "value": Decimal("0.07")},
            ],
        ),
        row("p3", 1, 1, description="", line_tax=[]),
    ]
    assert read_lines(rows) == [
        {
            "item": "p1",
            "description": "Blue",
            "quantity": Decimal("2.0"),
            "rate": Decimal("10.5"),
            "discount": Decimal("1"),
            "tax": None,
        },
        {
            "item": "p2",
            "description": None,
            "quantity": 1,
            "rate": Decimal("3"),
            "discount": 0.0,
            "tax": Decimal("22.5"),
        },
        {"item": "p3", "description": None, "quantity": 1, "rate": 1, "discount": 0.0, "tax": None},
    ]
    assert read_lines(None) is None


def test_a_tax_percentage_that_is_not_a_number_reads_as_it_is() -> None:
    """A poison percentage is not summed or dropped: it reaches the field map as it is, to
    be reported as that line's error; org taxes without a number are not offered."""
    [read] = read_lines([row("p", 1, 1, line_tax=[{"name": "X", "percentage": "abc"}])]) or []
    assert read["tax"] == "abc"
    taxes = parse_taxes({"org_taxes": {"taxes": [{"id": "1", "name": "X", "value": "n/a"}]}})
    assert taxes == []


def test_new_rows_carry_product_amounts_description_and_the_named_tax() -> None:
    """A line becomes a row with Product_Name {id}, exact amounts and line_tax naming the
    organisation's tax of its percentage; the lines it reads back as hold Decimals."""
    taxes = parse_taxes({"org_taxes": {"taxes": TAXES}})
    rows, back = new_rows(
        [line("p1", "2", "10.50", discount="1.5", tax="20", description="Blue")],
        lambda p: pick_tax(taxes, p, ()),
    )
    assert rows == [
        {
            "Product_Name": {"id": "p1"},
            "Quantity": Decimal(2),
            "List_Price": Decimal("10.50"),
            "Discount": Decimal("1.5"),
            "Product_Description": "Blue",
            "line_tax": [{"percentage": Decimal(20), "name": "VAT"}],
        }
    ]
    assert back == [
        {
            "item": "p1",
            "description": "Blue",
            "quantity": Decimal(2),
            "rate": Decimal("10.50"),
            "discount": Decimal("1.5"),
            "tax": Decimal(20),
        }
    ]


def test_a_tax_shared_by_two_names_takes_the_preferred_name() -> None:
    """Two taxes of 20 %: the first of tax_names wins, else the first the org lists."""
    taxes = parse_taxes({"org_taxes": {"taxes": TAXES}})
    assert pick_tax(taxes, Decimal(20), ["VAT export"]) == Tax("t3", "VAT export", Decimal(20))
    assert pick_tax(taxes, Decimal("20.0"), ()) == Tax("t1", "VAT", Decimal(20))
    assert pick_tax(taxes, Decimal(7), ()) is None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"rate": "10.125"}, "line 2: rate (List_Price) 10.125 has more than 2 decimal places"),
        ({"quantity": "0.001"}, "line 2: quantity (Quantity) 0.001 has more than 2 decimal"),
        ({"discount": "1,5"}, "line 2: discount (Discount) '1,5' does not convert to decimal"),
        ({"rate": 10.5}, "line 2: rate (List_Price) 10.5 is a float, not an exact amount"),
        ({"quantity": None}, "line 2: no quantity (Quantity)"),
        ({"item": None}, "line 2: no product (a CRM line needs one, in Product_Name)"),
        ({"tax": "7"}, "line 2: no CRM tax of 7%"),
    ],
)
def test_a_line_that_crm_cannot_hold_is_refused_naming_line_and_field(
    bad: dict[str, Any], message: str
) -> None:
    """More than 2 decimal places, a non-number, a float, no product, an unknown tax."""
    taxes = parse_taxes({"org_taxes": {"taxes": TAXES}})
    lines = [line("p1", "1", "1"), {**line("p2", "1", "1"), **bad}]
    with pytest.raises(ValueError) as caught:
        new_rows(lines, lambda p: pick_tax(taxes, p, ()))
    assert str(caught.value).startswith(message)


def test_trailing_zeros_are_not_decimal_places() -> None:
    """10.500 is 10.5: two places are enough, so it is written."""
    rows, _ = new_rows([line("p1", "1.000", "10.500")], lambda p: None)
    assert rows[0]["List_Price"] == Decimal("10.500") and rows[0]["Quantity"] == Decimal("1")


# -- pull -------------------------------------------------------------------------------


def test_a_snapshot_reads_each_record_by_id_once_for_its_lines(clock: FakeClock) -> None:
    """Three quotes: one listing (without the subform in fields) and three GET by id; each
    change holds its lines in the neutral form."""
    crm = quotes_crm(clock)
    ids = [
        crm.insert("Quotes", {"Subject": f"Q{n}", "Quoted_Items": [row(f"p{n}", 2, 10)]})
        for n in range(3)
    ]
    changes, _ = pull_all(crm_connector(crm, clock), None)
    assert [c.id for c in changes] == ids
    assert changes[1].values["Quoted_Items"] == [
        {"item": "p1", "description": None, "quantity": 2, "rate": 10, "discount": 0, "tax": None}
    ]
    assert sorted(gets_by_id(crm)) == sorted(ids)
    [listing] = [r for r in crm.requests if r.url.path == "/crm/v8/Quotes"]
    assert "Quoted_Items" not in listing.url.params["fields"].split(",")


def test_an_incremental_pull_reads_by_id_only_the_records_that_changed(clock: FakeClock) -> None:
    """Records re-listed in the overlap with their held time cost no call; the one edited
    since is read by id once, and comes as a change with its new lines."""
    crm = quotes_crm(clock)
    ids = [
        crm.insert("Quotes", {"Subject": f"Q{n}", "Quoted_Items": [row("p", 1, n)]})
        for n in range(3)
    ]
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    crm.requests.clear()
    clock.advance(10)
    crm.update("Quotes", ids[1], {"Quoted_Items": [row("p", 5, 1)]})
    changes, _ = pull_all(connector, cursor)
    assert [c.id for c in changes] == [ids[1]]
    assert changes[0].values["Quoted_Items"][0]["quantity"] == 5
    assert gets_by_id(crm) == [ids[1]]


def test_no_record_is_read_by_id_when_no_line_column_is_mapped(clock: FakeClock) -> None:
    """A module mapping only header fields lists records and reads none by id."""
    crm = quotes_crm(clock)
    crm.insert("Quotes", {"Subject": "Q", "Quoted_Items": [row("p", 1, 1)]})
    changes, _ = pull_all(crm_connector(crm, clock), None, module=HEADERS_ONLY)
    assert [dict(c.values) for c in changes] == [{"Subject": "Q"}]
    assert gets_by_id(crm) == []


def test_a_record_deleted_before_its_lines_are_read_is_left_to_the_deleted_feed(
    clock: FakeClock,
) -> None:
    """Listed, then gone when read by id (204): no change with unknown lines is given."""
    crm = quotes_crm(clock)
    gone = crm.insert("Quotes", {"Subject": "gone", "Quoted_Items": []})
    kept = crm.insert("Quotes", {"Subject": "kept", "Quoted_Items": []})
    crm.override = lambda r: reply(204) if r.url.path.endswith(f"/Quotes/{gone}") else None
    changes, _ = pull_all(crm_connector(crm, clock), None)
    assert [c.id for c in changes] == [kept]


# -- push -------------------------------------------------------------------------------


def read_quote(crm: FakeCRM, clock: FakeClock, rows: list[dict[str, Any]]):
    """A quote made elsewhere and pulled by a new connector: its lines and row ids held."""
    id = crm.insert("Quotes", {"Subject": "Q", "Quoted_Items": rows})
    connector = crm_connector(crm, clock)
    _, cursor = pull_all(connector, None)
    crm.requests.clear()
    clock.advance(5)
    return connector, id, cursor


def test_an_update_deletes_the_held_rows_and_adds_the_new_ones(clock: FakeClock) -> None:
    """The PUT carries the new rows with product, amounts, description and line_tax, then
    each row the record had with "_delete": null; no extra read of the record."""
    crm = quotes_crm(clock)
    connector, id, _ = read_quote(crm, clock, [row("old1", 1, 1), row("old2", 2, 2)])
    lines = [line("p9", "3", "19.99", discount="5", tax="20", description="Red")]
    [outcome] = connector.push(QUOTES, [Write("rid1", id, {"Quoted_Items": lines})])
    assert outcome.ok, outcome.error
    [body] = bodies(crm, "PUT")
    assert body["data"][0]["Quoted_Items"] == [
        {
            "Product_Name": {"id": "p9"},
            "Quantity": 3,
            "List_Price": 19.99,
            "Discount": 5,
            "Product_Description": "Red",
            "line_tax": [{"percentage": 20, "name": "VAT"}],
        },
        {"id": "row-old1-1", "_delete": None},
        {"id": "row-old2-2", "_delete": None},
    ]
    assert gets_by_id(crm) == []
    [stored] = crm.records["Quotes"][id]["Quoted_Items"]
    assert stored["Product_Name"]["id"] == "p9" and stored["Quantity"] == 3


def test_the_org_taxes_are_read_once_for_many_writes(clock: FakeClock) -> None:
    """GET /org/taxes once per connector, however many taxed lines it writes; none when
    no line has a tax."""
    crm = quotes_crm(clock)
    connector = crm_connector(crm, clock)
    connector.push(QUOTES, [Write("a", None, {"Subject": "A", "Quoted_Items": []})])
    assert tax_reads(crm) == 0
    for key in ("b", "c"):
        taxed = {"Subject": key, "Quoted_Items": [line("p", "1", "1", tax="5")]}
        [outcome] = connector.push(QUOTES, [Write(key, None, taxed)])
        assert outcome.ok, outcome.error
    assert tax_reads(crm) == 1


def test_a_create_sends_new_rows_only(clock: FakeClock) -> None:
    """An upsert of a new quote has rows without ids and nothing to delete."""
    crm = quotes_crm(clock)
    values = {"Subject": "New", "Quoted_Items": [line("p1", "1", "2"), line("p2", "3", "4")]}
    [outcome] = crm_connector(crm, clock).push(QUOTES, [Write("rid", None, values)])
    assert outcome.ok, outcome.error
    [body] = bodies(crm, "POST")
    rows = body["data"][0]["Quoted_Items"]
    assert [r["Product_Name"] for r in rows] == [{"id": "p1"}, {"id": "p2"}]
    assert all("id" not in r and "_delete" not in r for r in rows)
    assert [r["Quantity"] for r in crm.records["Quotes"][str(outcome.id)]["Quoted_Items"]] == [1, 3]


def test_a_second_write_reads_the_row_ids_its_first_write_made(clock: FakeClock) -> None:
    """After our own write the new row ids are unknown: the next write reads the record
    by id once and deletes exactly the rows the first write made."""
    crm = quotes_crm(clock)
    connector = crm_connector(crm, clock)
    first = {"Subject": "Q", "Quoted_Items": [line("p1", "1", "1"), line("p2", "1", "1")]}
    [made] = connector.push(QUOTES, [Write("rid", None, first)])
    made_rows = [r["id"] for r in crm.records["Quotes"][str(made.id)]["Quoted_Items"]]
    crm.requests.clear()
    clock.advance(3)
    [again] = connector.push(
        QUOTES, [Write("rid", made.id, {"Quoted_Items": [line("p3", "2", "2")]})]
    )
    assert again.ok, again.error
    assert gets_by_id(crm) == [made.id]
    [body] = bodies(crm, "PUT")
    deleted = [r["id"] for r in body["data"][0]["Quoted_Items"] if "_delete" in r]
    assert deleted == made_rows
    assert [
        r["Product_Name"]["id"] for r in crm.records["Quotes"][str(made.id)]["Quoted_Items"]
    ] == ["p3"]


def test_a_create_that_finds_its_record_after_a_crash_writes_the_lines_whole(
    clock: FakeClock,
) -> None:
    """The upsert matched the record an earlier try made (its rows kept beside the new
    ones): the connector reads it and writes the lines again, deleting the old rows."""
    crm = quotes_crm(clock)
    earlier = crm.insert(
        "Quotes", {"Subject": "Q", "Replicator_Id": "rid", "Quoted_Items": [row("p1", 1, 1)]}
    )
    clock.advance(2)
    values = {"Subject": "Q", "Quoted_Items": [line("p1", "1", "1")]}
    [outcome] = crm_connector(crm, clock).push(QUOTES, [Write("rid", None, values)])
    assert outcome.ok and outcome.id == earlier, outcome.error
    [stored] = crm.records["Quotes"][earlier]["Quoted_Items"]
    assert stored["id"] != "row-p1-1"
    [put] = bodies(crm, "PUT")
    assert {"id": "row-p1-1", "_delete": None} in put["data"][0]["Quoted_Items"]


def test_a_line_crm_cannot_hold_refuses_only_its_record(clock: FakeClock) -> None:
    """A line with 3 decimal places and one with no CRM tax of its percentage: those
    records fail naming the line and field, the third is written."""
    crm = quotes_crm(clock)
    writes = [
        Write("a", None, {"Subject": "A", "Quoted_Items": [line("p", "1", "1.005")]}),
        Write("b", None, {"Subject": "B", "Quoted_Items": [line("p", "1", "1", tax="7")]}),
        Write("c", None, {"Subject": "C", "Quoted_Items": [line("p", "1", "1", tax="5")]}),
    ]
    a, b, c = crm_connector(crm, clock).push(QUOTES, writes)
    assert a.error == (
        "side crm, Quotes new record a: Quoted_Items: line 1: rate (List_Price) 1.005 has "
        "more than 2 decimal places, which Zoho CRM would round"
    )
    assert b.error == "side crm, Quotes new record b: Quoted_Items: line 1: no CRM tax of 7%"
    assert not a.retry and not b.retry and c.ok
    [body] = bodies(crm, "POST")
    assert [r["Subject"] for r in body["data"]] == ["C"]


def test_taxes_that_cannot_be_read_refuse_the_taxed_records(clock: FakeClock) -> None:
    """No /org/taxes answer: the taxed lines' records fail saying so (asked once a push);
    untaxed ones go on; the next push asks again."""
    crm = quotes_crm(clock)
    crm.taxes = None
    taxed = {"Quoted_Items": [line("p", "1", "1", tax="5")]}
    writes = [
        Write("a", None, {"Subject": "A", **taxed}),
        Write("b", None, {"Subject": "B", "Quoted_Items": [line("p", "1", "1")]}),
        Write("c", None, {"Subject": "C", **taxed}),
    ]
    connector = crm_connector(crm, clock)
    a, b, c = connector.push(QUOTES, writes)
    assert "Quoted_Items: the organisation's taxes could not be read" in (a.error or "")
    assert b.ok and c.error == (a.error or "").replace("new record a", "new record c")
    assert tax_reads(crm) == 1
    crm.taxes = TAXES
    [again] = connector.push(QUOTES, [Write("a", None, {"Subject": "A", **taxed})])
    assert again.ok and tax_reads(crm) == 2


# -- echo -------------------------------------------------------------------------------


def test_lines_written_read_back_as_the_same_neutral_form(clock: FakeClock) -> None:
    """Written, then read by id: new row ids, a tax amount and totals, but the neutral
    lines hash like what was written; the next pull gives no change and reads nothing by
    id."""
    crm = quotes_crm(clock)
    connector, id, cursor = read_quote(crm, clock, [row("old", 1, 1)])
    lines = [
        line("p1", "2", "10.50", discount="1", tax="20", description="Blue"),
        line("p2", "1", "3"),
    ]
    [outcome] = connector.push(QUOTES, [Write("rid", id, {"Quoted_Items": lines})])
    assert outcome.ok, outcome.error
    clock.advance(5)
    changes, _ = pull_all(connector, cursor)
    assert changes == [] and gets_by_id(crm) == []
    back = connector.get(QUOTES, id)
    assert back is not None
    _, written = new_rows(lines, lambda p: Tax("t1", "VAT", p))
    assert digest({"l": back.values["Quoted_Items"]}) == digest({"l": written})
    assert back.values["Quoted_Items"][0]["tax"] == 20


# -- read-only totals and the key field ------------------------------------------------------


def test_grand_total_and_read_only_fields_are_never_sent(clock: FakeClock) -> None:
    """Grand_Total (always) and a field the metadata marks read-only are left out of
    creates and updates alike."""
    crm = quotes_crm(clock)
    crm.fields["Sub_Total"] = "currency"
    crm.fields["Stamp"] = "text"
    crm.read_only.add("Stamp")
    module = SideModule(
        "estimates", "Quotes", columns=("Subject", "Grand_Total", "Sub_Total", "Stamp")
    )
    connector = crm_connector(crm, clock)
    values = {"Subject": "A", "Grand_Total": "118.00", "Sub_Total": "100", "Stamp": "x"}
    [made] = connector.push(module, [Write("a", None, values)])
    assert made.ok, made.error
    [updated] = connector.push(module, [Write("a", made.id, {**values, "Subject": "B"})])
    assert updated.ok, updated.error
    sent = [record for body in bodies(crm, "POST") + bodies(crm, "PUT") for record in body["data"]]
    assert len(sent) == 2
    assert all(set(record) <= {"id", "Subject", "Replicator_Id"} for record in sent)


@pytest.mark.parametrize("how", ["unknown field", "duplicate_check_fields"])
def test_a_missing_key_field_is_one_line_naming_module_and_field(
    clock: FakeClock, how: str
) -> None:
    """Whether CRM names the field or duplicate_check_fields, the error says the module
    lacks the key field and how to make it."""
    crm = quotes_crm(clock)
    del crm.fields["Replicator_Id"]
    if how == "duplicate_check_fields":
        crm.override = lambda r: (
            reply(
                400,
                {
                    "code": "INVALID_DATA",
                    "status": "error",
                    "message": "invalid data",
                    "details": {
                        "api_name": "duplicate_check_fields",
                        "json_path": "$.duplicate_check_fields",
                    },
                },
            )
            if r.url.path.endswith("/upsert")
            else None
        )
    values = {"Subject": "A", "Quoted_Items": [line("p", "1", "1")]}
    [outcome] = crm_connector(crm, clock).push(QUOTES, [Write("a", None, values)])
    assert outcome.error == (
        "side crm: Quotes has no unique custom field Replicator_Id to hold replicator's "
        "record ids; `replicator setup` creates it"
    )
    assert not outcome.retry


# -- the sandbox -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    from replicator.sandbox import Sandbox

    folder: Path = tmp_path_factory.mktemp("crm-lines-sandbox")
    with Sandbox(folder, host="127.0.0.1", port=0, seed="demo") as box:
        yield box


def test_the_sandbox_quotes_read_and_write_back_as_the_same_lines(sandbox) -> None:
    """The demo's quotes read with their lines (one GET by id each); lines written to one
    read back as written (new row ids, same neutral form), and the next pull is quiet."""
    from replicator.connectors.zoho.crm import from_options

    module = SideModule("estimates", "Quotes", columns=("Subject", "Quoted_Items"))
    with from_options("crm", {"credentials": str(sandbox.credentials_path)}, env={}) as crm:
        sandbox.admin.reset_counters()
        changes, cursor = pull_all(crm, None, module=module)
        by_id = "/crm/v8/{module}/{record_id}"
        assert sandbox.admin.count("GET", by_id) == len(changes) == 2
        quote = next(c for c in changes if c.values["Subject"] == "Quote for Acme widgets")
        lines = quote.values["Quoted_Items"]
        assert [q["quantity"] for q in lines] == [100, 2]
        assert all(q["item"] and q["tax"] is None for q in lines)
        product = lines[1]["item"]
        written = [
            {
                "item": product,
                "description": "On site",
                "quantity": "3",
                "rate": "99.95",
                "discount": "10",
                "tax": None,
            },
            {
                "item": lines[0]["item"],
                "description": None,
                "quantity": "1.5",
                "rate": "4",
                "discount": "0",
                "tax": None,
            },
        ]
        [outcome] = crm.push(module, [Write("rid", quote.id, {"Quoted_Items": written})])
        assert outcome.ok, outcome.error
        assert pull_all(crm, cursor, module=module)[0] == []
        assert sandbox.admin.count("GET", by_id) == 2  # the echo read nothing by id
        back = crm.get(module, quote.id)
        assert back is not None
        _, expected = new_rows(written, lambda p: None)
        assert digest({"l": back.values["Quoted_Items"]}) == digest({"l": expected})


def test_a_line_the_sandbox_refuses_is_named_by_its_number(sandbox) -> None:
    """CRM's INVALID_DATA for the second line's product (no such product) reads as
    "field Product_Name of line 2 in Quoted_Items"."""
    from replicator.connectors.zoho.crm import from_options

    module = SideModule("estimates", "Quotes", columns=("Subject", "Quoted_Items"))
    with from_options("crm", {"credentials": str(sandbox.credentials_path)}, env={}) as crm:
        changes, _ = pull_all(crm, None, module=module)
        quote = changes[0]
        good = dict(quote.values["Quoted_Items"][0], quantity="1", rate="1", discount="0")
        bad = dict(good, item="4876876000999999999")
        [outcome] = crm.push(module, [Write("rid", quote.id, {"Quoted_Items": [good, bad]})])
    assert outcome.error is not None
    assert outcome.error.endswith("(field Product_Name of line 2 in Quoted_Items)")


def test_a_change_between_the_check_and_the_read_of_row_ids_is_not_overwritten(
    clock: FakeClock,
) -> None:
    """Row ids unknown after our write; someone edits the lines just before the connector
    reads them: the write is not sent and asks to be retried after the next pull."""
    crm = quotes_crm(clock)
    connector = crm_connector(crm, clock)
    [made] = connector.push(QUOTES, [Write("rid", None, {"Subject": "Q", "Quoted_Items": []})])
    id = str(made.id)
    clock.advance(3)

    def edit_first(request: httpx.Request) -> None:
        if request.method == "GET" and request.url.path.endswith(f"/Quotes/{id}"):
            clock.advance(1)
            crm.update("Quotes", id, {"Quoted_Items": [row("theirs", 1, 1)]})
            crm.override = None
        return None

    crm.override = edit_first
    [outcome] = connector.push(QUOTES, [Write("rid", id, {"Quoted_Items": [line("p", "1", "1")]})])
    assert outcome.retry and "changed or went away before its Quoted_Items were read" in (
        outcome.error or ""
    )
    assert bodies(crm, "PUT") == []
    assert [r["Product_Name"]["id"] for r in crm.records["Quotes"][id]["Quoted_Items"]] == [
        "theirs"
    ]


def test_a_record_with_a_null_subform_reads_as_no_lines_by_get_and_pull(clock: FakeClock) -> None:
    """CRM may show an empty subform as null: get and pull both give [] (one neutral form)."""
    crm = quotes_crm(clock)
    id = crm.insert("Quotes", {"Subject": "Q", "Quoted_Items": None})
    connector = crm_connector(crm, clock)
    got = connector.get(QUOTES, id)
    assert got is not None and got.values["Quoted_Items"] == []
    [pulled], _ = pull_all(crm_connector(crm, clock), None)
    assert pulled.values["Quoted_Items"] == []
