"""``replicator journal log|verify|head|upgrade|repair-triggers|replay|export``: read, check,
rebuild and export the append-only journal (conflicts are :mod:`replicator.cli.conflicts`)."""

from __future__ import annotations

import collections
import contextlib
import json
import sys
from pathlib import Path

import click
from rich.table import Table

from journal import Anchor, anchor_path, rebuild
from journal.anchors import head_anchor, last_anchor
from journal.payloads import (
    TriggersRepaired,
    expect,
)
from replicator.cli.common import (
    _at,
    _bars,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
)
from replicator.sync.presentation import RECORD_KINDS, describe, entry_data


@click.group("journal")
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
    The result is kept as the last verification (JOURNAL.verified.json; the console's
    journal page shows it).
    """
    config = _config(ctx)
    # function-level: it loads httpx (through the daemon's state), which only this needs
    from replicator.daemon.verification import verify_journal

    with _journal(config, to_verify=True) as journal:
        result = verify_journal(config, journal, by="person", expected=expected)
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


__all__ = ["describe", "entry_data", "journal_group"]
