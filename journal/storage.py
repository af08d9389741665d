"""The journal's storage contract: what every backend of the journal does, and nothing of
how (no database is imported here).

As eventsourcing's ``persistence.py`` names the recorder interface its ``sqlite.py`` and
``postgres.py`` implement, this module names :class:`JournalStorage` (one journal: append
with the hash chain, read, the materialised state and cursors committed with their
entries, in one transaction API) and :class:`JournalBackend` (what opens, verifies and
replays journals of one kind of storage).  :class:`journal.Journal` over SQLite is the
embedded default (:mod:`journal.sqlite` is its backend); one contract suite,
``tests/journal/contract``, runs over every backend.

The guarantees a backend gives, each checked by the contract suite:

- entries are numbered from 1 without a gap and chained exactly as
  :func:`journal.entry.chain_hash` says (HMAC-SHA256 under the journal key, plain sha256
  before it), so a journal's hashes are the same whatever stores it;
- the database itself refuses an UPDATE or DELETE of an entry;
- the state a reducer folds (records, links, cursors, conflicts) commits in the same
  transaction as its entries, or not at all; nested transactions are savepoints;
- a cursor never goes back;
- verify finds an edited entry (by seq) and a state that differs from a replay; rebuild
  gives the state back from the entries alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from journal.entry import ChainKey, Entry, NewEntry
from journal.protocols import Reducer

if TYPE_CHECKING:  # the verification's value, defined beside the SQLite verify
    from journal.replay import Verification

Now = Callable[[], dt.datetime]


class JournalStorage(Protocol):
    """One journal in some storage."""

    reducer: Reducer
    key: ChainKey | None
    keyed_from: int | None  # the first keyed seq (None: an unkeyed chain)

    @property
    def last_seq(self) -> int: ...

    def transaction(self) -> AbstractContextManager[Any]:
        """One atomic unit: entries and the state they fold commit together; nested
        calls are savepoints."""
        ...

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        """Number, chain and store entries, and fold them into the materialised state."""
        ...

    def read(
        self,
        *,
        since: int = 0,
        module: str | None = None,
        rid: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> Iterator[Entry]:
        """Entries with ``seq > since`` in order (newest first with ``descending``)."""
        ...

    def head(self) -> tuple[int, str, dt.datetime | None]:
        """``(seq, hash, at)`` of the last entry (``(0, GENESIS, None)`` when empty)."""
        ...

    def count(self, *, module: str | None = None) -> int: ...

    def record(self, module: str, rid: str) -> Any | None: ...

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]: ...

    def cursor(self, side: str, module: str) -> Any | None: ...

    def cursors(self) -> dict[tuple[str, str], Any]: ...

    def conflict(self, conflict_id: int) -> dict[str, Any] | None: ...

    def missing_triggers(self) -> list[str]:
        """The database's append-only guards that are gone or altered (empty: in place)."""
        ...

    def close(self) -> None: ...


class JournalBackend(Protocol):
    """Opens, verifies and replays the journals of one kind of storage."""

    name: str

    def open(
        self,
        location: str,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Now | None = None,
    ) -> JournalStorage:
        """The journal at ``location`` (made empty if there is none)."""
        ...

    def verify(self, journal: JournalStorage) -> Verification:
        """The storage's own checks, the hash chain, then the state against a replay."""
        ...

    def rebuild(self, journal: JournalStorage) -> int:
        """Replace the materialised state by a replay of the entries; how many folded."""
        ...


__all__ = ["JournalBackend", "JournalStorage", "Now"]
