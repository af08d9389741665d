"""The demo's dry run: the plan of the first sync, shown before it runs (issue 15)."""

from __future__ import annotations

from rich.console import Console

from replicator.cli.plan import print_plan, run_plan
from replicator.config.load import Config

DEMO_ROWS = 3  # rows of each group the demo shows


def show_dry_run(console: Console, config: Config) -> None:
    """Dry-run the next sync and print its plan: the summary and a few rows of each group.
    Neither side nor the journal changes; the demo then runs the sync with ``yes=True``
    (past the first sync's guard, which this plan is what a person would look at)."""
    console.rule("dry run: the plan of the first sync (`replicator plan`)")
    run = run_plan(config)
    print_plan(
        console,
        config,
        run.plan,
        rows=DEMO_ROWS,
        title="what the first sync will do (nothing written yet)",
    )
    held_back = sum(run.captured.values())
    if held_back:
        console.print(
            f"the dry run read both sides and held back the {held_back} write(s) it planned; "
            "neither side nor the journal changed"
        )
    else:
        console.print("the dry run ran on scratch copies; neither side nor the journal changed")


__all__ = ["show_dry_run"]
