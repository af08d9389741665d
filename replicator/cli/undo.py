"""``replicator undo RUN``: revert what a run wrote, as a new journaled run; ``--dry-run``
shows the plan and writes nothing.  :func:`print_plan` and :func:`run_undo` are shared
with the demo (:mod:`replicator.cli.demo.undo`)."""

from __future__ import annotations

import getpass
from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table

from journal.entry import from_wire
from replicator.cli.common import (
    _bars,
    _check_sides,
    _config,
    _console,
    _echo_json,
    config_option,
    json_option,
    show,
    wait_option,
)
from replicator.cli.sync import print_report
from replicator.config.load import Config
from replicator.sync.app import open_app, open_journal
from replicator.sync.guard import guard_journal
from replicator.sync.lifecycle import check_modules
from replicator.sync.record import report_data
from replicator.sync.undo import UndoOutcome, find_run, plan_data, plan_undo, undo, undone_by
from replicator.sync.undo_plan import UndoPlan

SHOWN = 10  # rows shown per group of the plan; --json has them all
STEPS = ("restore", "conflict", "remove", "recreate", "unlink", "relink", "kept")


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor the password file
        return "person"


def load_plan(config: Config, run_id: int, modules: Sequence[str] = ()) -> UndoPlan:
    """The undo plan of run ``run_id`` from the journal as it is (writes nothing)."""
    journal = open_journal(config)
    try:
        run = find_run(journal, run_id)
        later = undone_by(journal, run.id)
        if later is not None:
            raise click.ClickException(
                f"run {run.id} was undone by run {later} already: `replicator undo {later}` "
                "redoes it"
            )
        return plan_undo(journal, run, modules=list(modules) or None)
    finally:
        journal.close()


def run_undo(
    config: Config,
    run_id: int,
    modules: Sequence[str] = (),
    *,
    by: str,
    wait: float | None = None,
) -> UndoOutcome:
    """Undo run ``run_id`` with progress bars (one writer per journal, as a sync)."""
    check_modules(config, modules)
    # function-level: it loads httpx, which only a command reaching a daemon needs
    from replicator.daemon.state import LOCK_WAIT, journal_writer

    _check_sides(config)
    wait = LOCK_WAIT if wait is None else wait
    with (
        journal_writer(config.journal_path, "replicator undo", wait=wait),
        _bars() as bars,
        open_app(config, progress=bars) as app,
    ):
        guard_journal(app.journal)
        return undo(app.engine, run_id, modules=list(modules) or None, by=by)


def print_plan(console: Console, found: UndoPlan, *, shown: int = SHOWN) -> None:
    """The plan for a person: counts per module and side, then the first rows of each step."""
    run = found.run
    title = f"undo plan of run {run.id}"
    if run.trigger == "undo":
        title += " (an undo: undoing it redoes its run)"
    counts = found.counts()
    if not counts:
        console.print(f"{title}: nothing to undo (the run wrote nothing to a side)")
        return
    table = Table("module", "side", *STEPS, title=title, title_justify="left")
    for module, sides in sorted(counts.items()):
        for side, n in sorted(sides.items()):
            table.add_row(module, side, *[str(n.get(s, 0)) for s in STEPS])
    console.print(table)
    for label, lines in (
        (
            "restore",
            [
                f"{r.module} {r.rid} on {r.side} id {r.id}: "
                + ", ".join(
                    f"{k} {_wire(r.was[k])} -> {_wire(v)}" for k, v in sorted(r.before.items())
                )
                for r in found.restores
            ],
        ),
        (
            "conflict (changed since: held for a person)",
            [
                f"{c.module} {c.rid} {c.field} on {c.side}: now "
                + ", ".join(f"{s} {_wire(v)}" for s, v in c.now.items())
                + f"; before the run {_wire(c.before)}"
                for c in found.conflicts
            ],
        ),
        (
            "remove (created by the run)",
            [f"{r.module} {r.rid} on {r.side} id {r.id}" for r in found.removes],
        ),
        (
            "recreate (deleted by the undo)",
            [f"{r.module} {r.rid} on {r.side} (was id {r.id})" for r in found.recreates],
        ),
        (
            "unlink",
            [f"{u.module} {u.rid}: {u.side} id {u.id} is {u.from_} again" for u in found.unlinks],
        ),
        (
            "relink",
            [f"{u.module} {u.from_} ({u.side} id {u.id}) into {u.rid}" for u in found.relinks],
        ),
        ("kept", [f"{k.module} {k.rid} on {k.side}: {k.reason}" for k in found.kept]),
    ):
        if not lines:
            continue
        console.print(f"{label}: {len(lines)}")
        for line in lines[:shown]:
            console.print(f"  {line}", markup=False)
        if len(lines) > shown:
            console.print(f"  ... and {len(lines) - shown} more (`--json` lists them all)")


def _wire(value: object) -> str:
    return show(from_wire(value))


@click.command("undo")
@config_option
@click.argument("run_id", type=int, metavar="RUN")
@click.option(
    "--module",
    "modules",
    multiple=True,
    metavar="M",
    help="Undo only this module's part of the run (repeat for several).",
)
@click.option("--dry-run", is_flag=True, help="Show the undo plan; write nothing anywhere.")
@json_option
@wait_option
@click.pass_context
def undo_command(
    ctx: click.Context,
    run_id: int,
    modules: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
    wait: float | None,
) -> None:
    """Revert what run RUN wrote (its id: the run column of `replicator history`), as a new
    journaled run.

    Each field the run changed on a side gets its value from before the run back, unless
    someone changed it since: then it is held as a conflict for a person, with both
    values (`conflicts resolve ID --take undo` puts the old one back).  Records the run
    created are deleted on the side it created them (ours only; never propagated, and
    not made again by a later sync); a side that cannot delete keeps them, said in the
    journal.  Links the run made are dropped: each side's record is on its own again.
    Undoing an undo redoes its run.
    """
    config = _config(ctx)
    check_modules(config, modules)
    if dry_run:
        found = load_plan(config, run_id, modules)
        if as_json:
            _echo_json(plan_data(found))
        else:
            print_plan(_console(), found)
        return
    outcome = run_undo(config, run_id, modules, by=_login(), wait=wait)
    if as_json:
        data = plan_data(outcome.plan)
        data["report"] = report_data(outcome.report) if outcome.report is not None else None
        data["failed"] = [
            {"module": m, "record": r, "side": s, "reason": why} for m, r, s, why in outcome.failed
        ]
        _echo_json(data)
        return
    console = _console()
    print_plan(console, outcome.plan)
    if outcome.report is not None:
        print_report(console, config, outcome.report)
    for module, rid, side, why in outcome.failed:
        console.print(f"not undone: {module} {rid} on {side}: {why}", markup=False)
    if outcome.plan.conflicts:
        console.print("conflicts: `replicator conflicts list --open`")
    console.print("`replicator history` lists the undo as a run; undoing it redoes the run")


__all__ = ["load_plan", "print_plan", "run_undo", "undo_command"]
