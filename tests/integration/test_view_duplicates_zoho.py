"""A CRM view limits what syncs, never what duplicate matching sees (issue 9, class 2)."""

from __future__ import annotations

from collections import Counter

import pytest

from replicator.sandbox import AdminClient, Sandbox
from tests.integration.conftest import fresh
from tests.integration.test_integration_zoho import journal_entries, sync, write_config


@pytest.fixture
def admin(sandbox: Sandbox) -> AdminClient:
    return fresh(sandbox)


def test_books_customers_whose_crm_twin_is_outside_the_view_are_not_created_again(
    admin, credentials, tmp_path
):
    """overwrite + a `starts_with S` view: Acme and Initech exist in CRM outside the view;
    their Books twins are not created in CRM a second time, on any cycle."""
    admin.add_crm_view(
        "Accounts",
        "S accounts",
        {"comparator": "starts_with", "field": {"api_name": "Account_Name"}, "value": "S"},
    )
    for name in ("Acme Ltd", "Initech", "Sirius Cybernetics"):
        admin.crm_create("Accounts", {"Account_Name": name})
        admin.books_create("contacts", {"contact_name": name, "customer_sub_type": "business"})
    config = write_config(
        tmp_path, credentials, {"customers": {"view": "S accounts", "duplicates": "overwrite"}}
    )
    for _ in range(2):
        sync(config)
    crm = Counter(r["Account_Name"] for r in admin.crm_records("Accounts"))
    assert crm == Counter({"Acme Ltd": 1, "Initech": 1, "Sirius Cybernetics": 1})
    assert Counter(r["contact_name"] for r in admin.books_records("contacts")) == crm
    reasons = [e.meta.get("reason", "") for e in journal_entries(config) if e.kind == "error"]
    assert any("outside the view 'S accounts'" in r and "(Acme Ltd)" in r for r in reasons)
