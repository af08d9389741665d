"""``replicator status``: whether sync is on, paused or disabled, and each module's records,
links, conflicts, errors, cursors, last sync and next run (the figures are
:func:`replicator.sync.status.status_data`'s)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from replicator.cli.common import (
    _at,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
)
from replicator.sync.status import status_data


def _cursor_text(cursor: Any) -> str:
    """A cursor for people: a Zoho cursor's records watermark as a UTC time (``--json``
    shows it whole)."""
    if cursor is None:
        return "-"
    if isinstance(cursor, list) and cursor:
        cursor = cursor[0]
    if isinstance(cursor, str):
        return _at(cursor) or cursor
    return json.dumps(cursor)


@click.command()
@config_option
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show whether sync is on, paused or disabled, each module's records, links (and those
    to records deleted on a side, which stay on the other: deletes are never propagated),
    open conflicts, errors (and those of the last run), cursors and last sync."""
    config = _config(ctx)
    with _journal(config) as journal:
        data = status_data(config, journal)
    if as_json:
        _echo_json(data)
        return
    console = _console()
    sync = data["sync"]
    if not sync["enabled"]:
        since = f" since {_at(sync['disabled_since'])} UTC" if sync["disabled_since"] else ""
        deleted = "; the integration was deleted" if sync["deleted"] else ""
        console.print(f"sync is [b]DISABLED[/b]{since}{deleted}: `replicator enable`")
    elif sync["paused"]:
        console.print(f"paused: {', '.join(sync['paused'])} (`replicator resume`)")
    daemon = data["daemon"]
    if daemon["running"]:
        console.print(
            f"daemon: running (pid {daemon['pid']}, {daemon['url']}, since "
            f"{_at(daemon['started'])} UTC)"
        )
    else:
        console.print("daemon: not running (`replicator daemon` syncs on a schedule)")
    table = Table(title=f"{data['journal']}: {data['entries']} entries", title_justify="left")
    for column in (
        "module",
        "sync",
        "records",
        "links (deleted)",
        "open conflicts",
        "with errors",
        "errors last run",
        "cursors",
        "entries",
        "last sync (UTC)",
        "next run (UTC)",
    ):
        table.add_column(column)
    for m in data["modules"]:
        table.add_row(
            m["module"],
            m["sync"],
            str(m["records"])
            + "".join(f"\n{k}: {v}" for k, v in sorted(m["by_status"].items()) if k != "active"),
            "\n".join(
                f"{s}: {v['active'] + v['deleted']} ({v['deleted']})" for s, v in m["links"].items()
            ),
            str(m["open_conflicts"]),
            str(m["records_with_errors"]),
            str(m["last_run_errors"]),
            "\n".join(f"{s}: {_cursor_text(c)}" for s, c in m["cursors"].items()),
            str(m["entries"]),
            _at(m["last_sync"]) or "never",
            _at(daemon["next_run"].get(m["module"])) or "-",
        )
    console.print(table)
    for m in data["modules"]:
        if m["retrying"]:
            console.print(
                f"{m['module']}: {m['retrying_total']} refused write(s) retried with backoff",
                markup=False,
            )
        for held in m["held_after_retries"][:10]:
            console.print(
                f"{m['module']}: record {held['rid']} held on {held['side']} after "
                f"{held['attempts']} attempts: {held['reason']} (`replicator retry "
                f"{held['rid']}` once fixed)",
                markup=False,
            )
        for side, n in m["renamed"].items():
            if n:
                console.print(
                    f"{m['module']}: {n} clone(s) renamed on {side}, which held their name "
                    "already (duplicates = clone; `journal log` says which and why)"
                )
        for side, n in m["deleted_kept"].items():
            if n:
                others = ", ".join(s for s in m["links"] if s != side)
                console.print(
                    f"{m['module']}: {n} record(s) deleted on {side} stay on {others} "
                    "(deletes are never propagated)"
                )
    run = data["last_run"]
    if run is not None:
        what = f"last run (entry {run['seq']}, {run['trigger']}, {_at(run['ended'])} UTC)"
        if run["error"]:
            console.print(f"{what} FAILED: {run['error']}", markup=False)
        if run["errors"]:
            console.print(f"{what}: {len(run['errors'])} error(s); `replicator history` has all")
            for f in run["errors"][:10]:
                field = f", field {f['field']}" if f.get("field") else ""
                record = f" record {f['record']}" if f.get("record") else ""
                console.print(
                    f"  {f['module']}{record} on {f['side']}{field}: {f['reason']}",
                    markup=False,
                )


__all__ = ["status"]
