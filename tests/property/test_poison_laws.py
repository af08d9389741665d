"""The sync laws across poison values (issue 9): another program writes a value no sync can
read or convert into one field of one row (bytes that are not UTF-8, a lone surrogate, a
locale comma, trailing garbage, an amount the journal cannot hold), and later fixes it.

While it is there the cycle runs, every other row and field converges, an error entry names
the record, side and field, and the poison (or a guess at it, or a float) reaches neither
the other side nor the journal; once fixed, the record converges like any other with no
manual step; the journal replays to the live state throughout; no key is doubled.
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journal import Kind
from tests.property import laws
from tests.property.world import World, config, open_world
from tests.strategies import Cycle, Fix, poison_scripts, rows


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


def _quiet_laws(w: World) -> None:
    """Every law of a quiescent world, the poisoned fields aside."""
    laws.check_converged(w)
    laws.check_links_one_to_one(w)
    laws.check_no_orphans(w)
    laws.check_each_key_once_per_side(w)
    laws.check_no_lost_record(w)
    laws.check_journal_knows_the_sides(w)
    laws.check_no_echo(w)
    laws.check_no_lost_update(w)
    laws.check_no_poison_spreads(w)
    laws.check_poison_journaled(w)
    laws.check_verifies(w)
    laws.check_idempotent(w)


def _after_each_step(w: World) -> None:
    laws.check_verifies(w)
    laws.check_links_one_to_one(w)
    laws.check_no_poison_spreads(w)
    laws.check_poison_journaled(w)


@settings(max_examples=max(settings.default.max_examples // 2, 10))
@given(
    poison_scripts(),
    st.sampled_from(["memory", "sqlite"]),
    st.sampled_from(["overwrite", "link", "clone", "skip"]),
    st.sampled_from(["newest", "prefer:books", "prefer:crm", "manual"]),
    st.integers(1, 3),
    rows,
)
def test_a_poisoned_field_stays_its_rows_own_and_heals_once_fixed(
    script, connector, duplicates, conflicts, page_size, fixed
):
    """Poisons written into fields among edits, crashes and outages: no full cycle fails,
    the rest converges, each poison is an error entry and reaches nothing else, the journal
    replays to the live state; once every poison is fixed, everything converges."""
    with tempfile.TemporaryDirectory(prefix="poison-") as folder:
        cfg = config(
            connector=connector, duplicates=duplicates, conflicts=conflicts, page_size=page_size
        )
        with open_world(Path(folder), cfg, connector=connector) as w:
            for step in script:
                done = w.apply(step)
                if isinstance(step, Cycle) and step.full:
                    assert done, "a full cycle failed"
                _after_each_step(w)
            w.quiesce()
            _quiet_laws(w)
            while w.poisoned():
                w.apply(Fix(0, fixed))
            w.quiesce()
            assert not w.poisoned()
            _quiet_laws(w)
