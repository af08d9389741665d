"""Pull: a side's changes since its cursor -> ingested, page by page.

Enters: a module and one of its sides; the side's cursor in the journal.

Leaves: each page the side gives (less the rows outside the module's criteria) ingested
(:mod:`~replicator.sync.ingest`) and committed with the cursor that covers it, so a crash
re-reads at most one page; with ``lookup_missing = "fetch"``, the records the page's
lookups name that are not synced yet, read by id, ingested and settled first; a ``@pulled``
marker the first time the side is read to its end; and whether it was (False: a stop was
asked for between two pages).  Whether a module was pulled once is kept with the lifecycle
(:func:`~replicator.sync.lifecycle.pulled_once`: a delete of the integration forgets it),
where the decide step reads it too (a deal's documents are pushed at once when it was).
"""

from __future__ import annotations

from collections.abc import Sequence

from journal.payloads import Cursor, new_entry
from replicator.config.load import ModuleConfig
from replicator.connectors.base import Change, matches
from replicator.sync.context import Context
from replicator.sync.decide import settle_batch
from replicator.sync.ingest import ingest, lookup_ids
from replicator.sync.lifecycle import PULLED, pulled_once, pulled_to_end
from replicator.sync.record import CycleReport


def pull(ctx: Context, module: ModuleConfig, side: str, report: CycleReport) -> bool:
    """Journal the side's changes since its cursor, page by page; returns whether the
    pull reached the end (False: a stop was asked for between two pages)."""
    connector = ctx.connectors[side]
    side_module = module.side_module(side)
    journal = ctx.journal
    cursor = journal.cursor(side, module.name)
    seen = 0
    where = side_module.where
    for page in connector.pull(side_module, cursor, page_size=module.page_size):
        changes = page.changes
        if where:  # rows outside the local criteria are not synced (nor deleted)
            changes = tuple(c for c in changes if c.deleted or matches(where, c.values))
        if module.lookup_missing == "fetch":
            fetch_parents(ctx, module, side, changes, report)
        with journal.transaction():
            ingest(ctx, module, side, changes, report)
            if page.cursor != cursor:
                moved = Cursor(cursor=page.cursor)
                journal.append([new_entry(moved, module.name, None, side)])
                cursor = page.cursor
        seen += len(page.changes)
        report.add(module.name, side, "pulled", len(page.changes))
        ctx.progress("pull", module.name, side, seen)
        if ctx.stop_requested():  # the page and its cursor are journaled: stop here
            return False
    pulled_to_end(ctx, module.name, side, mark=True)
    return True


def fetch_parents(
    ctx: Context, module: ModuleConfig, side: str, changes: Sequence[Change], report: CycleReport
) -> None:
    """``lookup_missing = "fetch"``: the records these changes name that are not synced
    yet (a sales order of a customer made since the customers' last sync) are read from
    the side, journaled and pushed now, so the changes need not wait for the next
    cycle of the module they belong to.  A record the side does not have, or one
    outside its module's criteria, is left: the lookup then fails as an error."""
    for target_name, ids in lookup_ids(module, side, changes).items():
        known = ctx.journal.rids_for(target_name, side, sorted(ids))
        target = ctx.config.modules[target_name]
        side_module = target.side_module(side)
        for side_id in sorted(ids - set(known)):
            parent = ctx.connectors[side].get(side_module, side_id)
            if parent is None or (
                side_module.where and not matches(side_module.where, parent.values)
            ):
                continue
            with ctx.journal.transaction():
                ingest(ctx, target, side, [parent], report)
            rid = ctx.journal.rid_for(target_name, side, str(parent.id))
            if rid is not None:
                report.add(target_name, side, "fetched")
                if pulled_once(ctx, target):  # else its module's cycle decides it
                    settle_batch(ctx, target, [rid], report)


__all__ = ["PULLED", "fetch_parents", "pull", "pulled_once"]
