"""Switchable faults and the request counters."""

from __future__ import annotations

import time

import httpx
import pytest

from replicator.sandbox import AdminError
from tests.sandbox.zoho import Zoho

FIELDS = {"fields": "Account_Name"}


def test_429_fault_has_retry_after_and_the_crm_envelope(sandbox, zoho):
    """A 429 fault answers the CRM's TOO_MANY_REQUESTS with Retry-After."""
    sandbox.admin.add_fault("status", api="crm", status=429, retry_after=7, path="/crm/v8/Accounts")
    response = zoho.crm("GET", "/Accounts", params=FIELDS)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json()["code"] == "TOO_MANY_REQUESTS"
    assert zoho.crm("GET", "/Contacts", params={"fields": "Last_Name"}).status_code == 200


def test_fault_every_nth_and_limited_times(sandbox, zoho):
    """every=3 hits every third matching request; times stops it after that many hits."""
    sandbox.admin.add_fault(
        "status", api="crm", status=500, every=3, times=2, path="/crm/v8/{module}"
    )
    codes = [zoho.crm("GET", "/Accounts", params=FIELDS).status_code for _ in range(9)]
    assert codes == [200, 200, 500, 200, 200, 500, 200, 200, 200]
    error = zoho.crm("GET", "/Accounts", params=FIELDS)
    assert error.status_code == 200
    hits = sandbox.admin.faults()[0]
    assert hits["hits"] == 2


def test_500_and_503_bodies(sandbox, zoho):
    """A 500 is the API's JSON internal error; a 503 is a gateway's HTML page."""
    fault = sandbox.admin.add_fault("status", api="books", status=500)
    response = zoho.books("GET", "/items")
    assert response.status_code == 500 and response.json() == {
        "code": 1000,
        "message": "Internal error",
    }
    sandbox.admin.call("DELETE", f"/faults/{fault}")
    sandbox.admin.add_fault("status", api="crm", status=503, retry_after=2)
    gateway = zoho.crm("GET", "/Accounts", params=FIELDS)
    assert gateway.status_code == 503 and gateway.headers["Retry-After"] == "2"
    assert gateway.headers["content-type"].startswith("text/html")


def test_delay_fault_slows_the_response(sandbox, zoho):
    """A delay fault holds the answer for its delay, then serves it normally."""
    sandbox.admin.add_fault("delay", api="crm", method="GET", delay=0.3)
    started = time.monotonic()
    response = zoho.crm("GET", "/org")
    assert response.status_code == 200 and time.monotonic() - started >= 0.3


def test_dropped_connection_is_a_transport_error(sandbox, zoho):
    """A drop fault closes the socket: httpx raises a TransportError, not a status."""
    sandbox.admin.add_fault("drop", api="crm", times=1)
    with pytest.raises(httpx.TransportError):
        zoho.crm("GET", "/Accounts", params=FIELDS)
    assert zoho.crm("GET", "/Accounts", params=FIELDS).status_code == 200
    assert sandbox.admin.count("GET", "/crm/v8/{module}", "dropped") >= 1


def test_oauth_fault(sandbox, zoho):
    """Faults reach the accounts server too."""
    sandbox.admin.add_fault("status", api="oauth", status=429, times=1)
    response = zoho.refresh()
    assert response.status_code == 429 and response.json()["error"] == "Access Denied"


def test_partial_bulk_failure(sandbox, zoho):
    """A partial fault fails chosen records with INVALID_DATA (207) and keeps the rest."""
    sandbox.admin.add_fault("partial", api="crm", method="POST", record_every=2)
    records = [{"Account_Name": f"Partial {i}"} for i in range(4)]
    response = zoho.crm("POST", "/Accounts", json={"data": records})
    assert response.status_code == 207
    results = response.json()["data"]
    assert [r["status"] for r in results] == ["success", "error", "success", "error"]
    assert results[1]["code"] == "INVALID_DATA"
    assert results[1]["details"]["json_path"] == "$.data[1].Account_Name"


def test_partial_bulk_failure_with_a_passing_error_code(sandbox, zoho):
    """record_code makes the failed records answer a passing error (retry later)."""
    sandbox.admin.add_fault(
        "partial", api="crm", method="POST", record_every=3, record_code="INTERNAL_ERROR"
    )
    records = [{"Account_Name": f"Passing {i}"} for i in range(3)]
    response = zoho.crm("POST", "/Accounts", json={"data": records})
    assert response.status_code == 207
    results = response.json()["data"]
    assert [r["status"] for r in results] == ["success", "success", "error"]
    assert results[2]["code"] == "INTERNAL_ERROR"


def test_faults_are_deterministic_with_a_seed(fresh):
    """Two sandboxes with the same seed fault the same requests."""
    patterns = []
    for _ in range(2):
        box = fresh()
        client = Zoho(box.credentials)
        client.token()
        box.admin.add_fault("status", api="crm", status=500, probability=0.5)
        patterns.append([client.crm("GET", "/org").status_code for _ in range(12)])
    assert patterns[0] == patterns[1] and 500 in patterns[0] and 200 in patterns[0]


def test_bad_fault_specs_are_refused(sandbox):
    """Unknown kinds or keys are refused by the admin API."""
    with pytest.raises(AdminError):
        sandbox.admin.add_fault("explode")
    with pytest.raises(AdminError):
        sandbox.admin.add_fault("status", colour="red")


def test_counters_by_method_template_and_status(fresh):
    """Counters count requests by method, route template and status, and reset."""
    box = fresh()
    client = Zoho(box.credentials)
    client.crm("GET", "/Accounts", params=FIELDS)
    client.crm("GET", "/Accounts")
    client.crm("GET", "/Deals", params={"fields": "Deal_Name"})
    client.books("GET", "/contacts")
    assert box.admin.count("GET", "/crm/v8/{module}", 204) == 2
    assert box.admin.count("GET", "/crm/v8/{module}", 400) == 1
    assert box.admin.count("GET", "/books/v3/contacts", 200) == 1
    assert box.admin.count("POST", "/oauth/v2/token", 200) == 1
    box.admin.reset_counters()
    assert box.admin.counters() == []
