"""A deal trigger's documents over a real journal and reducer, with a fake Books side: what
the engine's deals step does (decide, journal, plan, push), without the engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from conflicts import Direction, ModulePolicy, RecordReducer, RecordState, Sync, plan
from conflicts.deals import (
    Create,
    Skip,
    TriggerDecision,
    TriggerSpec,
    Update,
    decide,
    document_rid,
    skipped_entry,
    triggered_entry,
)
from journal import Journal, VectorClock
from journal.clock import Dot
from journal.entry import from_wire
from journal.payloads import Applied, Observed, new_entry

BOOKS, CRM = "books", "crm"
STAGES = {
    "Qualification": 10,
    "Proposal/Price Quote": 75,
    "Negotiation": 90,
    "Closed Won": 100,
    "Closed Lost": 0,
    "Closed Lost to Competition": 0,
}
MAPS = frozenset(
    {"customer", "subject", "salesperson", "deal", "deal_name", "lines", "status", "number"}
)
QUOTE = TriggerSpec("quote", "estimates", "created")
INVOICE = TriggerSpec("invoice", "invoices", "won")


def deal(**values: Any) -> dict[str, Any]:
    """A deal's canonical values: Big order, open, with an account, 1200.50."""
    base: dict[str, Any] = {
        "name": "Big order",
        "stage": "Qualification",
        "customer": "crm:acct1",
        "amount": Decimal("1200.50"),
        "description": "two pumps",
        "owner": "ann@example.com",
    }
    base.update(values)
    return base


class Documents:
    """One trigger's documents: decisions journaled as the engine does, pushed to a fake
    Books (side id -> values) by the real ``plan``; a person's Books edit journaled as a
    pull would."""

    def __init__(self, spec: TriggerSpec, *, maps: frozenset[str] = MAPS) -> None:
        self.spec = spec
        self.maps = maps
        self.journal = Journal(":memory:", RecordReducer())
        self.policy = ModulePolicy(spec.module, (BOOKS, CRM), Direction(Sync.BOTH_WAYS))
        self.books: dict[str, dict[str, Any]] = {}  # Books id -> the values it holds
        self.creates = 0  # documents Books made
        self.crm_writes = 0  # writes planned to CRM (never: a trigger's document is Books')

    def close(self) -> None:
        self.journal.close()

    def document(self, deal_rid: str) -> RecordState | None:
        state: RecordState | None = self.journal.record(
            self.spec.module, document_rid(self.spec, deal_rid)
        )
        return state

    def decide(
        self,
        deal_rid: str,
        values: Mapping[str, Any],
        stages: Mapping[str, int] | None = None,
        baseline: Mapping[str, Any] | None = None,
    ) -> TriggerDecision | None:
        """What the trigger makes of the deal now (nothing journaled)."""
        return decide(
            self.spec,
            deal_rid,
            deal_rid.partition(":")[2],
            values,
            STAGES if stages is None else stages,
            self.document(deal_rid),
            books=BOOKS,
            maps=self.maps,
            baseline=baseline,
        )

    def evaluate(
        self, deal_rid: str, values: Mapping[str, Any], stages: Mapping[str, int] | None = None
    ) -> TriggerDecision | None:
        """Decide and journal the decision (a Triggered or a TriggerSkipped entry)."""
        decision = self.decide(deal_rid, values, stages)
        document = self.document(deal_rid)
        if isinstance(decision, (Create, Update)):
            entry = triggered_entry(self.spec, deal_rid, decision, document, books=BOOKS)
            self.journal.append([entry])
        elif isinstance(decision, Skip):
            self.journal.append([skipped_entry(self.spec, "deals", deal_rid, decision, document)])
        return decision

    def push(self, deal_rid: str, *, crash_on_the_way: bool = False) -> None:
        """Plan the document and apply the writes to Books, journaling each outcome.

        ``crash_on_the_way``: Books moves an estimate from draft to accepted / declined
        through sent; the push stops after that first move (a crash), and the pull after
        the restart reads sent."""
        state = self.document(deal_rid)
        if state is None:
            return
        for write in plan(state, self.policy).writes:
            if write.side != BOOKS:
                self.crm_writes += 1
                continue
            held = self.books.get(write.id) if write.id is not None else None
            if (
                crash_on_the_way
                and held is not None
                and held.get("status") == "draft"
                and write.values.get("status") in ("accepted", "declined")
            ):
                self.person_edits(deal_rid, status="sent")  # Books' own move, read back
                return
            side_id = write.id
            if side_id is None:
                self.creates += 1
                side_id = str(len(self.books) + 1)
                self.books[side_id] = {}
            self.books[side_id].update({k: from_wire(v) for k, v in write.values.items()})
            applied = Applied(id=side_id, create=write.id is None, done=True)
            self.journal.append(
                [
                    new_entry(
                        applied,
                        self.spec.module,
                        state.rid,
                        BOOKS,
                        context=VectorClock(write.context),
                        fields=dict(write.values),
                    )
                ]
            )

    def person_edits(self, deal_rid: str, **values: Any) -> None:
        """A person (or Books itself) changes the document in Books, and a pull reads it."""
        state = self.document(deal_rid)
        assert state is not None
        held = state.held_wire(BOOKS)
        assert held is not None and held.id is not None
        self.books[held.id].update(values)
        modified = dt.datetime.now(dt.UTC).isoformat()
        self.journal.append(
            [
                new_entry(
                    Observed(id=held.id, modified=modified),
                    self.spec.module,
                    state.rid,
                    BOOKS,
                    dot=Dot(BOOKS, state.counter(BOOKS) + 1),
                    context=VectorClock(held.clock),
                    fields=values,
                )
            ]
        )

    def books_values(self, deal_rid: str) -> dict[str, Any] | None:
        """What Books holds of the deal's document (None: not made there)."""
        state = self.document(deal_rid)
        held = state.held_wire(BOOKS) if state is not None else None
        if held is None or held.id is None:
            return None
        return self.books[held.id]
