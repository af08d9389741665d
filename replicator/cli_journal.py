"""The commands that read and settle the journal: ``conflicts list|show|resolve`` and
``journal log|verify|replay|export`` (registered on :data:`replicator.cli.main`)."""

from __future__ import annotations

import collections
import contextlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from conflicts import RESOLVER, same_value
from journal import Entry, Journal, Kind, rebuild, verify
from replicator.cli import (
    RECORD_KINDS,
    _at,
    _bars,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
    main,
    plain,
    show,
)
from replicator.engine import resolve

# -- conflicts --------------------------------------------------------------------------------


def _values_by_side(data: Mapping[str, Any]) -> dict[str, Any]:
    """Each side's value among a conflict's siblings (its latest, if it wrote twice)."""
    values: dict[str, tuple[int, Any]] = {}
    for s in data.get("siblings", []):
        counter = s["dot"][1]
        if s["side"] not in values or counter > values[s["side"]][0]:
            values[s["side"]] = (counter, s["value"])
    return {side: value for side, (_, value) in values.items()}


def conflict_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """A conflict row as the JSON listing shows it."""
    data = row["data"]
    values = _values_by_side(data)
    winner = data.get("winner")
    reason = data.get("reason")
    resolution = data.get("resolution")
    if resolution is not None:
        if "take" in resolution:
            winner = {"side": resolution["take"], "value": values.get(resolution["take"])}
            reason = f"resolved by a person: took the value from {resolution['take']}"
        elif "value" in resolution:
            winner = {"side": None, "value": resolution["value"]}
            reason = "resolved by a person: a value of their own"
        else:
            paired = f" with {resolution['with']}" if resolution.get("with") else ""
            reason = f"resolved by a person: {resolution.get('decision')}{paired}"
    elif data.get("settled_by"):
        settled = data["settled_by"]
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
        "policy": data.get("policy"),
        "siblings": [
            {"side": s["side"], "value": s["value"], "at": s["at"]}
            for s in data.get("siblings", [])
        ],
    }
    if data.get("suggestion"):
        out["kind"] = "suggestion"  # a near match for a person: nothing was applied
        out["duplicate"] = {
            "key": data.get("key"),
            "near_key": data.get("near_key"),
            "candidates": data.get("candidates", []),
        }
    elif data.get("duplicate"):
        out["kind"] = "duplicate"
        out["duplicate"] = {"key": data.get("key"), "candidates": data.get("candidates", [])}
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


@main.group()
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
    sides = {s["side"] for s in row["data"].get("siblings", []) if s["side"] != RESOLVER}
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
    if entry.meta.get("decision"):
        paired = f" with {entry.meta['with']}" if entry.meta.get("with") else ""
        click.echo(f"conflict {conflict_id} resolved: {entry.meta['decision']}{paired}")
        click.echo("run `replicator sync` to apply it")
    else:
        ((field, chosen),) = entry.fields.items()
        source = f" (from {take})" if take else ""
        click.echo(f"conflict {conflict_id} resolved: {field} = {show(chosen)}{source}")
        click.echo("run `replicator sync` to write it to both sides")


# -- journal ---------------------------------------------------------------------------------


def _fields(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in sorted(values.items()))


def describe(entry: Entry) -> str:
    """What an entry says, field by field, for a person."""
    meta = entry.meta
    kind = entry.kind
    if kind is Kind.OBSERVED:
        return f"id {meta.get('id')}: {_fields(entry.fields)}"
    if kind is Kind.TOMBSTONE:
        return f"deleted on {entry.side} (id {meta.get('id')}); not propagated"
    if kind is Kind.INTENT:
        if "settled" in meta:
            return f"nothing to write for {len(meta['settled'])} record(s)"
        writes = meta.get("writes", {})
        creates = sum(1 for v in writes.values() if v is None)
        return (
            f"about to write {len(writes)} record(s) to {entry.side} "
            f"({creates} create, {len(writes) - creates} update)"
        )
    if kind is Kind.APPLIED:
        made = "created" if meta.get("create") else "updated"
        text = f"{made} on {entry.side} id {meta.get('id')}: {_fields(entry.fields)}"
        for renamed in meta.get("renamed", ()):  # duplicates = "clone": the name was taken
            text += f"; renamed by clone_name {renamed['rule']!r}: {renamed['reason']}"
        return text
    if kind is Kind.ERROR:
        field = f" field {meta['field']}" if meta.get("field") else ""
        return f"{meta.get('stage', '')}{field}: {meta.get('reason')}"
    if kind is Kind.LINK:
        return (
            f"linked to {entry.side} id {meta.get('id')} ({meta.get('policy')}, was "
            f"{meta.get('from')}): {_fields(entry.fields)}"
        )
    if kind is Kind.MERGED:
        return f"merged into {meta.get('into')} ({meta.get('policy')})"
    if kind is Kind.SKIPPED:
        return f"skipped: {meta.get('reason')}"
    if kind is Kind.CONFLICT:
        if meta.get("duplicate"):
            return f"duplicate key {meta.get('key')!r}: {meta.get('reason')}"
        siblings = "; ".join(
            f"{s['side']}={show(s['value'])} at {_at(s['at'])}" for s in meta.get("siblings", [])
        )
        winner = meta.get("winner")
        won = f"{winner['side']}={show(winner['value'])}" if winner else "held for a person"
        return f"{meta['field']}: {siblings}\nwinner: {won} ({meta.get('reason')})"
    if kind is Kind.RESOLUTION:
        what = meta.get("decision") or _fields(entry.fields)
        return f"conflict {meta.get('conflict')} settled by a person: {what}"
    return json.dumps(plain(meta), ensure_ascii=False)


def entry_data(entry: Entry) -> dict[str, Any]:
    return plain(
        {
            "seq": entry.seq,
            "at": entry.at,
            "kind": str(entry.kind),
            "module": entry.module,
            "rid": entry.rid,
            "side": entry.side,
            "dot": entry.dot.to_json() if entry.dot else None,
            "fields": entry.fields,
            "meta": entry.meta,
            "summary": describe(entry),
        }
    )


@main.group("journal")
@config_option
def journal_group() -> None:
    """Read, check, rebuild and export the append-only journal."""


@journal_group.command("log")
@config_option
@click.option("--record", "rid", metavar="RID", help="Only this record (e.g. crm:42).")
@click.option("--module", metavar="M", help="Only this module.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show the last N entries.",
)
@json_option
@click.pass_context
def journal_log(
    ctx: click.Context, rid: str | None, module: str | None, limit: int, as_json: bool
) -> None:
    """Field-level history: what each side showed, what was written where, conflicts."""
    config = _config(ctx)
    with _journal(config) as journal:
        found = (
            journal.history(rid, module=module)
            if rid is not None
            else journal.read(module=module, kinds=RECORD_KINDS)
        )
        entries = collections.deque((e for e in found if e.kind in RECORD_KINDS), maxlen=limit)
    if as_json:
        _echo_json([entry_data(e) for e in entries])
        return
    if not entries:
        click.echo("no entries")
        return
    table = Table("seq", "time (UTC)", "kind", "side", "record", "what")
    for e in entries:
        table.add_row(str(e.seq), _at(e.at), str(e.kind), e.side or "", e.rid or "", describe(e))
    _console().print(table)


@journal_group.command("verify")
@config_option
@json_option
@click.pass_context
def journal_verify(ctx: click.Context, as_json: bool) -> None:
    """Check the hash chain and that replaying the entries gives the materialised state.

    Exits non-zero naming the first entry that does not check out.
    """
    config = _config(ctx)
    with _journal(config) as journal:
        result = verify(journal)
    if as_json:
        _echo_json(
            {
                "ok": result.ok,
                "entries": result.entries,
                "chain_ok": result.chain_ok,
                "state_ok": result.state_ok,
                "first_bad_seq": result.first_bad_seq,
                "problem": result.problem,
            }
        )
    if not result.ok:
        where = f"entry {result.first_bad_seq}: " if result.first_bad_seq is not None else ""
        raise click.ClickException(f"journal verify failed: {where}{result.problem}")
    if not as_json:
        click.echo(f"intact: {result.entries} entries")


@journal_group.command("replay")
@config_option
@click.pass_context
def journal_replay(ctx: click.Context) -> None:
    """Rebuild the materialised state (records, links, cursors, conflicts) from the entries."""
    config = _config(ctx)
    with _journal(config) as journal, _bars("entries") as bars:
        task = bars.progress.add_task("replay", total=journal.count())
        n = rebuild(journal, lambda done, total: bars.progress.update(task, completed=done))
        bars.progress.update(task, completed=n)
        links = sum(journal.link_counts().values())
        conflict_rows = journal.conflicts()
        records = sum(1 for _ in journal.records())
        cursors = len(journal.cursors())
    open_ = sum(1 for c in conflict_rows if c["status"] == "open")
    click.echo(
        f"replayed {n} entries: {records} records, {links} links, {cursors} cursors, "
        f"{len(conflict_rows)} conflicts ({open_} open)"
    )


@journal_group.command("export")
@config_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one JSON object per entry, with its hashes.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of stdout.",
)
@click.pass_context
def journal_export(ctx: click.Context, fmt: str, output: Path | None) -> None:
    """Export every entry, in order, as it is stored (values keep their type tags)."""
    config = _config(ctx)
    with (
        _journal(config) as journal,
        output.open("w", encoding="utf-8") if output else contextlib.nullcontext(sys.stdout) as out,
    ):
        n = 0
        for entry in journal.read():
            out.write(json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    if output:
        click.echo(f"{n} entries written to {output}", err=True)
