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
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from conflicts import ConflictError
from journal import Journal, JournalError, Kind
from journal.entry import canonical_decimal
from replicator.config.load import Config, load_config
from replicator.errors import ConfigError, ReplicatorError
from replicator.sync.app import open_app, open_journal
from replicator.sync.engine import CycleReport, report_data
from replicator.sync.lifecycle import check_modules

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


def run_sync(
    config: Config,
    modules: tuple[str, ...] = (),
    *,
    wait: float | None = None,
    force: bool = False,
) -> CycleReport:
    """One cycle with progress bars; nothing is written before the config and sides check.
    Another `sync` or `fetch` on the journal is waited for up to ``wait`` seconds; a
    journal whose tail fails its check is refused unless ``force``."""
    check_modules(config, modules)
    from replicator.daemon.state import LOCK_WAIT, forward_sync, forwarded_report, journal_writer

    answer = forward_sync(config, modules)  # one engine per journal: a running daemon runs it
    if answer is not None:
        click.echo("the running daemon ran this cycle", err=True)
        return forwarded_report(answer)
    _check_sides(config)
    wait = LOCK_WAIT if wait is None else wait
    with (
        journal_writer(config.journal_path, "replicator sync", wait=wait),
        _bars() as bars,
        open_app(config, progress=bars) as app,
    ):
        from replicator.sync.guard import guard_journal

        guard_journal(app.journal, force=force)  # refuses a journal whose tail fails its check
        return app.engine.run(list(modules) or None)


def wait_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait",
        type=click.FloatRange(min=0),
        default=None,
        metavar="SECONDS",
        help="While another `sync` or `fetch` writes to the journal, wait this long for it "
        "(default 30), then exit 1 naming it.",
    )(f)


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
        record = by_side.get("*", {})  # counted per record, not per side: conflicts
        if record:
            total.update(record)
            table.add_row(module, "both", *[str(record.get(w, 0)) for w in COUNTS])
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
@click.option(
    "--force",
    is_flag=True,
    help="Write even if the journal fails its check before writing (the forcing is journaled).",
)
@json_option
@wait_option
@click.pass_context
def sync(
    ctx: click.Context, modules: tuple[str, ...], force: bool, as_json: bool, wait: float | None
) -> None:
    """Run one sync cycle: pull both sides, journal, plan, push.

    Exits 0 when the cycle ran, even if it found conflicts or a side rejected records
    (see `conflicts list` and `journal log`); non-zero when it could not run.
    """
    config = _config(ctx)
    report = run_sync(config, modules, wait=wait, force=force)
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
    if report.total("renamed"):
        console.print(
            f"renamed: {report.total('renamed')} clone(s) sent under the clone_name rule's "
            "name, their side holding the name already (`replicator journal log`)"
        )
    if report.total("rejected") or report.total("errors"):
        console.print("errors: `replicator journal log` shows each rejected record and why")


# -- status ------------------------------------------------------------------------------


def status_data(config: Config, journal: Journal) -> dict[str, Any]:
    from replicator.sync import lifecycle

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


# the other commands register themselves on `main`: conflicts and journal; sandbox,
# connect and demo; the lifecycle (history, pause, resume, save, edit, disable, enable,
# delete, update-credentials, records, fetch, import, search); daemon
from replicator.cli import daemon as daemon_commands  # noqa: E402, F401
from replicator.cli import journal as journal_commands  # noqa: E402, F401
from replicator.cli import lifecycle as lifecycle_commands  # noqa: E402, F401
from replicator.cli import setup as setup_commands  # noqa: E402, F401

__all__ = ["main"]
