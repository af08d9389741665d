"""The demo's undo of one run: the plan first (``replicator undo RUN --dry-run``), then the
undo itself (``replicator undo RUN``), and what it did."""

from __future__ import annotations

from rich.console import Console

from replicator.cli.undo import load_plan, print_plan, run_undo
from replicator.config.load import Config
from replicator.sync.app import open_journal
from replicator.sync.lifecycle import runs
from replicator.sync.undo import undone_by

SHOWN = 5  # rows of each step of the plan the demo prints


def _last_sync(config: Config) -> int | None:
    """The last sync run that created or updated records and is not undone yet."""
    with open_journal(config) as journal:
        found = None
        for run in runs(journal):
            counts = [c for sides in run.counts.values() for c in sides.values()]
            wrote = any(c.get("created") or c.get("updated") for c in counts)
            if run.trigger == "sync" and run.error is None and wrote:
                found = run.seq
        if found is not None and undone_by(journal, found) is not None:
            return None
        return found


def show_undo(console: Console, config: Config, run: int | None = None) -> None:
    """Undo run ``run`` (default: the last sync that wrote something), plan first."""
    console.rule("undo of one run")
    if run is None:
        run = _last_sync(config)
    if run is None:
        console.print("no sync run to undo")
        return
    console.print(f"`replicator undo {run} --dry-run`: what undoing run {run} would do")
    print_plan(console, load_plan(config, run), shown=SHOWN)
    outcome = run_undo(config, run, by="demo")
    done = outcome.plan
    console.print(
        f"`replicator undo {run}`: {len(done.restores)} record(s) got their values from before "
        f"the run back, {len(done.removes)} record(s) it created were deleted on the side it "
        f"created them, {len(done.unlinks)} link(s) dropped, {len(done.conflicts)} field(s) "
        "changed since held as conflicts for a person",
        soft_wrap=True,
    )
    for module, rid, side, why in outcome.failed:
        console.print(f"  not undone: {module} {rid} on {side}: {why}", markup=False)
    if outcome.marker is not None:
        console.print(
            f"the undo is run {outcome.marker} in `replicator history`; `replicator undo "
            f"{outcome.marker}` would redo run {run}"
        )


__all__ = ["show_undo"]
