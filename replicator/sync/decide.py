"""Decide: the records needing attention -> what each side should hold.

Enters: records the journal marks for attention (a module's, a batch at a time; or those a
crash left with a create pending; or a few named ones), after every side of their module
was pulled to its end.

Leaves: the duplicate decisions (single-sided records sharing a match key linked, merged,
skipped or held for a person by the module's policy; near matches suggested to a person,
:mod:`~replicator.sync.suggestions`), the field ``conflict`` entries the merge found, a
``settled`` intent for the records with nothing to write, all journaled; and the writes of
the rest, handed to :mod:`~replicator.sync.push` side by side in the module's order.

A watch module with triggers (deals) plans nothing: its records needing attention go to
:mod:`~replicator.sync.deals`, whose decisions make or change documents of other modules,
planned and pushed here at once (:func:`settle_documents`).

An update carries only the fields its side maps: a field read on one side only (each app's
own total of a document) is never written, and a change of it alone sends nothing.  With
``totals`` set, the records settled with nothing to write (so both totals are as each app
last showed them) are compared: a difference is journaled once (:func:`check_totals`).
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from conflicts import ACTIVE, DuplicatePolicy, Member, RecordState, decide, plan
from conflicts.merge import Plan
from journal import JournalStorage, Kind, NewEntry
from journal.entry import from_wire, utc_text
from journal.payloads import (
    DuplicateConflict,
    Failure,
    SettledIntent,
    Skipped,
    new_entry,
    payload_of,
)
from replicator.config.load import ModuleConfig
from replicator.sync.clone_names import Batch
from replicator.sync.context import Context
from replicator.sync.deals import documents_in_flight, settle_deals
from replicator.sync.lifecycle import gate, pulled_once
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
    if module.triggers:  # a watch module's deals: their triggers run instead of a plan
        # their documents' writes still in flight first: a decision must see what Books holds
        settle_documents(ctx, documents_in_flight(ctx, module, rids), report)
        settle_documents(ctx, settle_deals(ctx, module, rids, report), report)
        return False
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
        in_flight = [side for side in module.sides if (state.rid, side) in unsure] if unsure else []
        waits = state.waits(now)
        if waits and not in_flight:  # a side refused its write: retried after a while
            report.add(name, "*", "waiting")
            continue
        p = mapped_only(module, plan(state, module.policy, in_flight=in_flight))
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
    held: set[tuple[str, str]] = set()  # (record, side) of updates the lock kept back
    # each record's write to the last of its sides in the module's order is its last; the
    # batches of every side made in one pass over the plans (a first copy's: one create each)
    batches: dict[str, Batch] = {side: [] for side in module.order}
    for state, p in plans:
        writes = p.writes
        last = (
            writes[0].side
            if len(writes) == 1
            else max((x.side for x in writes), key=order.__getitem__)
        )
        for w in writes:
            batches[w.side].append((state, w, w.side == last))
    for side, batch in batches.items():
        if batch:
            push(ctx, module, side, batch, report, retrying=retrying, held=held)
    if module.totals:
        # a record whose every write the lock kept back holds what it held: as settled
        kept_back = [s.rid for s, p in plans if all((s.rid, w.side) in held for w in p.writes)]
        if settled or kept_back:
            check_totals(journal, module, settled + kept_back, report)
    return woke


def settle_documents(ctx: Context, made: dict[str, list[str]], report: CycleReport) -> None:
    """Plan and push now the documents deal triggers just made or changed (``made``: per
    document module), when their module was pulled once and is not paused; else they wait
    for its cycle.  Its creates a crash left without an outcome go first, as in a cycle."""
    for name, rids in made.items():
        module = ctx.config.modules[name]
        if not gate(ctx.journal, [name])[0] or not pulled_once(ctx, module):
            continue
        finish_pending(ctx, module, report)
        rids = sorted(set(rids))
        for start in range(0, len(rids), ctx.batch_size):
            settle_batch(ctx, module, rids[start : start + ctx.batch_size], report)


def mapped_only(module: ModuleConfig, p: Plan) -> Plan:
    """The plan with each update holding only the fields its side maps (an update left
    with none is not sent): the plan brings every side to every field's value, but a side
    that does not map a field (another app's total) holds no value of it to bring.

    Sent, such an update would cost a request that writes nothing, and, to a locked
    document, be refused for a change the side never sees.  The side's state keeps not
    holding those fields, so the next plan leaves them out again.  A create goes as
    planned (the side's columns are the field map's business in the push), and a total
    (``module.totals``) goes in no write at all, not even back to the side it was read on
    (an update after a crash is sent every value)."""
    columns, totals = module.fields.fields, module.totals
    if not totals and all(w.id is None for w in p.writes):
        return p  # creates only (a first copy's): they go as planned
    writes = []
    for w in p.writes:
        if w.id is not None:
            kept = {k: v for k, v in w.values.items() if k in columns and w.side in columns[k][1]}
            if not kept:
                continue
            if len(kept) != len(w.values):
                w = attrs.evolve(w, values=kept)
        if any(k in w.values for k in totals):  # an update sent after a crash sends all
            w = attrs.evolve(w, values={k: v for k, v in w.values.items() if k not in totals})
            if not w.values and w.id is not None:
                continue
        writes.append(w)
    if writes == list(p.writes):
        return p
    return attrs.evolve(p, writes=tuple(writes))


def check_totals(
    journal: JournalStorage, module: ModuleConfig, rids: list[str], report: CycleReport
) -> None:
    """Journal an ``error`` (stage ``totals``) for each record among ``rids`` whose two
    totals (``module.totals``: each app's own, read on its side, never written) are both
    known and differ, once per differing pair of figures.

    ``rids`` are records just settled with nothing to write (or whose every write the
    lock kept back): no write of ours is on its way to either side, so each total is what
    its app computed for the values both now hold (after a write, the side's total is
    stale until the side is read again, and a record whose totals change is observed, so
    checked, again).  The entry goes against the side of the second total and heals: the
    flag shows on the record (``status``) until that side's next change, when it is
    compared again."""
    first, second = module.totals
    columns = module.fields.fields
    side_a, side_b = next(iter(columns[first][1])), next(iter(columns[second][1]))
    entries: list[NewEntry] = []
    for rid in rids:
        state = journal.record(module.name, rid)
        if state is None or state.attention or state.retries or state.status != ACTIVE:
            continue
        held_a, held_b = state.held_wire(side_a), state.held_wire(side_b)
        if held_a is None or held_b is None or held_a.deleted or held_b.deleted:
            continue
        a, b = from_wire(held_a.wire.get(first)), from_wire(held_b.wire.get(second))
        if not isinstance(a, Decimal) or not isinstance(b, Decimal) or a == b:
            continue
        reason = (
            f"totals differ: {side_a} {_figure(a)}, {side_b} {_figure(b)} (each app computes "
            "its own tax and rounding)"
        )
        if _flagged(journal, module.name, state, side_b, reason):
            continue
        flag = Failure(reason=reason, stage="totals", heals=True)
        entries.append(new_entry(flag, module.name, rid, side_b))
        report.add(module.name, side_b, "totals differ")
    if entries:
        with journal.transaction():
            journal.append(entries)


def _flagged(
    journal: JournalStorage, name: str, state: RecordState, side: str, reason: str
) -> bool:
    """Whether the record shows this difference already: its flag is still on the side
    (no change of the side since), or, when a refused write hides the flag there, the
    record's last totals entry says it."""
    if state.write_error(side) is None:
        return state.errors.get(side) == reason
    for entry in journal.read(module=name, rid=state.rid, kinds=[Kind.ERROR], descending=True):
        said = payload_of(entry)
        if isinstance(said, Failure) and said.stage == "totals":
            return said.reason == reason
    return False


def _figure(amount: Decimal) -> str:
    """An amount for a message: as exact as read, with at least two places (118.00)."""
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return str(amount.quantize(Decimal("0.01")))
    return str(amount)


def duplicates(
    journal: JournalStorage, module: ModuleConfig, rids: list[str], report: CycleReport
) -> bool:
    """Pair up single-sided records that share a match key and, with ``suggest``, hold
    near matches for a person; returns whether any record woke."""
    name = module.name
    policy = module.policy
    keys = []
    for rid in rids:
        state = journal.record(name, rid)
        if state is not None and state.attention:
            key = state.index_key()
            if key is not None:
                keys.append(key)
    groups = journal.with_keys(name, keys) if keys else {}
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


__all__ = [
    "check_totals",
    "duplicates",
    "finish_pending",
    "mapped_only",
    "settle",
    "settle_batch",
    "settle_documents",
]
