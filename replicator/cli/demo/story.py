"""What both demos end with: the conflicts (and why each value won), then ``journal verify``."""

from __future__ import annotations

import click
from rich.console import Console

from journal import verify
from replicator.cli.common import show
from replicator.cli.conflicts import conflict_data
from replicator.config.load import Config
from replicator.sync.app import open_journal


def conflicts_and_verify(console: Console, config: Config) -> None:
    """The conflicts (and why each value won), then the journal's verification."""
    console.rule("conflicts")
    with open_journal(config) as journal:
        items = [conflict_data(r) for r in journal.conflicts()]
        result = verify(journal)
    groups: dict[tuple[str, ...], list[int]] = {}
    for c in items:
        if c["kind"] == "suggestion" and c["status"] == "open":
            candidates = c["duplicate"]["candidates"]
            names = tuple(f"{x['key']!r} ({x['side']})" for x in candidates)
            groups.setdefault((c["module"], *names), []).append(c["id"])
    for (module, *spelled), ids in groups.items():
        console.print(
            f"{' / '.join(f'#{i}' for i in ids)} open: {module} near match "
            f"{' ~ '.join(spelled)}: held for a person (`conflicts resolve ID --value link` "
            "pairs them, `--value clone` keeps both)",
            soft_wrap=True,
        )
    for c in items:
        if c["kind"] == "suggestion" and c["status"] == "open":
            continue
        values = ", ".join(f"{s}: {show(v)}" for s, v in c["values"].items())
        winner = c["winner"]
        won = f"{winner['side']} ({show(winner['value'])})" if winner else "held for a person"
        console.print(
            f"#{c['id']} {c['status']}: {c['module']} {c['rid']} {c['field']}: {values} -> "
            f"{won}; {c['reason']}",
            soft_wrap=True,
        )
    if not items:
        console.print("no conflicts")
    console.rule("journal verify")
    if not result.ok:
        raise click.ClickException(f"journal verify failed: {result.problem}")
    console.print(f"intact: {result.entries} entries")


__all__ = ["conflicts_and_verify"]
