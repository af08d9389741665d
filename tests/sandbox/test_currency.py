"""Base currencies: the CRM org's is a setting, a Books org's an admin call."""

from __future__ import annotations

import pytest

from replicator.sandbox import AdminError
from tests.sandbox.zoho import Zoho


def test_the_crm_org_answers_the_base_currency_setting(fresh):
    """`crm_currency` is what GET /org says in iso_code; a reset restores the start value."""
    box = fresh()
    client = Zoho(box.credentials)
    try:
        box.admin.settings(crm_currency="EUR")
        org = client.crm("GET", "/org").json()["org"][0]
        assert (org["iso_code"], org["currency_symbol"]) == ("EUR", "€")
        box.admin.reset()
        assert client.crm("GET", "/org").json()["org"][0]["iso_code"] == "USD"
    finally:
        client.close()


def test_a_crm_currency_must_be_an_iso_code(fresh):
    """A setting that is not three capital letters is refused with the reason."""
    box = fresh()
    with pytest.raises(AdminError, match="ISO currency code"):
        box.admin.settings(crm_currency="euro")


def test_a_books_orgs_base_currency_is_set_by_the_admin_api(fresh):
    """The org's currency_code changes, new contacts take it, and a reset puts USD back."""
    box = fresh()
    client = Zoho(box.credentials)
    org = box.credentials["organization_id"]
    try:
        box.admin.set_books_currency("GBP", organization_id=org)
        answer = client.books("GET", f"/organizations/{org}").json()["organization"]
        assert (answer["currency_code"], answer["currency_symbol"]) == ("GBP", "£")
        created = client.books("POST", "/contacts", json={"contact_name": "Ltd"}).json()
        assert created["contact"]["currency_code"] == "GBP"
        box.admin.reset()
        answer = client.books("GET", f"/organizations/{org}").json()["organization"]
        assert answer["currency_code"] == "USD"
    finally:
        client.close()


def test_a_books_currency_the_sandbox_lacks_is_refused(fresh):
    """Only the sandbox's currencies can be a base currency; an unknown org is a 404."""
    box = fresh()
    with pytest.raises(AdminError, match="currency_code must be one of"):
        box.admin.set_books_currency("XYZ")
    with pytest.raises(AdminError) as info:
        box.admin.set_books_currency("EUR", organization_id="1")
    assert info.value.status == 404
