"""Configuration: a TOML file validated into frozen attrs values.

A bad file raises :class:`ConfigError` naming the file, the key and what is wrong; nothing
is written before the whole file validates.  Relative paths are taken from the file's folder.

Shape::

    [journal]
    path = "journal.db"

    [sides.books]
    connector = "sqlite"
    path = "books.db"

    [modules.customers]
    sync = "both_ways"          # or "one_way", with source = "<side>"
    first = "crm"
    duplicates = "overwrite"    # clone | overwrite | skip | link
    clone_name = "{name} ({side} {id})"  # clone: the name on a side that has it already
    conflicts = "newest"        # newest | prefer:<side> | manual
    books = { table = "customers", id = "id", match = "name", modified = "updated_at" }
    crm = { table = "accounts", id = "id", match = "account_name" }

    [modules.customers.fields]
    name = { books = "name", crm = "account_name" }
    credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }

A document module (an invoice: see :class:`Lock` and ``totals``)::

    [modules.invoices]
    conflicts = "prefer:books"
    totals = ["total_books", "total_crm"]   # each app's own total, compared, never written
    [modules.invoices.fields]
    status = { books = "status", crm = "Status", type = "picklist" }
    lines = { books = "line_items", crm = "Invoiced_Items", type = "lines" }
    total_books = { books = "total", type = "decimal" }
    total_crm = { crm = "Grand_Total", type = "decimal" }
    [modules.invoices.lookups]
    "lines.item" = "items"                  # each line's item names a record of items
    [modules.invoices.lock]                 # Books owns a document once past draft
    side = "books"
    field = "status"
    open = ["draft"]
    passes = ["void"]
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from conflicts.duplicates import DEFAULT_CLONE_NAME, clone_name_problem
from conflicts.errors import PolicyError
from conflicts.policy import ConflictPolicy, Direction, DuplicatePolicy, ModulePolicy
from replicator.config.check import deep_line, fail, refuse_deep, refuse_unknown
from replicator.config.console import ConsoleConfig, parse_console
from replicator.config.daemon import DaemonConfig, parse_daemon
from replicator.config.guard import GuardConfig, parse_guard
from replicator.config.integration import Integration, expand
from replicator.config.mapping import TYPES, FieldMap
from replicator.connectors.base import SideModule

CONNECTORS = ("sqlite", "memory", "zoho_crm", "zoho_books")
# the keys each table reads (check.refuse_unknown refuses any other)
SECTIONS = {"journal", "sides", "modules", "integration", "daemon", "console", "guard"}
JOURNAL_KEYS = {"path"}
# a SQLite side: its file, and how long to wait for another program's lock on it (seconds)
SIDE_KEYS = {"sqlite": {"connector", "path", "timeout"}, "memory": {"connector"}}
# the options of a Zoho side and their types (secrets never go here: see
# replicator.connectors.zoho.credentials)
ZOHO_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "credentials": str,
    "data_centre": str,
    "accounts_url": str,
    "api_domain": str,
    "organization_id": str,
    "key_field": str,
    "overlap_seconds": (int, float),
    "timeout": (int, float),
    "max_retries": int,
    "requests_per_minute": int,
    "concurrency": int,
    "credit_budget": int,
    "triggers": list,
    "taxes": dict,  # a tax percentage -> the name of the side's tax lines of it get
}
# the options that say which Zoho account and organisation a side reaches
ACCOUNT = ("credentials", "data_centre", "accounts_url", "api_domain", "organization_id")
MODULE_KEYS = {
    "sync",
    "source",
    "first",
    "duplicates",
    "clone_name",
    "conflicts",
    "fields",
    "page_size",
    "suggest",
    "lookups",
    "lookup_missing",
    "lock",
    "totals",
    "triggers",
}
LOCK_KEYS = {"side", "field", "open", "passes"}
# the key of a line that names a record: a lookup "lines.item" turns it into our record id
LINE_LOOKUP = "item"
SIDE_MODULE_KEYS = {"table", "id", "match", "modified", "view", "where", "create"}
FIELD_KEYS = {"type", "values"}  # and the module's side names (the column on each side)
# the integration's order: customers and vendors take CRM first, items take Books first
DEFAULT_FIRST = {"customers": "crm", "vendors": "crm", "items": "books"}
WATCH = "watch"  # sync = "watch": a module read from its one side, never written
# a watch module's triggers: the documents a deal makes (see :class:`Trigger`)
TRIGGER_NAMES = ("quote", "invoice")
TRIGGER_KEYS = {"module", "on"}
# the fields a deals module must map, and a trigger's document module
DEAL_FIELDS = ("name", "stage", "customer")
DOCUMENT_FIELDS = ("customer", "lines", "status")
# what a watch module cannot have: it writes nothing and pairs nothing
NOT_WATCHED = ("lock", "totals", "suggest", "duplicates", "clone_name", "first", "source")


@attrs.frozen
class SideConfig:
    name: str
    connector: str
    path: Path | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Lock:
    """Who owns a document: ``side`` is its system of record.

    An update (never a create) to ``side`` of a record whose value of ``field`` held there
    is not one of ``open`` is not sent, unless it changes nothing on that side but
    ``field``, to one of ``passes`` (a void of a sent invoice): it is journaled as refused
    instead (see :func:`replicator.sync.push.lock_refusal`).  Values are canonical.
    """

    side: str
    field: str
    open: tuple[str, ...]
    passes: tuple[str, ...] = ()


@attrs.frozen
class Trigger:
    """A watch module's trigger (``[modules.deals.triggers.quote]``): the document of
    module ``module`` a deal makes, ``on`` ``"created"``, ``"won"`` or a stage value (the
    quote made once the deal's stage probability reaches that stage's)."""

    name: str  # "quote" | "invoice"
    module: str
    on: str


def split_lookup(key: str) -> tuple[str, str | None]:
    """A ``lookups`` key as (field, key inside each line): ``"lines.item"`` is
    ``("lines", "item")``, ``"customer"`` is ``("customer", None)``."""
    field, dot, part = key.partition(".")
    return field, (part if dot else None)


@attrs.frozen
class ModuleConfig:
    name: str
    policy: ModulePolicy
    sides: Mapping[str, SideModule]
    fields: FieldMap = attrs.field(eq=False)
    match_fields: tuple[str, ...] = ()
    page_size: int = 1000
    suggest: bool = False  # list near matches (normalised keys) as suggestions for a person
    # field -> module: the field holds a record of that module (a side's id <-> our rid)
    lookups: Mapping[str, str] = attrs.field(factory=dict)
    # a new record whose lookup names a record not synced: "error" (journal it, sync the
    # rest), "skip" (the record is outside this module, as with a view) or "fetch" (read
    # that record now and sync it in its own module first)
    lookup_missing: str = "error"
    # duplicates = "clone": the name a clone gets where its side holds that name already
    clone_name: str = DEFAULT_CLONE_NAME
    # who owns a document: updates of the lock side refused while it is not open
    lock: Lock | None = None
    # two decimal fields, each mapped on one side only (each app's own total): compared
    # after a cycle, a difference journaled once (sync.decide.check_totals), never written
    totals: tuple[str, ...] = ()
    # sync = "watch": read from its one side and never written (its policy is one way
    # from that side, to none); its ``triggers`` make documents of other modules
    watch: bool = False
    triggers: Mapping[str, Trigger] = attrs.field(factory=dict)

    @property
    def order(self) -> tuple[str, ...]:
        return self.policy.sides

    def side_module(self, side: str) -> SideModule:
        return self.sides[side]


@attrs.frozen
class Config:
    path: Path
    journal_path: Path
    sides: Mapping[str, SideConfig]
    modules: Mapping[str, ModuleConfig]
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)
    integration: Integration | None = None
    daemon: DaemonConfig = attrs.field(factory=DaemonConfig)  # the `[daemon]` table
    console: ConsoleConfig = attrs.field(factory=ConsoleConfig)  # the `[console]` table
    guard: GuardConfig = attrs.field(factory=GuardConfig)  # the `[guard]` table

    def fingerprint(self) -> str:
        """A hash of the settings in force (journaled when it changes)."""
        text = json.dumps(self.raw, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _table(path: Path, data: Any, key: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise fail(path, key, f"must be a table, not {type(data).__name__}")
    return data


def _string(path: Path, data: Mapping[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise fail(path, f"{where}.{key}", "is required")
        return default
    value = data[key]
    if not isinstance(value, str) or not value:
        raise fail(path, f"{where}.{key}", f"must be a non-empty string, not {value!r}")
    return value


def _resolve(path: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (path.parent / candidate)


def parse_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validate parsed TOML into a :class:`Config`."""
    refuse_deep(path, data)
    refuse_unknown(path, "", data, SECTIONS, what="section")
    original, integration = data, None
    if "integration" in data:
        data, integration = expand(data, path)
    journal = _table(path, data.get("journal", {}), "journal")
    refuse_unknown(path, "journal", journal, JOURNAL_KEYS)
    journal_path = _resolve(path, _string(path, journal, "path", "journal", "journal.db"))

    sides_raw = _table(path, data.get("sides"), "sides") if "sides" in data else None
    if not sides_raw:
        raise fail(path, "sides", "at least two sides are required ([sides.NAME])")
    sides: dict[str, SideConfig] = {}
    for name, raw in sides_raw.items():
        where = f"sides.{name}"
        raw = _table(path, raw, where)
        connector = _string(path, raw, "connector", where)
        if connector not in CONNECTORS:
            raise fail(
                path,
                f"{where}.connector",
                f"unknown connector {connector!r} (choices: {', '.join(CONNECTORS)})",
            )
        refuse_unknown(
            path, where, raw, SIDE_KEYS.get(connector, {"connector", *ZOHO_OPTIONS}), what="option"
        )
        side_path = None
        if connector == "sqlite":
            side_path = _resolve(path, _string(path, raw, "path", where))
        options = {k: v for k, v in raw.items() if k not in ("connector", "path")}
        timeout = options.get("timeout", 0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0:
            raise fail(path, f"{where}.timeout", f"seconds to wait, not {timeout!r}")
        if connector.startswith("zoho_"):
            options = _zoho_options(path, where, options)
        sides[name] = SideConfig(name, connector, side_path, options)
    if len(sides) < 2:
        raise fail(path, "sides", "at least two sides are required")

    modules_raw = _table(path, data.get("modules", {}), "modules")
    if not modules_raw:
        raise fail(path, "modules", "at least one module is required ([modules.NAME])")
    modules = {
        name: _module(path, name, _table(path, raw, f"modules.{name}"), sides)
        for name, raw in modules_raw.items()
    }
    names = list(modules)
    for name, module in modules.items():
        for field, target in module.lookups.items():
            if target not in modules or names.index(target) >= names.index(name):
                raise fail(
                    path,
                    f"modules.{name}.lookups.{field}",
                    f"{target!r} must be a module set up before {name!r} "
                    f"(modules in order: {', '.join(names)})",
                )
            # a watch module's side must be one of the target's
            apart = set(module.sides) - set(modules[target].sides)
            if apart or (not module.watch and set(modules[target].sides) != set(module.sides)):
                raise fail(
                    path,
                    f"modules.{name}.lookups.{field}",
                    f"module {target!r} pairs other sides than {name!r}",
                )
    _check_triggers(path, modules)
    _refuse_shared_files(path, journal_path, sides, modules)
    daemon = parse_daemon(original.get("daemon", {}), path, list(modules))
    console = parse_console(original.get("console", {}), path)
    guard = parse_guard(original.get("guard", {}), path)
    return Config(path, journal_path, sides, modules, original, integration, daemon, console, guard)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same real path (symlinks followed), or, for
    files that exist, the same inode (a hard link, a case-insensitive file system)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist yet: then only the real paths could tell
        return False


def _sqlite_name(name: str) -> str:
    # SQLite compares identifiers case-insensitively for ASCII letters only
    return "".join(c.lower() if c.isascii() else c for c in name)


def _refuse_shared_files(
    path: Path, journal: Path, sides: Mapping[str, SideConfig], modules: Mapping[str, ModuleConfig]
) -> None:
    """A module whose two sides are one table would sync a table into itself, and a journal
    inside a side's database would be written by the side's users: refuse both."""
    for name, side in sides.items():
        if side.path is not None and _same_file(journal, side.path):
            raise fail(
                path,
                "journal.path",
                f"{journal} is the database of side {name!r}: the journal needs a file of its own",
            )
    for name, module in modules.items():
        if module.watch:  # one side: no table to share with another
            continue
        a, b = module.sides
        side_a, side_b = sides[a], sides[b]
        if _sqlite_name(module.sides[a].table) != _sqlite_name(module.sides[b].table):
            continue
        if side_a.path is not None and side_b.path is not None:
            same = _same_file(side_a.path, side_b.path)
            place = f"database file {side_b.path}"
        else:
            # Zoho sides with the same credentials, data centre and organisation (all given
            # alike, or all left to the same defaults) reach one account's data
            same = side_a.connector == side_b.connector and side_a.connector.startswith("zoho_")
            same = same and all(side_a.options.get(k) == side_b.options.get(k) for k in ACCOUNT)
            org = side_b.options.get("organization_id") or "(the credentials' default)"
            place = f"Zoho organisation {org}"
        if same:
            raise fail(
                path,
                f"modules.{name}.{b}.table",
                f"table {module.sides[b].table!r} in {place} is also the table of side "
                f"{a!r}: a module pairs two different tables",
            )


def _zoho_options(path: Path, where: str, options: dict[str, Any]) -> dict[str, Any]:
    """A Zoho side's options, checked; a relative ``credentials`` file is taken from here."""
    for key, value in options.items():
        kind = ZOHO_OPTIONS[key]  # parse_config refused any other key
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        if isinstance(value, bool) or not isinstance(value, kind) or value == "":
            raise fail(path, f"{where}.{key}", f"must be a non-empty {names}, not {value!r}")
        if isinstance(value, int | float) and value < (0 if key == "overlap_seconds" else 1):
            raise fail(path, f"{where}.{key}", f"must be positive, not {value!r}")
    if "credentials" in options:
        options["credentials"] = str(_resolve(path, options["credentials"]))
    return options


def _module(
    path: Path, name: str, raw: dict[str, Any], sides: Mapping[str, SideConfig]
) -> ModuleConfig:
    where = f"modules.{name}"
    side_names = [k for k in raw if k in sides]
    refuse_unknown(path, where, raw, MODULE_KEYS | set(sides))
    watch = raw.get("sync") == WATCH
    if watch:
        if len(side_names) != 1:
            raise fail(
                path,
                f"{where}.sync",
                f"a watch module reads exactly one side (found {side_names or 'none'})",
            )
        for key in NOT_WATCHED:
            if key in raw:
                raise fail(
                    path, f"{where}.{key}", f"a watch module is read, never written: no {key}"
                )
    elif len(side_names) != 2:
        raise fail(path, where, f"a module pairs exactly two sides (found {side_names or 'none'})")
    if "triggers" in raw and not watch:
        raise fail(
            path,
            f"{where}.triggers",
            'only a watch module (sync = "watch") has triggers',
        )

    fields_raw = _table(path, raw.get("fields"), f"{where}.fields") if "fields" in raw else {}
    if not fields_raw:
        raise fail(path, f"{where}.fields", "map at least one field")
    fields: dict[str, tuple[str, dict[str, str]]] = {}
    value_maps: dict[str, dict[str, dict[str, str]]] = {}  # picklist -> side -> {value: canon}
    for field, spec in fields_raw.items():
        fwhere = f"{where}.fields.{field}"
        spec = _table(path, spec, fwhere)
        refuse_unknown(path, fwhere, spec, FIELD_KEYS | set(side_names))
        kind = spec.get("type", "text")
        if kind not in TYPES:
            raise fail(
                path, f"{fwhere}.type", f"unknown type {kind!r} (choices: {', '.join(TYPES)})"
            )
        columns = {}
        for key, value in spec.items():
            if key in FIELD_KEYS:
                continue
            if not isinstance(value, str) or not value:
                raise fail(path, f"{fwhere}.{key}", f"must be a column name, not {value!r}")
            columns[key] = value
        if not columns:
            raise fail(path, fwhere, "name the column on at least one side")
        fields[field] = (kind, columns)
        if "values" not in spec:
            continue
        vwhere = f"{fwhere}.values"
        if kind != "picklist":
            raise fail(path, vwhere, 'only a picklist takes values (set type = "picklist")')
        for side, mapping in _table(path, spec["values"], vwhere).items():
            if side not in side_names:
                raise fail(path, f"{vwhere}.{side}", f"not a side of this module ({side_names})")
            if side not in columns:
                raise fail(path, f"{vwhere}.{side}", f"side {side} maps no column to {field}")
            mapping = _table(path, mapping, f"{vwhere}.{side}")
            if not mapping:
                raise fail(path, f"{vwhere}.{side}", "map at least one value (or leave it out)")
            spelled: dict[str, str] = {}  # canonical value -> this side's value
            for side_value, canonical in mapping.items():
                if not isinstance(canonical, str) or not canonical:
                    raise fail(
                        path,
                        f"{vwhere}.{side}.{side_value}",
                        f"must be a non-empty string (the canonical value), not {canonical!r}",
                    )
                if canonical in spelled:
                    raise fail(
                        path,
                        f"{vwhere}.{side}.{side_value}",
                        f"{canonical!r} is already the value of {spelled[canonical]!r}: a "
                        f"write to {side} could not choose between them",
                    )
                spelled[canonical] = side_value
            value_maps.setdefault(field, {})[side] = dict(mapping)
    field_map = FieldMap(fields, values=value_maps)

    side_modules: dict[str, SideModule] = {}
    match_sets: dict[str, tuple[str, ...]] = {}
    for side in side_names:
        swhere = f"{where}.{side}"
        spec = _table(path, raw[side], swhere)
        refuse_unknown(path, swhere, spec, SIDE_MODULE_KEYS)
        table = _string(path, spec, "table", swhere)
        id_column = _string(path, spec, "id", swhere, "id")
        match = spec.get("match", ())
        if not isinstance(match, str | list | tuple) or not all(
            isinstance(c, str) and c for c in ([match] if isinstance(match, str) else match)
        ):
            raise fail(path, f"{swhere}.match", f"must be a column or a list, not {match!r}")
        match_cols = (match,) if isinstance(match, str) else tuple(match)
        side_match: list[str] = []
        for column in match_cols:
            mapped = field_map.field_for(side, column)
            if mapped is None:
                raise fail(
                    path, f"{swhere}.match", f"column {column!r} is not mapped in {where}.fields"
                )
            side_match.append(mapped)
        match_sets[side] = tuple(side_match)
        modified = spec.get("modified")
        if modified is not None and (not isinstance(modified, str) or not modified):
            raise fail(path, f"{swhere}.modified", f"must be a column name, not {modified!r}")
        criteria = _criteria(path, spec, "where", swhere)
        create = _criteria(path, spec, "create", swhere)
        for column in create:
            if field_map.field_for(side, column) is not None:
                raise fail(
                    path,
                    f"{swhere}.create.{column}",
                    "is mapped in the fields: a create sets only unmapped columns",
                )
        side_columns = field_map.columns(side)
        side_columns += tuple(c for c in criteria if c not in side_columns)
        side_modules[side] = SideModule(
            name=name,
            table=table,
            id=id_column,
            columns=side_columns,
            where=criteria,
            create=create,
            match=match_cols,
            modified=modified,
            view=spec.get("view"),
        )
    if watch:
        (a,) = side_names
        if match_sets[a]:
            raise fail(path, f"{where}.{a}.match", "a watch module pairs nothing: it has no match")
        match_fields: tuple[str, ...] = ()
    else:
        a, b = side_names
        if match_sets[a] and match_sets[b] and set(match_sets[a]) != set(match_sets[b]):
            raise fail(
                path,
                f"{where}.{b}.match",
                f"matches fields {list(match_sets[b])} but {a} matches {list(match_sets[a])}",
            )
        match_fields = tuple(sorted(set(match_sets[a]) & set(match_sets[b])))

    first = raw.get("first", side_names[0] if watch else DEFAULT_FIRST.get(name, side_names[0]))
    if first not in side_names:
        raise fail(path, f"{where}.first", f"{first!r} is not a side of this module ({side_names})")
    order = (first, *[s for s in side_names if s != first])
    for key in ("sync", "source", "duplicates", "conflicts"):
        if key in raw and not isinstance(raw[key], str):
            raise fail(path, f"{where}.{key}", f"must be text, not {raw[key]!r}")
    try:
        if watch:  # one way from its one side, to none: a plan never writes
            direction = Direction.parse("one_way", side_names[0], side_names)
        else:
            direction = Direction.parse(raw.get("sync", "both_ways"), raw.get("source"), side_names)
        duplicates = DuplicatePolicy.parse(raw.get("duplicates", "overwrite"))
        conflicts = ConflictPolicy.parse(raw.get("conflicts", "newest"), side_names)
    except PolicyError as exc:
        key = str(exc).split(" ", 1)[0].split(":")[0]
        key = {"one_way": "source", "source": "source", "prefer": "conflicts"}.get(key, key)
        raise fail(path, f"{where}.{key}", str(exc)) from None
    if direction.source is not None:
        order = (direction.source, *[s for s in side_names if s != direction.source])
    clone_name = raw.get("clone_name", DEFAULT_CLONE_NAME)
    problem = clone_name_problem(clone_name)
    if problem is not None:
        raise fail(path, f"{where}.clone_name", problem)
    page_size = raw.get("page_size", 1000)
    if not isinstance(page_size, int) or not 1 <= page_size <= 100_000:
        raise fail(
            path, f"{where}.page_size", f"must be a whole number 1-100000, not {page_size!r}"
        )
    suggest = raw.get("suggest", False)
    if not isinstance(suggest, bool):
        raise fail(path, f"{where}.suggest", f"must be true or false, not {suggest!r}")
    lookups = _table(path, raw.get("lookups", {}), f"{where}.lookups")
    for key, target in lookups.items():
        field, part = split_lookup(key)
        if isinstance(target, dict) and field_map.fields.get(key, ("",))[0] == "lines":
            raise fail(
                path,
                f"{where}.lookups.{key}",
                f'quote the key: "{key}.{next(iter(target), LINE_LOOKUP)}" = "MODULE" '
                "(unquoted, TOML reads the dot as a table)",
            )
        if field not in field_map.fields:
            raise fail(path, f"{where}.lookups.{key}", f"{field!r} is not a field of this module")
        if part is not None:
            kind = field_map.kind(field)
            if kind != "lines":
                raise fail(
                    path,
                    f"{where}.lookups.{key}",
                    f"a dotted lookup names a key of each line of a lines field; {field} is "
                    f"a {kind} field",
                )
            if part != LINE_LOOKUP:
                raise fail(
                    path,
                    f"{where}.lookups.{key}",
                    f"a line names a record by its {LINE_LOOKUP!r} only "
                    f'(write "{field}.{LINE_LOOKUP}")',
                )
        elif field_map.kind(field) == "lines":
            raise fail(
                path,
                f"{where}.lookups.{key}",
                f'a lines field is no lookup itself: its items are (write "{key}.{LINE_LOOKUP}")',
            )
        if not isinstance(target, str) or not target:
            raise fail(path, f"{where}.lookups.{key}", f"must name a module, not {target!r}")
    lookup_missing = raw.get("lookup_missing", "error")
    if lookup_missing not in ("error", "skip", "fetch"):
        raise fail(
            path,
            f"{where}.lookup_missing",
            f"must be error, skip or fetch, not {lookup_missing!r}",
        )
    lock = _lock(path, where, raw["lock"], field_map, side_names) if "lock" in raw else None
    totals = _totals(path, where, raw["totals"], field_map) if "totals" in raw else ()
    triggers = _triggers(path, where, raw["triggers"]) if "triggers" in raw else {}
    if triggers:
        missing = [f for f in DEAL_FIELDS if f not in field_map.fields]
        if missing:
            raise fail(
                path,
                f"{where}.fields",
                f"a module with triggers maps the deal's {', '.join(DEAL_FIELDS)} "
                f"(missing: {', '.join(missing)})",
            )
    policy = ModulePolicy(name, order, direction, duplicates, conflicts)
    return ModuleConfig(
        name,
        policy,
        side_modules,
        field_map,
        match_fields,
        page_size,
        suggest,
        dict(lookups),
        lookup_missing,
        clone_name,
        lock,
        totals,
        watch,
        triggers,
    )


def _triggers(path: Path, where: str, raw: Any) -> dict[str, Trigger]:
    """``[modules.M.triggers.quote|invoice]``: see :class:`Trigger` (the document modules
    are checked once every module is read: :func:`_check_triggers`)."""
    twhere = f"{where}.triggers"
    table = _table(path, raw, twhere)
    if not table:
        raise fail(path, twhere, f"name at least one trigger ({' or '.join(TRIGGER_NAMES)})")
    triggers: dict[str, Trigger] = {}
    for name, spec in table.items():
        key = f"{twhere}.{name}"
        if name not in TRIGGER_NAMES:
            raise fail(
                path, key, f"unknown trigger {name!r} (triggers: {', '.join(TRIGGER_NAMES)})"
            )
        spec = _table(path, spec, key)
        refuse_unknown(path, key, spec, TRIGGER_KEYS if name == "quote" else {"module"})
        module = _string(path, spec, "module", key)
        on = _string(path, spec, "on", key, "created") if name == "quote" else "won"
        triggers[name] = Trigger(name, module, on)
    return triggers


def _check_triggers(path: Path, modules: Mapping[str, ModuleConfig]) -> None:
    """Each trigger's document module exists, is not a watch module, maps the fields a
    trigger sets, and has one trigger only (two would make two documents of one record)."""
    made_by: dict[str, str] = {}
    for name, module in modules.items():
        for trigger in module.triggers.values():
            key = f"modules.{name}.triggers.{trigger.name}.module"
            target = modules.get(trigger.module)
            if target is None:
                raise fail(
                    path,
                    key,
                    f"no module {trigger.module!r} (modules: {', '.join(modules)})",
                )
            if target.watch:
                raise fail(path, key, f"{trigger.module!r} is a watch module: it is never written")
            missing = [f for f in DOCUMENT_FIELDS if f not in target.fields.fields]
            if missing:
                raise fail(
                    path,
                    key,
                    f"module {trigger.module!r} maps no {', '.join(missing)}: a trigger sets "
                    f"a document's {', '.join(DOCUMENT_FIELDS)}",
                )
            if trigger.module in made_by:
                raise fail(
                    path,
                    key,
                    f"module {trigger.module!r} is the document of {made_by[trigger.module]} "
                    "already: one trigger per document module",
                )
            made_by[trigger.module] = f"modules.{name}.triggers.{trigger.name}"


def _names(path: Path, key: str, value: Any, *, empty: bool) -> tuple[str, ...]:
    """A list of non-empty strings (``empty``: it may have none)."""
    if (
        not isinstance(value, list)
        or not all(isinstance(v, str) and v for v in value)
        or (not value and not empty)
    ):
        what = "a list of" if empty else "a non-empty list of"
        raise fail(path, key, f"must be {what} values (text), not {value!r}")
    return tuple(value)


def _lock(path: Path, where: str, raw: Any, fields: FieldMap, side_names: list[str]) -> Lock:
    """``[modules.M.lock]``: see :class:`Lock`."""
    lwhere = f"{where}.lock"
    spec = _table(path, raw, lwhere)
    refuse_unknown(path, lwhere, spec, LOCK_KEYS)
    side = _string(path, spec, "side", lwhere)
    if side not in side_names:
        raise fail(path, f"{lwhere}.side", f"{side!r} is not a side of this module ({side_names})")
    field = _string(path, spec, "field", lwhere)
    if field not in fields.fields:
        raise fail(path, f"{lwhere}.field", f"{field!r} is not a field of this module")
    if side not in fields.fields[field][1]:
        raise fail(
            path,
            f"{lwhere}.field",
            f"{field} is not mapped on side {side}, so its value there is never known",
        )
    if fields.kind(field) not in ("text", "picklist"):
        raise fail(
            path, f"{lwhere}.field", f"must be a text or picklist field, not {fields.kind(field)}"
        )
    if "open" not in spec:
        raise fail(path, f"{lwhere}.open", "is required (the values that let edits through)")
    opened = _names(path, f"{lwhere}.open", spec["open"], empty=False)
    passes = _names(path, f"{lwhere}.passes", spec.get("passes", []), empty=True)
    return Lock(side, field, opened, passes)


def _totals(path: Path, where: str, raw: Any, fields: FieldMap) -> tuple[str, ...]:
    """``totals = [a, b]``: two decimal fields, each mapped on one side only, not the same."""
    key = f"{where}.totals"
    names = _names(path, key, raw, empty=False)
    if len(names) != 2 or names[0] == names[1]:
        raise fail(path, key, f"must name two fields (each app's total), not {list(names)}")
    sides = []
    for name in names:
        if name not in fields.fields:
            raise fail(path, key, f"{name!r} is not a field of this module")
        kind, columns = fields.fields[name]
        if kind != "decimal":
            raise fail(path, key, f"{name} must be a decimal field, not {kind}")
        if len(columns) != 1:
            raise fail(
                path,
                key,
                f"{name} must be mapped on one side only (each app computes its own total, "
                f"so it is never written), not on {', '.join(columns)}",
            )
        sides.append(next(iter(columns)))
    if sides[0] == sides[1]:
        raise fail(path, key, f"{names[0]} and {names[1]} are both read from side {sides[0]}")
    return names


def _criteria(path: Path, spec: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """``where`` / ``create``: a table of column -> value (``where`` also takes a list of
    values or ``{ present = true|false }``)."""
    raw = spec.get(key, {})
    table = _table(path, raw, f"{where}.{key}")
    for column, value in table.items():
        ok = isinstance(value, str | int | bool)
        if key == "where":
            ok = ok or (
                isinstance(value, list) and all(isinstance(v, str | int | bool) for v in value)
            )
            ok = ok or (
                isinstance(value, dict)
                and set(value) == {"present"}
                and isinstance(value["present"], bool)
            )
        if not ok:
            raise fail(path, f"{where}.{key}.{column}", f"is not a value this takes: {value!r}")
    return dict(table)


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(path, "(file)", "no such file (create it, or pass --config PATH)") from None
    except OSError as exc:
        raise fail(path, "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(path, "(syntax)", str(exc)) from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table
        line, key = deep_line(text) or (0, "")
        where = f"{key or '(value)'} (line {line})" if line else "(syntax)"
        reason = "values nest too deeply to read (no setting needs that)"
        raise fail(path.resolve(), where, reason) from None
    return parse_config(data, path.resolve())


__all__ = [
    "Config",
    "Lock",
    "ModuleConfig",
    "SideConfig",
    "Trigger",
    "load_config",
    "parse_config",
    "split_lookup",
]
