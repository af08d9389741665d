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

import contextlib
from collections.abc import Sequence

from journal.payloads import Cursor, new_entry
from replicator.config.load import ModuleConfig
from replicator.connectors.base import Change, matches
from replicator.sync.context import Context
from replicator.sync.decide import settle_batch
from replicator.sync.ingest import ingest, lookup_ids
from replicator.sync.lifecycle import PULLED, pulled_once, pulled_to_end
from replicator.sync.record import CycleReport

# a cycle's pulls write the state in bulk once they brought this share of the records the
# journal held (a first copy, into a journal holding none: from its first page), and at
# least BULK_FLOOR changes when it held any (an ordinary cycle never does)
BULK_SHARE = 4
BULK_FLOOR = 1_000


class BulkPulls:
    """Whether a cycle's pulls of a module write the journal's state in bulk
    (:meth:`~journal.storage.JournalStorage.bulk_state`: ``records`` and ``links``
    without their secondary indexes and tally triggers, each index made in one sort and
    the tallies counted once when the pulls end): from the page at which they have
    brought at least a quarter as many changes as the journal held records when the
    cycle began (a first copy into an empty journal: from its first page), and at least
    :data:`BULK_FLOOR`.  A row inserted with its indexes costs a random-order insertion
    into each and a trigger's upsert (about 40 us of a first copy's 50 us a record at
    100k); remaking the indexes costs a sort of every record the journal holds, which
    the share keeps below what it spares.

    Pulls read records and links by key alone, so nothing they ask needs the indexes put
    aside; a module whose pulls settle records of another (``lookup_missing = "fetch"``)
    or run triggers is never written so.  The block (``stack``) ends with the cycle's
    pulls, or with the error that ends them; a kill inside leaves a journal whose next
    open makes the indexes and tallies again (the schema check)."""

    def __init__(self, ctx: Context, module: ModuleConfig, stack: contextlib.ExitStack) -> None:
        self.journal = ctx.journal
        self.stack = stack
        self.on = False
        self.pulled = 0
        self.wanted: int | None = None
        if not module.triggers and module.lookup_missing != "fetch":
            held = sum(t.total for t in self.journal.record_tallies().values())
            self.wanted = max(held // BULK_SHARE, BULK_FLOOR) if held else 0

    def page(self, n: int) -> None:
        """A page of ``n`` changes is about to be journaled (outside a transaction)."""
        self.pulled += n
        if not self.on and self.wanted is not None and n and self.pulled >= self.wanted:
            self.stack.enter_context(self.journal.bulk_state())
            self.on = True


def pull(
    ctx: Context,
    module: ModuleConfig,
    side: str,
    report: CycleReport,
    bulk: BulkPulls | None = None,
) -> bool:
    """Journal the side's changes since its cursor, page by page; returns whether the
    pull reached the end (False: a stop was asked for between two pages).  ``bulk``: the
    cycle's pulls of the module may write the state in bulk (:class:`BulkPulls`)."""
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
        if bulk is not None:
            bulk.page(len(changes))
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


__all__ = [
    "BULK_FLOOR",
    "BULK_SHARE",
    "PULLED",
    "BulkPulls",
    "fetch_parents",
    "pull",
    "pulled_once",
]
