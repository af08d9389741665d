"""The append-only, hash-chained SQLite journal; it knows nothing of sides or policies.

The values and interfaces (entries, clocks, errors, the View and Reducer protocols) are
imported here; the names that need SQLite (the Journal, replay, anchors) load with their
module on first use, so a pure layer that imports ``journal.entry`` or
``journal.protocols`` never loads sqlite3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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
from journal.protocols import Reducer, View
from journal.storage import JournalBackend, JournalStorage

if TYPE_CHECKING:
    from journal.anchors import Anchor, anchor_path, check_tail, read_anchors, write_anchor
    from journal.replay import Verification, rebuild, replay_into, verify, verify_chain
    from journal.sqlite import SQLITE, SQLiteBackend
    from journal.store import Journal
    from journal.view import SQLiteView

# name -> the module that defines it, imported on first access (PEP 562)
_WITH_SQLITE = {
    "Anchor": "journal.anchors",
    "anchor_path": "journal.anchors",
    "check_tail": "journal.anchors",
    "read_anchors": "journal.anchors",
    "write_anchor": "journal.anchors",
    "Verification": "journal.replay",
    "rebuild": "journal.replay",
    "replay_into": "journal.replay",
    "verify": "journal.replay",
    "verify_chain": "journal.replay",
    "Journal": "journal.store",
    "SQLiteView": "journal.view",
    "SQLITE": "journal.sqlite",
    "SQLiteBackend": "journal.sqlite",
}


def __getattr__(name: str) -> object:
    module = _WITH_SQLITE.get(name)
    if module is None:
        raise AttributeError(f"module 'journal' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "JournalBackend",
    "JournalError",
    "JournalStorage",
    "Kind",
    "NewEntry",
    "PayloadError",
    "Reducer",
    "SQLITE",
    "SQLiteBackend",
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
