"""One sync cycle: pull each side -> journal -> plan -> push -> journal the outcomes.

Every step that changes anything is journaled before the next one starts:

1. **pull**: each side's changes since its cursor become ``observed`` / ``tombstone``
   entries, page by page, each page committed with the cursor that covers it (a crash
   re-reads at most one page; a re-read that maps to what the side already holds is echo
   and gets no entry);
2. **duplicates**: records on one side only whose match key meets records on the other side
   are linked, merged, skipped or held for a person, by the module's duplicate policy;
3. **plan**: for every record needing attention, the merge engine decides what each side
   should hold; conflicts are journaled, and the writes as an ``intent``;
4. **push**: the writes go to each side in batches; each outcome (the side's id, or the
   reason it refused) is journaled.  A create carries the record id, so a re-run after a
   crash between push and journal finds what it already made instead of making another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from conflicts import (
    ACTIVE,
    RESOLVER,
    ConflictData,
    DuplicatePolicy,
    Member,
    RecordState,
    decide,
    match_key,
    plan,
)
from conflicts.duplicates import near_key
from conflicts.merge import Plan, SideWrite, canonical
from journal import Dot, Entry, Journal, Kind, NewEntry, VectorClock
from journal.entry import from_wire, same_wire, to_wire, utc_text
from journal.payloads import (
    ABSENT,
    Absent,
    Applied,
    Cursor,
    DuplicateConflict,
    Failure,
    IntegrationDeleted,
    Observed,
    PulledMarker,
    RetryIntent,
    RunMarker,
    SettingsInForce,
    SettledIntent,
    SideIdentities,
    Skipped,
    Tombstone,
    ValueResolution,
    WriteIntent,
    expect,
    new_entry,
    payload_of,
)
from replicator.config.load import Config, ModuleConfig
from replicator.connectors.base import Change, Connector, Write, matches
from replicator.errors import (
    SHOWN_CHARS,
    ConnectorError,
    EngineError,
    MappingError,
    UnavailableError,
    shown,
)
from replicator.sync.clone_names import HeldNames, clones, name_fields, rename_clones
from replicator.sync.suggestions import near_matches, pair_entries, resolve_duplicate

Progress = Callable[[str, str, str, int], None]  # (phase, module, side, count so far)

CONFIG_MODULE = "@config"
PULLED = "@pulled"  # the rid of the entry marking a side's first pull to its end


@attrs.define
class CycleReport:
    """What a cycle did, counted per (module, side, what)."""

    counts: Counter[tuple[str, str, str]] = attrs.field(factory=Counter)
    started: float = attrs.field(factory=time.monotonic)
    seconds: float = 0.0
    entries_before: int = 0
    entries_after: int = 0
    paused: list[str] = attrs.field(factory=list)  # modules skipped: a person paused them
    failed: dict[str, str] = attrs.field(factory=dict)  # module -> why its side failed

    def add(self, module: str, side: str, what: str, n: int = 1) -> None:
        if n:
            self.counts[(module, side, what)] += n

    def total(self, what: str) -> int:
        return sum(n for (_, _, w), n in self.counts.items() if w == what)

    def rows(self) -> list[tuple[str, str, str, int]]:
        return sorted((m, s, w, n) for (m, s, w), n in self.counts.items())


def last_config(journal: Journal) -> Entry | None:
    """The last settings journaled (the ``config`` entry of the settings in force)."""
    last = None
    for entry in journal.read(module=CONFIG_MODULE, rid=CONFIG_MODULE):
        last = entry
    return last


def report_data(report: CycleReport) -> dict[str, Any]:
    """A cycle's report as JSON (the shape of ``replicator sync --json``)."""
    modules: dict[str, dict[str, dict[str, int]]] = {}
    for module, side, what, n in report.rows():
        modules.setdefault(module, {}).setdefault(side, {})[what] = n
    return {
        "seconds": round(report.seconds, 3),
        "entries": {"before": report.entries_before, "after": report.entries_after},
        "modules": modules,
        "paused": list(report.paused),
        "failed": dict(report.failed),
    }


def _noop(phase: str, module: str, side: str, n: int) -> None:
    return None


def _never() -> bool:
    return False


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A cycle makes millions of small acyclic containers (record states, entries): the
    cyclic collector would walk every live one again and again (over half the time of a
    large first sync).  Reference counting frees them; one collection runs at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect(1)


class Engine:
    """Runs sync cycles for the modules of a config over the given connectors."""

    def __init__(
        self,
        config: Config,
        journal: Journal,
        connectors: Mapping[str, Connector],
        *,
        progress: Progress | None = None,
        batch_size: int = 1000,
    ) -> None:
        missing = {s for m in config.modules.values() for s in m.sides} - set(connectors)
        if missing:
            raise EngineError(f"no connector for side(s) {sorted(missing)}")
        self.config = config
        self.journal = journal
        self.connectors = connectors
        self.progress = progress or _noop
        self.batch_size = batch_size
        self._pushed: Counter[tuple[str, str]] = Counter()
        self._retrying: set[str] = set()  # records a side asked to retry: they stay dirty
        self._identities: dict[str, str] = {}  # sides' accounts to journal (see checks)
        self._pulled: set[tuple[str, str]] = set()  # (module, side) pulled to its end once
        self._held_names: dict[str, HeldNames] = {}  # per module, for clone names
        # asked between pages and batches: True ends the cycle after the one in hand (SIGTERM)
        self.stop_requested: Callable[[], bool] = _never

    # -- the cycle ------------------------------------------------------------------------

    def run(self, modules: Sequence[str] | None = None) -> CycleReport:
        names = list(modules) if modules else list(self.config.modules)
        for name in names:
            if name not in self.config.modules:
                known = ", ".join(self.config.modules)
                raise EngineError(f"no module {name!r} in {self.config.path} (modules: {known})")
        from replicator.sync.lifecycle import gate

        names, paused = gate(self.journal, names)  # refuses while sync is disabled
        if not names:  # every module asked for is paused: nothing runs, nothing is journaled
            last = self.journal.last_seq
            return CycleReport(entries_before=last, entries_after=last, paused=paused)
        try:
            self._check_sides(names)
        except UnavailableError as exc:  # a token limit or an outage: journaled as the run's
            from replicator.sync.lifecycle import journal_run

            report = CycleReport(entries_before=self.journal.last_seq, paused=paused)
            with contextlib.suppress(Exception):
                journal_run(self.journal, report, names, started=self.journal.now(), error=exc)
            raise
        with _no_cyclic_gc():
            return self._run(names, paused)

    def _run(self, names: Sequence[str], paused: Sequence[str] = ()) -> CycleReport:
        from journal.anchors import write_anchor
        from replicator.sync.lifecycle import journal_run

        report = CycleReport(entries_before=self.journal.last_seq, paused=list(paused))
        started = self.journal.now()
        self._pushed = Counter()
        self._pulled.clear()  # read again: a delete of the integration forgets them
        failed: list[tuple[str, ConnectorError]] = []
        try:
            self.journal_config()
            for name in names:
                if self.stop_requested():
                    break
                module = self.config.modules[name]
                try:
                    self.cycle(module, report)
                except ConnectorError as exc:
                    # a side down or locked fails its modules, not the others; what this
                    # module had pulled is journaled and nothing of it was pushed
                    failed.append((name, exc))
                    report.failed[name] = str(exc)
            if failed:
                raise (
                    failed[0][1]
                    if len(failed) == 1
                    else ConnectorError("; ".join(f"module {name}: {exc}" for name, exc in failed))
                )
        except Exception as exc:
            # a run marker saying why the run stopped; it never hides the error itself
            with contextlib.suppress(Exception):
                journal_run(self.journal, report, names, started=started, error=exc)
                write_anchor(self.journal)
            raise
        report.seconds = time.monotonic() - report.started
        journal_run(self.journal, report, names, started=started)  # only if it wrote anything
        write_anchor(self.journal)  # the head, outside the journal file (JOURNAL.anchors)
        report.entries_after = self.journal.last_seq
        return report

    def cycle(self, module: ModuleConfig, report: CycleReport) -> bool:
        """One module's cycle; returns whether it settled.

        The cycle invariant (DESIGN section 5): nothing is planned, so no create is sent,
        until every side of the module has been pulled to its end in this cycle.  Only
        the creates a crash left without an outcome go out before the pulls: each carries
        its record id, so the side finds the record it made instead of the pull taking it
        for a new one.  An interrupted pull (stop, outage, lock) leaves every record
        marked for the next cycle, which decides their duplicates as if nothing happened.
        """
        self.finish_pending(module, report)
        for side in module.order:
            if not self.pull(module, side, report):
                report.add(module.name, side, "interrupted")
                return False
        self.settle(module, report)
        return True

    def finish_pending(self, module: ModuleConfig, report: CycleReport) -> None:
        """Push again the creates journaled as intents that got no outcome (a crash or an
        error between the intent and the side's answer)."""
        rids = self.pending_creates(module.name)
        for start in range(0, len(rids), self.batch_size):
            self._settle_batch(module, rids[start : start + self.batch_size], report)

    def pending_creates(self, name: str) -> list[str]:
        """Records of module ``name`` with a create intent and no outcome since."""
        rids = []
        for (rid, side), side_id in self.pending_writes(name).items():
            if side_id is not None:
                continue
            state = self.journal.record(name, rid)
            if state is not None and state.attention and not state.linked(side):
                rids.append(rid)
        return sorted(set(rids))

    def pending_writes(self, name: str) -> dict[tuple[str, str], str | None]:
        """(record, side) -> the side's id (None: a create) of the writes of module
        ``name`` journaled as intents with no outcome since.

        Every intent of a cycle that ended without an error has its outcome, and a cycle
        finishes the pending creates it finds first: so only the entries after the last
        such cycle of the module are read, a few in the steady state.
        """
        from replicator.sync.lifecycle import RUN

        floor = 0
        for entry in self.journal.read(module=CONFIG_MODULE, rid=RUN, descending=True):
            run = expect(entry, RunMarker)
            if run.trigger == "sync" and run.error is None and name in run.modules:
                floor = int(run.last)
                break
        pending: dict[tuple[str, str], str | None] = {}
        kinds = [str(Kind.INTENT), str(Kind.APPLIED), str(Kind.ERROR)]
        for entry in self.journal.read(since=floor, kinds=kinds):
            if entry.module != name or entry.side is None:
                continue
            payload = payload_of(entry)
            if isinstance(payload, WriteIntent):
                for rid, side_id in payload.writes.items():
                    pending[(rid, entry.side)] = side_id
            elif entry.kind is Kind.INTENT:
                continue
            elif entry.rid is not None and not (
                isinstance(payload, Failure) and payload.stage == "read"
            ):
                pending.pop((entry.rid, entry.side), None)
        return pending

    def pulled_once(self, module: ModuleConfig) -> bool:
        """Whether every side of the module was pulled to its end at least once (since the
        integration was last deleted): until then no create may be sent outside a cycle."""
        return all(self._pulled_marker(module.name, side) for side in module.sides)

    def _pulled_marker(self, name: str, side: str, *, mark: bool = False) -> bool:
        if (name, side) in self._pulled:
            return True
        from replicator.sync.lifecycle import LIFECYCLE

        since = 0
        for event in self.journal.read(module=CONFIG_MODULE, rid=LIFECYCLE, descending=True):
            deleted = payload_of(event)
            if isinstance(deleted, IntegrationDeleted) and name in deleted.modules:
                since = event.seq
                break
        found = any(e.side == side for e in self.journal.read(since=since, module=name, rid=PULLED))
        if not found and mark:
            self.journal.append([new_entry(PulledMarker(complete=True), name, PULLED, side)])
            found = True
        if found:
            self._pulled.add((name, side))
        return found

    def _check_sides(self, names: Sequence[str]) -> None:
        """Every side must have the tables and fields it is asked to sync, and the modules'
        base currencies must allow them, before anything is journaled (SetupError)."""
        from replicator.sync.checks import (
            check_currency,
            check_fields,
            check_identities,
            unproven_modules,
        )

        # a module that pulled under the settings in force passed these checks: an idle
        # cycle (the daemon's polls) asks no metadata again
        sides = sorted({s for name in names for s in self.config.modules[name].sides})
        self._identities = check_identities(self.journal, self.config, self.connectors, sides)
        unproven = unproven_modules(self.journal, self.config, names)
        check_fields(self.config, self.connectors, modules=unproven)
        check_currency(self.config, self.connectors, modules=unproven)

    def journal_config(self) -> None:
        """A ``config`` entry whenever the settings in force change."""
        fingerprint = self.config.fingerprint()
        last = last_config(self.journal)
        if last is None or expect(last, SettingsInForce).fingerprint != fingerprint:
            settings = SettingsInForce(
                fingerprint=fingerprint,
                file=str(self.config.path),
                settings=_plain(self.config.raw),
            )
            self.journal.append([new_entry(settings, CONFIG_MODULE, CONFIG_MODULE)])
        if self._identities:  # the account each side syncs with, first seen or changed
            identities = SideIdentities(identities=dict(sorted(self._identities.items())))
            self.journal.append([new_entry(identities, CONFIG_MODULE, "@sides")])
            self._identities = {}

    # -- 1. pull --------------------------------------------------------------------------

    def pull(self, module: ModuleConfig, side: str, report: CycleReport) -> bool:
        """Journal the side's changes since its cursor, page by page; returns whether the
        pull reached the end (False: a stop was asked for between two pages)."""
        connector = self.connectors[side]
        side_module = module.side_module(side)
        cursor = self.journal.cursor(side, module.name)
        seen = 0
        where = side_module.where
        for page in connector.pull(side_module, cursor, page_size=module.page_size):
            changes = page.changes
            if where:  # rows outside the local criteria are not synced (nor deleted)
                changes = tuple(c for c in changes if c.deleted or matches(where, c.values))
            if module.lookup_missing == "fetch":
                self.fetch_parents(module, side, changes, report)
            with self.journal.transaction():
                self._ingest(module, side, changes, report)
                if page.cursor != cursor:
                    moved = Cursor(cursor=page.cursor)
                    self.journal.append([new_entry(moved, module.name, None, side)])
                    cursor = page.cursor
            seen += len(page.changes)
            report.add(module.name, side, "pulled", len(page.changes))
            self.progress("pull", module.name, side, seen)
            if self.stop_requested():  # the page and its cursor are journaled: stop here
                return False
        self._pulled_marker(module.name, side, mark=True)
        return True

    def _ingest(
        self, module: ModuleConfig, side: str, changes: Sequence[Change], report: CycleReport
    ) -> None:
        name = module.name
        known = self.journal.rids_for(name, side, [c.id for c in changes])
        self.journal.preload(
            name, list({known.get(str(c.id)) or f"{side}:{c.id}" for c in changes})
        )
        entries: list[NewEntry] = []
        batch_rids: set[str] = set()
        lookups = self._lookup_rids(module, side, changes)
        # only a side that keeps fixed decimal places rounds our writes (a capability its
        # connector class declares: Zoho's); on a side that holds amounts exactly, an
        # amount typed as ours rounded is a change
        rounds = bool(getattr(self.connectors[side], "rounds_amounts", False))
        for change in changes:
            if change.problem is not None:
                # a row that cannot be a record (no id, a shared id): an error, journaled
                # against the record when the id is one we know, and nothing else of it
                problem = Failure(reason=change.problem, stage="read", id=change.id or None)
                rid_known = known.get(str(change.id)) if change.id else None
                entries.append(new_entry(problem, name, rid_known, side))
                report.add(name, side, "errors")
                continue
            rid = known.get(str(change.id)) or f"{side}:{change.id}"
            if rid in batch_rids:  # the same record twice in a page: fold the first one in
                self.journal.append(entries)
                entries, batch_rids = [], set()
            state: RecordState | None = self.journal.record(name, rid)
            held = state.held_wire(side) if state is not None else None
            if held is not None and held.deleted and not change.deleted:
                # the side gave a deleted row's id to a new row: that is a new record
                rid = self._fresh_rid(name, side, str(change.id))
                state, held = None, None
            if change.deleted:
                if held is not None and not held.deleted:
                    entries.append(new_entry(Tombstone(id=str(change.id)), name, rid, side))
                    batch_rids.add(rid)
                    report.add(name, side, "deleted")
                continue
            values, errors = module.fields.to_canonical(side, change.values, record=rid)
            if module.lookups:
                missing = self._look_up(module, side, values, lookups, record=rid)
                if missing and module.lookup_missing == "skip" and held is None:
                    continue  # its parent is not synced: the record is outside this module
                errors += missing
            # journaled after the change they come with: the change clears the side's
            # read errors of before (``heals``), so a fixed value leaves none behind
            read_errors = [
                new_entry(  # the entry names the record, the payload what and why, once
                    Failure(
                        reason=err.reason,
                        field=err.field,
                        value=_shown(err.value),
                        stage="read",
                        id=str(change.id),
                        heals=True,
                    ),
                    name,
                    rid,
                    side,
                )
                for err in errors
            ]
            report.add(name, side, "errors", len(read_errors))
            # the journal stores values in wire form: convert once, compare and store that
            wire = {k: to_wire(v) for k, v in values.items()}
            absent: list[str] = []
            if held is not None:
                have = held.wire
                wire = {k: v for k, v in wire.items() if k not in have or not same_wire(have[k], v)}
                for field in [k for k in wire if rounds and module.fields.kind(k) == "decimal"]:
                    assert state is not None
                    rounded = _rounded_by(side, field, have.get(field), wire[field], state)
                    if rounded is None:
                        continue
                    del wire[field]  # our write, as the side could hold it: no change of theirs
                    if state.write_error(side) != rounded:  # said once, not on every re-read
                        rounding = Failure(
                            reason=rounded,
                            field=field,
                            value=from_wire(have[field]),
                            stage="read",
                            id=str(change.id),
                        )
                        entries.append(new_entry(rounding, name, rid, side))
                        report.add(name, side, "errors")
                if not wire:
                    entries += read_errors
                    continue  # our own echo, or a change to columns we do not map
                # empty in a field this side never held (mapped since): no value, not a clear
                absent = sorted(k for k, v in wire.items() if v is None and k not in have)
            dot = Dot(side, (state.counter(side) if state is not None else 0) + 1)
            context = VectorClock(held.clock) if held is not None else VectorClock()
            key: str | None | Absent = ABSENT  # no match fields: the entry holds no key
            near = None
            if module.match_fields:
                have = held.wire if held is not None else {}
                matched = [
                    values[f] if f in values else from_wire(have.get(f))
                    for f in module.match_fields
                ]
                key = match_key(matched)
                if module.suggest:  # the normalised key, for suggestions of near matches
                    near = near_key(matched)
            observed = Observed(
                id=str(change.id),
                key=key,
                near=near,
                modified=utc_text(change.modified) if change.modified is not None else None,
                absent=tuple(absent),
            )
            entries.append(
                new_entry(observed, name, rid, side, dot=dot, context=context, fields=wire)
            )
            entries += read_errors
            batch_rids.add(rid)
            report.add(name, side, "observed")
        self.journal.append(entries)

    @staticmethod
    def _lookup_ids(
        module: ModuleConfig, side: str, changes: Sequence[Change]
    ) -> dict[str, set[str]]:
        """The side ids the changes' lookup fields name, per target module."""
        wanted: dict[str, set[str]] = {}
        for field, target in module.lookups.items():
            column = module.fields.fields[field][1].get(side)
            if column is None:
                continue
            for change in changes:
                value = change.values.get(column)
                if isinstance(value, Mapping):
                    value = value.get("id")
                if value not in (None, ""):
                    wanted.setdefault(target, set()).add(str(value))
        return wanted

    def _lookup_rids(
        self, module: ModuleConfig, side: str, changes: Sequence[Change]
    ) -> dict[tuple[str, str], str]:
        """Our record ids for the side ids a page's lookup fields name, per target module."""
        found: dict[tuple[str, str], str] = {}
        for target, ids in self._lookup_ids(module, side, changes).items():
            for side_id, rid in self.journal.rids_for(target, side, sorted(ids)).items():
                found[(target, side_id)] = rid
        return found

    def fetch_parents(
        self, module: ModuleConfig, side: str, changes: Sequence[Change], report: CycleReport
    ) -> None:
        """``lookup_missing = "fetch"``: the records these changes name that are not synced
        yet (a sales order of a customer made since the customers' last sync) are read from
        the side, journaled and pushed now, so the changes need not wait for the next
        cycle of the module they belong to.  A record the side does not have, or one
        outside its module's criteria, is left: the lookup then fails as an error."""
        for target_name, ids in self._lookup_ids(module, side, changes).items():
            known = self.journal.rids_for(target_name, side, sorted(ids))
            target = self.config.modules[target_name]
            side_module = target.side_module(side)
            for side_id in sorted(ids - set(known)):
                parent = self.connectors[side].get(side_module, side_id)
                if parent is None or (
                    side_module.where and not matches(side_module.where, parent.values)
                ):
                    continue
                with self.journal.transaction():
                    self._ingest(target, side, [parent], report)
                rid = self.journal.rid_for(target_name, side, str(parent.id))
                if rid is not None:
                    report.add(target_name, side, "fetched")
                    if self.pulled_once(target):  # else its module's cycle decides it
                        self._settle_batch(target, [rid], report)

    def _look_up(
        self,
        module: ModuleConfig,
        side: str,
        values: dict[str, Any],
        found: Mapping[tuple[str, str], str],
        *,
        record: str,
    ) -> list[MappingError]:
        """Lookup fields hold our record id: a side's id is turned into it, in place."""
        errors = []
        for field, target in module.lookups.items():
            value = values.get(field)
            if value is None:
                continue
            if isinstance(value, Mapping):
                value = value.get("id")
            rid = found.get((target, str(value)))
            if rid is None:
                del values[field]
                errors.append(
                    MappingError(
                        field,
                        value,
                        f"names {target} record {value} on {side}, which is not synced "
                        f"(outside the view, or not pulled yet); sync {target} first",
                        record=record,
                    )
                )
            else:
                values[field] = rid
        return errors

    def _side_ids(self, module: ModuleConfig, side: str, values: dict[str, Any]) -> str | None:
        """Lookup fields' record ids turned into the side's ids, in place; or why not."""
        for field, target in module.lookups.items():
            rid = values.get(field)
            if rid is None:
                continue
            state = self.journal.record(target, str(rid))
            held = state.held_wire(side) if state is not None else None
            if held is None or held.id is None or held.deleted:
                return (
                    f"field {field}: {target} record {rid} has no live record on {side} yet; "
                    "retried next cycle"
                )
            values[field] = held.id
        return None

    def _fresh_rid(self, module: str, side: str, side_id: str) -> str:
        """A record id for a side's row whose id an earlier, deleted row had."""
        n = 2
        while self.journal.record(module, f"{side}:{side_id}~{n}") is not None:
            n += 1
        return f"{side}:{side_id}~{n}"

    # -- 2..4. settle: duplicates, plan, push ------------------------------------------------

    def settle(self, module: ModuleConfig, report: CycleReport) -> None:
        """Plan and push every record that needs it, a batch at a time."""
        for _ in range(3):  # a duplicate link can wake a record already passed: go round again
            after, woke = "", False
            while True:
                if self.stop_requested():  # what is left stays marked for the next cycle
                    return
                rids = self.journal.attention(module.name, after=after, limit=self.batch_size)
                if not rids:
                    break
                after = rids[-1]
                woke |= self._settle_batch(module, rids, report)
            if not woke:
                break

    def _settle_batch(self, module: ModuleConfig, rids: list[str], report: CycleReport) -> bool:
        name = module.name
        self.journal.preload(name, rids)
        woke = False
        if module.match_fields and (
            module.suggest or module.policy.duplicates is not DuplicatePolicy.CLONE
        ):
            woke = self._duplicates(module, rids, report)
        states = [self.journal.record(name, rid) for rid in rids]
        plans: list[tuple[RecordState, Plan]] = []
        entries: list[NewEntry] = []
        settled: list[str] = []
        policy_name = str(module.policy.effective_conflicts)
        now = utc_text(self.journal.now())
        for state in states:
            if state is None or not state.attention:
                continue
            if state.waits(now):  # a side refused its write: it is retried after a while
                report.add(name, "*", "waiting")
                continue
            p = plan(state, module.policy)
            for conflict in p.conflicts:
                entries.append(new_entry(conflict.to_payload(policy_name), name, state.rid))
                report.add(name, "*", "conflicts")
            if p.writes:
                plans.append((state, p))
            else:
                settled.append(state.rid)
        if settled:  # nothing to write for these: they no longer need attention
            entries.append(new_entry(SettledIntent(settled=tuple(settled)), name))
        if entries:
            with self.journal.transaction():
                self.journal.append(entries)
        order = {side: i for i, side in enumerate(module.order)}
        self._retrying = set()  # records a side asked to retry: they stay dirty
        for side in module.order:
            batch = [
                (state, w, w.side == max((x.side for x in p.writes), key=order.__getitem__))
                for state, p in plans
                for w in p.writes
                if w.side == side
            ]
            if batch:
                self._push(module, side, batch, report)
        return woke

    def _push(
        self,
        module: ModuleConfig,
        side: str,
        batch: list[tuple[RecordState, SideWrite, bool]],
        report: CycleReport,
    ) -> None:
        """Journal the intent, push, journal each outcome (``done``: the record's last write)."""
        name = module.name
        writes: list[Write] = []
        sent: list[tuple[RecordState, SideWrite, bool]] = []
        entries: list[NewEntry] = []
        # duplicates = "clone": the fields a record's write was sent under another name
        renamed_in: dict[str, list[dict[str, Any]]] = {}

        def refused(rid: str, counted: str, **failure: Any) -> None:
            """An error entry for a write that failed (``failure``: reason, done, ...)."""
            entries.append(new_entry(Failure(stage="write", **failure), name, rid, side))
            report.add(name, side, counted)

        twins = self._twins_outside(module, side, [state for state, w, _ in batch if w.id is None])
        renames = self._clone_names(module, side, batch, report)  # duplicates = "clone"
        for state, w, done in batch:
            if state.rid in twins:
                self._retrying.add(state.rid)
                refused(state.rid, "outside view", reason=twins[state.rid], retry=True, done=done)
                continue
            w, renamed = renames.get(state.rid, (w, None))
            if renamed is not None:
                renamed_in[state.rid] = renamed
            values = canonical(w.values)
            unresolved = self._side_ids(module, side, values) if module.lookups else None
            if unresolved is not None:
                self._retrying.add(state.rid)
                refused(state.rid, "rejected", reason=unresolved, retry=True, done=done)
                continue
            try:
                side_values = module.fields.to_side(side, values)
            except (MappingError, ValueError, TypeError) as exc:
                refused(
                    state.rid,
                    "errors",
                    reason=f"cannot convert for {side}: {exc}",
                    done=done,
                    attempt=_attempt(state, side),
                )
                continue
            if w.id is None:  # a create leaves unset columns to the side's defaults
                side_values = {k: v for k, v in side_values.items() if v is not None}
                side_values = {**module.side_module(side).create, **side_values}
            writes.append(Write(key=state.rid, id=w.id, values=side_values))
            sent.append((state, w, done))
        if writes:  # what is about to be written, durable before the side sees it
            intent = {wr.key: wr.id for wr in writes}
            self.journal.append([new_entry(WriteIntent(writes=intent), name, None, side)])
        outcomes = self.connectors[side].push(module.side_module(side), writes) if writes else []
        if len(outcomes) != len(writes):
            raise EngineError(
                f"side {side} answered {len(outcomes)} outcomes for {len(writes)} writes"
            )
        for (state, w, done), outcome in zip(sent, outcomes, strict=True):
            done = done and state.rid not in self._retrying
            if not outcome.ok and outcome.retry:
                self._retrying.add(state.rid)
            if outcome.ok and outcome.id is not None:
                renamed = renamed_in.get(state.rid)
                applied = Applied(
                    id=str(outcome.id),
                    create=w.id is None,
                    done=done,
                    renamed=tuple(renamed or ()),
                )
                entries.append(
                    new_entry(
                        applied,
                        name,
                        state.rid,
                        side,
                        context=VectorClock(w.context),
                        fields=w.values,
                    )
                )
                report.add(name, side, "created" if w.id is None else "updated")
                report.add(name, side, "renamed", 1 if renamed else 0)
            else:
                again: dict[str, Any] = (
                    {"retry": True} if outcome.retry else {"attempt": _attempt(state, side)}
                )
                refused(
                    state.rid,
                    "rejected",
                    reason=outcome.error or "no id returned",
                    id=w.id,
                    done=done,
                    **again,
                )
        with self.journal.transaction():
            self.journal.append(entries)
        self._pushed[(name, side)] += len(writes)
        self.progress("push", name, side, self._pushed[(name, side)])

    def _twins_outside(
        self, module: ModuleConfig, side: str, states: Sequence[RecordState]
    ) -> dict[str, str]:
        """Records about to be created on ``side`` whose duplicate is there but outside the
        module's view or criteria (so never pulled), each with the reason it waits.

        A view limits what syncs, never what duplicate matching sees: such a record is
        not created a second time; it waits, and pairs with its twin once the twin
        enters the view (or the view changes).  Under ``clone`` both are meant to exist.
        """
        side_module = module.side_module(side)
        if (
            not states
            or not module.match_fields
            or not (side_module.view or side_module.where)
            or module.policy.duplicates is DuplicatePolicy.CLONE
        ):
            return {}
        whole = attrs.evolve(side_module, view=None, where={})
        scope = (
            f"view {side_module.view!r}"
            if side_module.view
            else f"criteria {dict(side_module.where)}"
        )
        connector = self.connectors[side]
        waiting: dict[str, str] = {}
        for state in states:
            held = state.held_wire(state.origin)
            if state.key is None or held is None:
                continue
            text = from_wire(held.wire.get(module.match_fields[0]))
            if text is None:
                continue
            for change in connector.search(whole, str(text)):
                values, _ = module.fields.to_canonical(side, change.values, record=state.rid)
                if match_key([values.get(f) for f in module.match_fields]) != state.key:
                    continue
                if self.journal.rid_for(module.name, side, str(change.id)) is None:
                    waiting[state.rid] = (
                        f"{side} {side_module.table} record {change.id} has the same "
                        f"{'/'.join(module.match_fields)} ({text!s}) but lies outside the "
                        f"{scope}: not created a second time; the two pair up when it "
                        "enters it"
                    )
                    break
        return waiting

    def _clone_names(
        self,
        module: ModuleConfig,
        side: str,
        batch: list[tuple[RecordState, SideWrite, bool]],
        report: CycleReport,
    ) -> dict[str, tuple[SideWrite, list[dict[str, Any]]]]:
        """Clones (``duplicates = "clone"``, or a person's ``--value clone``): the writes to
        send under another name, as another record holds theirs
        (:mod:`replicator.sync.clone_names`)."""
        fields, batch = name_fields(module), clones(module, batch)
        if not fields or not batch:
            return {}
        names = self._held_names.get(module.name)
        if names is None or names.fields != fields or names.cycle is not report:
            names = HeldNames(self.journal, module.name, fields, cycle=report)  # read afresh
            self._held_names[module.name] = names
        return rename_clones(names, module, side, batch)

    def _duplicates(self, module: ModuleConfig, rids: list[str], report: CycleReport) -> bool:
        """Pair up single-sided records that share a match key and, with ``suggest``, hold
        near matches for a person; returns whether any record woke."""
        name = module.name
        policy = module.policy
        keys = []
        for rid in rids:
            state = self.journal.record(name, rid)
            if state is not None and state.attention and state.index_key() is not None:
                keys.append(state.index_key())
        groups = self.journal.with_keys(name, [k for k in keys if k is not None]) if keys else {}
        entries: list[NewEntry] = []
        woke = False
        for key in sorted(groups):
            members_rids = groups[key]
            if len(members_rids) < 2:
                continue
            self.journal.preload(name, members_rids)
            members = []
            for rid in members_rids:
                state = self.journal.record(name, rid)
                if state is not None and state.status == ACTIVE and len(state.linked_sides) == 1:
                    held = state.held_wire(state.linked_sides[0])
                    if held is not None and not held.deleted:  # a deleted row pairs with none
                        members.append(Member(rid, state.linked_sides[0]))
            if len({m.origin for m in members}) < 2:
                continue
            decision = decide(policy.duplicates, policy.incoming, members)
            if decision.action == "pair" and decision.pair is not None:
                incoming, existing = decision.pair
                merge = policy.duplicates is DuplicatePolicy.LINK
                entries += pair_entries(self.journal, module, incoming, existing, key, merge=merge)
                report.add(name, existing.origin, "linked")
                woke = woke or incoming.rid < existing.rid
            elif decision.action == "skip":
                for member in decision.members:
                    skipped = Skipped(reason=decision.reason, key=key)
                    entries.append(new_entry(skipped, name, member.rid, member.origin))
                    report.add(name, member.origin, "skipped")
            elif decision.action == "ambiguous":
                others = [{"rid": m.rid, "side": m.origin} for m in decision.members]
                for member in decision.members:
                    held_group = DuplicateConflict(
                        field="(duplicate)",
                        status="open",
                        key=key,
                        candidates=tuple(others),
                        reason=decision.reason,
                        policy=policy.duplicates.value,
                        dots=(),
                    )
                    entries.append(new_entry(held_group, name, member.rid))
                    report.add(name, member.origin, "held")
        if module.suggest:  # decided on the same snapshot: exact duplicates are left out
            entries += near_matches(self.journal, module, rids, report)
        if entries:
            with self.journal.transaction():
                self.journal.append(entries)
        return woke

    # -- one record, now (see replicator.sync.one) ----------------------------------------

    def fetch(self, module_name: str, side: str, id: str) -> tuple[CycleReport, str]:
        """Re-sync one record from ``side`` now: read it there, journal it, plan and push
        (:func:`replicator.sync.one.fetch`); the report and the record's id."""
        from replicator.sync.one import fetch

        return fetch(self, module_name, side, id)

    def sync_ids(
        self, module_name: str, side: str, ids: Sequence[str], *, trigger: str = "callback"
    ) -> CycleReport:
        """Re-read these records of ``side`` now (a notification named them), journal what
        changed, plan and push (:func:`replicator.sync.one.sync_ids`)."""
        from replicator.sync.one import sync_ids

        return sync_ids(self, module_name, side, ids, trigger=trigger)


# -- a person's decisions ------------------------------------------------------------------


def resolve(
    journal: Journal,
    config: Config,
    conflict_id: int,
    *,
    take: str | None = None,
    raw_value: str | None = None,
) -> NewEntry:
    """Journal a person's decision on a conflict; the next sync writes it to every side."""
    from conflicts.errors import ResolutionError
    from replicator.config.mapping import to_canonical

    row = journal.conflict(conflict_id)
    if row is None:
        raise ResolutionError(f"no conflict {conflict_id}")
    data = ConflictData.of(row["data"])
    module = config.modules.get(row["module"])
    if module is None:
        raise ResolutionError(f"conflict {conflict_id}: module {row['module']!r} is not configured")
    state: RecordState | None = journal.record(row["module"], row["rid"])
    if state is None:
        raise ResolutionError(f"conflict {conflict_id}: record {row['rid']} is unknown")
    if data.resolution is not None:
        raise ResolutionError(f"conflict {conflict_id} was already resolved by a person")
    if data.settled_by is not None:
        raise ResolutionError(
            f"conflict {conflict_id} was settled by a later change (entry "
            f"{data.settled_by['seq']}): nothing to resolve; see `conflicts list --open`"
        )
    resolution = ValueResolution(conflict=conflict_id, by="person")
    if isinstance(data.conflict, DuplicateConflict):
        return resolve_duplicate(journal, module, row, take if take is not None else raw_value)
    held_siblings = data.conflict.siblings
    field = row["field"]
    reg = state.fields.get(field)
    if reg is None:
        raise ResolutionError(f"conflict {conflict_id}: field {field!r} has no value")
    if take is not None:
        siblings = [s for s in reg.siblings if s.dot.side == take]
        if not siblings:
            candidates = [s["side"] for s in held_siblings]
            if take in candidates:
                siblings_data = [s for s in held_siblings if s["side"] == take]
                chosen = siblings_data[-1]["value"]
            else:
                raise ResolutionError(
                    f"conflict {conflict_id}: no value from side {take!r} "
                    f"(sides in conflict: {sorted(set(candidates))})"
                )
        else:
            chosen = max(siblings, key=lambda s: s.dot.counter).value
        resolution = attrs.evolve(resolution, take=take)
    elif raw_value is not None:
        try:
            chosen = to_canonical(module.fields.kind(field), raw_value, field=field)
        except MappingError as exc:
            raise ResolutionError(f"conflict {conflict_id}: {exc}") from None
        if module.fields.kind(field) == "picklist":
            # a value no mapped side can spell would only fail later, as a write error
            for side in module.sides:
                values = module.fields.value_map(field, side)
                if values is not None and chosen not in values.values():
                    known = ", ".join(repr(v) for v in sorted(set(values.values())))
                    raise ResolutionError(
                        f"conflict {conflict_id}: field {field}: {chosen!r} is not a value "
                        f"side {side} can hold (its picklist map gives {known})"
                    )
        resolution = attrs.evolve(resolution, value=chosen)
    else:
        raise ResolutionError("say which value wins: --take SIDE or --value VALUE")
    dot = Dot(RESOLVER, state.clock.get(RESOLVER) + 1)
    entry = new_entry(
        resolution, row["module"], row["rid"], dot=dot, context=reg.clock, fields={field: chosen}
    )
    journal.append([entry])
    return entry


def _attempt(state: RecordState, side: str) -> int:
    """The number of this attempt at writing the record to ``side`` (1 unless refused)."""
    return state.retries.get(side, (0, None))[0] + 1


def retry(journal: Journal, module: str, rids: Sequence[str], *, by: str = "person") -> int:
    """Journal that these records' refused writes are to be tried again at the next sync
    (before their backoff ends, or after they were held); returns how many there were."""
    due = []
    for rid in rids:
        state = journal.record(module, rid)
        if state is not None and state.retries:
            due.append(rid)
    if due:
        journal.append([new_entry(RetryIntent(retry=tuple(due), by=by), module)])
    return len(due)


def _shown(value: Any) -> Any:
    """A side's bad value for an error entry: as it is when short and canonical, else as
    safe text (bytes as a hex literal, long text cut; see :func:`replicator.errors.shown`)."""
    if value is None or type(value) is bool:
        return value
    if type(value) is Decimal and _short_amount(value):
        return value
    if type(value) is int and value.bit_length() <= 4 * SHOWN_CHARS:
        return value
    if type(value) is str and len(value) <= SHOWN_CHARS and _utf8(value):
        return value
    return shown(value)


def _short_amount(value: Decimal) -> bool:
    """Whether an amount is finite and short in plain notation: the journal cannot hold
    ``Infinity`` or ``NaN``, and ``1E+999999999`` would be a billion digits long."""
    if not value.is_finite():
        return False
    places = -int(value.as_tuple().exponent)
    return abs(value.adjusted()) <= SHOWN_CHARS and places <= SHOWN_CHARS


def _rounded_by(side: str, field: str, have: Any, got: Any, state: RecordState) -> str | None:
    """Why ``got`` is ``side``'s rounding of the amount ``have`` we wrote there, or None.

    A side that keeps fewer decimal places (a Zoho currency field keeps 2) rounds what it
    is given: read back, the rounded amount is no change of theirs, and taken for one it
    would be written back over the exact amount on every other side.  It is compared at the
    side's precision instead, and the rounding journaled as an error; a value the side's
    people type (any other amount) is a change as ever."""
    if type(have) is not dict or type(got) is not dict:
        return None
    exact, read = from_wire(have), from_wire(got)
    if not isinstance(exact, Decimal) or not isinstance(read, Decimal):
        return None
    places, held_places = read.as_tuple().exponent, exact.as_tuple().exponent
    if not isinstance(places, int) or not isinstance(held_places, int) or places <= held_places:
        return None
    step = Decimal(1).scaleb(places)
    if read not in (exact.quantize(step, ROUND_HALF_UP), exact.quantize(step, ROUND_HALF_EVEN)):
        return None
    # the amount it held came from another side, through our write (not typed there)
    if not any(s != side and same_wire(v, have) for s, v in state.wire_values(field)):
        return None
    return (
        f"side {side} keeps fewer decimal places in {field}: it rounded our write of {exact} "
        f"to {read}; the exact amount stays on the other sides and the rounded one is not "
        "taken back"
    )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the journal (UTF-8) could not hold it
        return False
    return True


def _plain(value: Any) -> Any:
    """Config / error values as canonical JSON-safe values (floats become Decimal text)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.datetime,)) and value.tzinfo is None:
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


__all__ = [
    "CONFIG_MODULE",
    "CycleReport",
    "Engine",
    "last_config",
    "report_data",
    "resolve",
    "retry",
]
