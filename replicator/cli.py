"""The ``replicator`` command line: a thin layer over the engine and the journal.

Domain errors (``ReplicatorError``, ``JournalError``, ``ConflictError``) become one-line
``click.ClickException`` messages in exactly one place, :meth:`_Main.invoke`.  Progress bars
go to stderr, so ``--json`` output on stdout stays parseable.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from conflicts import RESOLVER, ConflictError, same_value
from journal import Entry, Journal, JournalError, Kind, rebuild, verify
from journal.entry import canonical_decimal
from replicator.app import open_app, open_journal
from replicator.config import Config, load_config
from replicator.engine import CycleReport, resolve
from replicator.errors import ConfigError, ReplicatorError
from replicator.lifecycle import check_modules

DOMAIN_ERRORS = (ReplicatorError, JournalError, ConflictError)
DEFAULT_CONFIG = Path("replicator.toml")
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
RECORD_KINDS = [str(k) for k in Kind if k not in (Kind.CURSOR, Kind.CONFIG)]


class _Main(click.Group):
    """The root group: the one place domain errors become clean messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DOMAIN_ERRORS as exc:
            raise click.ClickException(str(exc)) from None


# -- shared options and helpers ------------------------------------------------------------


def _remember_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["config"] = value


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        expose_value=False,
        callback=_remember_config,
        help="The TOML config file (default: replicator.toml in the working directory).",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON on stdout instead of a table."
    )(f)


def _config(ctx: click.Context) -> Config:
    return load_config((ctx.find_object(dict) or {}).get("config") or DEFAULT_CONFIG)


@contextlib.contextmanager
def _journal(config: Config) -> Iterator[Journal]:
    """The config's journal, which must exist already (reading never creates one)."""
    if not config.journal_path.exists():
        raise click.ClickException(
            f"no journal at {config.journal_path} yet: run `replicator sync` first"
        )
    journal = open_journal(config)
    try:
        yield journal
    finally:
        journal.close()


def _console() -> Console:
    # a pipe or a test runner gets wide lines instead of tables squeezed into 80 columns
    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def plain(value: Any) -> Any:
    """A canonical value as JSON: Decimal as text, dates and times in ISO form."""
    if isinstance(value, Decimal):
        return canonical_decimal(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def show(value: Any) -> str:
    """A canonical value for a person: text quoted, no value shown as such."""
    if value is None:
        return "(no value)"
    if isinstance(value, str):
        return repr(value)
    return str(plain(value))


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False))


def _at(value: dt.datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# -- the group -----------------------------------------------------------------------------


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.version_option(package_name="replicator")
def main() -> None:
    """Two-way sync between an accounting app ("books") and a CRM ("crm").

    Every change is written to an append-only, hash-chained journal first; conflicts,
    duplicates and deletes follow the policies of the config file.
    """


# -- sync ------------------------------------------------------------------------------------


class _Bars:
    """Rich progress bars fed by the engine's ``progress(phase, module, side, count)``."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[tuple[str, str, str], Any] = {}

    def __call__(self, phase: str, module: str, side: str, count: int) -> None:
        key = (phase, module, side)
        if key not in self.tasks:
            arrow = "<-" if phase == "pull" else "->"
            self.tasks[key] = self.progress.add_task(f"{phase} {module} {arrow} {side}", total=None)
        self.progress.update(self.tasks[key], completed=count)

    def finish(self) -> None:
        for task in self.progress.tasks:
            if task.completed:
                self.progress.update(task.id, total=task.completed)


@contextlib.contextmanager
def _bars(label: str = "records") -> Iterator[_Bars]:
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn(f"{{task.completed:>7}} {label}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with progress:
        bars = _Bars(progress)
        yield bars
        bars.finish()


def _check_sides(config: Config) -> None:
    """A side's database must exist: a typo in a path should not sync into a new empty file."""
    for name, side in config.sides.items():
        if side.connector == "sqlite" and side.path is not None and not side.path.is_file():
            raise ConfigError(
                str(config.path), f"sides.{name}.path", f"database file {side.path} does not exist"
            )


def run_sync(config: Config, modules: tuple[str, ...] = ()) -> CycleReport:
    """One cycle with progress bars; nothing is written before the config and sides check."""
    check_modules(config, modules)
    from replicator.daemon_state import forward_sync, forwarded_report

    answer = forward_sync(config, modules)  # one engine per journal: a running daemon runs it
    if answer is not None:
        click.echo("the running daemon ran this cycle", err=True)
        return forwarded_report(answer)
    _check_sides(config)
    with _bars() as bars, open_app(config, progress=bars) as app:
        return app.engine.run(list(modules) or None)


def report_data(report: CycleReport) -> dict[str, Any]:
    modules: dict[str, dict[str, dict[str, int]]] = {}
    for module, side, what, n in report.rows():
        modules.setdefault(module, {}).setdefault(side, {})[what] = n
    return {
        "seconds": round(report.seconds, 3),
        "entries": {"before": report.entries_before, "after": report.entries_after},
        "modules": modules,
        "paused": list(report.paused),
    }


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
        total.update(by_side.get("*", {}))
        table.add_row(
            module, "[b]total[/b]", *[f"[b]{total.get(w, 0)}[/b]" for w in COUNTS], end_section=True
        )
    if not data:
        console.print("nothing to do: both sides are in sync")
    else:
        console.print(table)
    new = report.entries_after - report.entries_before
    console.print(f"{new} new journal entries; took {report.seconds:.2f} s")


@main.command()
@config_option
@click.option(
    "--module",
    "modules",
    multiple=True,
    metavar="M",
    help="Sync only this module (repeat for several; default: every module).",
)
@json_option
@click.pass_context
def sync(ctx: click.Context, modules: tuple[str, ...], as_json: bool) -> None:
    """Run one sync cycle: pull both sides, journal, plan, push.

    Exits 0 when the cycle ran, even if it found conflicts or a side rejected records
    (see `conflicts list` and `journal log`); non-zero when it could not run.
    """
    config = _config(ctx)
    report = run_sync(config, modules)
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
    if report.total("rejected") or report.total("errors"):
        console.print("errors: `replicator journal log` shows each rejected record and why")


# -- status ------------------------------------------------------------------------------


def status_data(config: Config, journal: Journal) -> dict[str, Any]:
    from replicator import lifecycle

    links = journal.link_counts()
    cursors = journal.cursors()
    state = lifecycle.lifecycle(journal)
    last_run = lifecycle.last_run(journal)
    failures: list[dict[str, Any]] = []
    if last_run is not None:
        failures, _ = lifecycle.problems(journal, last_run)
    per_module = dict.fromkeys(config.modules, 0)
    last: dict[str, str] = {}
    # Journal has no per-module summary yet: two read-only aggregate queries
    for module, n in journal.conn.execute("SELECT module, count(*) FROM entries GROUP BY module"):
        per_module[module] = n
    for module, at in journal.conn.execute(
        "SELECT module, max(at) FROM entries WHERE kind IN ('cursor', 'intent') GROUP BY module"
    ):
        last[module] = at
    modules = []
    for name, module in config.modules.items():
        statuses: collections.Counter[str] = collections.Counter()
        with_errors = 0
        for _, _, record in journal.records(name):
            statuses[record.status] += 1
            with_errors += bool(record.errors)
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
    from replicator.daemon_state import daemon_status

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


@main.command()
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
            "\n".join(f"{s}: {json.dumps(c)}" for s, c in m["cursors"].items()),
            str(m["entries"]),
            _at(m["last_sync"]) or "never",
            _at(daemon["next_run"].get(m["module"])) or "-",
        )
    console.print(table)
    for m in data["modules"]:
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
                console.print(
                    f"  {f['module']} record {f['record']} on {f['side']}{field}: {f['reason']}",
                    markup=False,
                )


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

    Duplicate groups list their candidates; a suggestion (field "(suggestion)", kind
    "suggestion" in --json) is a near match held for a person: nothing was applied.
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
    for c in items:
        if "duplicate" in c:
            values = _candidates(c)
        else:
            values = "\n".join(f"{s}: {show(v)}" for s, v in c["values"].items())
        winner = c["winner"]
        table.add_row(
            str(c["id"]),
            c["status"],
            c["module"],
            c["rid"],
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
        return f"{made} on {entry.side} id {meta.get('id')}: {_fields(entry.fields)}"
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


# -- the Zoho sandbox and credentials --------------------------------------------------------


def _announce_sandbox(url: str, credentials: Path, temporary: bool) -> None:
    """What a person needs to point a config at a running sandbox (never a secret)."""
    click.echo(f"Zoho sandbox listening on {url}")
    click.echo(f"  CRM v8:    {url}/crm/v8")
    click.echo(f"  Books v3:  {url}/books/v3")
    click.echo(f"  OAuth:     {url}/oauth/v2/token")
    click.echo(f"  admin:     {url}/__admin__/")
    click.echo(f"credentials file (mode 0600): {credentials}")
    if temporary:
        click.echo("  (a temporary folder, removed when the sandbox stops: --data DIR keeps it)")
    click.echo("A side of replicator.toml using it:")
    click.echo('  [sides.crm]\n  connector = "zoho_crm"')
    click.echo(f"  credentials = {json.dumps(str(credentials))}")
    click.echo("Stop it with Ctrl-C.", err=True)


@main.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Loopback port to listen on (0: any free port).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the sandbox's database and credentials file (default: a temporary one).",
)
@click.option(
    "--seed",
    type=click.Choice(["demo", "keys"]),
    help="Seed the records of a small company (demo), or only the fields replicator needs.",
)
def sandbox(port: int, data_dir: Path | None, seed: str | None) -> None:
    """Serve a local Zoho CRM v8 + Books v3 + OAuth emulator on 127.0.0.1 until Ctrl-C.

    It writes a credentials file (mode 0600) a config's Zoho sides can name, and prints
    the URLs and that file's path, never a secret.
    """
    from replicator.sandbox import Sandbox, SandboxError, run_sandbox

    def ready(box: Sandbox) -> None:
        _announce_sandbox(box.url, box.credentials_path, data_dir is None)

    try:
        run_sandbox(port=port, data_dir=data_dir, seed=seed, on_ready=ready)
    except SandboxError as exc:
        raise click.ClickException(str(exc)) from None


DATA_CENTRE_HELP = "com, eu, in, com.au, jp, com.cn, zohocloud.ca, sa, or an accounts URL"


def _accounts_url(answer: str) -> tuple[str, dict[str, str]]:
    """The accounts server of a data centre name or URL, and what the file should keep."""
    from replicator.connectors.zoho_http import data_centre

    answer = answer.strip()
    if answer.startswith(("http://", "https://")):
        return answer.rstrip("/"), {"accounts_url": answer.rstrip("/")}
    try:
        return data_centre(answer)[0], {"data_centre": answer}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _organizations(
    accounts_url: str, client_id: str, client_secret: str, refresh_token: str
) -> list[dict[str, Any]]:
    """The Books organisations the new credentials reach (empty if they cannot be listed)."""
    import httpx

    from replicator.connectors.zoho_http import OAuth, ZohoError

    auth = OAuth(
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        accounts_url=accounts_url,
    )
    try:
        token = auth.token()
        answer = httpx.get(
            f"{auth.api_domain}/books/v3/organizations",
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
            timeout=30,
        )
        organizations = answer.json().get("organizations") if answer.status_code == 200 else []
    except (ZohoError, httpx.HTTPError, ValueError):
        organizations = []
    finally:
        auth.close()
    return [o for o in organizations or [] if isinstance(o, dict) and o.get("organization_id")]


@main.command()
@click.argument("side", type=click.Choice(["crm", "books"]))
@click.option(
    "--credentials",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (mode 0600; default: credentials/zoho-SIDE.json).",
)
def connect(side: str, path: Path | None) -> None:
    """Connect a Zoho side: trade a self-client grant code for a refresh token, and save it.

    At api-console.zoho.<dc> make a Self Client, then Generate Code with the scopes the
    side needs (CRM: ZohoCRM.modules.ALL,ZohoCRM.settings.ALL; Books: ZohoBooks.fullaccess.all)
    and paste the client id, the client secret and the code here (they are not echoed).
    The file is written readable by you only; name it in the side's `credentials` option.
    """
    from replicator.connectors.zoho_http import ZohoError
    from replicator.credentials import exchange_grant_code, store_credentials

    path = path or Path("credentials") / f"zoho-{side}.json"
    client_id = click.prompt("Client ID").strip()
    client_secret = click.prompt("Client secret", hide_input=True).strip()
    code = click.prompt("Grant code", hide_input=True).strip()
    accounts_url, where = _accounts_url(
        click.prompt(f"Data centre ({DATA_CENTRE_HELP})", default="com")
    )
    try:
        refresh = exchange_grant_code(accounts_url, client_id, client_secret, code)
    except ZohoError as exc:
        raise click.ClickException(str(exc)) from None
    keys: dict[str, Any] = {"client_id": client_id, "client_secret": client_secret}
    keys.update(where, refresh_token=refresh)
    if side == "books":
        organizations = _organizations(accounts_url, client_id, client_secret, refresh.reveal())
        for org in organizations:
            click.echo(f"  {org['organization_id']}  {org.get('name', '')}")
        default = str(organizations[0]["organization_id"]) if len(organizations) == 1 else None
        keys["organization_id"] = click.prompt("Books organization id", default=default).strip()
    written = store_credentials(path, **keys)
    click.echo(f"credentials for {side} written to {written} (mode 0600)")
    click.echo(f"in replicator.toml:\n  [sides.{side}]")
    click.echo(f'  connector = "zoho_{side}"\n  credentials = {json.dumps(str(written))}')


# -- demo ------------------------------------------------------------------------------------


@main.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to create the demo in (default: a new temporary folder).",
)
@click.option(
    "--sqlite",
    is_flag=True,
    help="Sync two local SQLite databases instead of the Zoho sandbox.",
)
@click.option(
    "--records",
    type=click.IntRange(min=10, max=100_000),
    default=200,
    show_default=True,
    help="With --sqlite: customers to seed on each side.",
)
@click.option(
    "--seed",
    type=int,
    default=7,
    show_default=True,
    help="With --sqlite: random seed for the generated customers.",
)
def demo(folder: Path | None, sqlite: bool, records: int, seed: int) -> None:
    """Sync Zoho CRM and Zoho Books (a local sandbox) end to end, and show the journal.

    Starts the sandbox on a free loopback port, seeds a small company on both sides (with
    duplicates and a concurrent edit), writes a config for two-way customers, vendors and
    items, syncs, edits both sides through the APIs, syncs again, then prints what was
    created, updated, skipped and in conflict, the API requests used and `journal verify`.
    With --sqlite: the same story over two local SQLite databases, no network at all.
    """
    from replicator import demo as demos

    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="replicator-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    taken = [n for n in demos.FILES if (folder / n).exists()]
    if taken:
        raise click.ClickException(
            f"{folder} already holds {', '.join(taken)}: pass --dir with a new folder"
        )
    if sqlite:
        demos.run_sqlite_demo(folder.resolve(), _console(), records=records, seed=seed)
    else:
        demos.run_zoho_demo(folder.resolve(), _console())


# the lifecycle commands (history, pause, resume, save, edit, disable, enable, delete,
# update-credentials, records, fetch, import, search) and `daemon` register themselves
# on `main`
from replicator import cli_daemon, cli_lifecycle  # noqa: E402, F401

__all__ = ["main"]
