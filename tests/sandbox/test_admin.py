"""The admin API: settings, direct record access, organisations, reset."""

from __future__ import annotations

import datetime as dt
import email.utils

import httpx
import pytest

from replicator.sandbox import AdminError
from tests.sandbox.zoho import Zoho


def test_summary_and_settings_validation(fresh):
    """The summary counts records; settings refuse unknown keys and wrong types."""
    box = fresh(seed="demo")
    summary = box.admin.call("GET", "/")
    assert summary["crm_records"]["Accounts"] == 10
    assert summary["books_records"]["contacts"] == 12
    assert box.admin.settings(books_per_minute=5)["books_per_minute"] == 5
    with pytest.raises(AdminError):
        box.admin.settings(colour="blue")
    with pytest.raises(AdminError):
        box.admin.settings(books_per_minute="lots")
    with pytest.raises(AdminError):
        box.admin.settings(timezone="Mars/Olympus")


def test_direct_crm_writes_are_another_users_edits(fresh):
    """Admin writes are validated, made as Sam Seller, and readable through the API."""
    box = fresh()
    client = Zoho(box.credentials)
    (record_id,) = box.admin.crm_create("Accounts", {"Account_Name": "Direct"})
    box.admin.advance_clock(5)
    changed = box.admin.crm_update("Accounts", record_id, Phone="42")
    assert changed["Modified_By"]["name"] == "Sam Seller" and changed["Phone"] == "42"
    via_api = client.crm("GET", f"/Accounts/{record_id}").json()["data"][0]
    assert via_api["Phone"] == "42" and via_api["Modified_Time"] > via_api["Created_Time"]
    with pytest.raises(AdminError):
        box.admin.crm_update("Accounts", record_id, Account_Name=None)
    box.admin.crm_delete("Accounts", record_id)
    assert client.crm("GET", f"/Accounts/{record_id}").status_code == 204


def test_direct_books_writes_can_set_crm_links_and_status(fresh):
    """Admin Books writes may set zcrm_* links and status, which the API cannot."""
    box = fresh()
    client = Zoho(box.credentials)
    made = box.admin.books_create(
        "contacts",
        {"contact_name": "Linked", "zcrm_contact_id": "4876876000000333005", "status": "inactive"},
    )
    assert made["is_linked_with_zohocrm"] and made["status"] == "inactive"
    ignored = client.books(
        "PUT",
        f"/contacts/{made['contact_id']}",
        json={"zcrm_contact_id": "", "email": "top@level.example"},
    )
    contact = ignored.json()["contact"]
    assert contact["zcrm_contact_id"] == "4876876000000333005"
    assert "top@level.example" not in str(contact)
    listed = client.books("GET", "/contacts", params={"zcrm_contact_id": "4876876000000333005"})
    assert [c["contact_id"] for c in listed.json()["contacts"]] == [made["contact_id"]]
    client.books("POST", "/contacts", json={"contact_name": "Not linked"})
    crm = client.books("GET", "/contacts", params={"filter_by": "Status.Crm"}).json()
    assert [c["contact_name"] for c in crm["contacts"]] == ["Linked"]


def test_many_books_records_are_made_in_one_request_all_or_none(fresh):
    """A list of Books records is made in one admin request, in order, as the API would
    make each; one refused leaves none of them made."""
    box = fresh()
    client = Zoho(box.credentials)
    ids = box.admin.books_create_many(
        "contacts",
        {"contact_name": "Many One", "website": "www.one.example"},
        {"contact_name": "Many Two", "contact_type": "vendor"},
    )
    assert len(ids) == 2
    first = client.books("GET", f"/contacts/{ids[0]}").json()["contact"]
    second = client.books("GET", f"/contacts/{ids[1]}").json()["contact"]
    assert (first["contact_name"], first["website"]) == ("Many One", "www.one.example")
    assert (second["contact_name"], second["contact_type"]) == ("Many Two", "vendor")
    with pytest.raises(AdminError):
        box.admin.books_create_many("contacts", {"contact_name": "Many Three"}, {"website": "x"})
    names = [c["contact_name"] for c in box.admin.books_records("contacts")]
    assert sorted(names) == ["Many One", "Many Two"]


def test_second_organisation_is_separate(fresh):
    """A second Books organisation has its own records."""
    box = fresh()
    client = Zoho(box.credentials)
    other = box.admin.add_organization("Acme Books")["organization_id"]
    client.books("POST", "/contacts", json={"contact_name": "Only in second"}, org=other)
    assert client.books("GET", "/contacts").json()["contacts"] == []
    second = client.books("GET", "/contacts", org=other).json()["contacts"]
    assert [c["contact_name"] for c in second] == ["Only in second"]
    orgs = client.http.get(f"{box.url}/books/v3/organizations", headers=client.headers())
    assert len(orgs.json()["organizations"]) == 2


def test_reset_wipes_records_but_keeps_credentials(fresh):
    """Reset drops records, faults and counters; the credentials still work."""
    box = fresh(seed="demo", books_per_minute=7)
    client = Zoho(box.credentials)
    box.admin.add_fault("status", api="crm", status=500, path="/nowhere")
    box.admin.settings(books_per_minute=1)
    box.admin.reset()
    assert box.admin.faults() == [] and box.admin.counters() == []
    assert box.admin.settings()["books_per_minute"] == 7
    assert client.crm("GET", "/Accounts", params={"fields": "Account_Name"}).status_code == 204


def test_unknown_admin_paths_and_records(fresh):
    """Unknown admin paths, modules and records are 404."""
    box = fresh()
    with pytest.raises(AdminError) as missing:
        box.admin.call("GET", "/nope")
    assert missing.value.status == 404
    with pytest.raises(AdminError):
        box.admin.crm_records("Widgets")
    with pytest.raises(AdminError):
        box.admin.crm_record("Accounts", "1")


def test_a_reset_sandbox_can_be_seeded_again(fresh):
    """After a reset wipes the records, seeding demo makes them again (not a silent no-op)."""
    box = fresh(seed="demo")
    box.admin.reset()
    assert box.admin.call("GET", "/")["crm_records"].get("Accounts", 0) == 0
    assert box.admin.seed("demo")["crm.Accounts"] == 10
    assert box.admin.call("GET", "/")["crm_records"]["Accounts"] == 10


def test_the_keys_seed_adds_the_unique_fields_replicator_keys_creates_on(fresh):
    """seed "keys": a unique Replicator_Id in CRM and cf_replicator_id in Books, no records."""
    box = fresh()
    assert box.admin.seed("keys")["fields"] > 0
    assert box.admin.seed("keys") == {"fields": 0}
    client = Zoho(box.credentials)
    fields = client.crm("GET", "/settings/fields", params={"module": "Accounts"}).json()["fields"]
    key = next(f for f in fields if f["api_name"] == "Replicator_Id")
    assert key["unique"] is not None
    made = client.books(
        "PUT",
        "/contacts",
        json={"contact_name": "Keyed"},
        headers={
            "X-Unique-Identifier-Key": "cf_replicator_id",
            "X-Unique-Identifier-Value": "crm:1",
            "X-Upsert": "true",
        },
    )
    assert made.status_code == 201
    assert box.admin.call("GET", "/")["crm_records"].get("Accounts", 0) == 0


def test_api_answers_carry_the_sandbox_clock_as_their_date(fresh):
    """Date comes from the sandbox's clock, once, so it moves with advance_clock as the
    records' modification times do."""
    box = fresh()
    client = Zoho(box.credentials)
    (record_id,) = box.admin.crm_create("Accounts", {"Account_Name": "Dated"})
    box.admin.advance_clock(3600)
    box.admin.crm_update("Accounts", record_id, Phone="1")
    response = client.crm("GET", f"/Accounts/{record_id}")
    assert len(response.headers.get_list("date")) == 1
    date = email.utils.parsedate_to_datetime(response.headers["date"])
    modified = response.json()["data"][0]["Modified_Time"]
    assert abs((date - dt.datetime.fromisoformat(modified)).total_seconds()) < 5


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("POST", "/clock", b'{"advance": 1e999}', {}),  # infinite
        ("POST", "/clock", b'{"advance": NaN}', {}),
        ("POST", "/clock", b'{"advance": 1e300}', {}),  # past the calendar
        ("POST", "/oauth/token", b'{"ttl": 1e999}', {}),
        ("POST", "/oauth/token", b'{"ttl": -5}', {}),
        ("GET", "/notifications", None, {"wait": "soon"}),
        ("GET", "/notifications", None, {"wait": "inf"}),
        ("GET", "/notifications", None, {"wait": "nan"}),
    ],
    ids=[
        "advance-inf",
        "advance-nan",
        "advance-1e300",
        "ttl-inf",
        "ttl-negative",
        "wait-text",
        "wait-inf",
        "wait-nan",
    ],
)
def test_admin_numbers_out_of_range_are_400_and_the_sandbox_keeps_working(
    fresh, method, path, body, params
):
    """An infinite, NaN or calendar-breaking number is refused with 400, not a 500, and
    leaves the clock and every API working."""
    box = fresh()
    before = box.admin.call("GET", "/clock")["offset"]
    answer = httpx.request(
        method,
        f"{box.url}/__admin__{path}",
        content=body,
        params=params,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert answer.status_code == 400, answer.text
    assert box.admin.call("GET", "/clock")["offset"] == before
    client = Zoho(box.credentials)
    try:
        listed = client.crm("GET", "/Accounts", params={"fields": "Account_Name"})
        assert listed.status_code in (200, 204)
    finally:
        client.close()
