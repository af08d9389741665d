"""``replicator users add|remove|list|link|set-password``: integration users, the CRM users
who may see a customer's Books documents in the web console.

A thin layer over :mod:`replicator.sync.integration_users`, which says what is refused and
why (one line each); changes are journaled with ``by`` "person".
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from journal.payloads import IntegrationUsers, expect
from replicator.cli.common import (
    _config,
    _console,
    _echo_json,
    _journal,
    config_option,
    json_option,
)
from replicator.console.auth import MAX_PASSWORD
from replicator.sync import integration_users as iu

LINK_PATH = "/console/link/"


@click.group()
@config_option
def users() -> None:
    """Integration users: active CRM users who may see a customer's quotes, sales orders,
    invoices and purchase orders in the web console, read only (at most 1000).

    They are on only while every transaction module syncs ([integration.transactions]).
    They sign in with a one-time link (`users link`) or a password (`users set-password`).
    """


@users.command("add")
@config_option
@click.argument("emails", nargs=-1, required=True, metavar="EMAIL...")
@click.pass_context
def users_add(ctx: click.Context, emails: tuple[str, ...]) -> None:
    """Make active CRM users (by email) integration users; checked against CRM's users."""
    config = _config(ctx)
    iu.check_transactions(config)  # refused before any call to CRM
    with _journal(config) as journal, iu.crm_users_of(config) as crm_users:
        entry = iu.add(config, journal, emails, crm_users=crm_users)
    if entry is None:
        click.echo("nothing to do: each is an integration user already")
    else:
        added = expect(entry, IntegrationUsers).emails
        click.echo(f"added {', '.join(added)} (journal entry {entry.seq})")


@users.command("remove")
@config_option
@click.argument("emails", nargs=-1, required=True, metavar="EMAIL...")
@click.pass_context
def users_remove(ctx: click.Context, emails: tuple[str, ...]) -> None:
    """Remove integration users (their password and sign-in links go with them)."""
    config = _config(ctx)
    with _journal(config) as journal:
        entry = iu.remove(config, journal, emails)
    removed = expect(entry, IntegrationUsers).emails
    click.echo(f"removed {', '.join(removed)} (journal entry {entry.seq})")


@users.command("list")
@config_option
@json_option
@click.pass_context
def users_list(ctx: click.Context, as_json: bool) -> None:
    """The integration users: whether each has a password, and its live sign-in links."""
    found = iu.listing(_config(ctx))
    if as_json:
        _echo_json(found)
        return
    if not found:
        click.echo("no integration users (`replicator users add EMAIL`)")
        return
    table = Table()
    for column in ("email", "password", "links"):
        table.add_column(column)
    for user in found:
        table.add_row(user["email"], "set" if user["password"] else "-", str(user["links"]))
    _console().print(table)
    click.echo(f"{len(found)} of at most {iu.MAX_USERS}")


@users.command("link")
@config_option
@click.argument("email")
@click.option(
    "--url",
    metavar="BASE",
    help="The console's address as the user reaches it (default: the daemon's public_url, "
    "else http://<daemon bind>).",
)
@click.pass_context
def users_link(ctx: click.Context, email: str, url: str | None) -> None:
    """Print a one-time sign-in link for an integration user: good for 15 minutes, once."""
    config = _config(ctx)
    token = iu.make_link(config, email)
    base = (url or config.daemon.public_url or f"http://{config.daemon.bind}").rstrip("/")
    click.echo(f"{base}{LINK_PATH}{token}")


@users.command("set-password")
@config_option
@click.argument("email")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from stdin (its first line)."
)
@click.pass_context
def users_set_password(ctx: click.Context, email: str, password_stdin: bool) -> None:
    """Set an integration user's password (asked twice, not shown; or --password-stdin)."""
    config = _config(ctx)
    if password_stdin:
        password = sys.stdin.readline(MAX_PASSWORD + 2).rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    iu.set_password(config, email, password)
    click.echo(f"password set for {email.strip().lower()}")


__all__ = ["users"]
