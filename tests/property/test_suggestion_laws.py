"""Suggested near matches (``suggest = true``), by the laws of DESIGN section 8: duplicate
handling independent of arrival order, nothing applied silently, replay equals the live
state, and the sides converge once a person has settled every suggestion.

Each example seeds records on both sides before a first sync, with names drawn from a few
spellings of one company ("Acme Ltd", "ACME Limited", "acme ltd.") and of others, so exact
duplicates, near matches and both at once meet in every combination.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from conflicts import ResolutionError
from conflicts.duplicates import match_key, near_key
from replicator.config.load import Config
from replicator.sync.resolve import resolve
from tests.property import laws
from tests.property.world import MODULE, World, config, open_world
from tests.strategies import SIDES, Seed, emails, raw_amounts, sides

DUPLICATES = st.sampled_from(["overwrite", "link", "clone", "skip"])
PAGE_SIZES = st.integers(1, 4)
BATCH_SIZES = st.sampled_from([1, 2, 1000])
NAMES = st.sampled_from(
    ["Acme Ltd", "ACME Limited", "acme ltd.", "Beta", "BETA", "Beta Inc", "Gamma", ""]
)
TIMES = st.datetimes(
    min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2024, 1, 2), timezones=st.just(dt.UTC)
)
near_seeds = st.builds(
    Seed,
    sides,
    st.fixed_dictionaries({"name": NAMES, "email": emails, "credit_limit": raw_amounts()}),
    TIMES,
)
# every value present: how a create treats empty values is test_sync_laws' business (its
# convergence law), not the suggestions'
full_seeds = st.builds(
    Seed,
    sides,
    st.fixed_dictionaries(
        {
            "name": NAMES.filter(bool),
            "email": emails.filter(bool),
            "credit_limit": raw_amounts().filter(lambda a: a is not None),
        }
    ),
    TIMES,
)


def suggesting(policy: str, page_size: int) -> Config:
    """The laws' customers module with ``suggest`` on."""
    cfg = config(duplicates=policy, page_size=page_size)
    return attrs.evolve(cfg, modules={MODULE: attrs.evolve(cfg.modules[MODULE], suggest=True)})


def seed(w: World, seeded: Sequence[Seed], order: Sequence[int]) -> None:
    for i in order:
        s = seeded[i]
        w.insert(s.side, s.values, updated_at=s.modified.isoformat(), tag=i)


def tags(w: World) -> dict[str, Any]:
    """The tag of the seeded row each record came from, by rid."""
    rows = w.snapshot()
    out = {}
    for state in w.records():
        held = state.sides.get(state.origin)
        if held is not None and held.id is not None:
            out[state.rid] = rows[state.origin].get(held.id, {}).get("tag")
    return out


def open_suggestions(w: World) -> list[tuple[Any, ...]]:
    """Each open suggestion group as the sorted tags of its members (ids play no part)."""
    tag = tags(w)
    groups = set()
    for conflict in w.journal.conflicts(status="open", module=MODULE):
        if conflict["data"].get("suggestion"):
            groups.add(tuple(sorted(tag[c["rid"]] for c in conflict["data"]["candidates"])))
    return sorted(groups)


def outcome(
    seeded: list[Seed], order: list[int], policy: str, page_size: int, batch_size: int
) -> tuple[list[Any], list[Any]]:
    with (
        tempfile.TemporaryDirectory(prefix="near-") as folder,
        open_world(Path(folder), suggesting(policy, page_size), batch_size=batch_size) as w,
    ):
        seed(w, seeded, order)
        w.quiesce()
        return laws.pairing(w), open_suggestions(w)


@given(
    st.lists(near_seeds, max_size=7),
    st.randoms(use_true_random=False),
    DUPLICATES,
    PAGE_SIZES,
    PAGE_SIZES,
    BATCH_SIZES,
)
def test_suggestions_ignore_arrival_order(seeded, random, policy, page_a, page_b, batch_size):
    """The same records inserted in another order and read in other pages and batches give
    the same suggestions, pairs, copies and held records, with the same values."""
    order = list(range(len(seeded)))
    shuffled = random.sample(order, len(order))
    first = outcome(seeded, order, policy, page_a, 1000)
    again = outcome(seeded, shuffled, policy, page_b, batch_size)
    assert first == again


def expected_groups(w: World, seeded: Sequence[Seed]) -> list[tuple[int, ...]]:
    """The suggestions the seeds call for: per near key, the records whose exact key meets
    no other side, when they are on two sides."""
    keyed = []
    for i, s in enumerate(seeded):
        name = w.canonical(
            s.side, {"account_name" if s.side == "crm" else "name": s.values["name"]}
        )
        value = name.get("name")
        keyed.append((i, s.side, match_key([value]), near_key([value])))
    sides_of: dict[Any, set[str]] = {}
    for _, side, key, _ in keyed:
        sides_of.setdefault(key, set()).add(side)
    groups: dict[str, list[tuple[int, str]]] = {}
    for i, side, key, near in keyed:
        if near is not None and len(sides_of[key]) < 2:
            groups.setdefault(near, []).append((i, side))
    return sorted(
        tuple(sorted(i for i, _ in members))
        for members in groups.values()
        if len({side for _, side in members}) > 1
    )


@given(st.lists(near_seeds, max_size=7), DUPLICATES)
def test_every_near_match_is_held_for_a_person_and_none_is_copied(seeded, policy):
    """After a first sync, exactly the near matches the seeds call for are suggested, and
    no member of a suggestion was created on the other side; replay equals the live state."""
    with (
        tempfile.TemporaryDirectory(prefix="near-") as folder,
        open_world(Path(folder), suggesting(policy, 1000)) as w,
    ):
        seed(w, seeded, range(len(seeded)))
        w.quiesce()
        assert open_suggestions(w) == expected_groups(w, seeded)
        suggested = {t for group in open_suggestions(w) for t in group}
        for side in SIDES:
            copied = [r for r in w.sides[side].rows().values() if "tag" not in r]
            for row in copied:
                name = row.get("name", row.get("account_name"))
                assert all(
                    seeded[t].values["name"] != name or seeded[t].side == side for t in suggested
                ), f"{name!r} was copied to {side} while suggested"
        laws.check_verifies(w)


@given(
    st.lists(full_seeds, max_size=7),
    DUPLICATES,
    st.lists(st.sampled_from(["link", "clone", "skip"]), min_size=1, max_size=7),
)
def test_settled_suggestions_converge_and_replay(seeded, policy, decisions):
    """Once a person has settled every suggestion (link, clone or skip) the sides converge,
    links stay one to one, no row is an orphan and a replay gives the live state."""
    with (
        tempfile.TemporaryDirectory(prefix="near-") as folder,
        open_world(Path(folder), suggesting(policy, 2)) as w,
    ):
        seed(w, seeded, range(len(seeded)))
        w.quiesce()
        n = 0
        while True:
            held = [
                c
                for c in w.journal.conflicts(status="open", module=MODULE)
                if c["data"].get("duplicate")
            ]
            if not held:
                break
            choice = decisions[n % len(decisions)]
            n += 1
            try:
                resolve(w.journal, w.config, held[0]["id"], raw_value=choice)
            except ResolutionError:  # several candidates, or none left unpaired
                resolve(w.journal, w.config, held[0]["id"], raw_value="clone")
        w.quiesce()
        assert not w.journal.conflicts(status="open", module=MODULE)
        laws.check_converged(w)
        laws.check_links_one_to_one(w)
        laws.check_no_orphans(w)
        laws.check_verifies(w)
        laws.check_idempotent(w)
