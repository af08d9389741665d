"""CRM notifications: channels under /actions/watch and the callbacks they receive."""

from __future__ import annotations

import datetime as dt
import queue
import time

import pytest

from tests.sandbox.zoho import Receiver, Zoho


@pytest.fixture
def watched(fresh, receiver):
    """A fresh sandbox, a client, and channel 1001 watching Deals and Accounts.edit."""
    box = fresh()
    client = Zoho(box.credentials)
    response = client.crm(
        "POST",
        "/actions/watch",
        json={
            "watch": [
                {
                    "channel_id": "1001",
                    "events": ["Deals.all", "Accounts.edit"],
                    "notify_url": receiver.url + "?source=crm",
                    "token": "s3cret",
                }
            ]
        },
    )
    assert response.status_code == 201, response.text
    yield box, client, response.json()
    client.close()


def test_subscribe_answers_per_channel_success(watched):
    """Enabling answers 201 with SUCCESS and one resource entry per event."""
    _, _, answer = watched
    entry = answer["watch"][0]
    assert entry["code"] == "SUCCESS" and entry["status"] == "success"
    resources = entry["details"]["events"]
    assert [r["resource_name"] for r in resources] == ["Deals", "Accounts"]
    assert all(r["channel_id"] == "1001" and r["channel_expiry"] for r in resources)
    assert resources[0]["resource_uri"].endswith("/crm/v8/Deals")


def test_insert_sends_a_callback_with_ids_and_token(watched, receiver):
    """Creating a deal POSTs {ids, module, operation: insert, channel_id, token, ...}."""
    _, client, _ = watched
    created = client.crm(
        "POST",
        "/Deals",
        json={
            "data": [
                {"Deal_Name": "D1", "Stage": "Qualification"},
                {"Deal_Name": "D2", "Stage": "Qualification"},
            ]
        },
    ).json()["data"]
    hit = receiver.next()
    body = hit["body"]
    assert body["module"] == "Deals" and body["operation"] == "insert"
    assert body["ids"] == [r["details"]["id"] for r in created]
    assert body["channel_id"] == "1001" and body["token"] == "s3cret"
    assert body["query_params"] == {"source": "crm"}
    assert hit["path"].startswith("/hook")


def test_other_programs_edits_and_deletes_notify_too(watched, receiver):
    """An admin (another program) edit sends update; a delete sends delete."""
    box, client, _ = watched
    (deal,) = box.admin.crm_create("Deals", {"Deal_Name": "D", "Stage": "Qualification"})
    assert receiver.next()["body"]["operation"] == "insert"
    box.admin.crm_update("Deals", deal, Amount=5)
    assert receiver.next()["body"]["operation"] == "update"
    client.crm("DELETE", "/Deals", params={"ids": deal})
    body = receiver.next()["body"]
    assert body["operation"] == "delete" and body["ids"] == [deal]


def test_only_watched_operations_are_sent(watched, receiver):
    """Accounts.edit ignores account inserts but reports account updates."""
    box, _, _ = watched
    (account,) = box.admin.crm_create("Accounts", {"Account_Name": "A"})
    box.admin.crm_update("Accounts", account, Phone="1")
    body = receiver.next()["body"]
    assert body["module"] == "Accounts" and body["operation"] == "update"
    with pytest.raises(queue.Empty):
        receiver.next(timeout=0.3)


def test_list_update_disable_and_delete_channels(watched):
    """GET lists channels; PUT replaces; PATCH removes events; DELETE removes channels."""
    _, client, _ = watched
    listed = client.crm("GET", "/actions/watch").json()["watch"]
    assert listed[0]["events"] == ["Deals.all", "Accounts.edit"]
    put = client.crm(
        "PUT",
        "/actions/watch",
        json={"watch": [{"channel_id": "1001", "events": ["Contacts.create"]}]},
    )
    assert put.status_code == 200
    assert client.crm("GET", "/actions/watch").json()["watch"][0]["events"] == ["Contacts.create"]
    patch = client.crm(
        "PATCH",
        "/actions/watch",
        json={
            "watch": [{"channel_id": "1001", "events": ["Contacts.create"], "_delete_events": True}]
        },
    )
    assert patch.status_code == 200
    assert client.crm("GET", "/actions/watch").status_code == 204
    client.crm(
        "POST",
        "/actions/watch",
        json={
            "watch": [
                {"channel_id": "7", "events": ["Deals.all"], "notify_url": "http://127.0.0.1:9/x"}
            ]
        },
    )
    gone = client.crm("DELETE", "/actions/watch", params={"channel_ids": "7"})
    assert gone.json()["watch"][0]["code"] == "SUCCESS"
    missing = client.crm(
        "PUT", "/actions/watch", json={"watch": [{"channel_id": "8", "events": ["Deals.all"]}]}
    )
    assert missing.status_code == 202
    assert missing.json()["watch"][0]["code"] == "NOT_SUBSCRIBED"


def test_invalid_watch_entries_are_reported_per_channel(fresh):
    """Bad events, URLs or expiries are per-channel errors (202), good ones still made."""
    box = fresh()
    client = Zoho(box.credentials)
    too_late = (dt.datetime.now(dt.UTC) + dt.timedelta(days=8)).isoformat(timespec="seconds")
    response = client.crm(
        "POST",
        "/actions/watch",
        json={
            "watch": [
                {"channel_id": "1", "events": ["Nope.all"], "notify_url": "http://x.example/"},
                {"channel_id": "2", "events": ["Deals.all"], "notify_url": "ftp://x"},
                {
                    "channel_id": "3",
                    "events": ["Deals.all"],
                    "notify_url": "http://x.example/",
                    "channel_expiry": too_late,
                },
                {"events": ["Deals.all"], "notify_url": "http://x.example/"},
                {"channel_id": "5", "events": ["Deals.all"], "notify_url": "http://x.example/"},
            ]
        },
    )
    assert response.status_code == 202
    entries = response.json()["watch"]
    assert [e["code"] for e in entries] == [
        "INVALID_DATA",
        "INVALID_DATA",
        "INVALID_DATA",
        "MANDATORY_NOT_FOUND",
        "SUCCESS",
    ]
    assert entries[1]["details"]["api_name"] == "notify_url"


def test_expired_channels_stop_receiving(watched, receiver):
    """After channel_expiry the channel is not listed and gets no callbacks."""
    box, client, _ = watched
    box.admin.advance_clock(3601)
    client._token = None
    assert client.crm("GET", "/actions/watch").status_code == 204
    box.admin.crm_create("Deals", {"Deal_Name": "Late", "Stage": "Qualification"})
    with pytest.raises(queue.Empty):
        receiver.next(timeout=0.3)


def test_failures_are_counted_and_callbacks_can_be_switched_off(fresh):
    """A receiver answering 500 counts as a failure; callbacks off sends nothing."""
    box = fresh()
    client = Zoho(box.credentials)
    failing = Receiver(status=500)
    try:
        client.crm(
            "POST",
            "/actions/watch",
            json={
                "watch": [{"channel_id": "9", "events": ["Vendors.all"], "notify_url": failing.url}]
            },
        )
        box.admin.crm_create("Vendors", {"Vendor_Name": "V"})
        failing.next()
        report = box.admin.notifications(wait=2)
        assert report["failures"] == 1 and report["deliveries"] == 0
        assert report["channels"]["9"]["failures"] == 1
        box.admin.settings(callbacks=False)
        box.admin.crm_create("Vendors", {"Vendor_Name": "W"})
        assert box.admin.notifications(wait=2)["suppressed"] == 1
        with pytest.raises(queue.Empty):
            failing.next(timeout=0.3)
    finally:
        failing.close()


def test_a_slow_receiver_never_delays_the_api(fresh):
    """Writes answer at once even when the callback receiver takes a second."""
    box = fresh()
    client = Zoho(box.credentials)
    slow = Receiver(delay=1.0)
    try:
        client.crm(
            "POST",
            "/actions/watch",
            json={
                "watch": [{"channel_id": "11", "events": ["Vendors.all"], "notify_url": slow.url}]
            },
        )
        started = time.monotonic()
        for i in range(3):
            client.crm("POST", "/Vendors", json={"data": [{"Vendor_Name": f"V{i}"}]})
        assert time.monotonic() - started < 0.9
        assert slow.next(timeout=5)["body"]["operation"] == "insert"
    finally:
        slow.close()
