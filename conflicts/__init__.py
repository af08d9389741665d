"""The merge engine and its policies: pure functions over values, no I/O.

The deal triggers' rules are :mod:`conflicts.deals` (its ``decide`` and ``outcome`` are
named there, not here: ``decide`` here is the duplicate groups')."""

from conflicts.deals import TRIGGER, Create, Skip, TriggerSpec, Update
from conflicts.duplicates import GroupDecision, Member, decide, exact_key, match_key, normalised_key
from conflicts.errors import ConflictError, PolicyError, ResolutionError
from conflicts.merge import FieldConflict, Plan, SideWrite, plan, visible
from conflicts.policy import (
    RESOLVER,
    ConflictPolicy,
    Decision,
    Direction,
    DuplicatePolicy,
    ModulePolicy,
    Sync,
)
from conflicts.reducer import RecordReducer
from conflicts.register import Register, Sibling, same_value
from conflicts.state import (
    ACTIVE,
    HELD,
    MANY_REFS,
    MERGED,
    SKIPPED,
    ConflictData,
    Held,
    HeldWire,
    RecordState,
    TriggerInfo,
    plain,
)

__all__ = [
    "ACTIVE",
    "ConflictData",
    "ConflictError",
    "ConflictPolicy",
    "Create",
    "Decision",
    "Direction",
    "DuplicatePolicy",
    "FieldConflict",
    "GroupDecision",
    "HELD",
    "Held",
    "HeldWire",
    "MANY_REFS",
    "MERGED",
    "Member",
    "ModulePolicy",
    "Plan",
    "PolicyError",
    "RESOLVER",
    "RecordReducer",
    "RecordState",
    "Register",
    "ResolutionError",
    "SKIPPED",
    "Sibling",
    "SideWrite",
    "Skip",
    "Sync",
    "TRIGGER",
    "TriggerInfo",
    "TriggerSpec",
    "Update",
    "decide",
    "exact_key",
    "match_key",
    "normalised_key",
    "plain",
    "plan",
    "same_value",
    "visible",
]
