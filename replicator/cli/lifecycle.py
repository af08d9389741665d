"""The lifecycle commands of ``replicator``: history, pause / resume, save / edit, disable /
enable / delete and update-credentials (the record commands are in :mod:`.records`).

What they read and journal lives in :mod:`replicator.sync.lifecycle`.  Every decision is a
``config`` entry in the journal, so ``journal replay`` and ``verify`` account for it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import stat
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import click
from rich.table import Table

from journal import JournalStorage
from replicator.cli.common import (
    _at,
    _bars,
    _check_sides,
    _config,
    _config_path,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
    show,
    wait_option,
)
from replicator.config.load import Config, parse_config
from replicator.connectors import build_connector
from replicator.errors import ConfigError, ReplicatorError
from replicator.sync import copies
from replicator.sync import lifecycle as lc
from replicator.sync.app import open_journal

SHOWN_PROBLEMS = 20  # failures / skips printed per run; --json has them all


@contextlib.contextmanager
def _open(config: Config) -> Iterator[JournalStorage]:
    """The config's journal, made if it does not exist yet (decisions may come first)."""
    journal = open_journal(config)
    try:
        yield journal
    finally:
        journal.close()


# -- history ---------------------------------------------------------------------------------


@click.command()
@config_option
@click.option("--module", metavar="M", help="Only runs and decisions that concern this module.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show the last N runs and events.",
)
@json_option
@click.pass_context
def history(ctx: click.Context, module: str | None, limit: int, as_json: bool) -> None:
    """Sync history: each run's time and the records added, updated, deleted, skipped and
    failed (with every failure's record, side, field, value and reason, and why records
    were skipped), with pauses, saved configs and other decisions in the same timeline.

    "deleted" counts deletes seen on a side: they are journaled, never propagated (an
    undo's: the creates it deleted).  "run": each run's id, for `replicator undo RUN`.
    """
    config = _config(ctx)
    if module is not None:
        lc.check_modules(config, [module])
    with _journal(config) as journal:
        items = lc.history(journal, module=module, limit=limit)
    if as_json:
        _echo_json(items)
        return
    if not items:
        click.echo("no runs yet: `replicator sync` runs one")
        return
    console = _console()
    table = Table(
        "run", "seq", "time (UTC)", "what", *lc.COLUMNS, title="history", title_justify="left"
    )
    for item in items:
        if item["type"] != "run":
            table.add_row("", str(item["seq"]), _at(item["at"]), item["summary"], *[""] * 6)
            continue
        totals = item["totals"]
        what = item["summary"].split(":", 1)[0]
        if item["error"]:
            what += f"\n[b]FAILED[/b]: {item['error']}"
        if item["paused"]:
            what += f"\npaused, skipped: {', '.join(item['paused'])}"
        counts = [str(totals[c]) for c in lc.COLUMNS]
        table.add_row(str(item["run"]), str(item["seq"]), _at(item["ended"]), what, *counts)
        rows = [
            (name, side, columns)
            for name, sides in item["by_module"].items()
            for side, columns in sorted(sides.items())
            if any(columns.values())
        ]
        if len(rows) > 1:
            for name, side, columns in rows:
                label = f"  {name} {'(record)' if side == '*' else side}"
                table.add_row("", "", "", label, *[str(columns[c]) for c in lc.COLUMNS])
    console.print(table)
    for item in items:
        if item["type"] == "run":
            _print_problems(console, item)


def _print_problems(console: Any, item: Mapping[str, Any]) -> None:
    for title, rows, line in (
        ("failed", item["failures"], _failure_line),
        ("skipped", item["skips"], _skip_line),
    ):
        if not rows:
            continue
        console.print(f"run {item['seq']} ({_at(item['ended'])} UTC): {len(rows)} {title}")
        for row in rows[:SHOWN_PROBLEMS]:
            console.print(f"  {line(row)}", markup=False)
        if len(rows) > SHOWN_PROBLEMS:
            console.print(
                f"  ... and {len(rows) - SHOWN_PROBLEMS} more: `replicator history --json`"
            )


def _failure_line(row: Mapping[str, Any]) -> str:
    record = f" record {row['record']}" if row.get("record") else ""  # a row with no id: none
    where = f"{row['module']}{record} on {row['side']}"
    if row.get("id"):
        where += f" (id {row['id']})"
    if row.get("field"):
        where += f", field {row['field']}"
        if row.get("value") is not None:
            where += f" value {show(row['value'])}"
    retry = " (passing: retried next sync)" if row.get("retry") else ""
    return f"{where}: {row['reason']}{retry}"


def _skip_line(row: Mapping[str, Any]) -> str:
    key = f" (match key {row['key']!r})" if row.get("key") else ""
    on = f" on {row['side']}" if row.get("side") else ""  # a deal trigger's skip: no side
    return f"{row['module']} record {row['record']}{on}{key}: {row['reason']}"


# -- pause / resume --------------------------------------------------------------------------


@click.command()
@config_option
@click.argument("modules", nargs=-1, metavar="[MODULE]...")
@click.pass_context
def pause(ctx: click.Context, modules: tuple[str, ...]) -> None:
    """Pause syncing these modules (none named: every module) until `replicator resume`.

    `sync` (and the daemon) skip a paused module and say so; nothing is lost: the changes
    made meanwhile are read when it resumes.  Journaled.
    """
    config = _config(ctx)
    with _open(config) as journal:
        entry = lc.pause(journal, config, modules)
    what = ", ".join(modules) or "every module"
    if entry is None:
        click.echo(f"already paused: {what}")
        return
    click.echo(f"paused {what}: `replicator sync` skips it until `replicator resume`")


@click.command()
@config_option
@click.argument("modules", nargs=-1, metavar="[MODULE]...")
@click.pass_context
def resume(ctx: click.Context, modules: tuple[str, ...]) -> None:
    """Resume syncing paused modules (none named: every module).  Journaled."""
    config = _config(ctx)
    with _open(config) as journal:
        entry = lc.resume(journal, config, modules)
    what = ", ".join(modules) or "every module"
    if entry is None:
        click.echo(f"not paused: {what}")
        return
    click.echo(f"resumed {what}: the next `replicator sync` reads what changed meanwhile")


# -- save / edit -----------------------------------------------------------------------------


@click.command()
@config_option
@click.pass_context
def save(ctx: click.Context) -> None:
    """Validate the config and journal it without syncing ("Save and Sync Later").

    The settings apply from the next `replicator sync`.
    """
    config = _config(ctx)
    _check_sides(config)
    with _open(config) as journal:
        entry = lc.save_config(journal, config, by="save")
    if entry is None:
        click.echo(
            f"unchanged: the journal already holds these settings (fingerprint "
            f"{config.fingerprint()})"
        )
        return
    click.echo(
        f"saved {config.path} to the journal (entry {entry.seq}, fingerprint "
        f"{config.fingerprint()}); nothing synced: it applies from the next `replicator sync`"
    )


def _parse(path: Path, text: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "(syntax)", str(exc)) from None
    config = parse_config(data, path.resolve())
    _check_sides(config)
    return config


def _write_keeping_mode(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.edit")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
    os.replace(temporary, path)


@click.command()
@config_option
@click.pass_context
def edit(ctx: click.Context) -> None:
    """Edit the config in $EDITOR; a valid result is saved and journaled and applies from
    the next sync.  An invalid one is refused with the reason, and the old file is kept
    (you may edit again)."""
    path = _config_path(ctx)
    try:
        original = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "no such file (pass --config PATH)") from None
    draft = original
    while True:
        edited = click.edit(draft, extension=".toml", require_save=True)
        if edited is None or edited == original:
            click.echo(f"no changes: {path} is unchanged")
            return
        try:
            config = _parse(path, edited)
        except ReplicatorError as exc:
            click.echo(f"Error: {exc}", err=True)
            if not click.confirm("Edit again? (no: keep the old file)", default=True, err=True):
                raise click.ClickException(f"not saved: {path} is unchanged") from None
            draft = edited
            continue
        break
    _write_keeping_mode(path, edited)
    with _open(config) as journal:
        entry = lc.save_config(journal, config, by="edit")
    seq = f" (journal entry {entry.seq})" if entry is not None else ""
    click.echo(f"saved {path}{seq}: it applies from the next `replicator sync`")


# -- disable / enable / delete ---------------------------------------------------------------


REASON = "the integration was disabled: the CRM keeps no copies of Books documents"


@click.command()
@config_option
@click.option(
    "--remove-crm-copies",
    "remove_copies",
    is_flag=True,
    help="Also delete the CRM records that are copies of Books documents (quotes, sales "
    "orders, invoices, purchase orders linked on both sides), listed first and deleted "
    "only once confirmed.  Books data is never touched.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--by", metavar="NAME", help="Who asks for the removal (default: login name).")
@click.option("--reason", metavar="TEXT", default=REASON, help="Why, journaled with each delete.")
@json_option
@wait_option
@click.pass_context
def disable(
    ctx: click.Context,
    remove_copies: bool,
    yes: bool,
    by: str | None,
    reason: str,
    as_json: bool,
    wait: float | None,
) -> None:
    """Stop all sync: `sync` (and the daemon) refuse until `replicator enable`.

    Links and record states are kept, so enabling again carries on where it stopped
    (`replicator delete` drops them).  No side's data is touched, unless
    --remove-crm-copies: then the CRM copies of Books documents are listed and, once
    confirmed, deleted from the CRM (a CRM-only document and masters never are), each delete
    journaled with who asked and why; a run interrupted halfway is finished by running it
    again.  Journaled.
    """
    config = _config(ctx)
    if remove_copies:
        _check_sides(config)
        who, why = (by or "").strip() or _login(), reason.strip() or REASON
        _disable_removing(config, yes=yes, by=who, reason=why, as_json=as_json, wait=wait)
        return
    with _open(config) as journal:
        entry = lc.disable(journal)
    if as_json:
        _echo_json({"disabled": True, "changed": entry is not None})
    elif entry is None:
        click.echo("sync is already disabled")
    else:
        click.echo(
            "sync disabled: `replicator sync` refuses until `replicator enable`; links and "
            "record states are kept"
        )


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor the password file
        return "person"


def _disable_removing(
    config: Config, *, yes: bool, by: str, reason: str, as_json: bool, wait: float | None
) -> None:
    """``disable --remove-crm-copies``: disable, list the copies, confirm, remove them."""
    # function-level: it loads httpx, which only a command reaching a daemon needs
    from replicator.daemon.state import LOCK_WAIT, journal_writer

    def say(text: str) -> None:
        click.echo(text, err=as_json)  # --json keeps stdout for the JSON

    holder = "replicator disable --remove-crm-copies"
    with (
        journal_writer(config.journal_path, holder, wait=LOCK_WAIT if wait is None else wait),
        _open(config) as journal,
    ):
        changed = lc.disable(journal) is not None
        say(
            "sync disabled (`replicator enable` turns it back on)"
            if changed
            else "sync is already disabled"
        )
        found = copies.plan(journal, config)
        data: dict[str, Any] = {"disabled": True, "changed": changed, "by": by, "reason": reason}
        data["listed"] = [c.data() for c in found.copies]
        for line in copies.listing(found):
            say(line)
        if not found.copies or not (
            yes
            or click.confirm(
                f"Delete these {len(found.copies)} records from the CRM? Books keeps every "
                "document",
                err=as_json,
            )
        ):
            if found.copies:
                say("nothing removed; sync stays disabled (`replicator enable` turns it on)")
            if as_json:
                _echo_json({**data, **copies.outcome_data(copies.Outcome(None))})
            return
        connectors = {
            side: build_connector(config.sides[side]) for side in set(found.sides.values())
        }
        try:
            removers = {s: r for s, c in connectors.items() if (r := copies.remover(c)) is not None}
            with _bars() as bars:
                outcome = copies.remove(
                    journal, config, found, removers, by=by, reason=reason, progress=bars
                )
        except ReplicatorError as exc:
            raise click.ClickException(
                f"{exc}; the removal stopped: what it removed is journaled, run `{holder}` "
                "again to finish it"
            ) from None
        finally:
            for connector in connectors.values():
                connector.close()
    if as_json:
        _echo_json({**data, **copies.outcome_data(outcome)})
        return
    for line in copies.summary(outcome):
        click.echo(line)


@click.command()
@config_option
@click.pass_context
def enable(ctx: click.Context) -> None:
    """Let sync run again after `replicator disable`.  Journaled."""
    config = _config(ctx)
    with _open(config) as journal:
        state = lc.lifecycle(journal)
        entry = lc.enable(journal)
    if entry is None:
        click.echo("sync is enabled already")
        return
    if state.deleted_while_disabled:
        click.echo(
            "sync enabled: the integration was deleted, so the next sync reads both sides "
            "afresh and pairs records again by the duplicate policy"
        )
        return
    click.echo("sync enabled: the next `replicator sync` carries on where it stopped")


@click.command()
@config_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def delete(ctx: click.Context, yes: bool) -> None:
    """Delete the integration: drop the links and record states of every module.

    Only while sync is disabled.  Every journal entry stays, for audit, and `journal
    replay` drops the same rows; the cursors go too, so after `replicator enable` the next
    sync reads each side afresh (the one time a cursor goes back) and pairs records again
    by the duplicate policy.  No side's data is touched.
    """
    config = _config(ctx)
    with _journal(config) as journal:
        if not lc.lifecycle(journal).disabled:
            raise click.ClickException(
                "the integration can be deleted only while sync is disabled: run "
                "`replicator disable` first"
            )
        dropped = lc.materialised(journal)
        records = sum(d["records"] for d in dropped.values())
        links = sum(d["links"] for d in dropped.values())
        if not yes:
            click.confirm(
                f"Drop {records} records and {links} links of {', '.join(dropped) or 'no module'}"
                " (the journal keeps every entry)?",
                abort=True,
            )
        entry = lc.delete(journal)
    click.echo(
        f"integration deleted (journal entry {entry.seq}): {records} records and {links} "
        "links dropped; `replicator enable` then `sync` starts afresh"
    )


# -- credentials -----------------------------------------------------------------------------


def _env_credentials(side: str) -> dict[str, str]:
    # function-level: Zoho's client loads httpx, which only a command talking to Zoho needs
    from replicator.connectors.zoho.credentials import ENV_PREFIX, KEYS, side_env_prefix

    values: dict[str, str] = {}
    for prefix in (ENV_PREFIX, side_env_prefix(side)):
        for key in KEYS:
            value = os.environ.get(prefix + key.upper())
            if value:
                values[key] = value
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if k not in values]
    if missing:
        names = ", ".join(f"{side_env_prefix(side)}{k.upper()}" for k in missing)
        raise click.ClickException(f"--from-env: side {side}: set {names}")
    return values


def _prompted_credentials(old: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    values["client_id"] = click.prompt(
        "Client ID", default=old.get("client_id") or None, show_default=True
    ).strip()
    for key, label in (("client_secret", "Client secret"), ("refresh_token", "Refresh token")):
        keep = " (Enter keeps the current one)" if old.get(key) else ""
        answer = click.prompt(
            f"{label}{keep}", hide_input=True, default="", show_default=False
        ).strip()
        if answer:
            values[key] = answer
        elif not old.get(key):
            raise click.ClickException(f"{label.lower()} is required")
    return values


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@click.command("update-credentials")
@config_option
@click.argument("side")
@click.option(
    "--from-env",
    is_flag=True,
    help="Take the client id, client secret and refresh token from REPLICATOR_<SIDE>_* "
    "(or REPLICATOR_ZOHO_*) variables instead of prompting.",
)
@click.option(
    "--credentials",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (default: the side's `credentials` option).",
)
@click.pass_context
def update_credentials(ctx: click.Context, side: str, from_env: bool, path: Path | None) -> None:
    """Replace a Zoho side's client id, client secret and refresh token.

    Prompts (secrets are not echoed) or reads the environment, checks the new credentials
    by taking a token through the side's connector, and only then writes the side's
    credentials file (mode 0600; its other keys are kept).  Refused credentials leave the
    old file as it was.  The journal records that SIDE's credentials changed, never them.
    """
    # function-level: Zoho's client loads httpx, which only a command talking to Zoho needs
    from replicator.connectors.zoho.credentials import read_credentials_file, store_credentials

    config = _config(ctx)
    side_config = config.sides.get(side)
    if side_config is None:
        raise ConfigError(
            str(config.path), f"sides.{side}", f"no such side (sides: {', '.join(config.sides)})"
        )
    if not side_config.connector.startswith("zoho_"):
        raise ConfigError(
            str(config.path),
            f"sides.{side}.connector",
            f"is {side_config.connector}: only Zoho sides have credentials",
        )
    target = path or (
        Path(side_config.options["credentials"]) if side_config.options.get("credentials") else None
    )
    if target is None:
        raise ConfigError(
            str(config.path),
            f"sides.{side}.credentials",
            'names no credentials file: add `credentials = "PATH"` or pass --credentials',
        )
    old = read_credentials_file(target) if target.exists() else {}
    new = _env_credentials(side) if from_env else _prompted_credentials(old)
    merged = {**old, **new}
    secrets = [merged.get("client_secret", ""), merged.get("refresh_token", "")]
    candidate = target.with_name(f".{target.name}.new")
    store_credentials(candidate, None, **merged)
    try:
        options = {**side_config.options, "credentials": str(candidate)}
        connector = build_connector(attrs.evolve(side_config, options=options))
        try:
            connector.client.auth.token()  # type: ignore[attr-defined]
        finally:
            connector.close()
    except Exception as exc:
        candidate.unlink(missing_ok=True)
        reason = _scrub(str(exc), secrets)
        raise click.ClickException(
            f"side {side}: the new credentials were refused ({reason}); {target} is unchanged"
        ) from None
    os.replace(candidate, target)
    changed = sorted(k for k in merged if merged.get(k) != old.get(k))
    if not changed:
        click.echo(f"side {side}: the credentials are the same as before (a token was taken)")
        return
    with _open(config) as journal:
        entry = lc.credentials_changed(journal, side, str(target), changed)
    click.echo(
        f"side {side}: credentials replaced in {target} (mode 0600) and checked (a token was "
        f"taken); journal entry {entry.seq} records the change, not the secrets"
    )


__all__ = [
    "delete",
    "disable",
    "edit",
    "enable",
    "history",
    "pause",
    "resume",
    "save",
    "update_credentials",
]
