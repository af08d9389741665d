"""``replicator conflicts list|show|resolve``: concurrent edits, ambiguous duplicates and
suggested near matches, and how a person settles them.

:func:`conflict_data` is shared with the demo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
from rich.table import Table

from journal.payloads import (
    DuplicateResolution,
    decode,
)
from replicator.cli.common import (
    _at,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
    plain,
    show,
)
from replicator.sync.presentation import conflict_base, conflict_data
from replicator.sync.resolve import resolve


def _candidates(item: Mapping[str, Any]) -> str:
    """A duplicate group's members, one a line (with each one's key when it differs)."""
    lines = []
    for c in item["duplicate"]["candidates"]:
        key = f" {c['key']!r}" if c.get("key") is not None else ""
        lines.append(f"{c['side']}: {c['rid']}{key}")
    return "\n".join(lines)


@click.group()
@config_option
def conflicts() -> None:
    """List, inspect and settle conflicts (concurrent edits, ambiguous duplicates, and
    suggested near matches)."""


@conflicts.command("list")
@config_option
@click.option(
    "--open", "only_open", is_flag=True, help="Only conflicts still waiting for a person."
)
@click.option("--module", metavar="M", help="Only conflicts of this module.")
@json_option
@click.pass_context
def conflicts_list(ctx: click.Context, only_open: bool, module: str | None, as_json: bool) -> None:
    """List conflicts: each field's values per side, the winner and why.

    Duplicate groups list their candidates, one row a group with its members' ids (for a
    suggestion, resolving one member settles the group); a suggestion (field
    "(suggestion)", kind "suggestion" in --json, one entry per member) is a near match held
    for a person: nothing was applied.
    """
    config = _config(ctx)
    with _journal(config) as journal:
        rows = journal.conflicts(status="open" if only_open else None, module=module)
    items = [conflict_data(row) for row in rows]
    if as_json:
        _echo_json(items)
        return
    if not items:
        click.echo("no conflicts" if not only_open else "no open conflicts")
        return
    table = Table()
    for column in ("id", "status", "module", "record", "field", "values", "winner", "reason"):
        table.add_column(column)
    # a duplicate group opens one conflict per member: one row per group, its ids together
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for c in items:
        if "duplicate" in c:
            members = tuple(sorted(m["rid"] for m in c["duplicate"]["candidates"]))
            key: tuple[Any, ...] = (c["module"], c["field"], c["status"], members)
        else:
            key = (c["id"],)
        groups.setdefault(key, []).append(c)
    for group in groups.values():
        c = group[0]
        if "duplicate" in c:
            values = _candidates(c)
            record = "\n".join(m["rid"] for m in group)
        else:
            values = "\n".join(f"{s}: {show(v)}" for s, v in c["values"].items())
            record = c["rid"]
        winner = c["winner"]
        table.add_row(
            "\n".join(str(m["id"]) for m in group),
            c["status"],
            c["module"],
            record,
            c["field"],
            values,
            f"{winner['side'] or 'person'}: {show(winner['value'])}" if winner else "-",
            c["reason"] or "",
        )
    _console().print(table)


@conflicts.command("show")
@config_option
@click.argument("conflict_id", type=int, metavar="ID")
@json_option
@click.pass_context
def conflicts_show(ctx: click.Context, conflict_id: int, as_json: bool) -> None:
    """Show one conflict: the value before it, each side's value and time, the winner and why."""
    config = _config(ctx)
    with _journal(config) as journal:
        row = journal.conflict(conflict_id)
        if row is None:
            raise click.ClickException(
                f"no conflict {conflict_id} (see `replicator conflicts list`)"
            )
        item = conflict_data(row)
        base = conflict_base(journal, row)
    item["base"] = (
        None if base is None else plain({"value": base[0], "seq": base[1].seq, "at": base[1].at})
    )
    if as_json:
        _echo_json(item)
        return
    console = _console()
    console.print(
        f"[b]conflict {item['id']}[/b] ({item['status']}): {item['module']} "
        f"record {item['rid']}, field [b]{item['field']}[/b]; policy {item['policy']}"
    )
    if item["kind"] == "suggestion":
        console.print(
            f"[b]suggestion[/b]: near key {item['duplicate']['near_key']!r} is shared by "
            "(nothing was applied):"
        )
        for line in _candidates(item).splitlines():
            console.print(f"  {line}")
    elif "duplicate" in item:
        console.print(f"match key {item['duplicate']['key']!r} is shared by:")
        for c in item["duplicate"]["candidates"]:
            console.print(f"  {c['side']}: {c['rid']}")
    else:
        if base is None:
            console.print("before: the sides never held one value of this field")
        else:
            console.print(
                f"before: {show(base[0])} (both sides held it as of entry {base[1].seq}, "
                f"{_at(base[1].at)} UTC)"
            )
        table = Table("side", "value", "changed at (UTC)")
        for s in item["siblings"]:
            table.add_row(s["side"], show(s["value"]), _at(s["at"]))
        console.print(table)
    winner = item["winner"]
    if winner is not None:
        console.print(f"winner: {winner['side'] or 'person'}: {show(winner['value'])}")
    console.print(f"why: {item['reason']}")
    if item["status"] == "open":
        how = (
            "--value link (the same record: pair them; link:RID picks one of several), "
            "--value clone (different records: create each on the other side) or "
            "--value skip (leave it unsynced)"
            if "duplicate" in item
            else "--take SIDE (or --value VALUE)"
        )
        console.print(f"settle it: replicator conflicts resolve {item['id']} {how}")


@conflicts.command("resolve")
@config_option
@click.argument("conflict_id", type=int, metavar="ID")
@click.option("--take", metavar="SIDE", help="Keep the value this side holds (books, crm, ...).")
@click.option(
    "--value", metavar="VALUE", help="Use this value instead (converted to the field's type)."
)
@click.pass_context
def conflicts_resolve(
    ctx: click.Context, conflict_id: int, take: str | None, value: str | None
) -> None:
    """Settle a conflict; the next `sync` writes the chosen value to both sides.

    For a duplicate group or a suggested near match, --value link pairs the record with its
    candidate on the other side (link:RID names one of several) as the module's policy pairs
    exact duplicates; --value clone creates it on the other side anyway (a suggestion: each
    record of the group) and --value skip leaves it unsynced (a suggestion: the group).
    """
    if (take is None) == (value is None):
        raise click.UsageError("give exactly one of --take SIDE or --value VALUE")
    config = _config(ctx)
    with _journal(config) as journal:
        entry = resolve(journal, config, conflict_id, take=take, raw_value=value)
    decided = decode(entry.kind, entry.meta)
    if isinstance(decided, DuplicateResolution):
        paired = f" with {decided.with_}" if decided.with_ else ""
        click.echo(f"conflict {conflict_id} resolved: {decided.decision}{paired}")
        click.echo("run `replicator sync` to apply it")
    else:
        ((field, chosen),) = entry.fields.items()
        source = f" (from {take})" if take else ""
        click.echo(f"conflict {conflict_id} resolved: {field} = {show(chosen)}{source}")
        click.echo("run `replicator sync` to write it to both sides")


__all__ = ["conflict_data", "conflicts"]
