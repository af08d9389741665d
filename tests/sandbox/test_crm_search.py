"""CRM v8 search: criteria, email, phone and word."""

from __future__ import annotations

import pytest

from tests.sandbox.zoho import Zoho


@pytest.fixture
def people(fresh):
    box = fresh()
    box.admin.crm_create(
        "Contacts",
        {
            "First_Name": "Mary",
            "Last_Name": "Burns,B",
            "Email": "mary@burns.example",
            "Phone": "+1 (555) 010-2000",
        },
        {"First_Name": "Monty", "Last_Name": "Burns", "Email": "monty@burns.example"},
        {
            "First_Name": "Homer",
            "Last_Name": "Simpson",
            "Email": "homer@plant.example",
            "Title": "Safety inspector",
        },
        notify=False,
    )
    client = Zoho(box.credentials)
    yield box, client
    client.close()


def names(response):
    assert response.status_code == 200, response.text
    return sorted(r["First_Name"] for r in response.json()["data"])


def test_criteria_with_and_escapes_and_starts_with(people):
    """((Last_Name:equals:Burns\\,B)and(First_Name:starts_with:M)) finds Mary only."""
    _, client = people
    response = client.crm(
        "GET",
        "/Contacts/search",
        params={"criteria": r"((Last_Name:equals:Burns\,B)and(First_Name:starts_with:M))"},
    )
    assert names(response) == ["Mary"]


def test_criteria_or_and_comma_lists(people):
    """or joins conditions; an unescaped comma lists alternatives."""
    _, client = people
    either = client.crm(
        "GET",
        "/Contacts/search",
        params={"criteria": "((First_Name:equals:homer)or(Last_Name:equals:Burns))"},
    )
    assert names(either) == ["Homer", "Monty"]
    listed = client.crm(
        "GET", "/Contacts/search", params={"criteria": "(First_Name:in:Homer,Monty)"}
    )
    assert names(listed) == ["Homer", "Monty"]


def test_email_phone_and_word_search(people):
    """email= and phone= match those fields; word= matches text anywhere."""
    _, client = people
    assert names(
        client.crm("GET", "/Contacts/search", params={"email": "MONTY@burns.example"})
    ) == ["Monty"]
    assert names(client.crm("GET", "/Contacts/search", params={"phone": "15550102000"})) == ["Mary"]
    assert names(client.crm("GET", "/Contacts/search", params={"word": "inspector"})) == ["Homer"]


def test_no_match_is_204(people):
    """A search that finds nothing is 204 with no body."""
    _, client = people
    response = client.crm("GET", "/Contacts/search", params={"email": "nobody@x.example"})
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize(
    ("criteria", "code"),
    [
        ("(Last_Name:equals:Burns", "INVALID_QUERY"),
        ("(Nope:equals:1)", "INVALID_QUERY"),
        ("(Last_Name:sounds_like:Burns)", "INVALID_QUERY"),
        (
            "(" + "and".join(f"(Last_Name:equals:{i})" for i in range(16)) + ")",
            "CRITERIA_LIMIT_EXCEEDED",
        ),
    ],
)
def test_bad_criteria_are_400(people, criteria, code):
    """Malformed criteria, unknown fields or operators, too many conditions: 400."""
    _, client = people
    response = client.crm("GET", "/Contacts/search", params={"criteria": criteria})
    assert response.status_code == 400 and response.json()["code"] == code


def test_search_needs_a_parameter_and_stops_at_2000(people):
    """No criteria/email/phone/word is 400; results beyond 2,000 are 400 LIMIT_REACHED."""
    _, client = people
    missing = client.crm("GET", "/Contacts/search")
    assert missing.status_code == 400 and missing.json()["code"] == "EXPECTED_PARAM_MISSING"
    far = client.crm(
        "GET", "/Contacts/search", params={"word": "burns", "page": 11, "per_page": 200}
    )
    assert far.status_code == 400 and far.json()["code"] == "LIMIT_REACHED"


def test_fresh_writes_are_found_after_the_search_lag(people):
    """With a search lag, a new record is not found until the lag has passed."""
    box, client = people
    box.admin.settings(search_lag=30.0)
    client.crm("POST", "/Contacts", json={"data": [{"Last_Name": "Flanders"}]})
    query = {"criteria": "(Last_Name:equals:Flanders)"}
    assert client.crm("GET", "/Contacts/search", params=query).status_code == 204
    box.admin.advance_clock(31)
    assert client.crm("GET", "/Contacts/search", params=query).status_code == 200


def test_lookup_criteria_match_the_name_or_the_id(fresh):
    """Account_Name:equals matches the account's name; Account_Name.id its id."""
    box = fresh()
    client = Zoho(box.credentials)
    (account,) = box.admin.crm_create("Accounts", {"Account_Name": "Zylker"})
    box.admin.crm_create(
        "Contacts", {"Last_Name": "Z", "Account_Name": {"id": account}}, {"Last_Name": "Other"}
    )
    by_name = client.crm(
        "GET", "/Contacts/search", params={"criteria": "(Account_Name:equals:Zylker)"}
    )
    by_id = client.crm(
        "GET", "/Contacts/search", params={"criteria": f"(Account_Name.id:equals:{account})"}
    )
    assert [r["Last_Name"] for r in by_name.json()["data"]] == ["Z"]
    assert [r["Last_Name"] for r in by_id.json()["data"]] == ["Z"]
