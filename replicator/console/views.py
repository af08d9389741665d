"""The console's admin pages as view models: plain ``dict``s a template renders.

Each reads the journal as the CLI reads it, through the same data functions
(:mod:`replicator.sync.presentation`'s ``conflict_data`` for a conflict and ``entry_data``
for a record's entries, :mod:`replicator.sync.lifecycle` for the runs), so a page
and ``replicator conflicts show`` / ``history`` / ``journal log --record`` say the same
thing.  Lists are read one page at a time in SQL, so a page stays fast with 100k records
and 1,000 open conflicts; no view loads every record.

The overview is the core's (:mod:`replicator.console.app`); a conflict's resolve goes
through :func:`resolve_request` and :func:`replicator.sync.resolve.resolve`, as the CLI's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from conflicts import RESOLVER, ConflictData, RecordState, ResolutionError
from journal import Journal, anchor_path, check_tail
from journal.anchors import head_anchor, last_anchor
from journal.entry import utc_text
from journal.payloads import DuplicateConflict, ForcedWrite, ValueConflict, expect, payload_of
from journal.store import JOURNAL_MODULE
from replicator.config.load import Config
from replicator.daemon.verification import last_verification
from replicator.sync import lifecycle
from replicator.sync.guard import FORCED_RID
from replicator.sync.presentation import (
    RECORD_KINDS,
    conflict_base,
    conflict_data,
    entry_data,
    plain,
)
from replicator.sync.suggestions import DECISIONS

STATUSES = ("open", "resolved", "all")
MAX_PER_PAGE = 500  # a page never reads more rows than this, whatever the query asks


class NotFound(LookupError):
    """A page names a conflict, record or filter the journal does not hold (a 404)."""


def _number(value: Any, default: int) -> int:
    """A page number from a query string; anything but digits is ``default``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _paging(total: int, page: Any, per_page: Any) -> dict[str, int]:
    """Which page to read: ``page`` clamped to ``1..pages``, the SQL offset of its first row."""
    per_page = min(max(_number(per_page, MAX_PER_PAGE), 1), MAX_PER_PAGE)
    pages = max(1, math.ceil(total / per_page))
    page = min(max(_number(page, 1), 1), pages)
    return {
        "page": page,
        "pages": pages,
        "per_page": per_page,
        "total": total,
        "offset": (page - 1) * per_page,
    }


# -- conflicts -----------------------------------------------------------------------------


def conflicts(
    config: Config,
    journal: Journal,
    *,
    module: str | None = None,
    status: str = "open",
    page: int = 1,
    per_page: int = 50,
) -> dict[str, Any]:
    """One page of conflicts, by id, of one ``status`` (open, resolved or all) and module:
    each as ``conflicts list --json`` shows it (values per side, the winner and why)."""
    if status not in STATUSES:
        raise NotFound(f"no conflict status {status!r} (one of {', '.join(STATUSES)})")
    module = module or None
    wanted = None if status == "all" else status
    total = journal.conflict_total(status=wanted, module=module)
    paging = _paging(total, page, per_page)
    rows = journal.conflicts(
        status=wanted, module=module, limit=paging["per_page"], offset=paging["offset"]
    )
    return {
        "rows": [conflict_data(row) for row in rows],
        "module": module,
        "status": status,
        "statuses": list(STATUSES),
        "modules": sorted(config.modules),
        "open": journal.conflict_counts(status="open"),
        **paging,
    }


def conflict(config: Config, journal: Journal, conflict_id: int) -> dict[str, Any]:
    """One conflict as ``conflicts show --json`` shows it (every sibling with its side, value
    and time, the value before it as ``before``, the winner and why), with what a resolve
    accepts."""
    row = journal.conflict(int(conflict_id))
    if row is None:
        raise NotFound(f"no conflict {conflict_id}")
    item = conflict_data(row)
    base = conflict_base(journal, row)
    # "before", not the CLI's "base": the app's context names its root path ``base``
    item["before"] = (
        None if base is None else plain({"value": base[0], "seq": base[1].seq, "at": base[1].at})
    )
    item["resolve"] = choices(config, row)
    return item


def choices(config: Config, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """What ``conflicts resolve`` accepts for a conflict row, as a form offers it; None
    once it is settled (resolved by a person or by a later change).

    A field conflict: ``take`` one of the sides that hold a value, or a ``value`` of the
    field's type (a picklist: one of its canonical values).  A duplicate group or a
    suggestion: a ``decision`` of link, clone or skip, and for link the record to pair it
    ``with`` when it has several candidates on the other side.
    """
    data = ConflictData.of(row["data"])
    if row["status"] != "open" or data.resolution is not None or data.settled_by is not None:
        return None
    held = data.conflict
    module = config.modules.get(row["module"])
    if isinstance(held, DuplicateConflict):
        mine = next((c["side"] for c in held.candidates if c["rid"] == row["rid"]), None)
        partners = [
            {"rid": c["rid"], "side": c["side"], "key": c.get("key")}
            for c in held.candidates
            if c["rid"] != row["rid"] and c["side"] != mine
        ]
        return {
            "kind": "suggestion" if held.suggestion else "duplicate",
            "decisions": list(DECISIONS),
            "with": partners if len(partners) > 1 else [],
        }
    siblings = held.siblings if isinstance(held, ValueConflict) else ()
    sides = sorted({s["side"] for s in siblings if s["side"] != RESOLVER})
    field = row["field"]
    kind = (
        module.fields.kind(field) if module is not None and field in module.fields.fields else None
    )
    # a picklist value must be one every mapped side can spell (resolve refuses the rest)
    options: set[str] | None = None
    if kind == "picklist" and module is not None:
        for side in module.sides:
            values = module.fields.value_map(field, side)
            if values is not None:
                spelt = set(values.values())
                options = spelt if options is None else options & spelt
    return {
        "kind": "field",
        "take": sides,
        "field": field,
        "type": kind,
        "options": sorted(options or ()),
    }


def resolve_request(form: Mapping[str, str]) -> dict[str, str | None]:
    """A resolve form's fields as :func:`replicator.sync.resolve.resolve`'s keywords, the
    ones `conflicts resolve` passes: ``take`` (a side) as ``--take``, ``value`` as
    ``--value``, ``decision`` (link, clone or skip; link ``with`` a record) as ``--value
    link:RID`` and the like.  Exactly one of take, value or decision is allowed."""
    take = form.get("take") or None
    value = form.get("value")
    decision = form.get("decision") or None
    partner = form.get("with") or None
    given = [
        name
        for name, v in (("take", take), ("value", value), ("decision", decision))
        if v is not None
    ]
    if len(given) != 1:
        raise ResolutionError(
            "say which value wins: give exactly one of a side, a value or a decision"
        )
    if partner is not None and decision != "link":
        raise ResolutionError("only a link names the record to pair it with")
    if decision is not None:
        return {"take": None, "raw_value": f"{decision}:{partner}" if partner else decision}
    return {"take": take, "raw_value": value}


# -- history -------------------------------------------------------------------------------


def history(
    config: Config,
    journal: Journal,
    *,
    module: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> dict[str, Any]:
    """One page of runs, decisions and saved configs, newest first, each as ``replicator
    history --json`` shows it (a run's counts, its failures with record, field, value and
    reason, and its skips)."""
    module = module or None
    per_page = _paging(0, 1, per_page)["per_page"]
    wanted = max(_number(page, 1), 1)
    chosen, total = lifecycle.timeline_page(
        journal, module=module, offset=(wanted - 1) * per_page, limit=per_page
    )
    paging = _paging(total, wanted, per_page)
    if paging["page"] != wanted:  # past the last page: the last one
        chosen, _ = lifecycle.timeline_page(
            journal, module=module, offset=paging["offset"], limit=per_page
        )
    return {
        "rows": lifecycle.history_items(journal, chosen, module=module),
        "module": module,
        "modules": sorted(config.modules),
        **paging,
    }


# -- one record ----------------------------------------------------------------------------


def record(
    config: Config,
    journal: Journal,
    module: str,
    rid: str,
    *,
    page: int = 1,
    per_page: int = 100,
) -> dict[str, Any]:
    """One record's field-level journal: its fields now (each value, the side and time it
    came from, and why it won), its links, conflicts and errors, and one page of its
    entries, newest first, as ``journal log --record`` shows them (what each side showed,
    what was written where, each conflict with its winner and reason)."""
    state: RecordState | None = journal.record(module, rid)
    entries = [e for e in journal.history(rid, module=module) if e.kind in RECORD_KINDS]
    if state is None and not entries:
        raise NotFound(f"no record {rid} in module {module}")
    paging = _paging(len(entries), page, per_page)
    end = len(entries) - paging["offset"]
    shown = entries[max(0, end - paging["per_page"]) : end]
    links = journal.links(module, rid)
    return {
        "module": module,
        "rid": rid,
        "status": state.status if state is not None else None,
        "key": state.key if state is not None else None,
        "fields": _fields(state, entries) if state is not None else [],
        "links": [
            {"side": side, "id": side_id, "status": status}
            for side, (side_id, status) in sorted(links.items())
        ],
        "errors": dict(state.errors) if state is not None else {},
        "retries": (
            {side: {"attempts": n, "next": when} for side, (n, when) in state.retries.items()}
            if state is not None
            else {}
        ),
        "conflicts": [conflict_data(row) for row in journal.conflicts(module=module, rid=rid)],
        "entries": [entry_data(e) for e in reversed(shown)],
        **paging,
    }


def _fields(state: RecordState, entries: Iterable[Any]) -> list[dict[str, Any]]:
    """Each field's value now: its siblings (one, or several while a conflict holds them),
    and why it won: the last conflict entry of the field says so, else the last write."""
    why: dict[str, dict[str, Any]] = {}
    for entry in entries:
        payload = payload_of(entry)
        if isinstance(payload, ValueConflict):
            why[payload.field] = {
                "seq": entry.seq,
                "winner": payload.winner,
                "reason": payload.reason,
            }
    out = []
    for name, reg in sorted(state.fields.items()):
        siblings = [{"side": s.dot.side, "value": s.value, "at": s.at} for s in reg.siblings]
        decided = why.get(name)
        if len(siblings) > 1:
            reason = "concurrent values held: a conflict waits for a person"
        elif decided is not None:
            reason = f"{decided['reason']} (entry {decided['seq']})"
        elif siblings and siblings[0]["side"] == RESOLVER:
            reason = "a person's resolution"
        elif siblings:
            reason = f"the latest change, from {siblings[0]['side']}"
        else:
            reason = ""
        out.append({"field": name, "siblings": siblings, "why": reason})
    return plain(out)


# -- the journal's head --------------------------------------------------------------------


def journal_head(config: Config, journal: Journal) -> dict[str, Any]:
    """The journal's head as ``journal head --json`` shows it (seq, hash, the SEQ:HASH to
    keep, the last anchor written), and its verification: the tail check a sync runs
    before writing (the triggers, the chain's keying, every hash from the last anchor to
    the head), run now, with the last write forced past a failed check, if any; and the
    last full check (``replicator journal verify`` or the page's "Verify now")."""
    head = head_anchor(journal)
    last = last_anchor(anchor_path(config.journal_path))
    problem = check_tail(journal, last)
    forced = None
    for entry in journal.read(module=JOURNAL_MODULE, rid=FORCED_RID, descending=True, limit=1):
        write = expect(entry, ForcedWrite)
        forced = {
            "seq": entry.seq,
            "at": utc_text(entry.at),
            "by": write.by,
            "problem": write.problem,
        }
    return {
        "seq": head.seq if head else 0,
        "hash": head.hash if head else None,
        "at": head.to_json()["at"] if head else None,
        "expect": head.expect if head else None,
        "last_anchor": last.to_json() if last is not None else None,
        "anchored": last is not None
        and head is not None
        and (last.seq, last.hash) == (head.seq, head.hash),
        "verification": {
            "at": utc_text(journal.now()),
            "ok": problem is None,
            "problem": problem,
            "checked": "tail: triggers, keying, and every hash from the last anchor to the head",
        },
        "forced": forced,
        # the last full check (`journal verify`, or "Verify now" here), as it was recorded
        "last_verification": last_verification(config),
    }


__all__ = [
    "STATUSES",
    "NotFound",
    "choices",
    "conflict",
    "conflicts",
    "history",
    "journal_head",
    "record",
    "resolve_request",
]
