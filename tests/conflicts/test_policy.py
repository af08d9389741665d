import datetime as dt

import pytest

from conflicts.errors import PolicyError
from conflicts.policy import RESOLVER, ConflictPolicy, Direction, DuplicatePolicy, ModulePolicy
from conflicts.register import Sibling
from journal.clock import Dot

T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
SIDES = ("crm", "books")


def sib(side, value, minutes=0, counter=1):
    return Sibling(Dot(side, counter), value, T0 + dt.timedelta(minutes=minutes))


def test_newest_picks_the_latest_side_time_and_says_why():
    """newest: the later modification wins, and the reason names both times."""
    decision = ConflictPolicy.parse("newest").choose(
        [sib("crm", "a", 1), sib("books", "b", 5)], SIDES
    )
    assert decision.winner.value == "b"
    assert "books" in decision.reason and "after crm" in decision.reason


def test_newest_breaks_ties_by_side_order():
    """With equal times the side listed first wins, whatever the sibling order."""
    siblings = [sib("books", "b"), sib("crm", "a")]
    policy = ConflictPolicy.parse("newest")
    assert policy.choose(siblings, SIDES).winner.value == "a"
    assert policy.choose(list(reversed(siblings)), SIDES).winner.value == "a"
    assert policy.choose(siblings, ("books", "crm")).winner.value == "b"
    assert "tie" in policy.choose(siblings, SIDES).reason


def test_prefer_side_wins_even_when_older():
    """prefer:<side> takes that side's value regardless of time."""
    decision = ConflictPolicy.parse("prefer:crm", SIDES).choose(
        [sib("crm", "a", 0), sib("books", "b", 9)], SIDES
    )
    assert decision.winner.value == "a" and "prefer:crm" in decision.reason


def test_manual_holds_the_field():
    """manual: no winner until a person decides."""
    decision = ConflictPolicy.parse("manual").choose([sib("crm", "a"), sib("books", "b")], SIDES)
    assert decision.winner is None and "person" in decision.reason


def test_a_resolution_sibling_outranks_a_tie():
    """A person's value wins a tie against any side."""
    decision = ConflictPolicy.parse("newest").choose([sib("crm", "a"), sib(RESOLVER, "z")], SIDES)
    assert decision.winner.value == "z"


@pytest.mark.parametrize(
    "text, message",
    [("newer", "newest, prefer"), ("prefer:erp", "not one of the sides")],
)
def test_bad_conflict_policies_name_the_choices(text, message):
    """A typo in a policy says what would have been accepted."""
    with pytest.raises(PolicyError, match=message):
        ConflictPolicy.parse(text, SIDES)


def test_direction_limits_the_targets():
    """one_way never targets its source; both_ways targets both."""
    assert Direction.parse("both_ways", None, SIDES).targets(SIDES) == SIDES
    assert Direction.parse("one_way", "crm", SIDES).targets(SIDES) == ("books",)
    with pytest.raises(PolicyError, match="source"):
        Direction.parse("one_way", None, SIDES)
    with pytest.raises(PolicyError):
        Direction.parse("sideways", None, SIDES)


def test_one_way_modules_let_the_source_win_conflicts():
    """Whatever the configured policy, a one-way target never beats its source."""
    policy = ModulePolicy(
        "customers",
        SIDES,
        Direction.parse("one_way", "crm", SIDES),
        conflicts=ConflictPolicy.parse("newest"),
    )
    assert str(policy.effective_conflicts) == "prefer:crm"
    assert policy.incoming == "crm"


def test_duplicate_policies_parse():
    """The four duplicate policies parse; anything else names the choices."""
    assert [DuplicatePolicy.parse(p) for p in ("clone", "overwrite", "skip", "link")]
    with pytest.raises(PolicyError, match="clone, overwrite, skip, link"):
        DuplicatePolicy.parse("merge")
