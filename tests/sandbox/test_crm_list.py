"""CRM v8 lists: fields, pages, page tokens, sorting, If-Modified-Since, views."""

from __future__ import annotations

import pytest

from tests.sandbox.zoho import Zoho


@pytest.fixture
def big(fresh):
    """A fresh sandbox holding 2,050 accounts, and a client of it."""
    box = fresh(crm_credits_per_day=1_000_000)
    box.admin.crm_create(
        "Accounts", *({"Account_Name": f"Account {i:04d}"} for i in range(2050)), notify=False
    )
    client = Zoho(box.credentials)
    yield box, client
    client.close()


def test_fields_parameter_is_mandatory(zoho):
    """A list without fields is 400 REQUIRED_PARAM_MISSING naming fields."""
    response = zoho.crm("GET", "/Accounts")
    assert response.status_code == 400
    assert response.json()["code"] == "REQUIRED_PARAM_MISSING"
    assert response.json()["details"] == {"param_name": "fields"}


def test_more_than_50_fields_is_refused(zoho):
    """51 field names are 400 LIMIT_EXCEEDED."""
    names = ",".join(f"Field_{i}" for i in range(51))
    response = zoho.crm("GET", "/Accounts", params={"fields": names})
    assert response.status_code == 400 and response.json()["code"] == "LIMIT_EXCEEDED"


@pytest.mark.parametrize("per_page", ["201", "0", "many"])
def test_per_page_over_200_is_refused(zoho, per_page):
    """per_page above 200 (or not a positive integer) is 400 INVALID_DATA."""
    response = zoho.crm("GET", "/Accounts", params={"fields": "Account_Name", "per_page": per_page})
    assert response.status_code == 400 and response.json()["code"] == "INVALID_DATA"


def test_list_returns_only_the_asked_fields_and_info(zoho):
    """Each record has id plus the asked fields; info has the paging keys."""
    body = zoho.crm(
        "GET", "/Accounts", params={"fields": "Account_Name,Phone", "per_page": 2}
    ).json()
    assert all(set(r) == {"id", "Account_Name", "Phone"} for r in body["data"])
    info = body["info"]
    assert info["per_page"] == 2 and info["count"] == 2 and info["page"] == 1
    assert info["more_records"] is True and info["next_page_token"]
    assert info["page_token_expiry"]


def test_empty_module_is_204_with_no_body(fresh):
    """Listing a module with no records is HTTP 204 and an empty body."""
    box = fresh()
    response = Zoho(box.credentials).crm("GET", "/Deals", params={"fields": "Deal_Name"})
    assert response.status_code == 204 and response.content == b""


def test_pages_stop_at_2000_and_page_token_goes_on(big):
    """page reaches record 2,000; beyond needs next_page_token, which reaches the rest."""
    _, client = big
    seen: list[str] = []
    for page in range(1, 11):
        body = client.crm(
            "GET",
            "/Accounts",
            params={"fields": "Account_Name", "page": page, "sort_by": "id", "sort_order": "asc"},
        ).json()
        seen += [r["id"] for r in body["data"]]
    assert len(seen) == 2000 and body["info"]["more_records"] is True
    beyond = client.crm(
        "GET",
        "/Accounts",
        params={"fields": "Account_Name", "page": 11, "sort_by": "id", "sort_order": "asc"},
    )
    assert beyond.status_code == 400
    assert beyond.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    rest = client.crm(
        "GET",
        "/Accounts",
        params={"fields": "Account_Name", "page_token": body["info"]["next_page_token"]},
    ).json()
    seen += [r["id"] for r in rest["data"]]
    assert rest["info"]["more_records"] is False and rest["info"]["page"] == 11
    assert len(seen) == len(set(seen)) == 2050
    assert seen == sorted(seen)


def test_bad_or_expired_page_token_is_refused(big):
    """An unknown page token, or one older than a day, is 400 INVALID_DATA."""
    box, client = big
    assert (
        client.crm(
            "GET", "/Accounts", params={"fields": "Account_Name", "page_token": "nope"}
        ).status_code
        == 400
    )
    token = client.crm("GET", "/Accounts", params={"fields": "Account_Name"}).json()["info"][
        "next_page_token"
    ]
    box.admin.advance_clock(86_401)
    client._token = None
    response = client.crm(
        "GET", "/Accounts", params={"fields": "Account_Name", "page_token": token}
    )
    assert response.status_code == 400 and response.json()["details"]["param_name"] == (
        "page_token"
    )


def test_sort_by_modified_time_and_if_modified_since(fresh):
    """Records sort by Modified_Time; If-Modified-Since returns only later changes, and
    304 when there are none."""
    box = fresh()
    client = Zoho(box.credentials)
    a, b, c = box.admin.crm_create(
        "Vendors", {"Vendor_Name": "A"}, {"Vendor_Name": "B"}, {"Vendor_Name": "C"}
    )
    box.admin.advance_clock(30)
    box.admin.crm_update("Vendors", a, City="Oslo")
    listed = client.crm(
        "GET",
        "/Vendors",
        params={
            "fields": "Vendor_Name,Modified_Time",
            "sort_by": "Modified_Time",
            "sort_order": "asc",
        },
    ).json()["data"]
    assert [r["id"] for r in listed][-1] == a
    mark = listed[1]["Modified_Time"]
    newer = client.crm(
        "GET", "/Vendors", params={"fields": "Vendor_Name"}, headers={"If-Modified-Since": mark}
    ).json()["data"]
    assert [r["id"] for r in newer] == [a]
    latest = listed[-1]["Modified_Time"]
    none = client.crm(
        "GET", "/Vendors", params={"fields": "Vendor_Name"}, headers={"If-Modified-Since": latest}
    )
    assert none.status_code == 304 and none.content == b""
    assert {b, c} <= {r["id"] for r in listed}


def test_bad_sort_and_if_modified_since_values_are_refused(zoho):
    """An unknown sort_by or an unparsable If-Modified-Since is 400 INVALID_DATA."""
    bad_sort = zoho.crm("GET", "/Accounts", params={"fields": "Account_Name", "sort_by": "Phone"})
    assert bad_sort.status_code == 400
    assert "supported_values" in bad_sort.json()["details"]
    bad_time = zoho.crm(
        "GET",
        "/Accounts",
        params={"fields": "Account_Name"},
        headers={"If-Modified-Since": "yesterday"},
    )
    assert bad_time.status_code == 400


def test_cvid_filters_by_the_views_criteria(sandbox, zoho):
    """Listing with a view's cvid returns only the records its criteria match."""
    views = zoho.crm("GET", "/settings/custom_views", params={"module": "Deals"}).json()
    open_deals = next(v for v in views["custom_views"] if v["name"] == "Open Deals")
    listed = zoho.crm(
        "GET", "/Deals", params={"fields": "Deal_Name,Stage", "cvid": open_deals["id"]}
    ).json()["data"]
    stages = {r["Stage"] for r in listed}
    assert stages and not stages & {"Closed Won", "Closed Lost"}
    view = sandbox.admin.add_crm_view(
        "Accounts",
        "Technology accounts",
        {"comparator": "equal", "field": {"api_name": "Industry"}, "value": "Technology"},
    )
    tech = zoho.crm(
        "GET", "/Accounts", params={"fields": "Account_Name,Industry", "cvid": view["id"]}
    ).json()["data"]
    assert tech and {r["Industry"] for r in tech} == {"Technology"}
    bad = zoho.crm("GET", "/Accounts", params={"fields": "Account_Name", "cvid": "42"})
    assert bad.status_code == 400


def test_my_view_lists_only_the_token_owners_records(fresh):
    """ "My Accounts" lists the API user's records, not another user's."""
    box = fresh()
    client = Zoho(box.credentials)
    box.admin.crm_create("Accounts", {"Account_Name": "Theirs"})
    client.crm("POST", "/Accounts", json={"data": [{"Account_Name": "Mine"}]})
    views = client.crm("GET", "/settings/custom_views", params={"module": "Accounts"}).json()
    mine = next(v for v in views["custom_views"] if v["name"] == "My Accounts")
    listed = client.crm(
        "GET", "/Accounts", params={"fields": "Account_Name", "cvid": mine["id"]}
    ).json()["data"]
    assert [r["Account_Name"] for r in listed] == ["Mine"]


def test_ids_parameter_picks_records(zoho):
    """ids= lists just those records."""
    some = zoho.crm("GET", "/Accounts", params={"fields": "Account_Name", "per_page": 3}).json()[
        "data"
    ]
    wanted = [some[0]["id"], some[2]["id"]]
    listed = zoho.crm(
        "GET", "/Accounts", params={"fields": "Account_Name", "ids": ",".join(wanted)}
    ).json()["data"]
    assert sorted(r["id"] for r in listed) == sorted(wanted)
