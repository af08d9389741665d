"""Removing the CRM-side copies of Books documents when the integration is disabled
(``replicator disable --remove-crm-copies``), as the original Zoho integration offers.
Books data is never touched.

**What a copy is.**  A *transaction module* is one a side of which keeps its records in a
CRM document table (:data:`COPY_TABLES`: Quotes, Sales_Orders, Invoices, Purchase_Orders);
that side is the module's *CRM side*.  A copy is a record of such a module linked on the
CRM side and on every other side of the module, no link marked deleted: the CRM record of
a Books document.  A document on the CRM side alone is its own, never a copy; masters
(customers, items, ...) and deals are never touched.

**The journal.**  Removal runs only while sync is disabled, so nothing links a new copy
meanwhile: the list shown to the person is what is removed.

1. :class:`~journal.payloads.CopiesRemoval` (a ``@lifecycle`` entry: who asked, why, every
   copy listed), before the first delete is sent;
2. per batch of at most :data:`BATCH` copies (one CRM call), once the side answered, in one
   transaction: a ``tombstone`` of each copy removed (or gone already) on the CRM side,
   with who asked, why and the request's seq; an ``error`` entry (stage ``remove``) with
   the side's reason for each copy it refused;
3. :class:`~journal.payloads.CopiesRemoved`, with the counts.

The tombstone is the engine's own: the link stays, marked deleted, so the CRM side's next
pull sees a known delete, and a delete is never propagated: the Books document stays and
no copy is made again (DESIGN section 5).

**A crash** (or an outage) halfway leaves the request and the batches journaled before it.
A re-run lists what is still linked on both sides, that is the copies not yet journaled as
removed, and removes them: a copy whose delete reached the side before the crash is gone
there, which counts as removed.  Nothing is deleted twice, and nothing beyond the list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from journal import Entry, JournalStorage
from journal.entry import from_wire
from journal.payloads import (
    CopiesRemoval,
    CopiesRemoved,
    Failure,
    Tombstone,
    expect,
    new_entry,
    payload_of,
)
from replicator.config.daemon import TRANSACTION_TABLES
from replicator.config.load import Config, ModuleConfig
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.remove import MemoryRemover, Removal, Remover, SQLiteRemover
from replicator.connectors.sqlite import SQLiteConnector
from replicator.errors import ConfigError, EngineError
from replicator.sync.context import Progress
from replicator.sync.lifecycle import LIFECYCLE, REMOVAL_COUNTS, lifecycle
from replicator.sync.record import CONFIG_MODULE

# the CRM's document tables among the transaction tables (deals are the CRM's own records)
COPY_TABLES = TRANSACTION_TABLES & frozenset(
    {"Quotes", "Sales_Orders", "Invoices", "Purchase_Orders"}
)
BATCH = 100  # copies per remover call and per journal transaction: Zoho's DELETE maximum
STAGE = "remove"  # the stage of the error entry of a copy the side refused to delete
SHOWN = 50  # copies listed one by one before the confirmation (--json lists them all)
LABELS = ("subject", "number", "name", "reference")  # fields that name a document, first


@attrs.frozen
class Copy:
    """A CRM record that is a copy of a Books document."""

    module: str
    rid: str
    side: str  # the module's CRM side
    id: str  # the copy's id there
    others: Mapping[str, str]  # the document's id on each other side (Books)
    label: str | None = None  # what names it for a person (its subject), if known

    def data(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "record": self.rid,
            "side": self.side,
            "id": self.id,
            "others": dict(self.others),
            "label": self.label,
        }


@attrs.frozen
class Plan:
    """What a removal would delete, and what it leaves."""

    copies: tuple[Copy, ...]
    sides: Mapping[str, str]  # transaction module -> its CRM side
    crm_only: Mapping[str, int]  # module -> documents on the CRM side alone (kept)
    interrupted: Entry | None = None  # an earlier request that did not run to its end

    def by_module(self) -> dict[str, list[Copy]]:
        out: dict[str, list[Copy]] = {}
        for copy in self.copies:
            out.setdefault(copy.module, []).append(copy)
        return out


@attrs.frozen
class Outcome:
    """A removal that ran: the request's entry, the copies removed (``gone``: not there any
    more, counted as removed) and those the side refused, with its reason."""

    request: Entry | None
    removed: tuple[tuple[Copy, bool], ...] = ()
    failed: tuple[tuple[Copy, str], ...] = ()

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for copy, gone in self.removed:
            tally = out.setdefault(copy.module, dict.fromkeys(REMOVAL_COUNTS, 0))
            tally["gone" if gone else "removed"] += 1
        for copy, _ in self.failed:
            tally = out.setdefault(copy.module, dict.fromkeys(REMOVAL_COUNTS, 0))
            tally["failed"] += 1
        return out


# -- which copies --------------------------------------------------------------------------


def crm_side(config: Config, module: ModuleConfig) -> str | None:
    """The side of ``module`` that keeps CRM documents, or None for a module of no such
    side (a master, deals).  Two such sides: the Zoho CRM one; else the config is refused."""
    found = [side for side, sm in module.sides.items() if sm.table in COPY_TABLES]
    if len(found) > 1:
        zoho = [s for s in found if config.sides[s].connector == "zoho_crm"]
        if len(zoho) != 1:
            raise ConfigError(
                str(config.path),
                f"modules.{module.name}",
                f"sides {', '.join(found)} both keep CRM documents: which holds the copies "
                "of the Books documents is not clear",
            )
        found = zoho
    return found[0] if found else None


def plan(journal: JournalStorage, config: Config) -> Plan:
    """The copies a removal would delete now, module by module, in record order.

    Read from the links (a record merged into another one passes its links on, so each
    CRM record is one record's copy at most); the record's state gives its label."""
    copies: list[Copy] = []
    sides: dict[str, str] = {}
    crm_only: dict[str, int] = {}
    for name, module in config.modules.items():
        side = crm_side(config, module)
        if side is None:
            continue
        sides[name] = side
        others = [s for s in module.sides if s != side]
        live: dict[str, dict[str, str]] = {}  # rid -> side -> its id there, active links only
        for (linked_side, side_id), (rid, status) in journal.module_links(name).items():
            if status == "active":
                live.setdefault(rid, {})[linked_side] = side_id
        for rid in sorted(r for r, ids in live.items() if side in ids):
            ids = live[rid]
            if not others or any(other not in ids for other in others):
                crm_only[name] = crm_only.get(name, 0) + 1
                continue
            state = journal.record(name, rid)
            held = state.held_wire(side) if state is not None else None
            label = _label(module, held.wire) if held is not None else None
            other_ids = {other: ids[other] for other in others}
            copies.append(Copy(name, rid, side, ids[side], other_ids, label))
    return Plan(tuple(copies), sides, crm_only, interrupted(journal))


def _label(module: ModuleConfig, wire: Mapping[str, Any]) -> str | None:
    names = [n for n in LABELS if n in module.fields.fields]
    names += [n for n, (kind, _) in module.fields.fields.items() if kind == "text"]
    for name in names:
        value = wire.get(name)
        if value not in (None, ""):
            return str(from_wire(value))
    return None


def requests(journal: JournalStorage) -> Iterator[tuple[Entry, bool]]:
    """Every removal request, oldest first, and whether it ran to its end."""
    pending: dict[int, Entry] = {}
    order: list[int] = []
    ended: set[int] = set()
    for entry in journal.read(module=CONFIG_MODULE, rid=LIFECYCLE):
        payload = payload_of(entry)
        if isinstance(payload, CopiesRemoval):
            pending[entry.seq] = entry
            order.append(entry.seq)
        elif isinstance(payload, CopiesRemoved):
            ended.add(int(payload.request))
    for seq in order:
        yield pending[seq], seq in ended


def interrupted(journal: JournalStorage) -> Entry | None:
    """The last removal request, if it did not run to its end (a crash, an outage)."""
    last = None
    for entry, done in requests(journal):
        last = None if done else entry
    return last


# -- removing them -------------------------------------------------------------------------


def remover(connector: object) -> Remover | None:
    """The remover of a connector's side, or None when its records are never removed (a
    Zoho Books side: Books data is never touched)."""
    if isinstance(connector, MemoryConnector):
        return MemoryRemover(connector)
    if isinstance(connector, SQLiteConnector):
        return SQLiteRemover(connector.side, connector.path)
    # function-level: the Zoho client (httpx) loads only for a Zoho side
    from replicator.connectors.zoho.crm import ZohoCRMConnector
    from replicator.connectors.zoho.crm_remove import CrmRemover  # function-level: as above

    if isinstance(connector, ZohoCRMConnector):
        return CrmRemover(connector)
    return None


def remove(
    journal: JournalStorage,
    config: Config,
    found: Plan,
    removers: Mapping[str, Remover],
    *,
    by: str,
    reason: str,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> Outcome:
    """Delete the copies of ``found`` through ``removers`` (side -> remover), journaled as
    the module docstring says.  Only while sync is disabled; a side's failure as a whole
    stops the run and propagates (the request stays unfinished: run it again)."""
    if not lifecycle(journal).disabled:
        raise EngineError(
            "CRM copies are removed only while sync is disabled (`replicator disable "
            "--remove-crm-copies` disables it first), so that no copy is made meanwhile"
        )
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    # a plan made before another removal may list copies gone since: never sent again
    still = {(c.module, c.rid, c.id) for c in plan(journal, config).copies}
    found = attrs.evolve(
        found, copies=tuple(c for c in found.copies if (c.module, c.rid, c.id) in still)
    )
    if not found.copies:
        return Outcome(None)
    for module, side in sorted({(c.module, c.side) for c in found.copies}):
        if side not in removers:
            connector = config.sides[side].connector if side in config.sides else "?"
            raise EngineError(
                f"module {module}: side {side} ({connector}) cannot remove records; nothing "
                "was removed"
            )
    records: dict[str, dict[str, str]] = {}
    for copy in found.copies:
        records.setdefault(copy.module, {})[copy.rid] = copy.id
    sides = {module: found.sides[module] for module in records}
    asked = CopiesRemoval(by=by, reason=reason, sides=sides, records=records)
    (request,) = journal.append([new_entry(asked, CONFIG_MODULE, LIFECYCLE)])
    removed: list[tuple[Copy, bool]] = []
    failed: list[tuple[Copy, str]] = []
    for module, copies in found.by_module().items():
        side = copies[0].side
        side_module = config.modules[module].side_module(side)
        done = 0
        for start in range(0, len(copies), batch):
            chunk = copies[start : start + batch]
            answers = removers[side].remove(side_module, [c.id for c in chunk])
            by_id = {a.id: a for a in answers}
            entries = []
            for copy in chunk:
                answer = by_id.get(copy.id) or Removal(
                    copy.id, error=f"side {side} gave no answer for record {copy.id}"
                )
                if answer.ok:
                    gone = Tombstone(
                        id=copy.id, by=by, reason=reason, request=request.seq, gone=answer.gone
                    )
                    entries.append(new_entry(gone, module, copy.rid, side))
                    removed.append((copy, answer.gone))
                else:
                    error = str(answer.error)
                    refused = Failure(reason=error, stage=STAGE, id=copy.id)
                    entries.append(new_entry(refused, module, copy.rid, side))
                    failed.append((copy, error))
            journal.append(entries)  # one transaction: the batch's outcomes together
            done += len(chunk)
            if progress is not None:
                progress(STAGE, module, side, done)
    outcome = Outcome(request, tuple(removed), tuple(failed))
    journal.append(
        [
            new_entry(
                CopiesRemoved(request=request.seq, counts=outcome.counts()),
                CONFIG_MODULE,
                LIFECYCLE,
            )
        ]
    )
    return outcome


def listing(found: Plan, *, shown: int = SHOWN) -> list[str]:
    """The listing of what a removal would delete, shown before it is confirmed (the first
    ``shown`` copies one by one)."""
    lines = []
    if found.interrupted is not None:
        asked = expect(found.interrupted, CopiesRemoval)
        lines.append(
            f"an earlier removal (entry {found.interrupted.seq}, asked by {asked.by}) did not "
            "finish: the copies it did not remove are listed again"
        )
    if not found.copies:
        what = "no CRM copy of a Books document" if found.sides else "no transaction module"
        return [*lines, f"{what}: nothing to remove"]
    for module, listed in found.by_module().items():
        lines.append(
            f"{module}: {len(listed)} CRM copies of Books documents on side {listed[0].side} "
            f"would be removed (CRM-only documents, kept: {found.crm_only.get(module, 0)})"
        )
    for copy in found.copies[:shown]:
        others = ", ".join(f"{side} id {id}" for side, id in copy.others.items())
        label = f" {copy.label!r}" if copy.label else ""
        lines.append(
            f"  {copy.module} record {copy.rid}{label}: {copy.side} id {copy.id} ({others})"
        )
    if len(found.copies) > shown:
        lines.append(f"  ... and {len(found.copies) - shown} more (`--json` lists them all)")
    return lines


def summary(outcome: Outcome) -> list[str]:
    """What a removal did, for a person: the counts, then each failure with its reason."""
    gone = sum(g for _, g in outcome.removed)
    entry = outcome.request.seq if outcome.request is not None else "-"
    lines = [
        f"removed {len(outcome.removed)} CRM copies of Books documents ({gone} were gone "
        f"already; journal entry {entry}); {len(outcome.failed)} failed; Books untouched"
    ]
    for copy, why in outcome.failed:
        lines.append(f"  failed: {copy.module} record {copy.rid} on {copy.side}: {why}")
    return lines


def outcome_data(outcome: Outcome) -> dict[str, Any]:
    """A removal's outcome as ``--json`` prints it."""
    return {
        "request": outcome.request.seq if outcome.request is not None else None,
        "removed": [{**c.data(), "gone": gone} for c, gone in outcome.removed],
        "failed": [{**c.data(), "reason": why} for c, why in outcome.failed],
        "counts": outcome.counts(),
    }


__all__ = [
    "BATCH",
    "COPY_TABLES",
    "SHOWN",
    "STAGE",
    "Copy",
    "Outcome",
    "Plan",
    "crm_side",
    "interrupted",
    "listing",
    "outcome_data",
    "plan",
    "remove",
    "remover",
    "requests",
    "summary",
]
