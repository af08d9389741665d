"""The append-only, hash-chained SQLite journal; it knows nothing of sides or policies."""

from journal.anchors import Anchor, anchor_path, check_tail, read_anchors, write_anchor
from journal.clock import Dot, VectorClock
from journal.entry import GENESIS, ChainKey, Entry, Kind, NewEntry, dumps, loads
from journal.errors import (
    ChainKeyError,
    CursorError,
    EncodingError,
    IntegrityError,
    JournalError,
    PayloadError,
    StorageError,
)
from journal.replay import Verification, rebuild, replay_into, verify, verify_chain
from journal.store import Journal, Reducer, SQLiteView, View

__all__ = [
    "Anchor",
    "ChainKey",
    "ChainKeyError",
    "CursorError",
    "Dot",
    "EncodingError",
    "Entry",
    "GENESIS",
    "IntegrityError",
    "Journal",
    "JournalError",
    "Kind",
    "NewEntry",
    "PayloadError",
    "Reducer",
    "SQLiteView",
    "StorageError",
    "VectorClock",
    "Verification",
    "View",
    "anchor_path",
    "check_tail",
    "dumps",
    "loads",
    "read_anchors",
    "rebuild",
    "replay_into",
    "verify",
    "verify_chain",
    "write_anchor",
]
