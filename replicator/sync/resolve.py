"""A person's decisions: a conflict resolved, refused writes tried again.

Both journal the decision only; the next sync writes it to every side.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from conflicts import RESOLVER, ConflictData, RecordState, ResolutionError
from journal import Dot, JournalStorage, NewEntry
from journal.payloads import DuplicateConflict, RetryIntent, ValueResolution, new_entry
from replicator.config.load import Config
from replicator.config.mapping import to_canonical
from replicator.errors import MappingError
from replicator.sync.suggestions import resolve_duplicate


def resolve(
    journal: JournalStorage,
    config: Config,
    conflict_id: int,
    *,
    take: str | None = None,
    raw_value: str | None = None,
    by: str = "person",
) -> NewEntry:
    """Journal a person's decision on a conflict; the next sync writes it to every side."""
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
    resolution = ValueResolution(conflict=conflict_id, by=by)
    if isinstance(data.conflict, DuplicateConflict):
        return resolve_duplicate(
            journal, module, row, take if take is not None else raw_value, by=by
        )
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


def retry(journal: JournalStorage, module: str, rids: Sequence[str], *, by: str = "person") -> int:
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


__all__ = ["resolve", "retry"]
