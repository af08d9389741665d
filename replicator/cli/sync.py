"""``replicator sync``: one cycle with progress bars, and the table of what it did.

:func:`run_sync` and :func:`print_report` are shared with the demo.
"""

from __future__ import annotations

import collections

import click
from rich.console import Console
from rich.table import Table

from replicator.cli.common import (
    _bars,
    _config,
    _console,
    _echo_json,
    config_option,
    json_option,
    wait_option,
)
from replicator.cli.plan import echo_plan, plan_json, print_plan, run_plan, show_option
from replicator.config.load import Config
from replicator.errors import GuardStop
from replicator.sync.record import CycleReport, report_data

COUNTS = (
    "pulled",
    "observed",
    "created",
    "updated",
    "deleted",
    "linked",
    "skipped",
    "held",
    "conflicts",
    "rejected",
    "errors",
)


def run_sync(
    config: Config,
    modules: tuple[str, ...] = (),
    *,
    wait: float | None = None,
    force: bool = False,
    yes: bool = False,
) -> CycleReport:
    """One cycle with progress bars; nothing is written before the config and sides check.
    Another `sync` or `fetch` on the journal is waited for up to ``wait`` seconds; a
    journal whose tail fails its check is refused unless ``force``.  A first sync that
    would create more records on a Zoho side than ``[guard] first_sync_creates`` raises
    :class:`GuardStop` before anything is pushed, unless ``yes``."""
    # function-level: it loads httpx, which only a command reaching a daemon needs
    from replicator.daemon.cycle import run_cycle

    with _bars() as bars:
        report, forwarded = run_cycle(
            config, modules, wait=wait, force=force, yes=yes, progress=bars
        )
    if forwarded:
        click.echo("the running daemon ran this cycle", err=True)
    return report


def print_report(console: Console, config: Config, report: CycleReport) -> None:
    data = report_data(report)["modules"]
    table = Table(title="sync", title_justify="left")
    table.add_column("module")
    table.add_column("side")
    for what in COUNTS:
        table.add_column(what, justify="right")
    for module, by_side in data.items():
        sides = list(config.modules[module].order) if module in config.modules else []
        sides += [s for s in by_side if s not in sides and s != "*"]
        total: collections.Counter[str] = collections.Counter()
        for side in sides:
            counts = by_side.get(side, {})
            total.update(counts)
            table.add_row(module, side, *[str(counts.get(w, 0)) for w in COUNTS])
        record = by_side.get("*", {})  # counted per record, not per side: conflicts
        if record:
            total.update(record)
            table.add_row(module, "both", *[str(record.get(w, 0)) for w in COUNTS])
        table.add_row(
            module, "[b]total[/b]", *[f"[b]{total.get(w, 0)}[/b]" for w in COUNTS], end_section=True
        )
    if not data:
        console.print("nothing to do: both sides are in sync")
    else:
        console.print(table)
    new = report.entries_after - report.entries_before
    console.print(f"{new} new journal entries; took {report.seconds:.2f} s")


@click.command()
@config_option
@click.option(
    "--module",
    "modules",
    multiple=True,
    metavar="M",
    help="Sync only this module (repeat for several; default: every module).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write even if the journal fails its check before writing (the forcing is journaled).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write nothing: show what the sync would do (same as `replicator plan`).",
)
@show_option
@click.option(
    "--yes",
    is_flag=True,
    help="Go ahead with a first sync past the guard ([guard] first_sync_creates).",
)
@json_option
@wait_option
@click.pass_context
def sync(
    ctx: click.Context,
    modules: tuple[str, ...],
    force: bool,
    dry_run: bool,
    show: tuple[str, ...],
    yes: bool,
    as_json: bool,
    wait: float | None,
) -> None:
    """Run one sync cycle: pull both sides, journal, plan, push.

    Exits 0 when the cycle ran, even if it found conflicts or a side rejected records
    (see `conflicts list` and `journal log`); non-zero when it could not run.  A first
    sync that would create more than `[guard] first_sync_creates` records (default 500,
    0: off) on a Zoho side stops before pushing, shows the plan and asks for `--yes`.
    """
    if show and not dry_run:
        raise click.UsageError("--show goes with --dry-run (or use `replicator plan --show`)")
    config = _config(ctx)
    if dry_run:
        echo_plan(run_plan(config, modules), config, as_json=as_json, show=show)
        return
    try:
        report = run_sync(config, modules, wait=wait, force=force, yes=yes)
    except GuardStop as stop:
        if stop.dry_run is not None:
            if as_json:
                _echo_json({**plan_json(stop.dry_run), "guard": dict(stop.creates)})
            else:
                title = "the first sync stopped before pushing: what it would do"
                print_plan(_console(), config, stop.dry_run.plan, title=title)
        raise
    if as_json:
        _echo_json(report_data(report))
        return
    console = _console()
    if report.paused:
        console.print(f"paused, not synced: {', '.join(report.paused)} (`replicator resume`)")
    if report.rows() or not report.paused:
        print_report(console, config, report)
    if report.total("conflicts") or report.total("held"):
        console.print("conflicts: `replicator conflicts list`")
    if report.total("renamed"):
        console.print(
            f"renamed: {report.total('renamed')} clone(s) sent under the clone_name rule's "
            "name, their side holding the name already (`replicator journal log`)"
        )
    if report.total("rejected") or report.total("errors"):
        console.print("errors: `replicator journal log` shows each rejected record and why")


__all__ = ["COUNTS", "print_report", "run_sync", "sync"]
