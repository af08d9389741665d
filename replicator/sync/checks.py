"""Before a sync: can each side hold what the config maps, and may the modules sync at all?

Checks run before a cycle journals anything, and each reports every problem it finds
at once (a :class:`SetupError`), each saying what to change and where:

- :func:`check_fields`: every column a module maps (or filters on) exists on its side.  A
  missing one names the field and the side and, for Zoho, the custom field to create and
  the settings page that makes it.  A CRM module a module writes to must have the
  connector's key field (``Replicator_Id``): without it, one line says `replicator setup`
  makes it.  Zoho Books has no API listing custom fields (its v3
  spec offers none), so its connector takes mapped ``cf_`` columns on trust: a missing
  Books custom field shows up as that field's value never arriving, not here.
- :func:`check_currency`: Zoho's rule for a CRM org and a Books org with different base
  currencies: no two-way sync, and no items even one way.  Zoho lets no one change a base
  currency once the org has records (and checks it only when a module is set up), so the
  engine asks only for modules that have not yet pulled under the settings in force
  (:func:`unproven_modules`): an idle sync costs no extra request.

A third, :func:`check_identities`, refuses a side that now names another account (a Books
side pointed at another organisation) while the journal still links records to the old
one: `replicator delete` drops those links first, or the new org becomes another side.

The messages are made by pure functions (:func:`field_problems`, :func:`currency_problem`)
over what the connectors answered; only the two ``check_*`` functions talk to the sides,
and :func:`unproven_modules` reads the journal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from journal import JournalStorage, Kind
from journal.payloads import SettingsInForce, SideIdentities, expect
from replicator.config.load import Config, ModuleConfig
from replicator.connectors.base import Connector, SideModule, currency_reader, identity
from replicator.errors import ConfigError, SetupError
from replicator.sync.record import CONFIG_MODULE, SIDES_RID, last_config

Schemas = Mapping[tuple[str, str], Mapping[str, str]]  # (module, side) -> {column: type}


def check_side_files(config: Config) -> None:
    """A side's database must exist: a typo in a path should not sync into a new empty file."""
    for name, side in config.sides.items():
        if side.connector == "sqlite" and side.path is not None and not side.path.is_file():
            raise ConfigError(
                str(config.path), f"sides.{name}.path", f"database file {side.path} does not exist"
            )


# -- fields --------------------------------------------------------------------------------


def check_fields(
    config: Config, connectors: Mapping[str, Connector], *, modules: Sequence[str] | None = None
) -> None:
    """Raise :class:`SetupError` naming every mapped column missing on its side."""
    names = list(modules) if modules is not None else list(config.modules)
    schemas = {
        (name, side): connectors[side].schema(config.modules[name].side_module(side))
        for name in names
        for side in config.modules[name].order
    }
    # CRM lists its fields; Books has no API to list custom fields (its connector takes
    # the key field on trust) and keys no contact person: only CRM's key field is checked
    keys = {
        side: key_field(connector)
        for side, connector in connectors.items()
        if config.sides[side].connector == "zoho_crm"
    }
    problems = field_problems(config, schemas, modules=names, keys=keys)
    if problems:
        raise SetupError(problems)


def key_field(connector: Connector) -> str | None:
    """The unique field a side keys its creates on (Zoho: ``Replicator_Id``,
    ``cf_replicator_id``), or None for a side that needs none."""
    key = getattr(connector, "key_field", None)
    return key if isinstance(key, str) and key else None


def field_problems(
    config: Config,
    schemas: Schemas,
    *,
    modules: Sequence[str] | None = None,
    keys: Mapping[str, str | None] | None = None,
) -> list[str]:
    """What each side lacks of what the config maps, one message per missing column; and
    the key field (``keys``: side -> its key field) of each side a module writes to."""
    problems: list[str] = []
    for name in modules if modules is not None else config.modules:
        module = config.modules[name]
        targets = module.policy.direction.targets(module.order)
        for side in module.order:
            side_module = module.side_module(side)
            columns = schemas[(name, side)]
            if not columns:
                problems.append(
                    f"module {name}: side {side} has no table {side_module.table!r} "
                    f"({_where(config, side, side_module)}): check [modules.{name}.{side}] table"
                )
                continue
            key = (keys or {}).get(side)
            if key and side in targets and key not in columns:
                # without it a create cannot be retried safely (Zoho answers a cryptic
                # duplicate_check_fields error): refuse the module before it writes
                problems.append(
                    f"module {name}: side {side} ({_where(config, side, side_module)}) has no "
                    f"key field {key!r} (unique text, holds replicator's record ids): run "
                    "`replicator setup` to create it"
                )
            for column in side_module.columns:
                # ``Owner.email``: a part of a lookup exists when the lookup does
                if column in columns or column.partition(".")[0] in columns:
                    continue
                field = module.fields.field_for(side, column)
                if field is None:  # a column of the local criteria
                    problems.append(
                        f"module {name}: [modules.{name}.{side}] where names column {column!r}, "
                        f"which side {side} ({_where(config, side, side_module)}) does not have"
                    )
                else:
                    problems.append(_missing_field(config, module, side, field, column))
    return problems


def _missing_field(config: Config, module: ModuleConfig, side: str, field: str, column: str) -> str:
    # the Zoho hints load only when a message needs them: `import replicator` loads no Zoho module
    from replicator.connectors.zoho.hints import missing_field_fix

    side_module = module.side_module(side)
    kind = module.fields.kind(field)
    connector = config.sides[side].connector
    head = (
        f"module {module.name}: field {field!r} maps to column {column!r} on side {side} "
        f"({_where(config, side, side_module)}), which does not exist"
    )
    values = picklist_values(module, field, side)
    choices = f" with values {', '.join(values)}" if values else ""
    fix = missing_field_fix(connector, side_module.table, column, kind, choices)
    if fix is None:
        fix = f"add column {column!r} to {side_module.table!r} on side {side}"
    return f"{head}: {fix}, or {_fields_section(config, module.name)}"


def picklist_values(module: ModuleConfig, field: str, side: str) -> list[str]:
    """The values a picklist needs on ``side``: its own map's, else the canonical ones the
    other sides' maps name (written as they are)."""
    if module.fields.kind(field) != "picklist":
        return []
    own = module.fields.value_map(field, side)
    if own is not None:
        return list(own)
    values: list[str] = []
    for other in module.fields.fields[field][1]:
        for canonical in (module.fields.value_map(field, other) or {}).values():
            if canonical not in values:
                values.append(canonical)
    return values


def _where(config: Config, side: str, side_module: SideModule) -> str:
    # the Zoho hints load only when a message needs them: `import replicator` loads no Zoho module
    from replicator.connectors.zoho.hints import place

    found = place(config.sides[side].connector, side_module.table)
    return found if found is not None else f"table {side_module.table!r}"


def _fields_section(config: Config, module: str) -> str:
    """How to stop mapping a field: in [modules.X.fields], or [integration.X] made it."""
    integration = getattr(config, "integration", None)
    made = getattr(integration, "modules", None) or {}
    if module in made:
        return f"leave it out of [integration.{made[module][0]}]"
    return f"remove it from [modules.{module}.fields]"


# -- currencies ----------------------------------------------------------------------------


def check_currency(
    config: Config, connectors: Mapping[str, Connector], *, modules: Sequence[str] | None = None
) -> None:
    """Raise :class:`SetupError` for every module Zoho's currency rule does not allow.

    A module pairing a ``zoho_crm`` side with a ``zoho_books`` side asks both for their base
    currency (``base_currency()``, once per connector: it caches); a connector without
    that method (memory, sqlite, a test's fake) leaves the module unchecked."""
    problems: list[str] = []
    for name in modules if modules is not None else config.modules:
        module = config.modules[name]
        crm = _side_of(config, module, "zoho_crm")
        books = _side_of(config, module, "zoho_books")
        if crm is None or books is None:
            continue
        crm_reader = currency_reader(connectors[crm])
        books_reader = currency_reader(connectors[books])
        if crm_reader is None or books_reader is None:
            continue
        organization = identity(connectors[books])  # Books' identity: its organisation id
        problem = currency_problem(
            module, crm, crm_reader(), books, books_reader(), organization=organization
        )
        if problem:
            problems.append(problem)
    if problems:
        raise SetupError(problems)


def unproven_modules(journal: JournalStorage, config: Config, modules: Sequence[str]) -> list[str]:
    """The modules that have not pulled since the settings in force were journaled (a
    cycle's checks run before it journals them, so the others passed with these settings)."""
    last = last_config(journal)
    if last is None or expect(last, SettingsInForce).fingerprint != config.fingerprint():
        return list(modules)
    return [
        name
        for name in modules
        if next(journal.read(since=last.seq, module=name, kinds=[Kind.CURSOR], limit=1), None)
        is None
    ]


def currency_problem(
    module: ModuleConfig,
    crm: str,
    crm_currency: str,
    books: str,
    books_currency: str,
    *,
    organization: str | None = None,
) -> str | None:
    """Why ``module`` cannot sync with these base currencies, or None if it can."""
    # the Zoho hints load only when a message needs them: `import replicator` loads no Zoho module
    from replicator.connectors.zoho.hints import CRM_CURRENCY_PAGE

    if crm_currency.strip().upper() == books_currency.strip().upper():
        return None
    org = f"Books org {organization}" if organization else "Books org"
    orgs = f"CRM org is {crm_currency}, {org} (side {books}) is {books_currency}"
    is_items = (
        module.side_module(crm).table == "Products" or module.side_module(books).table == "items"
    )
    if is_items:
        return (
            f"module {module.name}: items cannot sync when the base currencies differ, even "
            f"one way: {orgs}; make them equal in {CRM_CURRENCY_PAGE}"
        )
    if module.policy.direction.source is None:
        return (
            f"module {module.name}: two-way sync needs one base currency: {orgs}; make them "
            f"equal in {CRM_CURRENCY_PAGE}, or sync one way"
        )
    return None


def _side_of(config: Config, module: ModuleConfig, connector: str) -> str | None:
    return next((s for s in module.order if config.sides[s].connector == connector), None)


__all__ = [
    "check_currency",
    "check_side_files",
    "check_fields",
    "currency_problem",
    "field_problems",
    "key_field",
    "picklist_values",
    "unproven_modules",
]


# -- the account behind each side ------------------------------------------------------------


def side_identities(journal: JournalStorage) -> dict[str, str]:
    """The account (a Books organisation id, ...) each side last synced with, by side."""
    known: dict[str, str] = {}
    for entry in journal.read(module=CONFIG_MODULE, rid=SIDES_RID, kinds=[Kind.CONFIG]):
        known.update(expect(entry, SideIdentities).identities)
    return known


def check_identities(
    journal: JournalStorage,
    config: Config,
    connectors: Mapping[str, Connector],
    sides: Sequence[str],
) -> dict[str, str]:
    """Refuse a side that now names another account (another Books organisation) while the
    journal still links records to the old one: syncing would write to the wrong records.
    Returns the identities to journal (new, or changed after ``replicator delete``)."""
    known = side_identities(journal)
    problems, changed = [], {}
    linked: dict[str, int] | None = None  # links per side, counted only if an account changed
    for side in sides:
        now = identity(connectors[side])
        if now is None or known.get(side) == now:
            continue
        if side in known and linked is None:
            linked = {}
            for (_, linked_side, _), n in journal.link_counts().items():
                linked[linked_side] = linked.get(linked_side, 0) + n
        if side in known and linked and linked.get(side):
            problems.append(
                f"side {side} is now {_account(config, side, now)}, but the journal links "
                f"{linked[side]} record(s) to {_account(config, side, known[side])} on that "
                "side: syncing would write to the wrong records.  To connect the other "
                "account: `replicator disable`, `replicator delete` (drops the links; the "
                "journal keeps every entry), `replicator enable`, then sync; or add it as "
                'another side (e.g. books = ["books", "books_eu"] in [integration])'
            )
        else:
            changed[side] = now
    if problems:
        raise SetupError(problems)
    return changed


def _account(config: Config, side: str, account: str) -> str:
    if config.sides[side].connector == "zoho_books":
        return f"Zoho Books organisation {account}"
    return f"account {account}"
