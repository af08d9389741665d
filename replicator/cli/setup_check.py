"""``replicator setup [--check]``: what each app lacks of what the config maps, and the fix.

For every configured module and each of its sides:

- **Zoho CRM** (read through the fields API, ``GET /settings/fields?module=X``): the key
  field (``Replicator_Id``, unique text) on each module replicator writes to; mapped fields
  that do not exist; picklist values a value map needs (a document's status) that the
  field lacks.  Without ``--check`` it creates what the API allows: custom fields (``POST
  /settings/fields``) and picklist values (``PATCH /settings/fields/{id}``); a lookup or a
  subform, or a key field that is not unique, is left to a person, with the steps.
- **Zoho Books** has no fields API (its v3 reference offers none): the key custom field
  (``cf_replicator_id``, unique) of each entity replicator writes to and the mapped ``cf_``
  fields are listed with the exact steps in Books' settings, to check by hand.
- Any other side: mapped columns its table lacks.

Each thing found is one line; ``--json`` prints them as a list.  ``--check`` only reports
and exits 1 when something is missing; without it, the exit is 1 when something is still
missing after the fixes (one the API cannot make, or one it refused).  Books steps never
change the exit status: replicator cannot see whether they were done.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import click

from replicator.cli.common import _config, _echo_json, config_option, json_option
from replicator.config.load import Config, ModuleConfig
from replicator.connectors import Connector, build_connector
from replicator.errors import ZohoError
from replicator.sync.checks import key_field, picklist_values

if TYPE_CHECKING:
    from replicator.connectors.zoho.crm_setup import CrmField, CrmFields

MISSING, CREATED, ADDED, FAILED, TO_CHECK = "missing", "created", "added", "failed", "to check"
PERSONS = "contactpersons"  # Books contact persons carry no key field (see books_persons)


@attrs.frozen
class Lack:
    """One thing a side lacks, and what became of it."""

    module: str
    side: str
    place: str  # where a person finds it: "Zoho CRM Invoices"
    what: str  # key field | field | picklist values | lookup | subform | column | table
    name: str  # the field's API name or the column
    detail: str  # one line: what is lacking and how it is made
    state: str = MISSING
    error: str | None = None
    # how the API can make it (CRM only): the table, the canonical type, the values
    make: tuple[str, str, tuple[str, ...], bool] | None = attrs.field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("module", "side", "place", "what", "name", "state")}
        out["detail"] = self.detail
        if self.error:
            out["error"] = self.error
        return out

    def line(self) -> str:
        text = f"{self.state:<9} {self.what} {self.name}: {self.detail}"
        return f"{text} ({self.error})" if self.error else text


# -- what each side lacks ----------------------------------------------------------------------


def lacks(config: Config, connectors: Mapping[str, Connector]) -> list[Lack]:
    """Everything the sides lack of what the config maps, module by module (reads CRM's
    fields once per module table; nothing is changed)."""
    # function-level: only `setup` talks to CRM's fields API (it loads httpx)
    from replicator.connectors.zoho.crm_setup import fields_api

    crm_fields: dict[tuple[str, str], dict[str, CrmField]] = {}
    books_seen: set[tuple[str, str, str]] = set()  # (side, entity, column) listed once
    found: list[Lack] = []
    for module in config.modules.values():
        targets = module.policy.direction.targets(module.order)
        for side in module.order:
            connector = connectors[side]
            kind = config.sides[side].connector
            writes = side in targets
            api = fields_api(connector) if kind == "zoho_crm" else None
            if api is not None:
                table = module.side_module(side).table
                if (side, table) not in crm_fields:
                    crm_fields[(side, table)] = api.read(table)
                found += _crm_lacks(
                    config, module, side, crm_fields[(side, table)], key_field(connector), writes
                )
            elif kind == "zoho_books":
                found += _books_steps(module, side, key_field(connector), writes, books_seen)
            else:
                found += _column_lacks(module, side, connector)
    return found


def _crm_lacks(
    config: Config,
    module: ModuleConfig,
    side: str,
    fields: Mapping[str, CrmField],
    key: str | None,
    writes: bool,
) -> Iterator[Lack]:
    """What a CRM module lacks: the key field, mapped fields, picklist values."""
    # function-level: hints and the CRM data types are Zoho's (see `lacks`)
    from replicator.connectors.zoho.crm_setup import CRM_DATA_TYPES, label_of
    from replicator.connectors.zoho.hints import CRM_FIELD_TYPES  # as above

    table = module.side_module(side).table
    place = f"Zoho CRM {table}"
    where = f"in CRM Setup > Customization > Modules and Fields > {table}"
    if not fields:
        yield Lack(
            module.name,
            side,
            place,
            "table",
            table,
            f"CRM has no module {table!r}: check [modules.{module.name}.{side}] table",
        )
        return
    if key and writes:
        if key not in fields:
            yield Lack(
                module.name,
                side,
                place,
                "key field",
                key,
                f"a unique text field {label_of(key)!r} holding replicator's record ids "
                f"(by hand: {where}, a Single Line field with Do not allow duplicate values)",
                make=(table, "text", (), True),
            )
        elif not fields[key].unique:
            yield Lack(
                module.name,
                side,
                place,
                "key field",
                key,
                f"is not unique: {where}, edit the field's properties, tick Do not allow "
                "duplicate values",
            )
    for field, (kind, columns) in module.fields.fields.items():
        column = columns.get(side)
        if column is None:
            continue
        base = column.partition(".")[0]
        present = fields.get(base)
        if present is None:
            target = module.lookups.get(field)
            if target is not None or "." in column:
                other = config.modules[target].side_module(side).table if target else "?"
                yield Lack(
                    module.name,
                    side,
                    place,
                    "lookup",
                    base,
                    f"field {field!r} needs a lookup field {label_of(base)!r} into {other} "
                    f"({where}, a Lookup field)",
                )
            elif kind not in CRM_DATA_TYPES:
                yield Lack(
                    module.name,
                    side,
                    place,
                    "subform" if kind == "lines" else "field",
                    base,
                    f"field {field!r} ({kind}) needs {base!r}, which the fields API cannot "
                    f"make: {where}",
                )
            else:
                values = tuple(picklist_values(module, field, side))
                choices = f" with values {', '.join(values)}" if values else ""
                yield Lack(
                    module.name,
                    side,
                    place,
                    "field",
                    base,
                    f"field {field!r} maps to it: a {CRM_FIELD_TYPES[kind]} field{choices}",
                    make=(table, kind, values, False),
                )
            continue
        if kind != "picklist":
            continue
        wanted = [v for v in picklist_values(module, field, side) if not present.has_value(v)]
        if wanted:
            yield Lack(
                module.name,
                side,
                place,
                "picklist values",
                base,
                f"lacks {', '.join(wanted)} (field {field!r} maps them; by hand: {where}, "
                "edit the picklist)",
                make=(table, kind, tuple(wanted), False),
            )


def _books_steps(
    module: ModuleConfig,
    side: str,
    key: str | None,
    writes: bool,
    seen: set[tuple[str, str, str]],
) -> Iterator[Lack]:
    """The Books custom fields to make by hand (Books has no fields API to check them)."""
    # function-level: hints are Zoho's (see `lacks`)
    from replicator.connectors.zoho.hints import BOOKS_ENTITIES, BOOKS_FIELD_TYPES, books_entity

    table = module.side_module(side).table
    entity = books_entity(table)
    page = BOOKS_ENTITIES.get(entity, entity)
    place = f"Zoho Books {page}"
    wanted: list[tuple[str, str, str]] = []  # (what, column, data type words)
    if key and writes and table != PERSONS:
        wanted.append(("key field", key, "Text Box (Single Line), Prevent Duplicate Values on"))
    for kind, columns in module.fields.fields.values():
        column = columns.get(side)
        if column and column.startswith("cf_") and column != key:
            wanted.append(("field", column, BOOKS_FIELD_TYPES.get(kind, kind)))
    for what, column, data_type in wanted:
        if (side, entity, column) in seen:
            continue
        seen.add((side, entity, column))
        label = column.removeprefix("cf_").replace("_", " ").title()
        yield Lack(
            module.name,
            side,
            place,
            what,
            column,
            f"in Zoho Books, Settings > Preferences > {page} > Field Customization > New "
            f"Custom Field: Label Name {label!r} (API name {column}), Data Type {data_type}; "
            "Save (Books has no fields API: check it there)",
            state=TO_CHECK,
        )


def _column_lacks(module: ModuleConfig, side: str, connector: Connector) -> Iterator[Lack]:
    """Mapped columns a side's table lacks (a side that is not Zoho's)."""
    side_module = module.side_module(side)
    schema = connector.schema(side_module)
    place = f"table {side_module.table!r}"
    if not schema:
        yield Lack(module.name, side, place, "table", side_module.table, "does not exist")
        return
    for field, (_, columns) in module.fields.fields.items():
        column = columns.get(side)
        if column and column not in schema and column.partition(".")[0] not in schema:
            yield Lack(
                module.name, side, place, "column", column, f"field {field!r} maps to it: add it"
            )


# -- making what the CRM API allows ------------------------------------------------------------


def fix(found: list[Lack], connectors: Mapping[str, Connector]) -> list[Lack]:
    """``found`` with what CRM's fields API allows made: each such lack's state becomes
    created / added, or failed with CRM's reason.  One field wanted by several modules of
    one table is made once."""
    # function-level: only `setup` talks to CRM's fields API (it loads httpx)
    from replicator.connectors.zoho.crm_setup import fields_api

    # (side, table, name, values) -> (state, error)
    done: dict[tuple[str, str, str, tuple[str, ...]], tuple[str, str | None]] = {}
    apis: dict[str, CrmFields] = {}
    out: list[Lack] = []
    for lack in found:
        if lack.make is None or lack.state != MISSING:
            out.append(lack)
            continue
        table, kind, values, unique = lack.make
        key = (lack.side, table, lack.name, values)
        if key not in done:
            api = apis.get(lack.side) or fields_api(connectors[lack.side])
            assert api is not None  # only CRM lacks carry `make`
            apis[lack.side] = api
            done[key] = _make(api, lack, table, kind, values, unique)
        state, error = done[key]
        out.append(attrs.evolve(lack, state=state, error=error))
    return out


def _make(
    api: CrmFields, lack: Lack, table: str, kind: str, values: tuple[str, ...], unique: bool
) -> tuple[str, str | None]:
    """Make one lack on CRM: (created | added, None) or (failed, CRM's reason)."""
    try:
        if lack.what == "picklist values":
            # read again: another module's values may have been added to the field since
            field = api.read(table).get(lack.name)
            if field is None:
                raise ZohoError(f"{table} has no field {lack.name} any more")
            still = tuple(v for v in values if not field.has_value(v))
            if still:
                api.add_values(table, field, still)
            return ADDED, None
        api.create(table, lack.name, kind, unique=unique, values=values)
        return CREATED, None
    except ZohoError as exc:
        return FAILED, str(exc)


# -- the command -------------------------------------------------------------------------------


def set_up(config: Config, *, check: bool = False) -> list[Lack]:
    """What each app lacks for ``config``'s modules; unless ``check``, with what CRM's API
    allows made (the ``setup`` command, the demo and the benchmarks run this)."""
    connectors = {name: build_connector(side) for name, side in config.sides.items()}
    try:
        found = lacks(config, connectors)
        return found if check else fix(found, connectors)
    finally:
        for connector in connectors.values():
            connector.close()


@click.command()
@config_option
@click.option("--check", is_flag=True, help="Only report what is missing (exit 1 if anything).")
@json_option
@click.pass_context
def setup(ctx: click.Context, check: bool, as_json: bool) -> None:
    """List, for every module, what each app lacks (key field, mapped fields, picklist
    values), and create on Zoho CRM what its API allows; print the steps for Zoho Books."""
    config = _config(ctx)
    found = set_up(config, check=check)
    missing = [lack for lack in found if lack.state in (MISSING, FAILED)]
    if as_json:
        counts = {s: sum(lack.state == s for lack in found) for s in (MISSING, CREATED, ADDED)}
        _echo_json(
            {
                "ok": not missing,
                **counts,
                "failed": sum(lack.state == FAILED for lack in found),
                "to_check": sum(lack.state == TO_CHECK for lack in found),
                "lacks": [lack.as_dict() for lack in found],
            }
        )
    else:
        _print(config, found, check=check)
    if missing:
        ctx.exit(1)


def _print(config: Config, found: list[Lack], *, check: bool) -> None:
    for name, module in config.modules.items():
        click.echo(f"module {name}")
        for side in module.order:
            mine = [lack for lack in found if lack.module == name and lack.side == side]
            table = module.side_module(side).table
            click.echo(f"  {side} ({mine[0].place if mine else table})")
            if not mine:
                click.echo("    nothing lacking")
            for lack in mine:
                click.echo(f"    {lack.line()}")
    missing = sum(lack.state in (MISSING, FAILED) for lack in found)
    made = sum(lack.state in (CREATED, ADDED) for lack in found)
    steps = sum(lack.state == TO_CHECK for lack in found)
    summary = [f"{missing} missing", f"{made} made"]
    if steps:
        summary.append(f"{steps} Books step(s) to check by hand")
    makeable = any(lack.make is not None and lack.state == MISSING for lack in found)
    hint = ": `replicator setup` makes what CRM's API allows" if check and makeable else ""
    click.echo(", ".join(summary) + hint)


__all__ = ["Lack", "fix", "lacks", "setup"]
