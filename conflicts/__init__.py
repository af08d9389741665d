"""The merge engine and its policies: pure functions over values, no I/O."""

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
    MERGED,
    SKIPPED,
    ConflictData,
    Held,
    HeldWire,
    RecordState,
)

__all__ = [
    "ACTIVE",
    "ConflictData",
    "ConflictError",
    "ConflictPolicy",
    "Decision",
    "Direction",
    "DuplicatePolicy",
    "FieldConflict",
    "GroupDecision",
    "HELD",
    "Held",
    "HeldWire",
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
    "Sync",
    "decide",
    "exact_key",
    "match_key",
    "normalised_key",
    "plan",
    "same_value",
    "visible",
]
