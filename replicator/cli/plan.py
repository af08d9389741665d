"""``replicator plan`` (and ``sync --dry-run``): what a sync would do, nothing written.

:func:`print_plan` is shared with ``sync`` (the guard rail shows the plan it stopped on)
and the demo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from journal.entry import from_wire
from replicator.cli.common import _bars, _config, _console, _echo_json, config_option, json_option
from replicator.cli.common import show as shown_value
from replicator.config.load import Config
from replicator.sync.dryrun import DryRun, dry_run
from replicator.sync.lifecycle import check_modules
from replicator.sync.plan_report import GROUPS, Plan, Row

FIRST_ROWS = 5  # rows of each group the default output shows
TEXT = 100  # characters of one cell's text, past which it is cut


def _cut(text: str) -> str:
    return text if len(text) <= TEXT else text[: TEXT - 3] + "..."


def _value(value: Any) -> str:
    return _cut(shown_value(from_wire(value)))


def _values(values: dict[str, Any]) -> str:
    return _cut(", ".join(f"{k}={shown_value(from_wire(v))}" for k, v in values.items()))


def _changes(changes: dict[str, Any]) -> str:
    return "; ".join(
        f"{field}: {_value(change['old'])} -> {_value(change['new'])}"
        for field, change in changes.items()
    )


# group -> its columns: (heading, the cell of a row)
COLUMNS: dict[str, tuple[tuple[str, Callable[[Row], str]], ...]] = {
    "creates": (("record", lambda r: r["rid"]), ("values", lambda r: _values(r["values"]))),
    "links": (
        ("record", lambda r: r["rid"]),
        ("pairs with", lambda r: f"{r['id']} ({r['with']})"),
        ("rule", lambda r: f"{r['rule']} {r['key']!r}"),
    ),
    "overwrites": (
        ("record", lambda r: r["rid"]),
        ("id", lambda r: str(r["id"] or "(new)")),
        ("old -> new", lambda r: _changes(r["changes"]) or "(the same values)"),
    ),
    "skips": (("record", lambda r: r["rid"]), ("why", lambda r: r["reason"])),
    "held": (
        ("record", lambda r: r["rid"]),
        ("with", lambda r: ", ".join(c["rid"] for c in r["candidates"] if c["rid"] != r["rid"])),
        ("why", lambda r: r["reason"]),
    ),
    "conflicts": (
        ("record", lambda r: r["rid"]),
        ("field", lambda r: r["field"]),
        ("values", lambda r: ", ".join(f"{v['side']}: {_value(v['value'])}" for v in r["values"])),
        (
            "wins",
            lambda r: (
                "held for a person"
                if r["held"]
                else f"{r['winner']['side']}: {_value(r['winner']['value'])}"
            ),
        ),
        ("why", lambda r: r["reason"]),
    ),
    "refused": (
        ("record", lambda r: r["rid"]),
        ("field", lambda r: r["field"] or ""),
        ("why", lambda r: r["reason"]),
    ),
}


def print_summary(console: Console, config: Config, plan: Plan, *, title: str = "plan") -> None:
    """The table of counts per module and side."""
    table = Table(title=title, title_justify="left")
    table.add_column("module")
    table.add_column("side")
    for group in GROUPS:
        table.add_column(group, justify="right")
    counts = plan.counts()
    for module, by_side in counts.items():
        sides = list(config.modules[module].order) if module in config.modules else []
        sides += sorted(s for s in by_side if s not in sides)
        for side in sides:
            row = by_side.get(side)
            if row is not None:
                table.add_row(module, side, *[str(row[g]) for g in GROUPS])
    if not counts:
        console.print("nothing to do: both sides are in sync")
    else:
        console.print(table)


def print_plan(
    console: Console,
    config: Config,
    plan: Plan,
    *,
    show: Sequence[str] = (),
    rows: int = FIRST_ROWS,
    title: str = "plan: what `replicator sync` would do (nothing was written)",
) -> None:
    """The summary, then the first ``rows`` rows of each group (every row of the groups
    in ``show``, and only those)."""
    print_summary(console, config, plan, title=title)
    for group in show or GROUPS:
        found = plan.rows(group)
        if not found and not show:
            continue
        limit = None if show else rows
        table = Table(title=f"{group} ({len(found)})", title_justify="left")
        table.add_column("module")
        table.add_column("side")
        for heading, _ in COLUMNS[group]:
            table.add_column(heading, overflow="fold")
        for row in found[:limit]:
            table.add_row(row["module"], row["side"], *[cell(row) for _, cell in COLUMNS[group]])
        console.print(table)
        if limit is not None and len(found) > limit:
            console.print(f"... and {len(found) - limit} more: `replicator plan --show {group}`")


def plan_json(run: DryRun, show: Sequence[str] = ()) -> dict[str, Any]:
    data = run.plan.to_json()
    if show:
        data = {"summary": data["summary"], **{g: data[g] for g in show}}
    return {"dry_run": True, **data, "captured": dict(run.captured)}


def run_plan(config: Config, modules: tuple[str, ...] = ()) -> DryRun:
    """A dry run with progress bars on stderr."""
    check_modules(config, modules)
    with _bars() as bars:
        return dry_run(config, modules, progress=bars)


def show_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--show",
        "show",
        multiple=True,
        type=click.Choice(GROUPS),
        help="Show every row of this group, and only this group (repeat for several).",
    )(f)


def modules_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--module",
        "modules",
        multiple=True,
        metavar="M",
        help="Plan only this module (repeat for several; default: every module).",
    )(f)


def echo_plan(run: DryRun, config: Config, *, as_json: bool, show: Sequence[str]) -> None:
    if as_json:
        _echo_json(plan_json(run, show))
        return
    print_plan(_console(), config, run.plan, show=show)


@click.command("plan")
@config_option
@modules_option
@show_option
@json_option
@click.pass_context
def plan(
    ctx: click.Context, modules: tuple[str, ...], show: tuple[str, ...], as_json: bool
) -> None:
    """Show what `replicator sync` would do, writing nothing (same as `sync --dry-run`).

    Both sides are read as a sync reads them and the engine runs on scratch copies: the
    plan lists per module and side the records it would create, link (and by which rule),
    overwrite (field by field, old -> new), skip, hold for a person, the conflicts and
    which value would win, and the writes it would refuse.  Neither side nor the journal
    changes.
    """
    config = _config(ctx)
    echo_plan(run_plan(config, modules), config, as_json=as_json, show=show)


__all__ = ["plan", "plan_json", "print_plan", "print_summary", "run_plan"]
