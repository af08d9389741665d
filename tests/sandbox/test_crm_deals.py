"""CRM v8 Deals for deal automation: the owner, search by word and by account, deleted
deals, the Stage metadata with probabilities, and the watch callback of a stage change."""

from __future__ import annotations

import uuid

import pytest

from replicator.sandbox.crm_schema import ADMIN, OTHER, STAGES
from tests.sandbox.zoho import Receiver, Zoho


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def insert(zoho: Zoho, module: str, *records: dict[str, object]) -> list[str]:
    answer = zoho.crm("POST", f"/{module}", json={"data": list(records)})
    assert answer.status_code == 201, answer.text
    return [r["details"]["id"] for r in answer.json()["data"]]


def search(zoho: Zoho, **params: str) -> list[dict[str, object]]:
    answer = zoho.crm("GET", "/Deals/search", params=params)
    if answer.status_code == 204:
        return []
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def stage_field(zoho: Zoho) -> dict[str, object]:
    fields = zoho.crm("GET", "/settings/fields", params={"module": "Deals"}).json()["fields"]
    return next(f for f in fields if f["api_name"] == "Stage")


@pytest.fixture
def accounts(zoho):
    """Two new accounts, each with two deals whose names share a word."""
    word = uuid.uuid4().hex[:10]
    one, two = insert(
        zoho, "Accounts", {"Account_Name": unique("A")}, {"Account_Name": unique("B")}
    )
    deals = insert(
        zoho,
        "Deals",
        *(
            {"Deal_Name": f"{word} {n}", "Stage": "Qualification", "Account_Name": {"id": a}}
            for n, a in enumerate((one, one, two, two))
        ),
    )
    return word, {one: deals[:2], two: deals[2:]}


def test_a_deals_owner_reads_as_id_name_and_email(zoho):
    """Owner is {id, name, email} on GET, in lists and in search results."""
    name = unique("Owned")
    (deal,) = insert(
        zoho, "Deals", {"Deal_Name": name, "Stage": "Qualification", "Owner": {"id": OTHER.id}}
    )
    owner = {"id": OTHER.id, "name": OTHER.full_name, "email": OTHER.email}
    assert zoho.crm("GET", f"/Deals/{deal}").json()["data"][0]["Owner"] == owner
    listed = zoho.crm("GET", "/Deals", params={"fields": "Owner", "ids": deal}).json()["data"]
    assert listed == [{"id": deal, "Owner": owner}]
    assert [d["Owner"] for d in search(zoho, word=name)] == [owner]
    (mine,) = insert(zoho, "Deals", {"Deal_Name": unique("Mine"), "Stage": "Qualification"})
    got = zoho.crm("GET", f"/Deals/{mine}").json()["data"][0]["Owner"]
    assert got == {"id": ADMIN.id, "name": ADMIN.full_name, "email": ADMIN.email}


def test_an_unknown_owner_is_refused(zoho):
    """An Owner id no user has is INVALID_DATA naming Owner."""
    answer = zoho.crm(
        "POST",
        "/Deals",
        json={"data": [{"Deal_Name": unique("D"), "Stage": "Qualification", "Owner": {"id": "1"}}]},
    )
    assert answer.status_code == 400
    assert answer.json()["data"][0]["details"]["api_name"] == "Owner"


def test_deals_are_searched_by_word(zoho, accounts):
    """word= finds every deal whose name holds the word, case-insensitively."""
    word, by_account = accounts
    found = {d["id"] for d in search(zoho, word=word.upper())}
    assert found == {d for deals in by_account.values() for d in deals}


def test_deals_are_searched_by_account(zoho, accounts):
    """criteria=(Account_Name:equals:<id>) finds that account's deals only."""
    _, by_account = accounts
    for account, deals in by_account.items():
        found = search(zoho, criteria=f"(Account_Name:equals:{account})")
        assert {d["id"] for d in found} == set(deals)
        assert {d["Account_Name"]["id"] for d in found} == {account}
        by_id = search(zoho, criteria=f"(Account_Name.id:equals:{account})")
        assert {d["id"] for d in by_id} == set(deals)


def test_a_word_and_an_account_together_narrow_the_search(zoho, accounts):
    """(Account_Name:equals:<id>)and(Deal_Name:starts_with:<word>) finds the intersection."""
    word, by_account = accounts
    account, deals = next(iter(by_account.items()))
    found = search(
        zoho, criteria=f"((Account_Name:equals:{account})and(Deal_Name:starts_with:{word}))"
    )
    assert {d["id"] for d in found} == set(deals)


def test_deleted_deals_are_never_searched(zoho, accounts):
    """A deal deleted through DELETE /Deals?ids= is in /Deals/deleted, not in searches."""
    word, by_account = accounts
    account, (gone, kept) = next(iter(by_account.items()))
    answer = zoho.crm("DELETE", "/Deals", params={"ids": gone})
    assert answer.status_code == 200 and answer.json()["data"][0]["status"] == "success"
    deleted = zoho.crm("GET", "/Deals/deleted", params={"type": "all"}).json()["data"]
    assert gone in {d["id"] for d in deleted}
    assert gone not in {d["id"] for d in search(zoho, word=word)}
    by_account_now = search(zoho, criteria=f"(Account_Name:equals:{account})")
    assert [d["id"] for d in by_account_now] == [kept]
    assert zoho.crm("GET", f"/Deals/{gone}").status_code == 204


def test_the_stage_metadata_gives_each_stage_its_probability_and_forecast(zoho):
    """Every Stage value carries its probability and forecast_type (won, lost or open)."""
    values = {v["actual_value"]: v for v in stage_field(zoho)["pick_list_values"]}
    assert {k: v["probability"] for k, v in values.items()} == STAGES
    assert values["Closed Won"]["forecast_type"] == "Closed Won"
    assert values["Closed Lost"]["forecast_type"] == "Closed Lost"
    assert values["Closed-Lost to Competition"]["forecast_type"] == "Closed Lost"
    assert values["Negotiation/Review"]["forecast_type"] == "Open"
    assert values["Closed Won"]["forecast_category"]["name"] == "Closed"
    assert values["Qualification"]["forecast_category"]["name"] == "Pipeline"


def test_a_stage_added_with_a_probability_is_described_and_sets_a_deals(fresh):
    """A Stage value added with its probability shows it, and a deal there takes it."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        answer = client.crm(
            "PATCH",
            "/settings/fields/Stage",
            params={"module": "Deals"},
            json={
                "fields": [
                    {
                        "pick_list_values": [
                            {"actual_value": "Signed", "probability": 100},
                            {"display_value": "Shortlisted", "probability": 50},
                        ]
                    }
                ]
            },
        )
        assert answer.status_code == 200, answer.text
        values = {v["actual_value"]: v for v in stage_field(client)["pick_list_values"]}
        assert values["Signed"]["probability"] == 100
        assert values["Signed"]["forecast_type"] == "Closed Won"
        assert values["Shortlisted"]["probability"] == 50
        assert values["Shortlisted"]["forecast_type"] == "Open"
        (deal,) = insert(client, "Deals", {"Deal_Name": "New", "Stage": "Shortlisted"})
        assert client.crm("GET", f"/Deals/{deal}").json()["data"][0]["Probability"] == 50
        client.crm("PUT", f"/Deals/{deal}", json={"data": [{"Stage": "Signed"}]})
        assert client.crm("GET", f"/Deals/{deal}").json()["data"][0]["Probability"] == 100
    finally:
        client.close()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"actual_value": "Maybe"}, "needs a probability"),
        ("Maybe", "needs a probability"),
        ({"actual_value": "Maybe", "probability": 101}, "integer from 0 to 100"),
        ({"actual_value": "Maybe", "probability": "50"}, "integer from 0 to 100"),
    ],
)
def test_a_stage_without_a_good_probability_is_refused(fresh, value, reason):
    """A new Stage value needs an integer probability from 0 to 100; nothing is added."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        answer = client.crm(
            "PATCH",
            "/settings/fields/Stage",
            params={"module": "Deals"},
            json={"fields": [{"pick_list_values": [value]}]},
        )
        assert answer.status_code == 400
        assert reason in str(answer.json())
        values = [v["actual_value"] for v in stage_field(client)["pick_list_values"]]
        assert values == list(STAGES)
    finally:
        client.close()


def test_a_stage_change_fires_the_watch_callback(fresh, receiver: Receiver):
    """PUT of a deal's Stage sends an update callback naming the deal (and Stage)."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        (deal,) = insert(client, "Deals", {"Deal_Name": "Watched", "Stage": "Qualification"})
        answer = client.crm(
            "POST",
            "/actions/watch",
            json={
                "watch": [
                    {
                        "channel_id": "2001",
                        "events": ["Deals.edit"],
                        "notify_url": receiver.url,
                        "token": "t0k",
                        "return_affected_field_values": True,
                    }
                ]
            },
        )
        assert answer.status_code == 201, answer.text
        moved = client.crm("PUT", f"/Deals/{deal}", json={"data": [{"Stage": "Closed Won"}]})
        assert moved.status_code == 200, moved.text
        body = receiver.next()["body"]
        assert body["module"] == "Deals" and body["operation"] == "update"
        assert body["ids"] == [deal] and body["channel_id"] == "2001"
        assert body["token"] == "t0k"
        assert body["affected_fields"] == [{deal: ["Stage"]}]
        again = client.crm("PUT", "/Deals", json={"data": [{"id": deal, "Stage": "Closed Lost"}]})
        assert again.status_code == 200, again.text
        assert receiver.next()["body"]["ids"] == [deal]
    finally:
        client.close()
