"""The dry run's law, over random worlds of two SQLite sides: the plan of a dry run is
what the sync right after it does, row by row, and the dry run changes no byte of either
side or of the journal.

Each example plays a random script (edits on both sides, full and partial cycles, faults,
resolutions, callbacks, poisons) and a few more edits, then dry-runs the next sync and
runs it; both run on one
frozen clock, so retry backoffs and snapshot times read the same."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from replicator.config.load import parse_config
from replicator.sync.dryrun import dry_run, plan_of_run
from replicator.sync.plan_report import compare
from tests.property.world import config, open_world
from tests.strategies import edits, poison_scripts, scripts

DUPLICATES = st.sampled_from(["overwrite", "link", "clone", "skip"])
CONFLICTS = st.sampled_from(["newest", "prefer:books", "prefer:crm", "manual"])
PAGE_SIZES = st.integers(1, 4)
BATCH_SIZES = st.sampled_from([1, 2, 1000])
# a random history, then edits the next sync has yet to carry (so most plans are not empty)
WORLDS = st.tuples(
    st.one_of(scripts(max_steps=12), poison_scripts(max_steps=10)),
    st.lists(edits, min_size=1, max_size=5),
).map(lambda parts: [*parts[0], *parts[1]])


def _hashes(folder: Path) -> dict[str, str]:
    """The sides' and the journal's bytes (their WAL files too; not the ``-shm`` index,
    which a reader's locks touch)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.endswith("-shm")
    }


@settings(max_examples=12, deadline=None)
@given(WORLDS, DUPLICATES, CONFLICTS, PAGE_SIZES, BATCH_SIZES)
def test_a_dry_run_plans_exactly_what_the_next_sync_does(
    script: list[Any], duplicates: str, conflicts: str, page_size: int, batch_size: int
) -> None:
    """Random world, then: hashes unchanged by the dry run, and its plan == the plan of
    the entries the real sync appends (compare lists no difference)."""
    with tempfile.TemporaryDirectory(prefix="dry-law-") as name:
        folder = Path(name)
        cfg = config(
            connector="sqlite", duplicates=duplicates, conflicts=conflicts, page_size=page_size
        )
        with open_world(folder, cfg, connector="sqlite", batch_size=batch_size) as w:
            for step in script:
                w.apply(step)
            moment = w.now() + dt.timedelta(days=1)

            def frozen() -> dt.datetime:
                return moment

            w.journal.now = frozen
            for side in w.sides.values():
                side.connector.now = frozen
            here = parse_config(cfg.raw, folder / "laws.toml")  # sides and journal in folder
            before = _hashes(folder)
            plan = dry_run(here, batch_size=batch_size, now=frozen).plan
            assert _hashes(folder) == before
            report = w.engine.run()
            done = plan_of_run(w.journal, report.entries_before + 1)
            assert compare(plan, done) == []
