"""The sync laws across poison values (issue 9): another program writes a value no sync can
read or convert into one field of one row (bytes that are not UTF-8, a lone surrogate, a
locale comma, trailing garbage, an amount the journal cannot hold), and later fixes it.

While it is there the cycle runs, every other row and field converges, an error entry names
the record, side and field, and the poison (or a guess at it, or a float) reaches neither
the other side nor the journal; once fixed, the record converges like any other with no
manual step; the journal replays to the live state throughout; no key is doubled.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from journal import Kind
from tests.property import laws
from tests.property.world import config, open_world


@pytest.mark.parametrize(
    "amount", [Decimal("Infinity"), Decimal("NaN"), Decimal("1E+999999999"), Decimal("1E-5000")]
)
def test_an_amount_the_journal_cannot_hold_as_it_is_is_a_field_error_shown_short(tmp_path, amount):
    """A side hands over an infinite, not-a-number or billion-digit Decimal: the cycle does
    not fail, the error entry shows the value in a few characters, the rest syncs."""
    with open_world(tmp_path, config()) as w:
        w.insert("books", {"name": "Acme", "email": "a@example.com", "credit_limit": amount})
        w.insert("books", {"name": "Beta", "email": None, "credit_limit": "5"})
        assert w.cycle()
        (error,) = w.entries(Kind.ERROR)
        assert error.meta["field"] == "credit_limit"
        assert len(str(error.meta["value"])) <= 80 and "Decimal(" in error.meta["value"]
        crm = {row["account_name"]: row for row in w.sides["crm"].rows().values()}
        assert crm["Acme"]["email"] == "a@example.com" and crm["Acme"].get("credit_limit") is None
        assert Decimal(crm["Beta"]["credit_limit"]) == 5
        laws.check_verifies(w)
