"""The integration's lifecycle, kept in the journal: runs, pauses, disable / enable / delete,
saved configs and replaced credentials.  Functions over a :class:`~journal.Journal`; the
command line (:mod:`replicator.cli.lifecycle`) and the engine call them.

Everything here is a ``config`` entry of module ``@config``, told apart by its ``rid``:

``@config``
    the settings in force (``fingerprint``, ``file``, ``settings``).  The engine journals
    them when they change; ``replicator save`` and ``edit`` journal them without syncing
    (``by``: ``save`` or ``edit``), so the next sync finds them unchanged.
``@run``
    a run marker, journaled (:mod:`~replicator.sync.record`) at the end of each sync
    cycle (or ``fetch``, or callback) that wrote any entry, or that failed: ``trigger``
    (sync, fetch, callback), ``started`` / ``ended`` (UTC), ``modules``, ``paused``
    (skipped because a person paused them), ``counts`` (module -> side -> what -> n: the
    cycle's report), ``first`` / ``last`` (the seqs of the entries the run wrote; the
    marker follows them), ``ms``, ``error`` (why it stopped) and, for a fetch, ``record``.
    An idle cycle writes nothing, not even a marker: a re-sync stays idempotent.
``@lifecycle``
    a person's decision, ``event``: ``pause`` / ``resume`` (``modules``; none means every
    module), ``disable``, ``enable``, ``delete`` (``modules``: the reducer drops their
    records, links, cursors and conflicts, see ``SQLiteView.drop_module``; every entry
    stays, for audit), ``credentials`` (``side``, ``file`` and the names of the keys that
    changed; never a secret), ``remove-crm-copies`` / ``removed-crm-copies`` (a removal of
    the CRM copies of Books documents asked, and run to its end: :mod:`.copies`),
    ``integration-users`` (``action`` add / remove, ``emails``, ``by``: who may see a
    customer's documents in the console, :mod:`.integration_users`).

Deletes are never propagated (DESIGN section 5): a record deleted on one side keeps its
link, marked ``deleted``, and stays on the other side; :func:`deleted_links` counts them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from journal import Entry, JournalStorage, Kind
from journal.entry import utc_text
from journal.payloads import (
    CopiesRemoval,
    CopiesRemoved,
    CredentialsReplaced,
    Disabled,
    Enabled,
    Failure,
    IntegrationDeleted,
    IntegrationUsers,
    Paused,
    Payload,
    PulledMarker,
    Resumed,
    RunMarker,
    SettingsInForce,
    Skipped,
    TriggerSkipped,
    decode,
    event_of,
    expect,
    new_entry,
    payload_of,
    value_or,
)
from replicator.config.load import Config, ModuleConfig
from replicator.errors import ConfigError, EngineError
from replicator.sync.context import Context
from replicator.sync.record import CONFIG_MODULE, RUN, last_config, settings_in_force

LIFECYCLE = "@lifecycle"
PULLED = "@pulled"  # the rid of the entry marking a side's first pull to its end
EVENTS = (
    "pause",
    "resume",
    "disable",
    "enable",
    "pulled_once",
    "pulled_to_end",
    "delete",
    "credentials",
    "remove-crm-copies",
    "removed-crm-copies",
    "integration-users",
)
# what a history row shows, from a run's counts (CycleReport names on the right)
COLUMNS = ("added", "updated", "deleted", "skipped", "failed", "conflicts")
REMOVAL_COUNTS = ("removed", "gone", "failed")  # a removal of CRM copies, per module


# -- the state: a fold of the decisions ------------------------------------------------------


@attrs.frozen
class Lifecycle:
    """Whether sync may run, and which modules a person paused."""

    disabled: bool = False
    disabled_at: dt.datetime | None = None
    deleted_at: dt.datetime | None = None  # the integration's last delete
    all_paused: bool = False
    paused: frozenset[str] = frozenset()  # paused one by one
    resumed: frozenset[str] = frozenset()  # resumed one by one while every module is paused

    @property
    def deleted_while_disabled(self) -> bool:
        """Deleted since the last disable: the next sync after ``enable`` starts afresh."""
        return (
            self.disabled_at is not None
            and self.deleted_at is not None
            and self.deleted_at >= self.disabled_at
        )

    def is_paused(self, module: str) -> bool:
        return module in self.paused or (self.all_paused and module not in self.resumed)

    def apply(self, entry: Entry) -> Lifecycle:
        """The state after one ``@lifecycle`` entry."""
        event = decode(Kind.CONFIG, entry.meta)  # every @lifecycle entry is a config entry
        modules = frozenset(_modules(event))
        if isinstance(event, Paused):
            if not modules:
                return attrs.evolve(self, all_paused=True, paused=frozenset(), resumed=frozenset())
            return attrs.evolve(self, paused=self.paused | modules, resumed=self.resumed - modules)
        if isinstance(event, Resumed):
            if not modules:
                return attrs.evolve(self, all_paused=False, paused=frozenset(), resumed=frozenset())
            resumed = self.resumed | modules if self.all_paused else self.resumed
            return attrs.evolve(self, paused=self.paused - modules, resumed=resumed)
        if isinstance(event, Disabled):
            return attrs.evolve(self, disabled=True, disabled_at=entry.at)
        if isinstance(event, Enabled):
            return attrs.evolve(self, disabled=False, disabled_at=None)
        if isinstance(event, IntegrationDeleted):
            return attrs.evolve(self, deleted_at=entry.at)
        return self


def _modules(event: Payload) -> tuple[str, ...]:
    """The modules a lifecycle event names (none: every module, or none at all)."""
    if isinstance(event, (Paused, Resumed, IntegrationDeleted)):
        return event.modules
    if isinstance(event, CopiesRemoval):
        return tuple(event.records)
    if isinstance(event, CopiesRemoved):
        return tuple(event.counts)
    return ()


def fold(entries: Iterable[Entry]) -> Lifecycle:
    """The lifecycle state after these ``@lifecycle`` entries, in order."""
    state = Lifecycle()
    for entry in entries:
        state = state.apply(entry)
    return state


def lifecycle(journal: JournalStorage) -> Lifecycle:
    return fold(journal.read(module=CONFIG_MODULE, rid=LIFECYCLE))


def gate(journal: JournalStorage, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """The modules a sync may run and those it skips because they are paused; refuses
    (:class:`EngineError`) while sync is disabled."""
    state = lifecycle(journal)
    if state.disabled:
        since = f" since {_when(state.disabled_at)} UTC" if state.disabled_at else ""
        after = (
            "; it was deleted, so the next sync after `replicator enable` starts afresh"
            if state.deleted_while_disabled
            else "; links and record states are kept"
        )
        raise EngineError(
            f"sync is disabled{since} (`replicator disable`){after}: "
            "`replicator enable` turns it back on"
        )
    paused = [n for n in names if state.is_paused(n)]
    return [n for n in names if n not in paused], paused


# -- a person's decisions --------------------------------------------------------------------


def _append(journal: JournalStorage, rid: str, payload: Payload, side: str | None = None) -> Entry:
    (entry,) = journal.append([new_entry(payload, CONFIG_MODULE, rid, side)])
    return entry


def check_modules(config: Config, modules: Sequence[str]) -> None:
    """Every module named must be one of the config's."""
    for module in modules:
        if module not in config.modules:
            raise ConfigError(
                str(config.path),
                f"modules.{module}",
                f"no such module (modules: {', '.join(config.modules)})",
            )


def pause(
    journal: JournalStorage, config: Config, modules: Sequence[str] = (), *, by: str = "person"
) -> Entry | None:
    """Pause these modules (none: every module); None if they were paused already."""
    check_modules(config, modules)
    state = lifecycle(journal)
    if modules and all(state.is_paused(m) for m in modules):
        return None
    if not modules and state.all_paused and not state.resumed:
        return None
    return _append(journal, LIFECYCLE, Paused(modules=tuple(sorted(set(modules))), by=by))


def resume(
    journal: JournalStorage, config: Config, modules: Sequence[str] = (), *, by: str = "person"
) -> Entry | None:
    """Resume these modules (none: every module); None if none of them was paused."""
    check_modules(config, modules)
    state = lifecycle(journal)
    if modules and not any(state.is_paused(m) for m in modules):
        return None
    if not modules and not state.all_paused and not state.paused:
        return None
    return _append(journal, LIFECYCLE, Resumed(modules=tuple(sorted(set(modules))), by=by))


def disable(journal: JournalStorage) -> Entry | None:
    """Stop all sync (records and links stay); None if it was disabled already."""
    if lifecycle(journal).disabled:
        return None
    return _append(journal, LIFECYCLE, Disabled())


def enable(journal: JournalStorage) -> Entry | None:
    """Let sync run again; None if it was not disabled."""
    if not lifecycle(journal).disabled:
        return None
    return _append(journal, LIFECYCLE, Enabled())


def materialised(journal: JournalStorage) -> dict[str, dict[str, int]]:
    """Per module: how many records, links, cursors and conflicts the journal holds."""
    return journal.state_counts()


def delete(journal: JournalStorage) -> Entry:
    """Delete the integration: drop every module's records, links, cursors and conflicts.

    Only while sync is disabled.  Every journal entry stays (the audit trail); a replay
    drops the same rows at the same point.  The cursors go with them, the one time a cursor
    goes back: after ``enable`` the next sync reads each side afresh, and pairs records
    again by the duplicate policy.
    """
    if not lifecycle(journal).disabled:
        raise EngineError(
            "the integration can be deleted only while sync is disabled: run "
            "`replicator disable` first (links and records are kept until `delete`)"
        )
    dropped = materialised(journal)
    return _append(journal, LIFECYCLE, IntegrationDeleted(modules=tuple(dropped), dropped=dropped))


def save_config(journal: JournalStorage, config: Config, *, by: str) -> Entry | None:
    """Journal the settings of ``config`` as in force from the next sync (``by``: save,
    edit); None if the journal holds these settings already."""
    last = last_config(journal)
    if last is not None and expect(last, SettingsInForce).fingerprint == config.fingerprint():
        return None
    return _append(journal, CONFIG_MODULE, settings_in_force(config, by=by))


def credentials_changed(
    journal: JournalStorage, side: str, file: str, keys: Sequence[str]
) -> Entry:
    """Journal that a side's credentials were replaced: the file and the key names only."""
    replaced = CredentialsReplaced(side=side, file=file, keys=tuple(sorted(keys)))
    return _append(journal, LIFECYCLE, replaced, side)


# -- runs, read back ------------------------------------------------------------------------


@attrs.frozen
class Run:
    """A run marker, read back."""

    seq: int
    at: dt.datetime
    trigger: str
    started: str
    ended: str
    modules: tuple[str, ...]
    paused: tuple[str, ...]
    counts: Mapping[str, Mapping[str, Mapping[str, int]]]
    first: int
    last: int
    ms: int = 0
    error: str | None = None
    record: Mapping[str, str] | None = None
    undoes: int | None = None  # an undo's run: the run it reverted

    @classmethod
    def from_entry(cls, entry: Entry) -> Run:
        marker = expect(entry, RunMarker)
        return cls(
            seq=entry.seq,
            at=entry.at,
            trigger=marker.trigger,
            started=marker.started,
            ended=marker.ended,
            modules=marker.modules,
            paused=marker.paused,
            counts=marker.counts,
            first=int(marker.first),
            last=int(marker.last),
            ms=int(marker.ms),
            error=marker.error,
            record=marker.record,
            undoes=marker.undoes,
        )

    def tally(self, module: str | None = None) -> dict[str, dict[str, dict[str, int]]]:
        """module -> side -> the history columns (side ``*``: the record as a whole)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for name, sides in self.counts.items():
            if module is not None and name != module:
                continue
            out[name] = {side: tally(counts) for side, counts in sides.items()}
        return out


def tally(counts: Mapping[str, int]) -> dict[str, int]:
    """A cycle's counts as history columns: added = created, deleted = tombstones seen,
    failed = rejected writes + values that would not convert, conflicts = field conflicts
    + duplicate groups held for a person."""
    return {
        "added": counts.get("created", 0),
        "updated": counts.get("updated", 0),
        "deleted": counts.get("deleted", 0),
        "skipped": counts.get("skipped", 0),
        "failed": counts.get("rejected", 0) + counts.get("errors", 0),
        "conflicts": counts.get("conflicts", 0) + counts.get("held", 0),
    }


def runs(journal: JournalStorage, *, module: str | None = None) -> Iterator[Run]:
    """Every run marker, oldest first (of runs that synced or skipped ``module``)."""
    for entry in journal.read(module=CONFIG_MODULE, rid=RUN):
        run = Run.from_entry(entry)
        if module is None or module in run.modules or module in run.paused:
            yield run


def last_run(journal: JournalStorage) -> Run | None:
    for entry in journal.read(module=CONFIG_MODULE, rid=RUN, descending=True, limit=1):
        return Run.from_entry(entry)
    return None


def problems(
    journal: JournalStorage, run: Run, *, module: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The failures (``error`` entries) and skips (``skipped`` entries, and a deal
    trigger's ``TriggerSkipped``: why a deal made or changed no document) a run wrote."""
    failures: list[dict[str, Any]] = []
    skips: list[dict[str, Any]] = []
    if run.last < run.first:
        return failures, skips
    # the seq range alone (no module filter), so SQLite walks the run's rows by seq; bounded
    # by its last, or a run without a failure would read every later entry of the journal
    kinds = [Kind.ERROR, Kind.SKIPPED, Kind.TRIGGER]
    for entry in journal.read(since=run.first - 1, until=run.last, kinds=kinds):
        if module is not None and entry.module != module:
            continue
        payload = payload_of(entry)
        if isinstance(payload, Failure):
            failures.append(
                {
                    "seq": entry.seq,
                    "module": entry.module,
                    "record": entry.rid,
                    "side": entry.side,
                    "id": value_or(payload.id, None),
                    "field": payload.field,
                    "value": value_or(payload.value, None),
                    "reason": payload.reason,
                    "stage": payload.stage,
                    "retry": bool(payload.retry),
                }
            )
        elif isinstance(payload, Skipped):
            skips.append(
                {
                    "seq": entry.seq,
                    "module": entry.module,
                    "record": entry.rid,
                    "side": entry.side,
                    "reason": payload.reason,
                    "key": payload.key,
                }
            )
        elif isinstance(payload, TriggerSkipped):
            skips.append(
                {
                    "seq": entry.seq,
                    "module": entry.module,
                    "record": entry.rid,
                    "side": entry.side,
                    "reason": f"{payload.trigger} trigger: {payload.reason}",
                    "key": None,
                }
            )
    return failures, skips


def run_data(journal: JournalStorage, run: Run, *, module: str | None = None) -> dict[str, Any]:
    """One run for ``history``: its counts per module and side, failures and skips.

    ``failed`` counts the run's ``error`` entries, so a value that would not convert for a
    write counts too.
    """
    by_module = run.tally(module)
    failures, skips = problems(journal, run, module=module)
    failed: dict[tuple[str, str], int] = {}
    for failure in failures:
        key = (failure["module"], failure["side"] or "*")
        failed[key] = failed.get(key, 0) + 1
    for name, side in failed:
        by_module.setdefault(name, {}).setdefault(side, tally({}))
    for name, sides in by_module.items():
        for side, columns in sides.items():
            columns["failed"] = failed.get((name, side), 0)
    totals = dict.fromkeys(COLUMNS, 0)
    for sides in by_module.values():
        for columns in sides.values():
            for column in COLUMNS:
                totals[column] += columns[column]
    data: dict[str, Any] = {
        "type": "run",
        "seq": run.seq,
        "run": run.seq,  # a run's id: what `replicator undo` takes
        "at": utc_text(run.at),
        "trigger": run.trigger,
        "started": run.started,
        "ended": run.ended,
        "seconds": run.ms / 1000,
        "modules": list(run.modules),
        "paused": list(run.paused),
        "entries": {"first": run.first, "last": run.last},
        "error": run.error,
        "totals": totals,
        "by_module": by_module,
        "failures": failures,
        "skips": skips,
        "summary": run_summary(run, totals),
    }
    if run.record is not None:
        data["record"] = dict(run.record)
    if run.undoes is not None:
        data["undoes"] = run.undoes
    return data


def run_summary(run: Run, totals: Mapping[str, int]) -> str:
    what = ", ".join(f"{totals[c]} {c}" for c in COLUMNS if totals[c]) or "no record changed"
    label = "sync" if run.trigger == "sync" else run.trigger
    if run.undoes is not None:
        label += f" of run {run.undoes}"
    if run.record is not None:
        label += f" {run.record.get('side')} id {run.record.get('id')}"
        if run.record.get("rid"):
            label += f" (record {run.record['rid']})"
    text = f"{label}: {what}"
    if run.paused:
        text += f"; paused, skipped: {', '.join(run.paused)}"
    if run.error:
        text += f"; FAILED: {run.error}"
    return text


# -- the timeline ----------------------------------------------------------------------------


def event_summary(entry: Entry) -> str:
    """A lifecycle or config entry, for a person."""
    if entry.rid == CONFIG_MODULE:
        settings = expect(entry, SettingsInForce)
        if settings.by:
            return (
                f"config saved by `replicator {settings.by}` ({settings.file}, fingerprint "
                f"{settings.fingerprint}): applies from the next sync"
            )
        fingerprint = settings.fingerprint
        return f"config in force changed ({settings.file}, fingerprint {fingerprint})"
    event = payload_of(entry)
    named = _modules(event)
    modules = ", ".join(named) or "every module"
    if isinstance(event, Paused):
        them = "it" if len(named) == 1 else "them"
        who = f" (by {event.by})" if event.by != "person" else ""
        return f"paused {modules}{who}: sync skips {them} until `replicator resume`"
    if isinstance(event, Resumed):
        return f"resumed {modules}" + (f" (by {event.by})" if event.by != "person" else "")
    if isinstance(event, Disabled):
        return "sync disabled (links and record states kept)"
    if isinstance(event, Enabled):
        return "sync enabled"
    if isinstance(event, IntegrationDeleted):
        dropped = value_or(event.dropped, None) or {}
        records = sum(d.get("records", 0) for d in dropped.values())
        links = sum(d.get("links", 0) for d in dropped.values())
        return (
            f"integration deleted: {records} records and {links} links of "
            f"{', '.join(dropped) or 'no module'} dropped; the journal keeps every entry"
        )
    if isinstance(event, CredentialsReplaced):
        return f"credentials of side {event.side} replaced ({event.file})"
    if isinstance(event, CopiesRemoval):
        copies = sum(len(rids) for rids in event.records.values())
        return (
            f"removal of {copies} CRM copies of Books documents ({modules}) asked by "
            f"{event.by}: {event.reason}"
        )
    if isinstance(event, CopiesRemoved):
        done = {k: sum(c.get(k, 0) for c in event.counts.values()) for k in REMOVAL_COUNTS}
        return (
            f"CRM copies removed (asked at entry {event.request}): {done['removed']} removed, "
            f"{done['gone']} gone already, {done['failed']} failed; Books untouched"
        )
    if isinstance(event, IntegrationUsers):
        verb = "added" if event.action == "add" else "removed"
        return f"integration users {verb} by {event.by}: {', '.join(event.emails)}"
    return str(event_of(event))


def history(
    journal: JournalStorage, *, module: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Runs, decisions and saved configs, oldest first (the last ``limit`` of them)."""
    items = timeline(journal, module=module)
    if limit is not None:
        items = items[-limit:] if limit > 0 else []
    return history_items(journal, items, module=module)


TIMELINE = (RUN, LIFECYCLE, CONFIG_MODULE)  # the rids of what history shows


def _shown(entry: Entry, module: str | None) -> bool:
    """Whether :func:`history` shows this ``@config`` entry (for ``module``)."""
    if entry.kind is not Kind.CONFIG or entry.rid not in TIMELINE:
        return False
    if module is None or entry.rid == CONFIG_MODULE:
        return True
    if entry.rid == RUN:
        run = Run.from_entry(entry)
        return module in run.modules or module in run.paused
    named = _modules(payload_of(entry))
    return not named or module in named


def timeline(journal: JournalStorage, *, module: str | None = None) -> list[Entry]:
    """The entries :func:`history` shows (runs, decisions, saved configs), oldest first,
    not yet read in detail: a page of them goes to :func:`history_items`."""
    return [e for e in journal.read(module=CONFIG_MODULE) if _shown(e, module)]


def timeline_page(
    journal: JournalStorage, *, module: str | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[Entry], int]:
    """One page of :func:`timeline`, newest first, and how many entries it has in all.

    Without ``module`` the page and the count are read in SQL (the console's history with
    a year of runs); a module's page reads every run marker, to see which modules it ran.
    """
    if module is None:
        total = journal.count(module=CONFIG_MODULE, rids=TIMELINE)
        found = journal.read(
            module=CONFIG_MODULE, rids=TIMELINE, descending=True, limit=limit, offset=offset
        )
        return [e for e in found if _shown(e, None)], total
    page: list[Entry] = []
    total = 0
    for entry in journal.read(module=CONFIG_MODULE, rids=TIMELINE, descending=True):
        if _shown(entry, module):
            if offset <= total < offset + limit:
                page.append(entry)
            total += 1
    return page, total


def history_items(
    journal: JournalStorage, entries: Sequence[Entry], *, module: str | None = None
) -> list[dict[str, Any]]:
    """Entries of :func:`timeline` as :func:`history` shows them (a run with its counts,
    failures and skips)."""
    items = entries
    out: list[dict[str, Any]] = []
    for entry in items:
        if entry.rid == RUN:
            out.append(run_data(journal, Run.from_entry(entry), module=module))
            continue
        item: dict[str, Any] = {
            "type": "config" if entry.rid == CONFIG_MODULE else "event",
            "seq": entry.seq,
            "at": utc_text(entry.at),
            "summary": event_summary(entry),
        }
        if entry.rid == CONFIG_MODULE:
            settings = expect(entry, SettingsInForce)
            item.update(
                event=settings.by or "sync", fingerprint=settings.fingerprint, file=settings.file
            )
        else:
            event = payload_of(entry)
            item.update(event=event_of(event), modules=list(_modules(event)), side=entry.side)
        out.append(item)
    return out


# -- what status shows -------------------------------------------------------------------------


def deleted_links(journal: JournalStorage) -> dict[str, dict[str, int]]:
    """module -> side -> links to records deleted on that side (kept on the other sides:
    deletes are never propagated)."""
    out: dict[str, dict[str, int]] = {}
    for (module, side, status), n in journal.link_counts().items():
        if status == "deleted":
            out.setdefault(module, {})[side] = n
    return out


def _when(at: dt.datetime | None) -> str:
    return "" if at is None else at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def pulled_once(ctx: Context, module: ModuleConfig) -> bool:
    """Whether every side of the module was pulled to its end at least once (since the
    integration was last deleted): until then no create may be sent outside a cycle."""
    return all(pulled_to_end(ctx, module.name, side) for side in module.sides)


def pulled_to_end(ctx: Context, name: str, side: str, *, mark: bool = False) -> bool:
    """Whether the side of module ``name`` was read to its end since the integration was
    last deleted (``mark``: it just was; journaled the first time)."""
    pulled, journal = ctx.kept.pulled, ctx.journal
    if (name, side) in pulled:
        return True
    since = 0
    for event in journal.read(module=CONFIG_MODULE, rid=LIFECYCLE, descending=True):
        deleted = payload_of(event)
        if isinstance(deleted, IntegrationDeleted) and name in deleted.modules:
            since = event.seq
            break
    found = any(e.side == side for e in journal.read(since=since, module=name, rid=PULLED))
    if not found and mark:
        journal.append([new_entry(PulledMarker(complete=True), name, PULLED, side)])
        found = True
    if found:
        pulled.add((name, side))
    return found


__all__ = [
    "COLUMNS",
    "EVENTS",
    "LIFECYCLE",
    "PULLED",
    "REMOVAL_COUNTS",
    "Lifecycle",
    "Run",
    "check_modules",
    "credentials_changed",
    "delete",
    "deleted_links",
    "disable",
    "enable",
    "event_summary",
    "fold",
    "gate",
    "history",
    "history_items",
    "last_run",
    "lifecycle",
    "materialised",
    "pause",
    "problems",
    "resume",
    "run_data",
    "run_summary",
    "runs",
    "save_config",
    "tally",
    "timeline",
    "timeline_page",
]
