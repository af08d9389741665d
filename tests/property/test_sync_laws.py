"""The sync laws of DESIGN section 8, over two memory sides and a journal in a temp file.

Each example plays a random script: another program inserts, updates and deletes rows on
both sides (often the same record on both before a sync), interleaved with full sync cycles,
a person's resolutions, callbacks (maybe delivered twice) and partial cycles (one side's
changes only, a pull failing between pages, a push failing before writing, after writing
some rows, or after writing everything but before the engine could journal the outcome, the
journal failing between any two steps, a side down or locked for the whole cycle, every page
delivered twice, a stop asked for between any two pages or batches).  Then the sides are
left alone and synced to quiescence, and one law is checked.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from journal import Kind, verify
from journal.store import cursor_order
from tests.property import laws
from tests.property.world import COLUMNS, MODULE, World, config, open_world
from tests.strategies import (
    SIDES,
    Callback,
    Cycle,
    Delete,
    EditBoth,
    Fault,
    Insert,
    Seed,
    Update,
    conflict_scripts,
    edits,
    faults,
    full_cycles,
    interruptions,
    partial_cycles,
    scripts,
    seeds,
    shared_seeds,
)

DUPLICATES = st.sampled_from(["overwrite", "link", "clone", "skip"])
PAIRING = st.sampled_from(["overwrite", "overwrite", "link", "skip"])  # one row per key
CONFLICTS = st.sampled_from(["newest", "prefer:books", "prefer:crm", "manual"])
PAGE_SIZES = st.integers(1, 4)
BATCH_SIZES = st.sampled_from([1, 2, 1000])


@contextlib.contextmanager
def played(
    script: list[Any],
    *,
    batch_size: int = 1000,
    check_each: Callable[[World], None] | None = None,
    connector: str = "memory",
    **options: Any,
) -> Iterator[World]:
    """A fresh world (temp folder) after ``script``; ``check_each(world)`` after each step."""
    with (
        tempfile.TemporaryDirectory(prefix="laws-") as folder,
        open_world(
            Path(folder),
            config(connector=connector, **options),
            batch_size=batch_size,
            connector=connector,
        ) as w,
    ):
        for step in script:
            w.apply(step)
            if check_each is not None:
                check_each(w)
        yield w


@given(scripts(), DUPLICATES, CONFLICTS, PAGE_SIZES, BATCH_SIZES)
def test_sides_converge_once_edits_stop(script, duplicates, conflicts, page_size, batch_size):
    """After the last edit, one full cycle brings every active record to the same values
    on both sides (fields a person must settle aside), with one row per side."""
    with played(
        script,
        duplicates=duplicates,
        conflicts=conflicts,
        page_size=page_size,
        batch_size=batch_size,
    ) as w:
        cycles = w.quiesce()
        assert cycles <= 2, f"{cycles} cycles to settle: one full cycle should do it"
        laws.check_converged(w)
        laws.check_links_one_to_one(w)
        laws.check_no_orphans(w)
        laws.check_journal_knows_the_sides(w)
        laws.check_each_key_once_per_side(w)


@given(scripts(), DUPLICATES, CONFLICTS, PAGE_SIZES)
def test_a_cycle_right_after_a_completed_one_does_nothing(script, duplicates, conflicts, page_size):
    """Re-syncing with no edits appends no entry and writes nothing to either side."""
    with played(script, duplicates=duplicates, conflicts=conflicts, page_size=page_size) as w:
        w.cycle()
        laws.check_idempotent(w)


@given(scripts(), DUPLICATES, PAGE_SIZES)
def test_every_completed_cycle_is_idempotent(script, duplicates, page_size):
    """Wherever a full cycle completes in a script, the next one (no edits) is a no-op."""

    def after_step(w: World) -> None:
        if w.full_cycles > seen[0]:
            laws.check_idempotent(w)
            seen[0] = w.full_cycles

    seen = [0]
    with played(script, duplicates=duplicates, page_size=page_size, check_each=after_step):
        pass


@given(scripts(), DUPLICATES, CONFLICTS, PAGE_SIZES)
def test_our_own_writes_never_come_back_as_changes(script, duplicates, conflicts, page_size):
    """Every ``observed`` entry is an edit another program made after the row was last
    read: nothing the engine wrote is observed back (no echo)."""
    with played(script, duplicates=duplicates, conflicts=conflicts, page_size=page_size) as w:
        w.quiesce()
        laws.check_no_echo(w)


@given(scripts(), st.sampled_from(SIDES), DUPLICATES, PAGE_SIZES)
def test_one_way_never_writes_its_source(script, source, duplicates, page_size):
    """A one-way module never writes to its source; the target's own edits are journaled
    and stay on the target."""
    with played(
        script, sync="one_way", source=source, duplicates=duplicates, page_size=page_size
    ) as w:
        w.quiesce()
        assert w.flaky[source].writes == [], "the engine wrote to the one-way source"
        assert w.sides[source].rows() == w.edited_only(source)
        laws.check_journal_knows_the_sides(w)
        laws.check_converged(w)


@given(scripts(), DUPLICATES, CONFLICTS, PAGE_SIZES)
@example(  # an update's outcome lost, then Books sets back the value the CRM last held
    script=[
        Insert("books", {"name": None, "email": None, "credit_limit": None}),
        Insert("books", {"name": "Acme", "email": "a@example.com", "credit_limit": None}),
        Cycle(),
        EditBoth(0, {"email": "a@example.com", "name": "Acme"}, {"name": "Acme"}),
        Cycle(fault=Fault("*", "push_after", 0)),
        Update("books", 0, {"email": None, "name": "Acme"}),
    ],
    duplicates="overwrite",
    conflicts="newest",
    page_size=1,
)
def test_no_observed_change_is_lost(script, duplicates, conflicts, page_size):
    """Every observed value is the final value on both sides, or a recorded conflict
    sibling, or was replaced by a later write that had seen it."""
    with played(script, duplicates=duplicates, conflicts=conflicts, page_size=page_size) as w:
        w.quiesce()
        laws.check_no_lost_update(w)


@given(scripts(), DUPLICATES, PAGE_SIZES)
def test_deletes_never_propagate(script, duplicates, page_size):
    """A delete is a tombstone: the other side keeps its row, and the deleting side never
    gets the record back."""
    with played(script, duplicates=duplicates, page_size=page_size) as w:
        w.quiesce()
        laws.check_deletes_stay(w)
        laws.check_converged(w)


RESOLVE_START = [
    Insert("books", {"name": None, "email": "a@example.com", "credit_limit": None}),
    Cycle(),
    EditBoth(0, {"name": None}, {"name": "Acme"}),
    EditBoth(0, {"name": None}, {"credit_limit": "0.01"}),
    Insert("books", {"name": None, "email": None, "credit_limit": None}),
    Insert("books", {"name": "Acme", "email": None, "credit_limit": None}),
    Cycle(fault=Fault("*", "journal", 2)),
    EditBoth(0, {"credit_limit": "0", "email": None, "name": "Acme"}, {"name": "Acme"}),
]


@given(
    conflict_scripts(),
    DUPLICATES,
    st.sampled_from(["manual", "manual", "newest"]),
    st.randoms(use_true_random=False),
)
# the CRM deletes a record a cycle that did not read it then writes to: the refusal (row
# gone) waited out its backoff with the delete seen, holding a person's resolution from
# Books (the name stayed "Beta"), then settled it in a later cycle (not idempotent)
@example(
    script=[
        *RESOLVE_START,
        EditBoth(0, {"name": "Beta"}, {"email": None, "name": None}),
        Delete("crm", 0),
        Cycle(only="books"),
    ],
    duplicates="overwrite",
    conflicts="manual",
    random=Random(3),
)
@example(
    script=[
        *RESOLVE_START,
        EditBoth(0, {"name": "Beta"}, {"name": "Acme"}),
        Delete("crm", 0),
        Cycle(only="books"),
        EditBoth(0, {"name": None}, {"name": "Acme"}),
        EditBoth(
            0,
            {"credit_limit": "0.01", "email": "a@example.com", "name": ""},
            {"credit_limit": "0", "email": "b@example.com", "name": None},
        ),
        Cycle(only="books"),
    ],
    duplicates="overwrite",
    conflicts="manual",
    random=Random(0),
)
def test_conflicts_end_when_a_person_resolves_them(script, duplicates, conflicts, random):
    """Concurrent edits are journaled as conflicts with every sibling; once a person has
    resolved every open one, one cycle brings both sides level on every field."""
    with played(script, duplicates=duplicates, conflicts=conflicts) as w:
        w.quiesce()
        laws.check_no_lost_update(w)
        for _ in range(20):  # a resolution can wake a record whose next conflict is open
            if not w.resolve(random.randrange(20), random.choice([*SIDES, "clone", "skip"])):
                break
            w.quiesce()
        assert not w.journal.conflicts(status="open", module=MODULE)
        laws.check_converged(w)
        laws.check_no_lost_update(w)
        laws.check_links_one_to_one(w)
        laws.check_no_orphans(w)
        laws.check_verifies(w)
        laws.check_idempotent(w)


def _pairing_after(
    seeded: list[Seed], order: list[int], policy: str, page_size: int, batch_size: int
) -> list[tuple[Any, ...]]:
    with (
        tempfile.TemporaryDirectory(prefix="dups-") as folder,
        open_world(
            Path(folder), config(duplicates=policy, page_size=page_size), batch_size=batch_size
        ) as w,
    ):
        for i in order:
            seed = seeded[i]
            w.insert(seed.side, seed.values, updated_at=seed.modified.isoformat(), tag=i)
        w.quiesce()
        return laws.pairing(w)


@given(
    st.lists(seeds, max_size=6),
    st.randoms(use_true_random=False),
    DUPLICATES,
    PAGE_SIZES,
    PAGE_SIZES,
    BATCH_SIZES,
)
def test_duplicate_handling_ignores_arrival_order(
    seeded, random, policy, page_a, page_b, batch_size
):
    """The same records, inserted in another order and read in other pages and batches,
    end up paired (or held, skipped, cloned) the same way with the same values."""
    order = list(range(len(seeded)))
    shuffled = random.sample(order, len(order))
    first = _pairing_after(seeded, order, policy, page_a, 1000)
    again = _pairing_after(seeded, shuffled, policy, page_b, batch_size)
    assert first == again


@given(scripts(), DUPLICATES, CONFLICTS, PAGE_SIZES)
def test_replay_equals_the_live_state(script, duplicates, conflicts, page_size):
    """After every step, crashes included, the chain verifies and replaying the entries
    gives exactly the materialised state."""
    with played(
        script,
        duplicates=duplicates,
        conflicts=conflicts,
        page_size=page_size,
        check_each=laws.check_verifies,
    ) as w:
        w.quiesce()
        laws.check_verifies(w)


@given(scripts(), DUPLICATES, CONFLICTS, PAGE_SIZES, st.integers(1, 7))
def test_a_replay_in_small_batches_equals_the_live_state(
    script, duplicates, conflicts, page_size, batch
):
    """A replay folded a few entries a batch (each batch's records read in bulk, worked on
    in memory and written once: a record's entries split over many batches, a boundary
    between any two) gives exactly the materialised state."""
    with played(script, duplicates=duplicates, conflicts=conflicts, page_size=page_size) as w:
        w.quiesce()
        result = verify(w.journal, batch=batch)
        assert result.ok, result.problem


@given(scripts(), DUPLICATES, PAGE_SIZES)
def test_cursors_never_go_back(script, duplicates, page_size):
    """Across every cycle, complete or not, no side's cursor moves back or disappears."""
    with played(script, duplicates=duplicates, page_size=page_size) as w:
        w.quiesce()
        laws.check_cursor_log(w.cursor_log)
        for side in SIDES:
            assert cursor_order(w.cursor_log[-1][(side, MODULE)]) >= (0, 0)


crashing_scripts = st.tuples(
    st.lists(edits, min_size=1, max_size=6),
    st.lists(st.one_of(full_cycles, partial_cycles), max_size=2),
    faults,
    st.lists(edits, max_size=4),
    st.lists(st.builds(Cycle, fault=faults), max_size=2),
).map(lambda p: [*p[0], *p[1], Cycle(fault=p[2]), *p[3], *p[4]])


@given(crashing_scripts, DUPLICATES, PAGE_SIZES, BATCH_SIZES)
def test_a_crash_and_a_rerun_leave_no_duplicate_and_no_lost_record(
    script, duplicates, page_size, batch_size
):
    """A cycle that dies anywhere (in a pull, between pages, before a push, after a push
    wrote but before its outcome was journaled), then a re-run: every row is one
    record's, no record has two rows on a side, and no kept row is missing."""
    with played(script, duplicates=duplicates, page_size=page_size, batch_size=batch_size) as w:
        w.quiesce()
        laws.check_links_one_to_one(w)
        laws.check_no_orphans(w)
        laws.check_no_lost_record(w)
        laws.check_each_key_once_per_side(w)
        laws.check_converged(w)
        laws.check_verifies(w)


def _after_interruptions(w: World) -> None:
    """Normal runs to quiescence, then every law of an uninterrupted sync."""
    w.quiesce()
    laws.check_each_key_once_per_side(w)
    laws.check_no_lost_record(w)
    laws.check_links_one_to_one(w)
    laws.check_no_orphans(w)
    laws.check_converged(w)
    laws.check_journal_knows_the_sides(w)
    laws.check_verifies(w)
    laws.check_idempotent(w)


first_syncs = st.tuples(
    shared_seeds(),
    st.lists(interruptions, min_size=1, max_size=3),
    st.lists(edits, max_size=3),
    st.lists(interruptions, max_size=2),
).map(lambda p: [*p[0], *p[1], *p[2], *p[3]])


@given(first_syncs, PAIRING, PAGE_SIZES, BATCH_SIZES)
def test_an_interrupted_first_sync_doubles_no_shared_record(
    script, duplicates, page_size, batch_size
):
    """Names on both sides before the first sync; the first cycles crash between or in
    pulls, between push and outcome, stop, find a side down, get pages or callbacks twice;
    then normal runs: every name is once on each side, nothing lost, the replay verifies."""
    with played(script, duplicates=duplicates, page_size=page_size, batch_size=batch_size) as w:
        _after_interruptions(w)


@settings(max_examples=max(settings.default.max_examples // 3, 10))
@given(first_syncs, PAIRING, PAGE_SIZES, BATCH_SIZES)
def test_an_interrupted_first_sync_between_sqlite_sides_doubles_nothing(
    script, duplicates, page_size, batch_size
):
    """The same over two SQLite files, where a lock is another connection's real
    ``BEGIN EXCLUSIVE`` held for the whole cycle."""
    with played(
        script,
        duplicates=duplicates,
        page_size=page_size,
        batch_size=batch_size,
        connector="sqlite",
    ) as w:
        _after_interruptions(w)


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_delete_before_a_written_sides_first_pull_is_journaled(tmp_path, connector):
    """A cycle that reads only the CRM creates the record in Books; Books deletes it before
    Books was ever pulled: the next cycle journals the delete as a tombstone."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("crm", {"name": "Acme", "email": None, "credit_limit": None})
        w.flaky["books"].arm(Fault("books", "blind"))
        w.engine.run()
        w.flaky["books"].arm(None)
        (made,) = w.sides["books"].rows()
        w.delete("books", made)
        w.cycle()
        (state,) = w.records()
        assert state.sides["books"].deleted
        assert len(w.entries(Kind.TOMBSTONE)) == 1


SHARED = ["Acme", "Beta", "Gamma", "Delta"]
FIRST_INTERRUPTIONS = {
    "a crash between the two sides' pulls": Cycle(fault=Fault("books", "pull", 0)),
    "a crash in the second side's pull, mid-way": Cycle(fault=Fault("books", "pull", 2)),
    "a crash between a push and its outcome": Cycle(fault=Fault("*", "push_after")),
    "the second side down for the whole cycle": Cycle(fault=Fault("books", "down")),
    "the second side locked for the whole cycle": Cycle(fault=Fault("books", "locked")),
    "a stop asked for after the first side's pull": Cycle(fault=Fault("*", "stop", 5)),
    "every page delivered twice": Cycle(fault=Fault("books", "redeliver")),
    "a callback twice before any pull": Callback("books", (0, 1), times=2),
}


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
@pytest.mark.parametrize("interruption", list(FIRST_INTERRUPTIONS))
def test_each_interruption_of_a_first_sync_leaves_each_shared_name_once_per_side(
    tmp_path, interruption, connector
):
    """Four names on both sides; the first cycle is interrupted one way, then normal runs:
    each name is once on each side (overwrite pairs them) and the journal verifies."""
    with open_world(tmp_path, config(page_size=1, connector=connector), connector=connector) as w:
        for name in SHARED:
            for side in SIDES:
                w.insert(side, {"name": name, "email": None, "credit_limit": None})
        w.apply(FIRST_INTERRUPTIONS[interruption])
        _after_interruptions(w)
        for side in SIDES:
            names = sorted(row[COLUMNS[side]["name"]] for row in w.sides[side].rows().values())
            assert names == sorted(SHARED), f"{side} holds {names}"


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_row_a_callback_named_before_the_first_pull_and_then_deleted_is_not_kept(
    tmp_path, connector
):
    """A callback names a Books row before any pull, then the row is deleted: the first
    pull (a snapshot, which cannot report the delete) leaves no record of it behind."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("books", {"name": "Acme", "email": None, "credit_limit": None})
        w.insert("books", {"name": "Beta", "email": None, "credit_limit": None})
        w.apply(Callback("books", (0,)))
        w.delete("books", w.pick("books", 0))
        w.quiesce()
        laws.check_converged(w)
        assert [s.sides["books"].values["name"] for s in w.records()] == ["Beta"]


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_row_deleted_between_a_stopped_first_pull_and_the_next_pairs_with_nothing(
    tmp_path, connector
):
    """A first sync stops after the first page of Books; Books then deletes a row that page
    held and the CRM has a twin of: the tombstoned record is no duplicate to pair with, so
    the CRM record stays whole and reaches Books, and every record converges."""
    with open_world(tmp_path, config(connector=connector, page_size=3), connector=connector) as w:
        for name in ["Acme", "Beta", "Gamma", "Delta", "Initech"]:
            for side in SIDES:
                w.insert(side, {"name": name, "email": None, "credit_limit": None})
        assert not w.cycle(Cycle(fault=Fault("*", "stop", 3)))
        w.delete("books", w.pick("books", 0))
        w.quiesce()
        laws.check_converged(w)
        laws.check_no_lost_record(w)
        laws.check_deletes_stay(w)
        laws.check_verifies(w)


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_callback_naming_a_row_whose_create_lost_its_outcome_makes_no_new_record(
    tmp_path, connector
):
    """A cycle creates a CRM record in Books and dies before the outcome is journaled; a
    callback then names the Books row it made: the row is found as that record's (no echo,
    no second record), and the sides converge."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("crm", {"name": None, "email": None, "credit_limit": None})
        w.insert("crm", {"name": "Acme", "email": "a@example.com", "credit_limit": None})
        assert not w.cycle(Cycle(fault=Fault("books", "push_after")))
        w.apply(Callback("books", (0, 1)))
        w.quiesce()
        laws.check_no_echo(w)
        laws.check_links_one_to_one(w)
        laws.check_no_orphans(w)
        laws.check_converged(w)
        assert len(w.records()) == 2


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_callback_naming_a_row_whose_update_lost_its_outcome_reads_no_echo(tmp_path, connector):
    """A cycle updates a Books row and dies before the outcome is journaled; a callback
    then names that row: what we wrote there is not taken for a Books change (no echo), and
    the next cycles converge."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("crm", {"name": "Acme", "email": None, "credit_limit": None})
        assert w.cycle()
        w.update("crm", w.pick("crm", 0), {"email": "a@example.com"})
        assert not w.cycle(Cycle(fault=Fault("books", "push_after")))
        w.apply(Callback("books", (0,), times=2))
        w.quiesce()
        laws.check_no_echo(w)
        laws.check_converged(w)
        laws.check_no_lost_update(w)


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_an_amount_typed_as_our_write_rounded_is_a_change_on_a_side_that_does_not_round(
    tmp_path, connector
):
    """Books 0.01 reaches CRM exactly; a person then types 0 in CRM: that is a change of
    theirs (neither side rounds amounts), so both sides end at 0."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("books", {"name": "Acme", "email": None, "credit_limit": "0.01"})
        assert w.cycle()
        w.update("crm", w.pick("crm", 0), {"credit_limit": "0"})
        w.quiesce()
        laws.check_converged(w)
        laws.check_no_lost_update(w)


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_change_back_to_what_a_side_held_before_a_lost_update_outcome_reaches_it(
    tmp_path, connector
):
    """A cycle updates the CRM row and dies before the outcome is journaled (the CRM holds
    what we wrote); Books then sets the value back to the one the CRM held before: the next
    cycle writes it there (the update in flight is not judged done), nothing is lost."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("books", {"name": "Acme", "email": "a@example.com", "credit_limit": None})
        assert w.cycle()
        w.update("books", w.pick("books", 0), {"email": "b@example.com"})
        assert not w.cycle(Cycle(fault=Fault("crm", "push_after")))
        w.update("books", w.pick("books", 0), {"email": "a@example.com"})
        w.quiesce()
        (crm,) = w.sides["crm"].rows().values()
        assert crm["email"] == "a@example.com"
        laws.check_no_lost_update(w)
        laws.check_converged(w)
        laws.check_idempotent(w)


@pytest.mark.parametrize("connector", ["memory", "sqlite"])
def test_a_callback_with_a_change_back_to_what_a_side_held_before_a_lost_update_writes_it(
    tmp_path, connector
):
    """The same lost outcome, then a callback names the Books row set back: the callback
    writes the value to the CRM at once (the update in flight is not judged done)."""
    with open_world(tmp_path, config(connector=connector), connector=connector) as w:
        w.insert("books", {"name": "Acme", "email": "a@example.com", "credit_limit": None})
        assert w.cycle()
        w.update("books", w.pick("books", 0), {"email": "b@example.com"})
        assert not w.cycle(Cycle(fault=Fault("crm", "push_after")))
        w.update("books", w.pick("books", 0), {"email": "a@example.com"})
        w.apply(Callback("books", (0,)))
        (crm,) = w.sides["crm"].rows().values()
        assert crm["email"] == "a@example.com"
        w.quiesce()
        laws.check_no_lost_update(w)
        laws.check_converged(w)


def test_an_update_in_flight_of_a_record_waiting_out_a_refusal_is_not_forgotten(tmp_path):
    """The CRM refuses a record's write (retried after a while), then its Books update
    loses its outcome; a cycle while it waits re-sends the Books update (and not the CRM
    write before its time), so a later CRM change back to what Books held still reaches it."""
    with open_world(tmp_path, config()) as w:
        w.insert("books", {"name": "Acme", "email": "a@example.com", "credit_limit": None})
        assert w.cycle()
        (acme,) = [state.rid for state in w.records()]
        w.apply(EditBoth(0, {"email": "b@example.com"}, {"name": "Acme X"}))
        crm = w.flaky["crm"].inner
        crm.reject = lambda module, write: "refused for now"
        assert not w.cycle(Cycle(fault=Fault("books", "push_after")))
        w.insert("books", {"name": "Beta", "email": None, "credit_limit": None})
        sent = [x for x in w.flaky["crm"].writes if x.key == acme]
        assert w.cycle()  # the record waits out the CRM's refusal; Beta's run is journaled
        again = [x for x in w.flaky["crm"].writes if x.key == acme]
        assert again == sent, "the refused write went before its time"
        w.update("crm", w.pick("crm", 0), {"name": "Acme"})
        crm.reject = None
        w.now.n += 24 * 3600  # past every retry's time
        w.quiesce()
        (books,) = [r for r in w.sides["books"].rows().values() if r["email"] == "b@example.com"]
        assert books["name"] == "Acme"
        laws.check_no_lost_update(w)
        laws.check_converged(w)


def test_a_resolution_reaches_books_at_once_after_the_crm_refused_a_write_to_its_deleted_row(
    tmp_path,
):
    """Books and the CRM rename one record (manual: held); the CRM deletes it and a cycle
    that did not read the CRM sends it Books' other change, refused (the row is gone); the
    delete is seen next: a person's choice of the CRM's name reaches Books in one cycle,
    not after the refused write's backoff (no write goes to a deleted row again)."""
    with open_world(tmp_path, config(conflicts="manual")) as w:
        w.insert("books", {"name": "Acme", "email": None, "credit_limit": None})
        assert w.cycle()
        w.update("crm", w.pick("crm", 0), {"name": "Gamma"})
        assert not w.cycle(Cycle(fault=Fault("*", "journal", 2)))  # the CRM's change journaled
        w.update("books", w.pick("books", 0), {"name": "Beta", "email": "b@example.com"})
        w.delete("crm", w.pick("crm", 0))
        assert w.cycle(Cycle(only="books"))
        assert [e.meta["attempt"] for e in w.entries(Kind.ERROR)] == [1]
        w.quiesce()
        (state,) = w.records()
        assert state.sides["crm"].deleted
        assert w.resolve(0, "crm")
        assert w.cycle()
        (books,) = w.sides["books"].rows().values()
        assert books["name"] == "Gamma"
        laws.check_converged(w)
        laws.check_idempotent(w)  # the delete ended the refused write's retries
        assert not w.records()[0].raw.get("rt")
