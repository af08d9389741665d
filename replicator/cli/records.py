"""The record commands of ``replicator``: ``records list``, ``retry`` (refused writes now),
``fetch`` / ``import`` (one record now) and ``search`` (a side's records, and which are
synced already).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import click
from rich.table import Table

from conflicts import ACTIVE, RecordState
from journal import JournalStorage
from replicator.cli.common import (
    _check_sides,
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
    plain,
    show,
)
from replicator.config.load import Config
from replicator.connectors.base import Change, Connector, SideModule
from replicator.errors import ConfigError, ReplicatorError
from replicator.sync import lifecycle as lc
from replicator.sync.app import open_app
from replicator.sync.presentation import display_field as _display_field
from replicator.sync.presentation import register_value as _register_value
from replicator.sync.record import report_data
from replicator.sync.resolve import retry as engine_retry

STATUSES = ("active", "deleted", "merged", "skipped", "held", "errors")


# -- records ---------------------------------------------------------------------------------


def record_data(config: Config, state: RecordState) -> dict[str, Any]:
    """A record as `records list` shows it."""
    field = _display_field(config, state.module)
    sides = {
        side: {"id": held.id, "deleted": held.deleted}
        for side, held in sorted(state.held_wires().items())
    }
    deleted_on = [side for side, held in sides.items() if held["deleted"]]
    # an active record deleted on a side is listed as deleted (the other side keeps it)
    status = "deleted" if state.status == ACTIVE and deleted_on else state.status
    return plain(
        {
            "module": state.module,
            "rid": state.rid,
            "origin": state.origin,
            "status": status,
            "name": _register_value(state, field) if field else None,
            "sides": sides,
            "deleted_on": deleted_on,
            "errors": dict(state.errors),
            "note": state.note,
        }
    )


def _wanted(item: Mapping[str, Any], status: str | None) -> bool:
    if status is None:
        return True
    if status == "deleted":
        return bool(item["deleted_on"])
    if status == "errors":
        return bool(item["errors"])
    return bool(item["status"] == status)


@click.group()
@config_option
def records() -> None:
    """The records the journal knows: where each came from and its id on each side."""


@records.command("list")
@config_option
@click.option(
    "--from",
    "origin",
    metavar="SIDE",
    help="Only records that came from this side (e.g. crm: the customers made in CRM).",
)
@click.option("--module", metavar="M", help="Only records of this module.")
@click.option(
    "--status",
    type=click.Choice(STATUSES),
    help="active; deleted (deleted on a side: the link is kept, the other side keeps the "
    "record); merged, skipped or held (duplicates); errors (a side refused it).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Show at most N records.")
@json_option
@click.pass_context
def records_list(
    ctx: click.Context,
    origin: str | None,
    module: str | None,
    status: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List records: origin side, the id on each side, status, deletes and errors."""
    config = _config(ctx)
    if module is not None:
        lc.check_modules(config, [module])
    if origin is not None and origin not in config.sides:
        raise ConfigError(
            str(config.path), f"sides.{origin}", f"no such side (sides: {', '.join(config.sides)})"
        )
    items: list[dict[str, Any]] = []
    with _journal(config) as journal:
        for _, _, state in journal.records(module):
            if origin is not None and state.origin != origin:
                continue
            item = record_data(config, state)
            if _wanted(item, status):
                items.append(item)
                if limit is not None and len(items) >= limit:
                    break
    if as_json:
        _echo_json(items)
        return
    if not items:
        click.echo("no records")
        return
    sides = list(config.sides)
    table = Table("module", "record", "from", "status", "name", *sides, "errors")
    for item in items:
        cells = []
        for side in sides:
            held = item["sides"].get(side)
            if held is None or held["id"] is None:
                cells.append("-")
            else:
                cells.append(f"{held['id']}{' (deleted)' if held['deleted'] else ''}")
        table.add_row(
            item["module"],
            item["rid"],
            item["origin"],
            item["status"],
            show(item["name"]) if item["name"] is not None else "",
            *cells,
            "; ".join(f"{s}: {r}" for s, r in item["errors"].items()),
        )
    _console().print(table)
    if any(item["deleted_on"] for item in items):
        click.echo("deletes are never propagated: a record deleted on one side stays on the other")


# -- retry ----------------------------------------------------------------------------------


@click.command("retry")
@config_option
@click.argument("rids", nargs=-1, metavar="[RID]...")
@click.option("--all", "every", is_flag=True, help="Every record a side refused.")
@click.option("--module", metavar="M", help="Only records of this module.")
@json_option
@click.pass_context
def retry_command(
    ctx: click.Context, rids: tuple[str, ...], every: bool, module: str | None, as_json: bool
) -> None:
    """Try the refused writes of these records again at the next sync.

    A record a side refused (a missing field, a value it would not take) is retried by
    every later sync with a growing wait (1, 4, 16 minutes... up to a day), and held with
    its reason after 6 attempts; `status` counts both.  Once the cause is fixed, `retry`
    sends it at the next sync without waiting (`fetch` does the same for one record).
    """
    config = _config(ctx)
    if not rids and not every:
        raise click.UsageError("name the records (RID...) or give --all")
    if module is not None:
        lc.check_modules(config, [module])
    names = [module] if module else list(config.modules)
    armed: dict[str, int] = {}
    with _journal(config) as journal:
        for name in names:
            wanted = (
                list(rids)
                if rids
                else [rid for _, rid, state in journal.records(name) if state.retries]
            )
            armed[name] = engine_retry(journal, name, wanted)
    total = sum(armed.values())
    if as_json:
        _echo_json({"retry": armed, "total": total})
        return
    if not total:
        click.echo("no refused writes to retry among these records")
        return
    for name, n in armed.items():
        if n:
            click.echo(f"{name}: {n} record(s) retried at the next sync")


# -- fetch / import ----------------------------------------------------------------------------


def _fetch(ctx: click.Context, module: str, side: str, record_id: str, as_json: bool) -> None:
    config = _config(ctx)
    # `fetch customer ID`, as Zoho's integration names them: the singular is the module
    if module not in config.modules and f"{module}s" in config.modules:
        module = f"{module}s"
    lc.check_modules(config, [module])
    if side not in config.modules[module].sides:
        raise ConfigError(
            str(config.path),
            f"modules.{module}",
            f"has no side {side!r} (sides: {', '.join(config.modules[module].order)})",
        )
    _check_sides(config)
    # function-level: it loads httpx, which only a command reaching a daemon needs
    from replicator.daemon.state import LOCK_WAIT, forward_fetch, forwarded_report, journal_writer

    answer = forward_fetch(config, module, side, record_id)  # one writer: a daemon fetches it
    if answer is not None:
        report, rid = forwarded_report(answer), str(answer["rid"])
        with _journal(config) as journal:
            paused = lc.lifecycle(journal).is_paused(module)
            state = journal.record(module, rid)
    else:
        with (
            journal_writer(config.journal_path, "replicator fetch", wait=LOCK_WAIT),
            open_app(config) as app,
        ):
            paused = lc.lifecycle(app.journal).is_paused(module)
            report, rid = app.engine.fetch(module, side, record_id)
            state = app.journal.record(module, rid)
    data: dict[str, Any] = {
        "module": module,
        "side": side,
        "id": record_id,
        "rid": rid,
        "record": record_data(config, state) if state is not None else None,
        "report": report_data(report),
        "paused": paused,
    }
    if as_json:
        _echo_json(data)
        return
    table = config.modules[module].side_module(side).table
    console = _console()
    console.print(f"fetched {side} {table} {record_id}: record {rid} ({module})", markup=False)
    counts = data["report"]["modules"].get(module, {})
    if state is not None:
        for other, held in data["record"]["sides"].items():
            done = [w for w in ("created", "updated") if counts.get(other, {}).get(w)]
            how = f" ({', '.join(done)})" if done else ""
            gone = " (deleted there)" if held["deleted"] else ""
            console.print(f"  {other}: id {held['id'] or '-'}{how}{gone}", markup=False)
        for other, reason in data["record"]["errors"].items():
            console.print(f"  {other} refused it: {reason}", markup=False)
    if not any(counts.get(s, {}).get("observed") for s in counts):
        console.print("  nothing new: the journal already held this record as it is")
    if paused:
        console.print(f"  (module {module} is paused: only this record was synced)")


@click.command()
@config_option
@click.argument("module")
@click.argument("record_id", metavar="ID")
@click.option(
    "--side",
    default="crm",
    show_default=True,
    help="The side to read the record from.",
)
@json_option
@click.pass_context
def fetch(ctx: click.Context, module: str, record_id: str, side: str, as_json: bool) -> None:
    """Re-sync one record from a side now: read it, journal it, and write it to the other
    side (e.g. `replicator fetch customer 4876876000000333001` re-syncs a CRM account;
    customer, vendor, item name the modules customers, vendors, items)."""
    _fetch(ctx, module, side, record_id, as_json)


@click.command("import")
@config_option
@click.argument("side")
@click.argument("module")
@click.argument("record_id", metavar="ID")
@json_option
@click.pass_context
def import_(ctx: click.Context, side: str, module: str, record_id: str, as_json: bool) -> None:
    """Import one record not synced yet (found with `replicator search`) from SIDE on the
    spot, e.g. a CRM contact to create a transaction for: the same as `fetch`."""
    _fetch(ctx, module, side, record_id, as_json)


# -- search ----------------------------------------------------------------------------------


def _column(schema: Mapping[str, str], *names: str) -> str | None:
    """The schema's column among ``names``, case-insensitively."""
    folded = {c.casefold(): c for c in schema}
    for name in names:
        if name.casefold() in folded:
            return folded[name.casefold()]
    return None


def _name(values: Mapping[str, Any], columns: Sequence[str]) -> str:
    return " ".join(str(values[c]) for c in columns if values.get(c) not in (None, "")).strip()


def _synced(
    journal: JournalStorage, config: Config, side: str, table: str, id: str
) -> dict[str, Any]:
    """Whether a side's row is synced: the module, record and other sides' ids."""
    for name, module in config.modules.items():
        if side not in module.sides or module.side_module(side).table != table:
            continue
        rid = journal.rid_for(name, side, id)
        if rid is None:
            continue
        state = journal.record(name, rid)
        linked = {}
        if state is not None:
            linked = {s: h.id for s, h in state.held_wires().items() if s != side and h.id}
        return {"module": name, "rid": rid, "status": state.status if state else None, **linked}
    return {}


class _Finder:
    """CRM search as the integration does it (see `search`'s help)."""

    def __init__(self, connector: Connector, module: SideModule) -> None:
        self.connector = connector
        self.module = module
        table = module.table.casefold()
        self.mode = {"contacts": "contacts", "accounts": "accounts"}.get(table, "records")
        self.contacts: SideModule | None = None
        self.link: str | None = None

    def search(self, text: str) -> tuple[SideModule, list[Change]]:
        target = self.module
        if self.mode == "contacts":
            schema = self.connector.schema(self.module)
            names = [c for c in (_column(schema, "First_Name"), _column(schema, "Last_Name")) if c]
            if names:
                target = attrs.evolve(
                    self.module,
                    match=tuple(names),
                    columns=tuple(dict.fromkeys([*self.module.columns, *names])),
                )
        return target, self.connector.search(target, text)

    def account_contacts(self, account_id: str) -> list[dict[str, Any]]:
        """The contacts of a CRM account (name, email, id)."""
        if self.mode != "accounts":
            return []
        if self.contacts is None:
            table = "Contacts" if self.module.table == "Accounts" else "contacts"
            try:
                schema = self.connector.schema(SideModule(name="contacts", table=table))
            except ReplicatorError:
                schema = {}
            first = _column(schema, "First_Name")
            last = _column(schema, "Last_Name")
            email = _column(schema, "Email")
            self.link = _column(schema, "Account_Name", "account_id", "account")
            if self.link is None:
                return []
            columns = tuple(c for c in (first, last, email, self.link) if c)
            self.contacts = SideModule(
                name="contacts", table=table, columns=columns, match=(self.link,)
            )
        if self.link is None:
            return []
        zoho = type(self.connector).__name__ == "ZohoCRMConnector"
        text = f"({self.link}.id:equals:{account_id})" if zoho else str(account_id)
        found = self.connector.search(self.contacts, text)
        out = []
        for change in found:
            if not zoho and str(change.values.get(self.link)) != str(account_id):
                continue
            shown = [c for c in self.contacts.columns if c != self.link]
            email = next((c for c in shown if c.casefold() == "email"), None)
            names = [c for c in shown if c != email]
            out.append(
                {
                    "id": change.id,
                    "name": _name(change.values, names),
                    "email": change.values.get(email) if email else None,
                }
            )
        return out


@click.command()
@config_option
@click.argument("side")
@click.argument("text")
@click.option(
    "--module",
    metavar="M",
    help="The module to search (default: customers, if configured, else the first module).",
)
@json_option
@click.pass_context
def search(ctx: click.Context, side: str, text: str, module: str | None, as_json: bool) -> None:
    """Search a side for records, and show which are synced already.

    For CRM customers as the integration does: when the module's CRM table is Contacts,
    contacts by first or last name; otherwise accounts by account name, each listed with
    its contacts.  Import one on the spot with `replicator import SIDE MODULE ID`.
    """
    config = _config(ctx)
    if module is None:
        module = "customers" if "customers" in config.modules else next(iter(config.modules))
    lc.check_modules(config, [module])
    module_config = config.modules[module]
    if side not in module_config.sides:
        raise ConfigError(
            str(config.path),
            f"modules.{module}",
            f"has no side {side!r} (sides: {', '.join(module_config.order)})",
        )
    _check_sides(config)
    items: list[dict[str, Any]] = []
    with open_app(config) as app:
        finder = _Finder(app.connectors[side], module_config.side_module(side))
        target, found = finder.search(text)
        for change in found:
            contacts = finder.account_contacts(change.id)
            for contact in contacts:
                where = finder.contacts.table if finder.contacts is not None else "Contacts"
                contact["synced"] = _synced(app.journal, config, side, where, contact["id"])
            items.append(
                {
                    "id": change.id,
                    "name": _name(change.values, target.match or target.columns[:1]),
                    "table": target.table,
                    "synced": _synced(app.journal, config, side, target.table, change.id),
                    **({"contacts": contacts} if finder.mode == "accounts" else {}),
                }
            )
    if as_json:
        _echo_json(items)
        return
    if not items:
        click.echo(f"no {module_config.side_module(side).table} on {side} match {text!r}")
        return
    table = Table("id", "name", "synced", *(["contacts"] if finder.mode == "accounts" else []))
    for item in items:
        synced = item["synced"]
        if synced:
            others = ", ".join(
                f"{s} id {i}" for s, i in synced.items() if s not in ("module", "rid", "status")
            )
            note = f"yes: record {synced['rid']}" + (f" ({others})" if others else "")
            if synced.get("status") not in (None, "active"):
                # known, but held for a person, skipped or merged: not on the other side
                where = "conflicts list" if synced["status"] == "held" else "records list"
                note = f"{synced['status']}: record {synced['rid']} (`replicator {where}`)"
        else:
            note = f"no: `replicator import {side} {module} {item['id']}`"
        row = [item["id"], item["name"], note]
        if finder.mode == "accounts":
            row.append(
                "\n".join(
                    f"{c['name']}{' <' + c['email'] + '>' if c['email'] else ''} (id {c['id']})"
                    for c in item["contacts"]
                )
                or "-"
            )
        table.add_row(*row)
    _console().print(table)


__all__ = ["fetch", "import_", "record_data", "records", "retry_command", "search"]
