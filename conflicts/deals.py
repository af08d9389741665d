"""Deal triggers: what a CRM deal makes of its quote or invoice, as pure rules (no I/O).

A trigger (``quote`` or ``invoice``) of a watched deals module looks at the deal's
canonical values, the CRM's stage metadata (stage -> probability) and the document record
the trigger made (None: none yet), and decides to create the document, change it, skip
(with the reason), or do nothing (None).  The document record's rid is one per deal and
trigger (``invoice:crm:1``), so a second document can never be made; and the decision
compares what the trigger wants now with what it last set (``tg`` of the record's state,
see :class:`conflicts.state.TriggerInfo`), never with what a person set since, so
re-evaluating a deal any number of times (a re-delivered callback, a polling overlap, a
replay, a crash) decides nothing new once its decision is journaled.

:func:`triggered_entry` and :func:`skipped_entry` are the journal entries of a decision
(the engine journals them in the deal's settle transaction): a trigger's values are
written with a dot of the pseudo-side :data:`TRIGGER` whose context is the document's
whole clock, so they supersede every value the record shows (as a person's resolution).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

import attrs

from conflicts.policy import TRIGGER  # the pseudo-side whose dots a trigger's values carry
from conflicts.register import same_value
from conflicts.state import RecordState
from journal.clock import Dot, VectorClock
from journal.entry import NewEntry, same_wire
from journal.payloads import Triggered, TriggerSkipped, new_entry

QUOTE, INVOICE = "quote", "invoice"
TRIGGERS = (QUOTE, INVOICE)
CREATED, WON = "created", "won"  # the ``on`` of a trigger besides a stage value
OPEN, LOST = "open", "lost"  # (WON is also an outcome)

# the status a document takes per deal outcome; an open deal sets an invoice's none
_STATUS: Mapping[str, Mapping[str, str]] = {
    QUOTE: {OPEN: "draft", WON: "accepted", LOST: "declined"},
    INVOICE: {WON: "draft", LOST: "void"},
}
# a status the document goes through on its way to the one the trigger set (Books routes
# an estimate's draft -> accepted / declined through sent): no person's doing
_IN_FLIGHT: Mapping[str, str] = {"accepted": "sent", "declined": "sent"}
_DRAFT = "draft"


@attrs.frozen
class TriggerSpec:
    """A trigger of the deals module: ``quote`` | ``invoice``, the document module it
    makes its document in, and ``on``: ``created``, ``won`` or a stage value (quote only:
    made once the deal's probability reaches that stage's)."""

    name: str
    module: str
    on: str = CREATED


@attrs.frozen
class Create:
    """Make the document with these canonical values (the deal is at ``outcome``)."""

    fields: dict[str, Any]
    outcome: str
    reason: str


@attrs.frozen
class Update:
    """Set these canonical values of the document: what the deal changed since the
    trigger last set them."""

    fields: dict[str, Any]
    outcome: str
    reason: str


@attrs.frozen
class Skip:
    """The trigger does nothing, and why (``outcome`` None: the deal's stage has none)."""

    reason: str
    outcome: str | None


TriggerDecision = Create | Update | Skip


def outcome(stage: str | None, probabilities: Mapping[str, int] | None) -> str | None:
    """``won`` (probability 100), ``lost`` (0) or ``open``; None for a stage the metadata
    does not know (or no metadata): never guessed from the stage's name."""
    if stage is None or probabilities is None or stage not in probabilities:
        return None
    probability = probabilities[stage]
    if probability >= 100:
        return WON
    if probability <= 0:
        return LOST
    return OPEN


def document_rid(spec: TriggerSpec, deal_rid: str) -> str:
    """The rid of the document a trigger makes for a deal: one per deal and trigger."""
    return f"{spec.name}:{deal_rid}"


def decide(
    spec: TriggerSpec,
    deal_rid: str,
    deal_id: str,
    deal: Mapping[str, Any],
    probabilities: Mapping[str, int] | None,
    document: RecordState | None,
    *,
    books: str,
    maps: Collection[str],
    baseline: Mapping[str, Any] | None = None,
) -> TriggerDecision | None:
    """What ``spec`` makes of the deal now (None: nothing to do).

    ``deal``: the deal's canonical values (``name``, ``stage``, ``customer`` (a customers
    rid or None), ``amount``, ``description``, ``owner``); ``deal_id`` its CRM id;
    ``document``: the record the trigger made (None: none yet); ``books``: the Books side;
    ``maps``: the document module's canonical fields (only those are set);
    ``baseline``: the deal's values when it was first read, before its triggers were on
    (None: it was made since).  A deal that already met the create condition then makes
    no document for it (switching triggers on does not quote or invoice every deal that
    exists); one that meets it only later does.
    """
    stage = deal.get("stage")
    out = outcome(stage, probabilities)
    about = _about(deal, probabilities)
    if out is None:  # rule 1: an unknown stage is never guessed
        return Skip(
            f"deal {_named(deal_rid, deal)}: {_unknown(deal_rid, stage, probabilities)}", None
        )
    trigger = document.trigger if document is not None else None
    if document is None:  # rule 2: the create condition
        met = _create_met(spec, out, stage, probabilities, f"deal {_named(deal_rid, deal)}")
        if isinstance(met, Skip):
            return met
        if not met:
            return None
        if baseline is not None and _met_before(spec, baseline, probabilities):
            return None
        if deal.get("customer") is None:
            return Skip(
                f"deal {_named(deal_rid, deal)} has no account: no {spec.name} made (at {about})",
                out,
            )
        wanted = _wanted(spec, deal_id, deal, out, maps=maps, creating=True)
        return Create(
            wanted, out, f"deal {_named(deal_rid, deal)} reached {about}: {spec.name} made"
        )
    # rule 3: compared with what the trigger last set, never with what a person set since
    last = trigger.values if trigger is not None else {}
    wanted = _wanted(spec, deal_id, deal, out, maps=maps, creating=False)
    changed = {
        name: value
        for name, value in wanted.items()
        if name not in last or not same_value(last[name], value)
    }
    if not changed:
        return None
    rid = document.rid
    held = document.held_wire(books)
    if held is not None and held.deleted:  # a delete is never undone
        return Skip(
            f"{spec.name} {rid} was deleted in {books}: deal changes no longer touch it"
            f" (deal {_named(deal_rid, deal)} at {about})",
            out,
        )
    sent = sent_status(document, books, last.get("status"))
    if sent is not None:  # rule 4: a sent document is a person's now
        return Skip(
            f"{spec.name} {rid} is sent in {books} (status {sent}): deal changes no longer"
            f" touch it (deal {_named(deal_rid, deal)} at {about})",
            out,
        )
    names = ", ".join(sorted(changed))
    return Update(
        changed,
        out,
        f"deal {_named(deal_rid, deal)} is at {about}: {spec.name} {rid} changed ({names})",
    )


def _create_met(
    spec: TriggerSpec,
    out: str,
    stage: str | None,
    probabilities: Mapping[str, int] | None,
    named: str,
) -> bool | Skip:
    """Whether the deal makes the document now (a Skip when the trigger's own stage is
    unknown to the metadata)."""
    if spec.name == INVOICE or spec.on == WON:
        return out == WON
    if spec.on == CREATED:
        return True
    if out == LOST:
        return False
    assert probabilities is not None and stage is not None  # a known stage (rule 1)
    threshold = probabilities.get(spec.on)
    if threshold is None:
        return Skip(
            f"{named}: the {spec.name} trigger's stage {spec.on!r} is not in the stage metadata"
            f" (known: {_known(probabilities)}): no {spec.name} made",
            out,
        )
    return probabilities[stage] >= threshold


def _met_before(
    spec: TriggerSpec, baseline: Mapping[str, Any], probabilities: Mapping[str, int] | None
) -> bool:
    """Whether the deal already met the create condition as first read (a stage unknown
    then counts as met: nothing is made for what the deal was before)."""
    stage = baseline.get("stage")
    before = outcome(stage, probabilities)
    if before is None:
        return True
    met = _create_met(spec, before, stage, probabilities, "")
    return not isinstance(met, Skip) and met


def _wanted(
    spec: TriggerSpec,
    deal_id: str,
    deal: Mapping[str, Any],
    out: str,
    *,
    maps: Collection[str],
    creating: bool,
) -> dict[str, Any]:
    """The canonical values the trigger sets now (each only when the module maps it)."""
    name = deal.get("name")
    line: dict[str, Any] = {
        "item": None,
        "description": deal.get("description"),
        "quantity": Decimal(1),
        "rate": deal.get("amount") if deal.get("amount") is not None else Decimal(0),
        "discount": Decimal(0),
        "tax": None,
    }
    if name is not None:  # a line's name is present only when it has one
        line["name"] = name
    values: dict[str, Any] = {
        "subject": name,
        "salesperson": deal.get("owner"),
        "deal": deal_id,
        "deal_name": name,
        "lines": [line],
    }
    customer = deal.get("customer")
    if customer is not None:  # a deal that lost its account leaves the document's alone
        values["customer"] = customer
    # after the create, the status follows only the deal's last won / lost state
    if creating or out != OPEN:
        status = _STATUS[spec.name].get(out)
        if status is not None:
            values["status"] = status
    return {k: v for k, v in values.items() if k in maps}


def sent_status(document: RecordState, books: str, last_status: Any) -> str | None:
    """The status the Books side holds when a person took the document over (marked it
    sent, or Books moved it on since): neither draft nor what the trigger last set, nor
    sent on the trigger's own way to accepted / declined, nor a status the trigger set
    earlier that Books holds until its later write is pushed (a crash in between): a
    status Books gave, read from it (a sibling of another side than the trigger's).  None:
    the trigger may still change the document."""
    held = document.held_wire(books)
    if held is None or held.id is None:
        return None
    status = held.wire.get("status")
    if not isinstance(status, str) or status in (_DRAFT, last_status):
        return None
    if isinstance(last_status, str) and _IN_FLIGHT.get(last_status) == status:
        return None
    read = document.wire_values("status")
    if not any(side != TRIGGER and same_wire(value, status) for side, value in read):
        return None  # ours, written before: Books has not had the trigger's last write yet
    return status


def _named(deal_rid: str, deal: Mapping[str, Any]) -> str:
    return f"{deal_rid} ({deal.get('name')})"


def _about(deal: Mapping[str, Any], probabilities: Mapping[str, int] | None) -> str:
    stage = deal.get("stage")
    probability = (
        probabilities.get(stage) if probabilities is not None and stage is not None else None
    )
    return f"{stage} (probability {probability})"


def _known(probabilities: Mapping[str, int]) -> str:
    return ", ".join(sorted(probabilities)) or "none"


def _unknown(deal_rid: str, stage: str | None, probabilities: Mapping[str, int] | None) -> str:
    side = deal_rid.partition(":")[0] if ":" in deal_rid else "the CRM"
    if stage is None:
        return "the deal has no stage: nothing made or changed"
    if probabilities is None:
        return f"stage {stage!r} is not in {side}'s stage metadata (it has none)"
    return f"stage {stage!r} is not in {side}'s stage metadata (known: {_known(probabilities)})"


# -- the journal entries of a decision ----------------------------------------------------


def triggered_entry(
    spec: TriggerSpec,
    deal_rid: str,
    decision: Create | Update,
    document: RecordState | None,
    *,
    books: str,
) -> NewEntry:
    """The entry of a create or an update: on the document record, side :data:`TRIGGER`,
    the next TRIGGER dot of its clock, the whole clock as context (the trigger's values
    supersede every value the record shows), the values as fields."""
    counter = document.counter(TRIGGER) if document is not None else 0
    payload = Triggered(
        deal=deal_rid,
        trigger=spec.name,
        outcome=decision.outcome,
        create=isinstance(decision, Create),
        only=(books,),
        reason=decision.reason,
    )
    return new_entry(
        payload,
        spec.module,
        document_rid(spec, deal_rid),
        TRIGGER,
        dot=Dot(TRIGGER, counter + 1),
        context=document.clock if document is not None else VectorClock(),
        fields=dict(decision.fields),
    )


def skipped_entry(
    spec: TriggerSpec, deal_module: str, deal_rid: str, decision: Skip, document: RecordState | None
) -> NewEntry:
    """The entry of a skip: on the deal record (module ``deals``), no side."""
    payload = TriggerSkipped(
        trigger=spec.name,
        outcome=decision.outcome,
        reason=decision.reason,
        document=document.rid if document is not None else None,
    )
    return new_entry(payload, deal_module, deal_rid)


__all__ = [
    "CREATED",
    "INVOICE",
    "LOST",
    "OPEN",
    "QUOTE",
    "TRIGGER",
    "TRIGGERS",
    "WON",
    "Create",
    "TriggerDecision",
    "Skip",
    "TriggerSpec",
    "Update",
    "decide",
    "document_rid",
    "outcome",
    "skipped_entry",
    "triggered_entry",
]
