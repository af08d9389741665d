"""Deals: a watch module's triggers -> the quotes and invoices its deals make (issue 13).

Enters: from :func:`~replicator.sync.decide.settle_batch`, the records of a watch module
with triggers (``[modules.deals]``, read from the CRM, never written) that need attention:
deals whose values changed there.

Leaves: per deal and trigger, the decision of :func:`conflicts.deals.decide` journaled:
a ``Triggered`` entry on the document record (``invoice:crm:<deal id>``, one per deal and
trigger) when the trigger makes or changes the document, a ``TriggerSkipped`` entry on the
deal when it does nothing for a reason a person should see; and the deals' ``settled``
intent, all in ONE transaction (a crash leaves all or none, and a re-run decides the same:
the rules compare with what the trigger last set, so a decision journaled is never made
twice).  Returned: the document records made or changed, per document module, which the
caller plans and pushes at once (:func:`~replicator.sync.decide.settle_batch`).

A deal is not evaluated while a value of its could not be read (a poison, an account the
lookup could not find): its record holds that error, and its next change heals it and
evaluates it.  A deal deleted in the CRM makes and changes nothing.  A deal whose document
has a write of ours without an outcome (Books refused it, or a crash cut it short) waits,
marked, until the document settled: the rules compare Books' status with what the trigger
last set, and a status still on its way would pass for a person's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from conflicts import RecordState
from conflicts.deals import (
    Skip,
    TriggerSpec,
    decide,
    document_rid,
    skipped_entry,
    triggered_entry,
)
from journal import NewEntry
from journal.entry import from_wire
from journal.payloads import SettledIntent, new_entry
from replicator.config.load import ModuleConfig
from replicator.connectors.base import probabilities
from replicator.sync.context import Context
from replicator.sync.record import CycleReport

STAGE = "stage"  # the deals module's field whose values the stage metadata knows


def settle_deals(
    ctx: Context, module: ModuleConfig, rids: Sequence[str], report: CycleReport
) -> dict[str, list[str]]:
    """Run the triggers of the deals among ``rids`` that need attention, journal every
    decision and their settle in one transaction; returns the document records made or
    changed, per document module."""
    journal = ctx.journal
    name = module.name
    (side,) = module.sides
    journal.preload(name, list(rids))
    deals = [s for s in (journal.record(name, rid) for rid in rids) if s is not None]
    deals = [s for s in deals if s.attention]
    if not deals:
        return {}
    stages = stage_metadata(ctx, module)  # read once per batch
    triggers = trigger_specs(ctx, module)
    entries: list[NewEntry] = []
    made: dict[str, list[str]] = {}
    settled: list[str] = []
    for state in deals:
        documents = {
            spec.name: journal.record(document_module.name, document_rid(spec, state.rid))
            for spec, document_module in triggers
        }
        if any(d is not None and d.attention for d in documents.values()):
            # a write of ours to a document has no outcome yet (refused, waiting, or
            # cut short by a crash): what Books holds is not known, and the status it
            # last showed could pass for a person's.  The deal stays marked and is
            # decided once the document settled (its module's cycle, or the caller's
            # push of documents in flight, :func:`documents_in_flight`)
            report.add(name, side, "waiting")
            continue
        settled.append(state.rid)
        deal = deal_values(state, side)
        if deal is None:
            continue
        deal_id, values = deal
        for spec, document_module in triggers:
            books = books_side(document_module, side)
            rid = document_rid(spec, state.rid)
            document = documents[spec.name]
            decision = decide(
                spec,
                state.rid,
                deal_id,
                values,
                stages,
                document,
                books=books,
                maps=written_fields(document_module, books),
                baseline=state.baseline,
            )
            if decision is None:
                continue
            if isinstance(decision, Skip):
                entries.append(skipped_entry(spec, name, state.rid, decision, document))
                report.add(name, side, "skipped")
                continue
            entries.append(triggered_entry(spec, state.rid, decision, document, books=books))
            report.add(name, side, "triggered")
            made.setdefault(document_module.name, []).append(rid)
    if settled:  # every deal decided is settled: a watch module writes nothing of its own
        entries.append(new_entry(SettledIntent(settled=tuple(settled)), name))
    if entries:
        with journal.transaction():
            journal.append(entries)
    return made


def documents_in_flight(
    ctx: Context, module: ModuleConfig, rids: Sequence[str]
) -> dict[str, list[str]]:
    """The documents of the deals among ``rids`` needing attention that need attention
    themselves (a trigger's write with no outcome yet), per document module: pushed before
    the deals are decided, so the decisions see what Books holds."""
    journal = ctx.journal
    triggers = trigger_specs(ctx, module)
    found: dict[str, list[str]] = {}
    for rid in rids:
        state = journal.record(module.name, rid)
        if state is None or not state.attention:
            continue
        for spec, _ in triggers:
            document = journal.record(spec.module, document_rid(spec, rid))
            if document is not None and document.attention:
                found.setdefault(spec.module, []).append(document.rid)
    return found


def trigger_specs(ctx: Context, module: ModuleConfig) -> list[tuple[TriggerSpec, ModuleConfig]]:
    """The module's triggers as the rules take them, each with its document module."""
    return [
        (TriggerSpec(t.name, t.module, t.on), ctx.config.modules[t.module])
        for t in module.triggers.values()
    ]


def deal_values(state: RecordState, side: str) -> tuple[str, dict[str, Any]] | None:
    """The deal's id on ``side`` and its canonical values, or None when it is not to be
    evaluated: deleted there, never read, or holding a value that would not read."""
    held = state.held_wire(side)
    if held is None or held.id is None or held.deleted:
        return None
    if side in state.errors:  # a poison or an account the lookup found no record of
        return None
    return held.id, {k: from_wire(v) for k, v in held.wire.items()}


def stage_metadata(ctx: Context, module: ModuleConfig) -> Mapping[str, int] | None:
    """The deals side's stage -> probability, keyed by the canonical stage values (a
    picklist's value map spells the side's values as ours), or None when it has none."""
    (side,) = module.sides
    column = module.fields.fields[STAGE][1][side]
    found = probabilities(ctx.connectors[side], module.side_module(side), column)
    if found is None:
        return None
    spelled = module.fields.value_map(STAGE, side)
    if spelled is None:
        return dict(found)
    return {spelled[value]: p for value, p in found.items() if value in spelled}


def books_side(document_module: ModuleConfig, deals_side: str) -> str:
    """The side a trigger-made document is written to: its module's side that is not the
    deals' (a free-text line is nothing the CRM can hold)."""
    return next(s for s in document_module.order if s != deals_side)


def written_fields(document_module: ModuleConfig, books: str) -> list[str]:
    """The document module's fields mapped on ``books``: those a trigger may set."""
    return sorted(
        f for f, (_, columns) in document_module.fields.fields.items() if books in columns
    )


__all__ = [
    "books_side",
    "deal_values",
    "documents_in_flight",
    "settle_deals",
    "stage_metadata",
    "trigger_specs",
    "written_fields",
]
