"""Errors of the journal.

JournalError
 +-- EncodingError        a value that has no canonical encoding (a float, a naive time)
 +-- IntegrityError       the hash chain or the materialised state does not check out
 +-- CursorError          a cursor asked to move backwards
 +-- StorageError         the SQLite file could not be read or written (wraps sqlite3 errors)
 +-- ChainKeyError        the journal key is missing, malformed, or the journal needs it
 +-- PayloadError         an entry's meta lacks a key its payload class requires
"""

from __future__ import annotations


class JournalError(Exception):
    """Base of every journal error."""


class EncodingError(JournalError):
    """A value with no canonical encoding."""


class IntegrityError(JournalError):
    """The journal does not verify: names the first bad entry."""

    def __init__(self, message: str, *, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


class CursorError(JournalError):
    """A cursor may only move forward."""


class StorageError(JournalError):
    """The underlying SQLite database failed."""


class ChainKeyError(JournalError):
    """The journal key is missing or malformed, or a keyed journal was opened without it."""


class PayloadError(JournalError):
    """An entry's meta does not hold what its payload class requires (names the key)."""


__all__ = [
    "ChainKeyError",
    "CursorError",
    "EncodingError",
    "IntegrityError",
    "JournalError",
    "PayloadError",
    "StorageError",
]
