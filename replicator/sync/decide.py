"""Decide: the records needing attention -> what each side should hold.

Enters: records the journal marks for attention (a module's, a batch at a time; or those a
crash left with a create pending; or a few named ones), after every side of their module
was pulled to its end.

Leaves: the duplicate decisions (single-sided records sharing a match key linked, merged,
skipped or held for a person by the module's policy; near matches suggested to a person,
:mod:`~replicator.sync.suggestions`), the field ``conflict`` entries the merge found, a
``settled`` intent for the records with nothing to write, all journaled; and the writes of
the rest, handed to :mod:`~replicator.sync.push` side by side in the module's order.
"""

from __future__ import annotations

import attrs

from conflicts import ACTIVE, DuplicatePolicy, Member, RecordState, decide, plan
from conflicts.merge import Plan
from journal import Journal, NewEntry
from journal.entry import utc_text
from journal.payloads import DuplicateConflict, SettledIntent, Skipped, new_entry
from replicator.config.load import ModuleConfig
from replicator.sync.context import Context
from replicator.sync.push import pending_creates, pending_writes, push
from replicator.sync.record import CycleReport
from replicator.sync.suggestions import near_matches, pair_entries


def settle(ctx: Context, module: ModuleConfig, report: CycleReport) -> None:
    """Plan and push every record that needs it, a batch at a time."""
    for _ in range(3):  # a duplicate link can wake a record already passed: go round again
        after, woke = "", False
        while True:
            if ctx.stop_requested():  # what is left stays marked for the next cycle
                return
            rids = ctx.journal.attention(module.name, after=after, limit=ctx.batch_size)
            if not rids:
                break
            after = rids[-1]
            woke |= settle_batch(ctx, module, rids, report)
        if not woke:
            break


def settle_batch(ctx: Context, module: ModuleConfig, rids: list[str], report: CycleReport) -> bool:
    """Plan and push these records (and pair their duplicates first); returns whether a
    duplicate decision woke a record ordered before them, which then needs another look."""
    journal = ctx.journal
    name = module.name
    journal.preload(name, rids)
    woke = False
    if module.match_fields and (
        module.suggest or module.policy.duplicates is not DuplicatePolicy.CLONE
    ):
        woke = duplicates(journal, module, rids, report)
    states = [journal.record(name, rid) for rid in rids]
    plans: list[tuple[RecordState, Plan]] = []
    entries: list[NewEntry] = []
    settled: list[str] = []
    policy_name = str(module.policy.effective_conflicts)
    now = utc_text(journal.now())
    unsure = ctx.kept.in_flight.get(name, set())
    for state in states:
        if state is None or not state.attention:
            continue
        in_flight = [side for side in module.sides if (state.rid, side) in unsure]
        waits = state.waits(now)
        if waits and not in_flight:  # a side refused its write: retried after a while
            report.add(name, "*", "waiting")
            continue
        p = plan(state, module.policy, in_flight=in_flight)
        if waits:  # after this cycle pending_writes no longer sees the update in flight:
            # it goes now; the side that refused keeps its backoff
            p = attrs.evolve(p, writes=tuple(w for w in p.writes if w.side in in_flight))
        for conflict in p.conflicts:
            entries.append(new_entry(conflict.to_payload(policy_name), name, state.rid))
            report.add(name, "*", "conflicts")
        if p.writes:
            plans.append((state, p))
        elif not waits:
            settled.append(state.rid)
    if settled:  # nothing to write for these: they no longer need attention
        entries.append(new_entry(SettledIntent(settled=tuple(settled)), name))
    if entries:
        with journal.transaction():
            journal.append(entries)
    order = {side: i for i, side in enumerate(module.order)}
    retrying: set[str] = set()  # records a side asked to retry: they stay dirty
    for side in module.order:
        batch = [
            (state, w, w.side == max((x.side for x in p.writes), key=order.__getitem__))
            for state, p in plans
            for w in p.writes
            if w.side == side
        ]
        if batch:
            push(ctx, module, side, batch, report, retrying=retrying)
    return woke


def duplicates(
    journal: Journal, module: ModuleConfig, rids: list[str], report: CycleReport
) -> bool:
    """Pair up single-sided records that share a match key and, with ``suggest``, hold
    near matches for a person; returns whether any record woke."""
    name = module.name
    policy = module.policy
    keys = []
    for rid in rids:
        state = journal.record(name, rid)
        if state is not None and state.attention and state.index_key() is not None:
            keys.append(state.index_key())
    groups = journal.with_keys(name, [k for k in keys if k is not None]) if keys else {}
    entries: list[NewEntry] = []
    woke = False
    for key in sorted(groups):
        members_rids = groups[key]
        if len(members_rids) < 2:
            continue
        journal.preload(name, members_rids)
        members = []
        for rid in members_rids:
            state = journal.record(name, rid)
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
            entries += pair_entries(journal, module, incoming, existing, key, merge=merge)
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
        entries += near_matches(journal, module, rids, report)
    if entries:
        with journal.transaction():
            journal.append(entries)
    return woke


def finish_pending(ctx: Context, module: ModuleConfig, report: CycleReport) -> None:
    """Push again the creates journaled as intents that got no outcome (a crash or an
    error between the intent and the side's answer), and note the updates left so:
    until an outcome says what the side holds, plans send it every value."""
    # the side may hold what we sent or what it held before, and never reports our own
    # write back: a plan diffed against the older values could judge it done and lose
    # a later change that happens to equal them
    pending = pending_writes(ctx.journal, module.name)
    ctx.kept.in_flight[module.name] = {key for key, id in pending.items() if id is not None}
    rids = pending_creates(ctx.journal, module.name, pending)
    for start in range(0, len(rids), ctx.batch_size):
        settle_batch(ctx, module, rids[start : start + ctx.batch_size], report)


__all__ = ["duplicates", "finish_pending", "settle", "settle_batch"]
