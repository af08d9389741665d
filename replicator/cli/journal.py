"""The commands that read and settle the journal: ``conflicts list|show|resolve`` and
``journal log|verify|head|upgrade|repair-triggers|replay|export`` (registered on
:data:`replicator.cli.main.main`)."""

from __future__ import annotations

import collections
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from conflicts import RESOLVER, ConflictData, same_value
from journal import Anchor, Entry, Journal, Kind, anchor_path, read_anchors, rebuild, verify
from journal.anchors import head_anchor, last_anchor
from journal.payloads import (
    ABSENT,
    Applied,
    DuplicateConflict,
    DuplicateResolution,
    Failure,
    Linked,
    Merged,
    Observed,
    SettledIntent,
    Skipped,
    Tombstone,
    TriggersRepaired,
    ValueConflict,
    ValueResolution,
    WriteIntent,
    decode,
    encode,
    expect,
    payload_of,
)
from replicator.cli.main import (
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
from replicator.config.load import Config
from replicator.sync.engine import resolve

# -- conflicts --------------------------------------------------------------------------------


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


# -- journal ---------------------------------------------------------------------------------


def _fields(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={show(v)}" for k, v in sorted(values.items()))


def describe(entry: Entry) -> str:
    """What an entry says, field by field, for a person."""
    payload = payload_of(entry)
    if isinstance(payload, Observed):
        return f"id {payload.id}: {_fields(entry.fields)}"
    if isinstance(payload, Tombstone):
        return f"deleted on {entry.side} (id {payload.id}); not propagated"
    if entry.kind is Kind.INTENT:
        if isinstance(payload, SettledIntent):
            return f"nothing to write for {len(payload.settled)} record(s)"
        writes = payload.writes if isinstance(payload, WriteIntent) else {}
        creates = sum(1 for v in writes.values() if v is None)
        return (
            f"about to write {len(writes)} record(s) to {entry.side} "
            f"({creates} create, {len(writes) - creates} update)"
        )
    if isinstance(payload, Applied):
        made = "created" if payload.create else "updated"
        text = f"{made} on {entry.side} id {payload.id}: {_fields(entry.fields)}"
        for renamed in payload.renamed:  # duplicates = "clone": the name was taken
            text += f"; renamed by clone_name {renamed['rule']!r}: {renamed['reason']}"
        return text
    if isinstance(payload, Failure):
        field = f" field {payload.field}" if payload.field else ""
        return f"{payload.stage}{field}: {payload.reason}"
    if isinstance(payload, Linked):
        return (
            f"linked to {entry.side} id {payload.id} ({payload.policy}, was "
            f"{payload.from_}): {_fields(entry.fields)}"
        )
    if isinstance(payload, Merged):
        return f"merged into {payload.into} ({payload.policy})"
    if isinstance(payload, Skipped):
        return f"skipped: {payload.reason}"
    if isinstance(payload, DuplicateConflict):
        return f"duplicate key {payload.key!r}: {payload.reason}"
    if isinstance(payload, ValueConflict):
        siblings = "; ".join(
            f"{s['side']}={show(s['value'])} at {_at(s['at'])}" for s in payload.siblings
        )
        winner = payload.winner
        won = f"{winner['side']}={show(winner['value'])}" if winner else "held for a person"
        return f"{payload.field}: {siblings}\nwinner: {won} ({payload.reason})"
    if isinstance(payload, (ValueResolution, DuplicateResolution)):
        what = (
            payload.decision if isinstance(payload, DuplicateResolution) else _fields(entry.fields)
        )
        return f"conflict {payload.conflict} settled by a person: {what}"
    return json.dumps(plain(encode(payload)), ensure_ascii=False)


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


def _expect(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[Anchor]:
    try:
        return [Anchor.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def known_anchors(config: Config) -> tuple[list[Anchor], list[str]]:
    """Every anchor kept beside the journal: ``JOURNAL.anchors`` and the daemon's published
    state; with a problem per anchors-file line that is not an anchor."""
    anchors, problems = read_anchors(anchor_path(config.journal_path))
    published = _published_anchor(config)
    if published is not None:
        anchors.append(published)
    return anchors, problems


def _published_anchor(config: Config) -> Anchor | None:
    from replicator.daemon.state import state_path

    try:
        state = json.loads(state_path(config.journal_path).read_text(encoding="utf-8"))
        data = state.get("anchor") if isinstance(state, dict) else None
        return None if data is None else Anchor.from_json(data, source="daemon state")
    except (OSError, ValueError):
        return None


@journal_group.command("verify")
@config_option
@click.option(
    "--expect",
    "expected",
    multiple=True,
    metavar="SEQ:HASH",
    callback=_expect,
    help="An anchor you hold (as `journal head` prints it): entry SEQ must have hash HASH. "
    "Repeat for several.",
)
@json_option
@click.pass_context
def journal_verify(ctx: click.Context, expected: list[Anchor], as_json: bool) -> None:
    """Check the file, the hash chain, every anchor, and that replaying the entries gives
    the materialised state.

    Runs SQLite's integrity check, checks the append-only triggers are in place, recomputes
    every hash (entries before a journaled upgrade as unkeyed sha256, the rest with the
    journal key), and compares the journal with every anchor it knows (JOURNAL.anchors, the
    daemon's published state) and each --expect, so a deleted tail or a rollback to an older
    copy is reported with the last good anchor.  Exits non-zero naming what it found.
    """
    config = _config(ctx)
    anchors, anchor_problems = known_anchors(config)
    with _journal(config) as journal:
        result = verify(journal, anchors=[*anchors, *expected], anchor_problems=anchor_problems)
    good = result.last_good_anchor
    if as_json:
        _echo_json(
            {
                "ok": result.ok,
                "entries": result.entries,
                "chain_ok": result.chain_ok,
                "state_ok": result.state_ok,
                "storage_ok": result.storage_ok,
                "anchors_ok": result.anchors_ok,
                "anchors": result.anchors,
                "last_good_anchor": good.to_json() if good is not None else None,
                "keyed_from": result.keyed_from,
                "unkeyed": result.unkeyed,
                "first_bad_seq": result.first_bad_seq,
                "problem": result.problem,
                "problems": list(result.problems),
            }
        )
    if not result.ok:
        raise click.ClickException(f"journal verify failed: {result.problem}")
    if as_json:
        return
    click.echo(f"intact: {result.entries} entries")
    if result.unkeyed:
        keyed = (
            f"; keyed from entry {result.keyed_from} (the journaled upgrade)"
            if result.keyed_from is not None
            else ""
        )
        click.echo(
            f"entries 1-{result.unkeyed} are unkeyed (made before keyed chains: plain sha256)"
            + keyed
        )
    if result.anchors:
        last = f"entry {good.seq}" if good is not None else "-"
        click.echo(f"{result.anchors} anchor(s) match, the last at {last}")


@journal_group.command("head")
@config_option
@json_option
@click.pass_context
def journal_head(ctx: click.Context, as_json: bool) -> None:
    """Print the journal's head as an anchor, SEQ:HASH, and the last anchor written.

    Keep the SEQ:HASH somewhere the journal's owner cannot rewrite; later, `journal verify
    --expect SEQ:HASH` proves a copy of the journal still holds that entry with that hash.
    """
    config = _config(ctx)
    with _journal(config) as journal:
        head = head_anchor(journal)
    last = last_anchor(anchor_path(config.journal_path))
    if as_json:
        _echo_json(
            {
                "seq": head.seq if head else 0,
                "hash": head.hash if head else None,
                "at": head.to_json()["at"] if head else None,
                "expect": head.expect if head else None,
                "last_anchor": last.to_json() if last is not None else None,
            }
        )
        return
    if head is None:
        click.echo("the journal is empty")
        return
    click.echo(head.expect)
    click.echo(f"entry {head.seq} written {_at(head.at)} UTC")
    if last is None:
        click.echo(f"no anchor written yet ({anchor_path(config.journal_path)})")
    elif last.seq == head.seq and last.hash == head.hash:
        click.echo(f"anchored {_at(last.at)} UTC in {anchor_path(config.journal_path)}")
    else:
        click.echo(
            f"last anchor: {last.expect} ({_at(last.at)} UTC); "
            "the entries after it are anchored at the next sync"
        )


@journal_group.command("upgrade")
@config_option
@click.pass_context
def journal_upgrade(ctx: click.Context) -> None:
    """Switch a journal made before keyed chains to the keyed chain, journaled.

    The first command of this release that opens such a journal does it when it creates the
    journal key; run this when the key came from REPLICATOR_JOURNAL_KEY (or its file
    already existed).  Verify first: the entries before the upgrade are trusted as they are.
    """
    config = _config(ctx)
    with _journal(config) as journal:
        entry = journal.upgrade()
        keyed_from = journal.keyed_from
    if entry is None:
        click.echo(f"nothing to upgrade: the chain is keyed from entry {keyed_from}")
    else:
        click.echo(
            f"upgraded: entries 1-{entry.seq - 1} stay unkeyed, keyed from entry {entry.seq} "
            "(journaled)"
        )


@journal_group.command("repair-triggers")
@config_option
@click.pass_context
def journal_repair_triggers(ctx: click.Context) -> None:
    """Re-create the append-only triggers if they were dropped or altered, journaled.

    Opening a journal never re-creates them: `journal verify` reports them missing until
    this runs.  Verify the entries first: while the triggers were gone, rows could be
    changed in place (the chain and the anchors say whether they were).
    """
    config = _config(ctx)
    with _journal(config) as journal:
        entry = journal.repair_triggers()
    if entry is None:
        click.echo("the append-only triggers are in place: nothing to repair")
    else:
        click.echo(
            f"re-created {', '.join(expect(entry, TriggersRepaired).recreated)} (journaled as "
            f"entry {entry.seq})"
        )


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
