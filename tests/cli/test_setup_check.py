"""``replicator setup [--check]`` against a fake CRM fields API, and sync's refusal of a module
whose key field is missing.

The fake serves ``GET``, ``POST`` and ``PATCH /crm/v8/settings/fields`` as the v8 reference
(``fields.json``) shapes them; the Books side is a stand-in with a key field (Books has no
fields API: setup only prints its steps).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from replicator.cli import setup_check
from replicator.cli.main import main
from replicator.cli.setup_check import CREATED, FAILED, MISSING, TO_CHECK, fix, lacks
from replicator.config.load import Config, parse_config
from replicator.connectors.base import SideModule
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.http import ApiClient
from replicator.errors import SetupError
from replicator.sync.checks import check_fields
from tests.connectors.zoho.conftest import oauth
from tests.connectors.zoho.fakes import FakeClock, reply, token_handler

CONFIG = """\
[journal]
path = "journal.db"

[sides.crm]
connector = "zoho_crm"

[sides.books]
connector = "zoho_books"
organization_id = "111"

[modules.customers]
crm = { table = "Accounts" }
books = { table = "customers" }
fields = { name = { crm = "Account_Name", books = "contact_name" } }

[modules.quotes]
crm = { table = "Quotes" }
books = { table = "estimates" }
lookups = { customer = "customers" }

[modules.quotes.fields]
subject = { crm = "Subject", books = "reference_number" }
customer = { crm = "Account_Name", books = "customer_id" }
region = { crm = "Region", books = "cf_region" }

[modules.quotes.fields.status]
crm = "Quote_Stage"
books = "status"
type = "picklist"
values.crm = { Draft = "draft", "Partially Paid" = "partially_paid" }
"""


class FieldsApi:
    """CRM's fields API over a dict: module -> fields as ``GET /settings/fields`` shows them."""

    def __init__(self) -> None:
        self.modules: dict[str, list[dict[str, Any]]] = {
            "Accounts": [self.field("Account_Name"), self.field("Replicator_Id", unique=True)],
            "Quotes": [
                self.field("Subject"),
                self.field("Account_Name", "lookup"),
                self.field("Quote_Stage", "picklist", values=("Draft", "Delivered")),
            ],
        }
        self.sent: list[tuple[str, str, Any]] = []  # (method, path, body) of every change
        self.refuse: str | None = None  # a code every POST is refused with

    @staticmethod
    def field(
        api_name: str,
        data_type: str = "text",
        *,
        unique: bool = False,
        values: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        return {
            "api_name": api_name,
            "id": f"id-{api_name}",
            "data_type": data_type,
            "custom_field": False,
            "unique": {"casesensitive": "false"} if unique else None,
            "pick_list_values": [
                {"display_value": v, "actual_value": v, "id": f"v-{v}"} for v in values
            ],
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/v2/token":
            return token_handler(request, "https://crm.test")
        module = request.url.params.get("module", "")
        if module not in self.modules:
            return reply(400, {"code": "INVALID_MODULE", "message": "invalid module"})
        fields = self.modules[module]
        if request.method == "GET":
            return reply(200, {"fields": fields})
        body = json.loads(request.content)
        self.sent.append((request.method, request.url.path, body))
        spec = body["fields"][0]
        if request.method == "POST":
            if self.refuse:
                error = {"code": self.refuse, "message": "refused", "status": "error"}
                return reply(400, {"fields": [{**error, "details": {}}]})
            name = spec["field_label"].replace(" ", "_")
            values = tuple(v["actual_value"] for v in spec.get("pick_list_values", []))
            made = self.field(name, spec["data_type"], unique="unique" in spec, values=values)
            fields.append(made)
            answer = {"code": "SUCCESS", "status": "success", "details": {"id": made["id"]}}
            return reply(201, {"fields": [answer]})
        field_id = request.url.path.rsplit("/", 1)[1]
        field = next(f for f in fields if f["id"] == field_id)
        field["pick_list_values"] = [
            {**v, "id": v.get("id", f"v-{v['actual_value']}")} for v in spec["pick_list_values"]
        ]
        return reply(200, {"fields": [{"code": "SUCCESS", "status": "success", "details": {}}]})


class Books(MemoryConnector):
    """A Books stand-in: a key field, and every column mapped (Books takes cf_ on trust)."""

    key_field = "cf_replicator_id"

    def schema(self, module: SideModule) -> dict[str, str]:
        return dict.fromkeys((*module.columns, self.key_field), "text")


@pytest.fixture
def api() -> FieldsApi:
    return FieldsApi()


def crm_side(api: FieldsApi) -> ZohoCRMConnector:
    clock = FakeClock()
    transport = httpx.MockTransport(api.handler)
    client = ApiClient(
        oauth(transport, clock),
        "/crm/v8",
        name="side crm (Zoho CRM)",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.monotonic,
    )
    return ZohoCRMConnector("crm", client=client)


def config(text: str = CONFIG, folder: Path = Path("/tmp")) -> Config:
    return parse_config(tomllib.loads(text), folder / "replicator.toml")


@pytest.fixture
def cli(api: FieldsApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config file whose sides are the fake CRM and the Books stand-in."""
    path = tmp_path / "replicator.toml"
    path.write_text(CONFIG, encoding="utf-8")

    def build(side: Any) -> Any:
        return crm_side(api) if side.name == "crm" else Books("books")

    monkeypatch.setattr(setup_check, "build_connector", build)
    yield path


def run(path: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(path), "setup", *args])


def test_setup_lists_the_key_field_mapped_fields_and_picklist_values_crm_lacks(api):
    """Quotes lack the key field, Region and the Partially Paid value; Accounts lack
    nothing; Books' key field and cf_ field are steps to check by hand."""
    found = lacks(config(), {"crm": crm_side(api), "books": Books("books")})
    crm = {(f.module, f.what, f.name): f for f in found if f.side == "crm"}
    assert set(crm) == {
        ("quotes", "key field", "Replicator_Id"),
        ("quotes", "field", "Region"),
        ("quotes", "picklist values", "Quote_Stage"),
    }
    assert all(f.state == MISSING for f in crm.values())
    assert "Partially Paid" in crm[("quotes", "picklist values", "Quote_Stage")].detail
    assert "Draft" not in crm[("quotes", "picklist values", "Quote_Stage")].detail
    books = [(f.module, f.what, f.name, f.state) for f in found if f.side == "books"]
    assert books == [
        ("customers", "key field", "cf_replicator_id", TO_CHECK),
        ("quotes", "key field", "cf_replicator_id", TO_CHECK),
        ("quotes", "field", "cf_region", TO_CHECK),
    ]
    step = next(f for f in found if f.name == "cf_region")
    assert "Settings > Preferences > Quotes > Field Customization" in step.detail
    assert "Label Name 'Region'" in step.detail
    assert api.sent == []  # reading changes nothing


def test_check_only_reports_and_exits_one_when_something_is_missing(api, cli):
    """--check prints each lack on one line, sends no change, and exits 1."""
    result = run(cli, "--check")
    assert result.exit_code == 1, result.output
    assert "missing   key field Replicator_Id" in result.output
    assert "missing   field Region" in result.output
    assert "to check  key field cf_replicator_id" in result.output
    assert (
        "3 missing, 0 made, 3 Books step(s) to check by hand: `replicator setup`" in result.output
    )
    assert api.sent == []


def test_setup_creates_what_the_crm_api_allows_and_then_nothing_is_missing(api, cli):
    """Without --check: a unique text key field and the Region field are created, the
    picklist value is added with the old values kept; a second --check passes."""
    result = run(cli)
    assert result.exit_code == 0, result.output
    assert "created   key field Replicator_Id" in result.output
    creates = [body["fields"][0] for method, _, body in api.sent if method == "POST"]
    assert creates == [
        {
            "field_label": "Replicator Id",
            "data_type": "text",
            "length": 255,
            "unique": {"casesensitive": "false"},
        },
        {"field_label": "Region", "data_type": "text", "length": 255},
    ]
    [(_, path, body)] = [s for s in api.sent if s[0] == "PATCH"]
    assert path.endswith("/settings/fields/id-Quote_Stage")
    values = [v["actual_value"] for v in body["fields"][0]["pick_list_values"]]
    assert values == ["Draft", "Delivered", "Partially Paid"]
    again = run(cli, "--check", "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert report["ok"] is True and report["missing"] == 0 and report["to_check"] == 3


def test_a_field_crm_refuses_is_reported_as_failed_with_its_reason(api, cli):
    """A refused create is one line naming the field and CRM's code, and setup exits 1."""
    api.refuse = "LIMIT_EXCEEDED"
    result = run(cli, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    failed = [lack for lack in report["lacks"] if lack["state"] == FAILED]
    assert {lack["name"] for lack in failed} == {"Replicator_Id", "Region"}
    assert all("LIMIT_EXCEEDED" in lack["error"] for lack in failed)
    assert all("\n" not in lack["error"] for lack in failed)


def test_one_field_wanted_by_two_modules_of_one_table_is_created_once(api):
    """Two modules on CRM Quotes both lacking Region make one create, both marked created."""
    text = CONFIG + (
        '\n[modules.quotes_too]\ncrm = { table = "Quotes" }\nbooks = { table = "salesorders" }\n'
        'fields = { region = { crm = "Region", books = "cf_region" } }\n'
    )
    connectors: dict[str, Any] = {"crm": crm_side(api), "books": Books("books")}
    found = fix(lacks(config(text), connectors), connectors)
    region = [f for f in found if f.name == "Region"]
    assert [f.state for f in region] == [CREATED, CREATED]
    assert (
        sum(method == "POST" and "Region" in json.dumps(body) for method, _, body in api.sent) == 1
    )


def test_a_crm_side_never_written_needs_no_key_field(api):
    """A module syncing one way from CRM does not ask CRM for a key field."""
    text = CONFIG.replace(
        "[modules.quotes]\n", '[modules.quotes]\nsync = "one_way"\nsource = "crm"\n'
    )
    found = lacks(config(text), {"crm": crm_side(api), "books": Books("books")})
    assert not [f for f in found if f.side == "crm" and f.what == "key field"]


class Crm(MemoryConnector):
    """A CRM stand-in whose tables have exactly the given fields, and a key field."""

    key_field = "Replicator_Id"

    def __init__(self, tables: dict[str, list[str]]) -> None:
        super().__init__("crm")
        self.tables = tables

    def schema(self, module: SideModule) -> dict[str, str]:
        return dict.fromkeys(self.tables.get(module.table, ()), "text")


def test_sync_refuses_a_module_whose_key_field_is_missing_with_one_line():
    """The pre-sync check names the module, the side and the key field, and says how to
    make it; a module CRM is never written to passes."""
    crm = Crm(
        {
            "Accounts": ["Account_Name", "Replicator_Id"],
            "Quotes": ["Subject", "Account_Name", "Region", "Quote_Stage"],
        }
    )
    cfg = config()
    with pytest.raises(SetupError) as caught:
        check_fields(cfg, {"crm": crm, "books": Books("books")})
    [problem] = caught.value.problems
    assert problem == (
        "module quotes: side crm (Zoho CRM Quotes) has no key field 'Replicator_Id' (unique "
        "text, holds replicator's record ids): run `replicator setup` to create it"
    )
    one_way = config(
        CONFIG.replace("[modules.quotes]\n", '[modules.quotes]\nsync = "one_way"\nsource = "crm"\n')
    )
    check_fields(one_way, {"crm": crm, "books": Books("books")})


def test_a_missing_lookup_is_left_to_a_person_with_the_module_it_points_at(api):
    """A lookup field CRM lacks is reported with its target module, never created."""
    text = CONFIG.replace(
        'customer = { crm = "Account_Name", books = "customer_id" }',
        'customer = { crm = "Contact_Name", books = "customer_id" }',
    )
    connectors: dict[str, Any] = {"crm": crm_side(api), "books": Books("books")}
    found = lacks(config(text), connectors)
    [lookup] = [f for f in found if f.what == "lookup"]
    assert (lookup.name, lookup.make) == ("Contact_Name", None)
    assert "a lookup field 'Contact Name' into Accounts" in lookup.detail
    [still] = [f for f in fix(found, connectors) if f.what == "lookup"]
    assert still.state == MISSING
    assert not any("Contact" in json.dumps(body) for _, _, body in api.sent)


class Persons(Books):
    """A Books stand-in whose schema lists no key field, as Books contact persons."""

    def schema(self, module: SideModule) -> dict[str, str]:
        return dict.fromkeys(module.columns, "text")


def test_sync_takes_books_key_field_on_trust():
    """Books cannot list its custom fields (and keys no contact person): its key field is
    never a reason to refuse a module."""
    crm = Crm(
        {
            "Accounts": ["Account_Name", "Replicator_Id"],
            "Quotes": ["Subject", "Account_Name", "Region", "Quote_Stage", "Replicator_Id"],
        }
    )
    check_fields(config(), {"crm": crm, "books": Persons("books")})


def test_two_modules_asking_one_picklist_for_different_values_each_get_theirs(api):
    """Two modules on CRM Accounts mapping one picklist with different values: both sets
    are added, none lost (the field is read again before each change)."""
    api.modules["Accounts"].append(FieldsApi.field("Rating", "picklist", values=("Hot",)))
    text = CONFIG + "".join(
        f'\n[modules.{name}]\ncrm = {{ table = "Accounts" }}\nbooks = {{ table = "{table}" }}\n'
        f'[modules.{name}.fields.rating]\ncrm = "Rating"\nbooks = "cf_rating"\n'
        f'type = "picklist"\nvalues.crm = {{ Hot = "hot", {extra} = "{extra.lower()}" }}\n'
        for name, table, extra in (("warm", "vendors", "Warm"), ("cold", "items", "Cold"))
    )
    connectors: dict[str, Any] = {"crm": crm_side(api), "books": Books("books")}
    found = fix(lacks(config(text), connectors), connectors)
    assert [f.state for f in found if f.name == "Rating"] == ["added", "added"]
    [rating] = [f for f in api.modules["Accounts"] if f["api_name"] == "Rating"]
    assert [v["actual_value"] for v in rating["pick_list_values"]] == ["Hot", "Warm", "Cold"]
