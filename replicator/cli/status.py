"""``replicator status``: whether sync is on, paused or disabled, and each module's records,
links, conflicts, errors, cursors, last sync and next run."""

from __future__ import annotations

import collections
import json
from typing import Any

import click
from rich.table import Table

from journal import Journal, Kind
from journal.entry import utc_text
from replicator.cli.common import (
    _at,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
)
from replicator.config.load import Config
from replicator.sync import lifecycle


def status_data(config: Config, journal: Journal) -> dict[str, Any]:
    links = journal.link_counts()
    cursors = journal.cursors()
    state = lifecycle.lifecycle(journal)
    last_run = lifecycle.last_run(journal)
    failures: list[dict[str, Any]] = []
    if last_run is not None:
        failures, _ = lifecycle.problems(journal, last_run)
    per_module = dict.fromkeys(config.modules, 0)
    per_module.update(journal.entry_counts())
    last_times = journal.last_times(kinds=[Kind.CURSOR, Kind.INTENT])
    last = {module: utc_text(at) for module, at in last_times.items()}
    modules = []
    for name, module in config.modules.items():
        statuses: collections.Counter[str] = collections.Counter()
        with_errors = 0
        retrying: list[dict[str, Any]] = []
        held_after: list[dict[str, Any]] = []
        renamed: collections.Counter[str] = collections.Counter()  # clones under another name
        for _, rid, record in journal.records(name):
            statuses[record.status] += 1
            with_errors += bool(record.errors)
            for side, held in record.held_wires().items():
                renamed[side] += held.renamed
            for side, (attempts, when) in record.retries.items():
                item = {"rid": rid, "side": side, "attempts": attempts, "next": when}
                item["reason"] = record.errors.get(side)
                (retrying if when is not None else held_after).append(item)
        modules.append(
            {
                "module": name,
                "sync": "disabled"
                if state.disabled
                else "paused"
                if state.is_paused(name)
                else "on",
                "records": sum(statuses.values()),
                "by_status": dict(statuses),
                "links": {
                    side: {
                        "active": links.get((name, side, "active"), 0),
                        "deleted": links.get((name, side, "deleted"), 0),
                    }
                    for side in module.order
                },
                # a record deleted on one side stays on the others: deletes never propagate
                "deleted_kept": {
                    side: links.get((name, side, "deleted"), 0) for side in module.order
                },
                "open_conflicts": len(journal.conflicts(status="open", module=name)),
                "records_with_errors": with_errors,
                # writes a side refused: retried with backoff, then held (`replicator retry`)
                "retrying": retrying,
                "held_after_retries": held_after,
                # duplicates = "clone": records a side holds under the clone_name rule's name
                "renamed": {side: renamed[side] for side in module.order},
                "last_run_errors": sum(1 for f in failures if f["module"] == name),
                "cursors": {side: cursors.get((side, name)) for side in module.order},
                "entries": per_module.get(name, 0),
                "last_sync": last.get(name),
            }
        )
    run = None
    if last_run is not None:
        run = {
            "seq": last_run.seq,
            "trigger": last_run.trigger,
            "started": last_run.started,
            "ended": last_run.ended,
            "modules": list(last_run.modules),
            "paused": list(last_run.paused),
            "error": last_run.error,
            "errors": failures,
        }
    return {
        "config": str(config.path),
        "journal": str(config.journal_path),
        "entries": journal.count(),
        "sync": {
            "enabled": not state.disabled,
            "disabled_since": state.disabled_at,
            "deleted": state.deleted_while_disabled,
            "paused": [name for name in config.modules if state.is_paused(name)],
        },
        "last_run": run,
        "modules": modules,
        "daemon": _daemon(config),
    }


def _daemon(config: Config) -> dict[str, Any]:
    """What the journal's daemon published: running or not, and each module's next run."""
    # function-level: it loads httpx, which only a command reaching a daemon needs
    from replicator.daemon.state import daemon_status

    status = daemon_status(config)
    modules = status.get("modules") or {}
    return {
        "running": bool(status.get("running")),
        "pid": status.get("pid"),
        "url": status.get("url"),
        "started": status.get("started"),
        "next_run": {name: (m or {}).get("next_run") for name, m in modules.items()},
        "last_run": {name: (m or {}).get("last_run") for name, m in modules.items()},
    }


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
                f"{m['module']}: {len(m['retrying'])} refused write(s) retried with backoff",
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


__all__ = ["status", "status_data"]
