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
from typing import TYPE_CHECKING, Any, Protocol, Self

from journal.entry import ChainKey, Entry, NewEntry
from journal.protocols import Reducer

if TYPE_CHECKING:  # values defined beside the SQLite journal (no database used by them)
    from journal.anchors import AnchorLog
    from journal.replay import Verification
    from journal.view import RecordTally

Now = Callable[[], dt.datetime]


class JournalStorage(Protocol):
    """One journal in some storage: everything the sync engine, the daemon and the CLI ask
    of a journal (the engine, its steps and the app are typed with it), so they run on
    any backend.  ``tests/journal/contract/test_members.py`` checks that the backends'
    journals have the same members with the same parameters; mypy checks each conforms
    (``SQLITE`` and ``POSTGRES`` are typed :class:`JournalBackend`)."""

    reducer: Reducer
    key: ChainKey | None
    keyed_from: int | None  # the first keyed seq (None: an unkeyed chain)
    now: Now  # the journal's clock: entries are stamped with it
    where: str  # where the journal is, for messages (never a password)

    # -- the head, the chain and the key ------------------------------------------------

    @property
    def last_seq(self) -> int: ...

    @property
    def needs_upgrade(self) -> bool:
        """A key is in use but the chain is unkeyed: appends wait for :meth:`upgrade`."""
        ...

    def head(self) -> tuple[int, str, dt.datetime | None]:
        """``(seq, hash, at)`` of the last entry (``(0, GENESIS, None)`` when empty)."""
        ...

    def use_key(self, key: ChainKey | None) -> None:
        """Chain with ``key`` from now on (the caller found it outside the journal)."""
        ...

    def upgrade(self) -> Entry | None:
        """Switch an unkeyed chain to the keyed one, journaled (None: nothing to do)."""
        ...

    @property
    def state_version(self) -> int: ...

    @property
    def needs_state_upgrade(self) -> bool: ...

    def upgrade_state(self, *, progress: Callable[[int, int], None] | None = None) -> Entry | None:
        """Rebuild the state when the reducer's version differs, journaled."""
        ...

    def missing_triggers(self) -> list[str]:
        """The database's append-only guards that are gone or altered (empty: in place)."""
        ...

    def repair_triggers(self) -> Entry | None: ...

    def anchor_log(self) -> AnchorLog | None:
        """Where the journal's heads are anchored outside it (None: nowhere, an in-memory
        journal)."""
        ...

    def hashes(self, seqs: Sequence[int]) -> dict[int, str]:
        """The stored hash of each of ``seqs`` the journal holds."""
        ...

    # -- writing ----------------------------------------------------------------------

    def transaction(self) -> AbstractContextManager[Any]:
        """One atomic unit: entries and the state they fold commit together; nested
        calls are savepoints."""
        ...

    def bulk_state(self) -> AbstractContextManager[None]:
        """The block's transactions may write the state without the indexes a large
        batch of pulls does not read (a backend that keeps none aside: nothing changes);
        a kill inside leaves a journal the next open makes whole again."""
        ...

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        """Number, chain and store entries, and fold them into the materialised state."""
        ...

    # -- entries ----------------------------------------------------------------------

    def read(
        self,
        *,
        since: int = 0,
        module: str | None = None,
        rid: str | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
        descending: bool = False,
        rids: Sequence[str] | None = None,
        offset: int = 0,
        until: int | None = None,
    ) -> Iterator[Entry]:
        """Entries with ``seq > since`` in order (newest first with ``descending``)."""
        ...

    def stream(
        self, *, since: int = 0, batch: int = 5_000, wire_fields: bool = False
    ) -> Iterator[Entry]: ...

    def row_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]: ...

    def chain_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]: ...

    def history(self, rid: str, *, module: str | None = None) -> Iterator[Entry]: ...

    def count(self, *, module: str | None = None, rids: Sequence[str] | None = None) -> int: ...

    def entry_counts(self) -> dict[str, int]: ...

    def last_times(self, *, kinds: Sequence[str]) -> dict[str, dt.datetime]: ...

    # -- the materialised state -------------------------------------------------------

    def record(self, module: str, rid: str) -> Any | None: ...

    def preload(self, module: str, rids: Sequence[str]) -> None: ...

    def attention(self, module: str, *, after: str = "", limit: int = 1000) -> list[str]: ...

    def with_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]: ...

    def with_refs(self, module: str, refs: Sequence[str]) -> dict[str, list[str]]: ...

    def with_near_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]: ...

    def records(
        self, module: str | None = None, *, marked: bool = False
    ) -> Iterator[tuple[str, str, Any]]: ...

    def labelled(
        self, modules: Sequence[str], *, holding: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, list[tuple[str, str, str]]]: ...

    def first_label(self, module: str) -> tuple[str, str] | None: ...

    def record_tallies(self) -> dict[str, RecordTally]: ...

    def rid_for(self, module: str, side: str, side_id: str) -> str | None: ...

    def rids_for(self, module: str, side: str, side_ids: Sequence[str]) -> dict[str, str]: ...

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]: ...

    def module_links(self, module: str) -> dict[tuple[str, str], tuple[str, str]]: ...

    def link_counts(self) -> dict[tuple[str, str, str], int]: ...

    def cursor(self, side: str, module: str) -> Any | None: ...

    def cursors(self) -> dict[tuple[str, str], Any]: ...

    def conflict(self, conflict_id: int) -> dict[str, Any] | None: ...

    def conflicts(
        self,
        *,
        status: str | None = None,
        module: str | None = None,
        rid: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]: ...

    def conflict_total(self, *, status: str | None = None, module: str | None = None) -> int: ...

    def conflict_counts(self, *, status: str | None = None) -> dict[str, int]: ...

    def state_counts(self) -> dict[str, dict[str, int]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


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
