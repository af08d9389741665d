"""Rate limits: Books per minute and per day, CRM credits and concurrency."""

from __future__ import annotations

import concurrent.futures

from tests.sandbox.zoho import Zoho


def test_books_sends_rate_headers_and_429_over_the_minute(fresh):
    """Every Books answer has X-Rate-Limit-*; the 101st call in a minute is 429."""
    box = fresh()
    client = Zoho(box.credentials)
    first = client.books("GET", "/contacts")
    assert first.headers["X-Rate-Limit-Limit"] == "100"
    assert first.headers["X-Rate-Limit-Remaining"] == "99"
    assert 0 < int(first.headers["X-Rate-Limit-Reset"]) <= 60
    for _ in range(99):
        client.books("GET", "/contacts")
    over = client.books("GET", "/contacts")
    assert over.status_code == 429
    assert over.json()["code"] == 44 and "too many requests" in over.json()["message"]
    assert over.headers["X-Rate-Limit-Remaining"] == "0"
    assert int(over.headers["Retry-After"]) >= 1
    box.admin.advance_clock(61)
    assert client.books("GET", "/contacts").status_code == 200


def test_books_daily_cap(fresh):
    """Past the day's cap Books answers 429 code 45, until the next day."""
    box = fresh(books_per_day=3)
    client = Zoho(box.credentials)
    for _ in range(3):
        assert client.books("GET", "/items").status_code == 200
    over = client.books("GET", "/items")
    assert over.status_code == 429 and over.json()["code"] == 45
    assert int(over.headers["Retry-After"]) <= 86_400
    box.admin.advance_clock(86_400)
    client._token = None
    assert client.books("GET", "/items").status_code == 200


def test_limits_are_per_organisation(fresh):
    """A second organisation has its own per-minute allowance."""
    box = fresh(books_per_minute=2)
    client = Zoho(box.credentials)
    other = box.admin.add_organization("Second Org")["organization_id"]
    client.books("GET", "/items")
    client.books("GET", "/items")
    assert client.books("GET", "/items").status_code == 429
    assert client.books("GET", "/items", org=other).status_code == 200


def test_rate_limits_off_still_reports_headers(fresh):
    """With rate limits off, calls beyond the limit pass and headers still count."""
    box = fresh(books_per_minute=2, rate_limits=False)
    client = Zoho(box.credentials)
    answers = [client.books("GET", "/items") for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert answers[-1].headers["X-Rate-Limit-Remaining"] == "0"


def test_crm_credits_run_out_with_429(fresh):
    """When the day's credits are spent the CRM answers 429 TOO_MANY_REQUESTS."""
    box = fresh(crm_credits_per_day=5)
    client = Zoho(box.credentials)
    records = [{"Account_Name": f"A{i}"} for i in range(30)]
    assert client.crm("POST", "/Accounts", json={"data": records}).status_code == 201
    for _ in range(2):
        assert client.crm("GET", "/Accounts", params={"fields": "Account_Name"}).status_code == 200
    over = client.crm("GET", "/Accounts", params={"fields": "Account_Name"})
    assert over.status_code == 429
    assert over.json()["code"] == "TOO_MANY_REQUESTS" and over.json()["status"] == "error"
    assert int(over.headers["Retry-After"]) > 0
    usage = box.admin.call("GET", "/limits")["crm"]
    assert usage["credits_used"] == 5
    box.admin.advance_clock(86_401)
    client._token = None
    assert client.crm("GET", "/Accounts", params={"fields": "Account_Name"}).status_code == 200


def test_crm_concurrency_limit(fresh):
    """More requests in flight than the concurrency limit get 429."""
    box = fresh(crm_concurrency=2)
    client = Zoho(box.credentials)
    client.token()
    box.admin.add_fault("delay", api="crm", delay=0.4)

    def call() -> int:
        return client.crm("GET", "/org").status_code

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        codes = sorted(pool.map(lambda _: call(), range(5)))
    assert codes.count(200) == 2 and codes.count(429) == 3
