"""The append-only, hash-chained SQLite journal; it knows nothing of sides or policies."""

from journal.clock import Dot, VectorClock
from journal.entry import GENESIS, Entry, Kind, NewEntry, dumps, loads
from journal.errors import CursorError, EncodingError, IntegrityError, JournalError, StorageError
from journal.replay import Verification, rebuild, replay_into, verify, verify_chain
from journal.store import Journal, Reducer, SQLiteView, View

__all__ = [
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
    "Reducer",
    "SQLiteView",
    "StorageError",
    "VectorClock",
    "Verification",
    "View",
    "dumps",
    "loads",
    "rebuild",
    "replay_into",
    "verify",
    "verify_chain",
]
