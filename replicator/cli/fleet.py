"""``replicator fleet new-key|add|remove|rekey|list|status``: the tenants of a fleet (issue 17);
``worker``, ``beat`` and ``endpoint`` run it (:mod:`replicator.cli.fleet_run`).

A thin layer over :mod:`replicator.fleet`.  The store is ``--store`` or
``REPLICATOR_FLEET_STORE`` (a SQLite file); the fleet key that seals tenants' secrets is
``REPLICATOR_FLEET_KEY``, read only by the commands that seal or open them (``add``,
``status``).  No command prints a secret.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click
from rich.table import Table

from replicator.cli.common import _console, _echo_json, json_option
from replicator.cli.fleet_run import fleet_beat, fleet_endpoint, fleet_worker
from replicator.fleet import (
    KEY_ENV,
    STORE_ENV,
    Sealer,
    Tenants,
    new_key,
    open_store,
    read_tenant,
)


def _store_path(ctx: click.Context) -> str:
    store = (ctx.find_object(dict) or {}).get("fleet_store")
    if not store:
        raise click.UsageError(f"name the fleet's store: --store FILE or {STORE_ENV}")
    return str(store)


@contextlib.contextmanager
def _tenants(ctx: click.Context) -> Iterator[Tenants]:
    tenants = Tenants(open_store(_store_path(ctx)), Sealer.from_env)
    try:
        yield tenants
    finally:
        tenants.close()


@click.group()
@click.option(
    "--store",
    envvar=STORE_ENV,
    metavar="FILE|URL",
    help=f"The fleet's store: a SQLite file, or postgresql://...[#SCHEMA] (or {STORE_ENV}).",
)
@click.pass_context
def fleet(ctx: click.Context, store: str | None) -> None:
    """Fleet mode: many integrations, each a tenant with an id, its config, its
    credentials and its journal, kept in the fleet's store, run by shared workers.

    Tenants' secrets (Zoho credentials, journal keys) are sealed in the store with the
    fleet key, given by environment: REPLICATOR_FLEET_KEY (`fleet new-key` makes one;
    several keys comma-separated while rotating, the first seals).

    Running it (Celery with Redis, REPLICATOR_FLEET_BROKER): `fleet worker` runs tenants'
    module cycles, `fleet beat` schedules them, `fleet endpoint` takes Zoho's callbacks.
    """
    ctx.ensure_object(dict)["fleet_store"] = store


@fleet.command("new-key")
def fleet_new_key() -> None:
    """Print a new fleet key (set it as REPLICATOR_FLEET_KEY; keep it out of the store)."""
    click.echo(new_key())


@fleet.command("add")
@click.argument("tenant_id", metavar="ID")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The tenant's integration config (the TOML a single daemon reads).",
)
@click.option(
    "--journal",
    metavar="PATH|URL",
    help="Where the tenant's journal is: a SQLite file (default: the config's [journal] "
    "path) or postgresql://...#SCHEMA (the extra `fleet`).",
)
@click.option(
    "--credentials",
    type=click.Path(dir_okay=False, path_type=Path),
    help='A 0600 JSON file {"side": {"client_id": ..., ...}}, over the files the Zoho '
    "sides' `credentials` options name.",
)
@click.option(
    "--journal-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The journal's key file (default: JOURNAL.key beside an existing journal; a new "
    "journal gets a new key).",
)
@click.pass_context
def fleet_add(
    ctx: click.Context,
    tenant_id: str,
    config_path: Path,
    journal: str | None,
    credentials: Path | None,
    journal_key_file: Path | None,
) -> None:
    """Add a tenant: its config (validated), credentials and journal key, sealed."""
    tenant = read_tenant(
        tenant_id,
        config_path,
        journal=journal,
        credentials=credentials,
        journal_key=journal_key_file,
    )
    with _tenants(ctx) as tenants:
        tenants.add(tenant)
    click.echo(f"added tenant {tenant.id} (journal {tenant.journal})")


@fleet.command("remove")
@click.argument("tenant_id", metavar="ID")
@click.pass_context
def fleet_remove(ctx: click.Context, tenant_id: str) -> None:
    """Remove a tenant from the store; its journal stays where it is."""
    with _tenants(ctx) as tenants:
        info = tenants.remove(tenant_id)
    click.echo(f"removed tenant {info.id} (its journal stays at {info.journal})")


@fleet.command("rekey")
@click.pass_context
def fleet_rekey(ctx: click.Context) -> None:
    """Seal every tenant's secrets again with the first key of REPLICATOR_FLEET_KEY.

    To rotate the fleet key: set REPLICATOR_FLEET_KEY=NEW,OLD everywhere, run `fleet
    rekey`, then set REPLICATOR_FLEET_KEY=NEW.
    """
    with _tenants(ctx) as tenants:
        done = tenants.rekey()
    click.echo(f"resealed {len(done)} tenant(s) with the first fleet key")


@fleet.command("list")
@json_option
@click.pass_context
def fleet_list(ctx: click.Context, as_json: bool) -> None:
    """The tenants, by id (no secret is opened or shown)."""
    with _tenants(ctx) as tenants:
        found = tenants.all()
    if as_json:
        _echo_json(
            [
                {
                    "id": t.id,
                    "config": t.config_path,
                    "journal": t.journal,
                    "sides": list(t.sides),
                    "added": t.added,
                }
                for t in found
            ]
        )
        return
    if not found:
        click.echo("no tenants")
        return
    table = Table("tenant", "sides", "config", "journal", "added")
    for t in found:
        table.add_row(t.id, ", ".join(t.sides), t.config_path, t.journal, t.added)
    _console().print(table)


@fleet.command("status")
@click.argument("tenant_id", metavar="[ID]", required=False)
@json_option
@click.pass_context
def fleet_status(ctx: click.Context, tenant_id: str | None, as_json: bool) -> None:
    """Whether the fleet key opens each tenant's secrets, and its journal's entries.

    Exits 1 if a tenant's secrets do not open or its journal cannot be read.
    """
    with _tenants(ctx) as tenants:
        found = tenants.status(tenant_id)
    if as_json:
        _echo_json(
            [
                {
                    "id": s.id,
                    "ok": s.ok,
                    "secrets": s.secrets,
                    "journal": s.journal,
                    "journal_exists": s.journal_exists,
                    "entries": s.entries,
                    "last_seq": s.last_seq,
                    "keyed": s.keyed,
                    "problem": s.problem,
                }
                for s in found
            ]
        )
    elif not found:
        click.echo("no tenants")
    else:
        table = Table("tenant", "secrets", "journal", "entries", "last seq")
        for s in found:
            entries = "" if s.entries is None else str(s.entries)
            last = "" if s.last_seq is None else str(s.last_seq)
            where = s.journal if s.journal_exists else f"{s.journal} (not created yet)"
            if s.problem:
                where = f"{s.journal}: {s.problem}"
            table.add_row(s.id, s.secrets, where, entries, last)
        _console().print(table)
    if not all(s.ok for s in found):
        ctx.exit(1)


fleet.add_command(fleet_worker)
fleet.add_command(fleet_beat)
fleet.add_command(fleet_endpoint)

__all__ = ["KEY_ENV", "fleet"]
