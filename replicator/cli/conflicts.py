"""``replicator conflicts list|show|resolve``: concurrent edits, ambiguous duplicates and
suggested near matches, and how a person settles them.

:func:`conflict_data` is shared with the demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.table import Table

from conflicts import RESOLVER, ConflictData, same_value
from journal import Entry, Journal, Kind
from journal.payloads import (
    ABSENT,
    DuplicateConflict,
    DuplicateResolution,
    ValueConflict,
    ValueResolution,
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
from replicator.sync.resolve import resolve


def _values_by_side(siblings: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Each side's value among a conflict's siblings (its latest, if it wrote twice)."""
    values: dict[str, tuple[int, Any]] = {}
    for s in siblings:
        counter = s["dot"][1]
        if s["side"] not in values or counter > values[s["side"]][0]:
            values[s["side"]] = (counter, s["value"])
    return {side: value for side, (_, value) in values.items()}


def conflict_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """A conflict row as the JSON listing shows it."""
    data = ConflictData.of(row["data"])
    held = data.conflict
    siblings = held.siblings if isinstance(held, ValueConflict) else ()
    values = _values_by_side(siblings)
    winner = held.winner if isinstance(held, ValueConflict) else None
    reason = held.reason
    resolution = data.resolution
    if isinstance(resolution, ValueResolution) and resolution.take is not None:
        winner = {"side": resolution.take, "value": values.get(resolution.take)}
        reason = f"resolved by a person: took the value from {resolution.take}"
    elif isinstance(resolution, ValueResolution) and resolution.value is not ABSENT:
        winner = {"side": None, "value": resolution.value}
        reason = "resolved by a person: a value of their own"
    elif resolution is not None:
        decided = resolution if isinstance(resolution, DuplicateResolution) else None
        paired = f" with {decided.with_}" if decided is not None and decided.with_ else ""
        reason = f"resolved by a person: {decided.decision if decided else None}{paired}"
    elif data.settled_by:
        settled = data.settled_by
        reason = f"{reason}; settled by a later {settled['kind']} (entry {settled['seq']})"
    out = {
        "id": row["id"],
        "module": row["module"],
        "rid": row["rid"],
        "field": row["field"],
        "status": row["status"],
        "values": values,
        "winner": winner,
        "reason": reason,
        "policy": held.policy,
        "siblings": [{"side": s["side"], "value": s["value"], "at": s["at"]} for s in siblings],
    }
    if isinstance(held, DuplicateConflict) and held.suggestion:
        out["kind"] = "suggestion"  # a near match for a person: nothing was applied
        out["duplicate"] = {
            "key": held.key,
            "near_key": held.near_key,
            "candidates": list(held.candidates),
        }
    elif isinstance(held, DuplicateConflict):
        out["kind"] = "duplicate"
        out["duplicate"] = {"key": held.key, "candidates": list(held.candidates)}
    else:
        out["kind"] = "field"
    return plain(out)


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


def _base(journal: Journal, row: Mapping[str, Any]) -> tuple[Any, Entry] | None:
    """The last value every side held of the field before the conflict, and the entry."""
    field = row["field"]
    conflict = ConflictData.of(row["data"]).conflict
    siblings = conflict.siblings if isinstance(conflict, ValueConflict) else ()
    sides = {s["side"] for s in siblings if s["side"] != RESOLVER}
    held: dict[str, Any] = {}
    base = None
    kinds = [str(Kind.OBSERVED), str(Kind.APPLIED), str(Kind.LINK)]
    for entry in journal.read(module=row["module"], rid=row["rid"], kinds=kinds):
        if entry.seq >= row["id"]:
            break
        if entry.side is None or field not in entry.fields:
            continue
        held[entry.side] = entry.fields[field]
        values = [held.get(s) for s in sides]
        if all(s in held for s in sides) and all(same_value(v, values[0]) for v in values):
            base = (values[0], entry)
    return base


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
        base = _base(journal, row)
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
