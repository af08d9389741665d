"""The journal: an append-only, hash-chained SQLite table plus the state it materialises.

Entries are the truth.  The materialised tables (``records``, ``links``, ``cursors``,
``conflicts``) are caches that a :class:`~journal.protocols.Reducer` folds from the
entries, in the same transaction as the entries they come from; :mod:`journal.replay`
rebuilds them from the entries alone and checks that they match, and a reducer of another
version rebuilds them on open (:attr:`Journal.state_version`).

The journal knows nothing of sides or policies: the reducer is passed in by the layer that
does (``conflicts.state``), so imports go one way.  Its SQL lives in
:mod:`journal.schema` and the state's in :mod:`journal.view`; nothing outside the package
reads the file but through this class.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from journal.anchors import AnchorFile, ChainedRows, anchor_path, check_range
from journal.bulk import put_aside, restore
from journal.clock import Dot, VectorClock
from journal.entry import (
    GENESIS,
    ChainKey,
    Entry,
    EntryDecoder,
    Kind,
    NewEntry,
    chained_rows,
    entry_from_row,
    loads,
    micros_text,
    row_hash,
    wire_loads,
)
from journal.errors import ChainKeyError, IntegrityError, StorageError
from journal.names import FieldNames, sqlite_names
from journal.payloads import (
    ChainKeyed,
    SettledIntent,
    StateUpgraded,
    TriggersRepaired,
    WriteIntent,
    new_entry,
    payload_of,
)
from journal.protocols import Reducer, View
from journal.schema import (
    CHAIN_COLUMNS,
    ENTRY_COLUMNS,
    GENESIS_HEX,
    INSERT_ENTRIES,
    READ_COLUMNS,
    TRIGGERS,
    connect,
    create_schema,
    entries_format,
    kinds_where,
    missing_triggers,
    store_state_rule,
    store_state_version,
    stored_state_rule,
    stored_state_version,
)
from journal.view import (
    Progress,
    RecordTally,
    SQLiteView,
    cursor_order,
    fold,
    paused_gc,
    reducer_rule,
    reducer_version,
    upgrade_reason,
    wire_fields,
)

# The journal's own entries (``config`` kind): the upgrade to a keyed chain, a trigger
# repair, a forced write, a state upgrade.  Reducers ignore config entries of modules they
# do not know.
JOURNAL_MODULE = "@journal"
CHAIN_RID = "@chain"  # meta: {"chain": "hmac-sha256", "keyed_from": seq, "unkeyed": [1, n]}
CHAIN = "hmac-sha256"
# the state tables a bulk block (Journal.bulk_state) writes without their indexes
_BULK_TABLES = ("records", "links")
STATE_RID = "@state"  # meta: {"event": "state-upgrade", "from": old, "to": new, ...}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KeyedChain:
    """How a journal of any backend keys its hash chain and waits to rebuild its state:
    the rules both :class:`Journal` and :class:`journal.postgres.PostgresJournal` follow,
    on the members each backend keeps (``key``, ``keyed_from``, ``_last_seq``, ``where``,
    ``transaction``, ``append``, ``needs_state_upgrade``, ``upgrade_state``)."""

    _upgrade_hint = ""  # how a user upgrades a chain of this backend, for the message

    key: ChainKey | None
    keyed_from: int | None
    _last_seq: int
    where: str

    if TYPE_CHECKING:

        def transaction(self) -> AbstractContextManager[Any]: ...

        def append(self, entries: Iterable[NewEntry]) -> list[Entry]: ...

        @property
        def needs_state_upgrade(self) -> bool: ...

        def upgrade_state(self, *, progress: Progress | None = None) -> Entry | None: ...

        reducer: Reducer
        view: Any  # each backend's own

        def row_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]: ...

    # False: opened to look at it (``journal verify``), the state's rebuild waits for
    # :meth:`upgrade_state` (an edited journal fails the rebuild, and verify must name why)
    rebuild_state = True

    @property
    def needs_upgrade(self) -> bool:
        """A key is in use but the chain is unkeyed: appends wait for :meth:`upgrade`."""
        return self.key is not None and self.keyed_from is None and self._last_seq > 0

    def _append_key(self) -> ChainKey | None:
        """The key new entries are chained with; refuses a mix of keyed and unkeyed."""
        if self.keyed_from is None:
            if self.needs_upgrade:
                raise ChainKeyError(
                    f"journal {self.where} has an unkeyed hash chain: upgrade it before "
                    f"writing{self._upgrade_hint}"
                )
            return None
        if self.key is None:
            raise ChainKeyError(
                f"journal {self.where} is keyed from entry {self.keyed_from}: it is written "
                "only with its journal key"
            )
        return self.key

    def upgrade(self) -> Entry | None:
        """Switch an unkeyed chain to the keyed one, journaled: a ``config`` entry of module
        ``@journal`` saying from which seq the chain is keyed (it is the first keyed entry);
        the entries before it stay as they are and verify as unkeyed.  None if there is
        nothing to upgrade (already keyed, or empty)."""
        if self.key is None:
            raise ChainKeyError(f"journal {self.where}: an upgrade needs the journal key")
        with self.transaction():
            if self.keyed_from is not None:
                return None
            if self._last_seq == 0:
                self.keyed_from = 1
                return None
            first = self._last_seq + 1
            self.keyed_from = first
            keyed = ChainKeyed(
                chain=CHAIN,
                keyed_from=first,
                unkeyed=(1, first - 1),
                reason="entries before keyed_from were chained with plain sha256 (made "
                "before keyed chains)",
            )
            (entry,) = self.append([new_entry(keyed, JOURNAL_MODULE, CHAIN_RID)])
        self._upgrade_state_when_writable()  # it waited for the chain to be writable
        return entry

    def _upgrade_state_when_writable(self) -> None:
        """:meth:`upgrade_state` now, or later if the chain cannot be written yet."""
        if not self.rebuild_state or not self.needs_state_upgrade:
            return
        with contextlib.suppress(ChainKeyError):  # waits for use_key() or upgrade()
            self.upgrade_state()

    def _refold(self, progress: Progress | None) -> None:
        """Fold every entry into the cleared state, for :meth:`upgrade_state` (in its
        transaction).  The chain is checked first and an entry that cannot be decoded is
        named: an edited journal fails the rebuild with an :class:`IntegrityError` naming
        the entry, and the caller's rollback leaves the journal as it was."""
        chained: ChainedRows = self  # type: ignore[assignment]  # each backend is one
        try:
            check_range(chained)
        except IntegrityError as exc:
            raise IntegrityError(self._unrebuildable(str(exc)), seq=exc.seq) from None
        self.view.clear()
        entries = self._decoded(wire_fields(self.reducer))
        fold(self.view, entries, total=self._last_seq, progress=progress)

    def _unrebuildable(self, problem: str) -> str:
        return (
            f"journal {self.where}: its state cannot be rebuilt for this reducer: {problem}; "
            "nothing was written (`replicator journal verify` reports every problem)"
        )

    def _decoded(self, wire: bool) -> Iterator[Entry]:
        """Every entry, decoded a batch at a time; a row that cannot be decoded is an
        :class:`IntegrityError` naming its seq and column."""
        names: FieldNames = self.names  # type: ignore[attr-defined]  # each backend's
        for rows in self.row_batches():
            decoder = EntryDecoder(wire_fields=wire, names=names)
            try:
                yield from map(decoder.entry, rows)
            except Exception as exc:  # any decoding error: the row is named below
                for row in rows:
                    column = undecodable(row, wire, names)
                    if column is not None:
                        problem = f"entry {row[0]} cannot be read: its {column}"
                        raise IntegrityError(self._unrebuildable(problem), seq=row[0]) from None
                raise IntegrityError(
                    self._unrebuildable(f"an entry cannot be read ({exc})")
                ) from exc


def undecodable(row: Any, wire: bool, names: FieldNames | None = None) -> str | None:
    """What of a stored row does not decode (None: it decodes; ``names``: the journal's,
    for compact fields)."""
    if isinstance(row[1], str) and "\0" in row[1]:  # fromisoformat stops at a NUL
        return "at (not a time)"
    try:
        EntryDecoder(wire_fields=wire, names=names).entry(row)
    except Exception:  # which column: found below
        pass
    else:
        return None
    _, at, _, _, _, kind, dot, context, fields, meta, *_ = row
    checks: list[tuple[str, Callable[[], object]]] = [
        ("at (not a time)", lambda: dt.datetime.fromisoformat(at)),
        ("kind (not a kind)", lambda: Kind(kind)),
        ("dot (not a dot)", lambda: dot is None or Dot.from_json(wire_loads(dot))),
        (
            "context (not a clock)",
            lambda: context is None or VectorClock.from_json(wire_loads(context)),
        ),
        ("fields (not their JSON)", lambda: (wire_loads if wire else loads)(fields)),
        (
            "fields (a reference to no observation of its record)"
            if fields[:2] == "[-"
            else "fields (compact, not of the journal's names)",
            lambda: (
                fields[:1] != "["
                or EntryDecoder(names=names).entry((*row[:9], "{}", *row[10:])).fields
            ),
        ),
        (
            "meta (compact, not of its entry)",
            lambda: (
                meta[:1] != "["
                or EntryDecoder(names=names)._compact_meta(
                    kind,
                    row[2],
                    row[3],
                    row[4],
                    meta,
                    EntryDecoder(names=names).entry((*row[:9], "{}", *row[10:])).fields,
                )
            ),
        ),
        ("meta (not its JSON)", lambda: loads(meta)),
    ]
    for column, check in checks:
        try:
            check()
        except Exception:  # this column does not decode
            return column
    return "columns (they do not decode together)"


class Journal(KeyedChain):
    """An append-only journal in one SQLite file.

    ``with journal.transaction():`` groups appends (and the state they materialise)
    into one SQLite transaction; nested calls become savepoints.

    ``key``: the journal key (kept outside the file by the caller).  With it, new entries
    are chained with HMAC-SHA256; a journal made before keyed chains (or without a key)
    has a plain sha256 chain until :meth:`upgrade` journals the switch.  ``keyed_from`` is
    the first keyed seq (None: the chain is unkeyed).

    ``reducer``: what folds the entries into the materialised state.  If it has a
    ``version`` other than the stored state's, opening rebuilds the state by replay, in one
    transaction (it holds the write lock for the whole fold), and journals the upgrade
    (:meth:`upgrade_state`); a keyed journal opened without its key waits for
    :meth:`use_key`.
    """

    _upgrade_hint = " (`replicator journal upgrade`)"

    def __init__(
        self,
        path: str | Path,
        reducer: Reducer,
        *,
        key: ChainKey | None = None,
        now: Callable[[], dt.datetime] = _utcnow,
        cache_size: int = 20_000,
        rebuild_state: bool = True,
    ) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self.rebuild_state = rebuild_state
        self.where = str(path)  # where it is, for messages (any backend's journal has one)
        self.reducer = reducer
        self.now = now
        self.key = key
        self.keyed_from: int | None = None
        try:
            self.conn = connect(path)
            create_schema(self.conn)
            # 3: no link stored and the time as an integer (a journal made since format 3),
            # 2: the hashes stored as bytes, 1: as hex text (journal.schema)
            self.format = entries_format(self.conn)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open journal {path}: {exc}") from exc
        self.view = SQLiteView(self.conn, reducer, cache_size)
        self.names = sqlite_names(self.conn)  # compact fields' names (journal.names)
        self.view.names = self.names
        self._depth = 0
        self._data_version = -1
        self._load_tail()
        try:
            self._upgrade_state_when_writable()
        except BaseException:
            self.close()
            raise

    # -- transactions ---------------------------------------------------------------------

    def _load_tail(self) -> None:
        row = self.conn.execute(
            "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        self._last_seq: int = row[0] if row else 0
        self._last_hash: str = row[1] if row else GENESIS
        self.names.forget()  # names a rollback undid, or another connection added
        self._load_chain()

    def _load_chain(self) -> None:
        """Where the keyed chain starts: the journaled upgrade, else entry 1 if its hash is
        not a plain sha256 one (keyed from the start), else nowhere (an unkeyed chain)."""
        marker = self.conn.execute(
            "SELECT seq FROM entries WHERE module = ? AND rid = ? AND kind = ? "
            "ORDER BY seq LIMIT 1",
            (JOURNAL_MODULE, CHAIN_RID, Kind.CONFIG.value),
        ).fetchone()
        if marker is not None:
            self.keyed_from = int(marker[0])
            return
        first = next(iter(self._rows("1 ORDER BY seq LIMIT 1", [])), None)
        if first is None:
            self.keyed_from = 1 if self.key is not None else None
        elif _plain_hash(first) == first[11]:
            self.keyed_from = None
        else:
            self.keyed_from = 1  # keyed from the start (or edited: verify says which)

    def use_key(self, key: ChainKey | None) -> None:
        """Chain with ``key`` from now on (the caller found it outside the journal)."""
        self.key = key
        self._load_chain()
        self._upgrade_state_when_writable()

    # -- the materialised state's version -----------------------------------------------------

    @property
    def state_version(self) -> int:
        """The version of the reducer that folded the stored state (0: unversioned).

        The state is a cache of the reducer's fold of the entries, so a reducer of another
        ``version`` (see :class:`~journal.protocols.Reducer`) rebuilds it by replay, as soon
        as the journal can be written: on open, or once :meth:`use_key` or :meth:`upgrade`
        makes the chain writable.  Until then :attr:`needs_state_upgrade` says so.
        """
        return stored_state_version(self.conn)

    @property
    def needs_state_upgrade(self) -> bool:
        """The reducer's version differs from the stored state's (the state waits for
        :meth:`upgrade_state`)."""
        wanted = reducer_version(self.reducer)
        if wanted is None:
            return False
        if wanted != self.state_version:
            return True
        rule = reducer_rule(self.reducer)
        return rule is not None and rule != stored_state_rule(self.conn)

    def upgrade_state(self, *, progress: Progress | None = None) -> Entry | None:
        """Rebuild the materialised state with the reducer if its version differs from the
        stored one, journaled: a ``config`` entry of ``@journal`` (rid ``@state``, meta
        ``{"event": "state-upgrade", "from": old, "to": new, "entries": [1, n]}``), in one
        transaction with the rebuilt state and the new version.

        None if there is nothing to rebuild: the versions agree, the reducer has none, or
        the journal is empty (its version is recorded, unjournaled: nothing was folded).
        Raises :class:`ChainKeyError` if the journal cannot be written (its key is missing,
        or its chain waits for :meth:`upgrade`).
        """
        wanted = reducer_version(self.reducer)
        if wanted is None:
            return None
        rule = reducer_rule(self.reducer)
        with self.transaction():
            old = stored_state_version(self.conn)
            old_rule = stored_state_rule(self.conn)
            if old == wanted and (rule is None or rule == old_rule):
                return None
            if self._last_seq == 0:
                store_state_version(self.conn, wanted)
                store_state_rule(self.conn, rule)
                return None
            self._append_key()  # refuse before the fold, not after it
            last = self._last_seq
            self._refold(progress)
            store_state_version(self.conn, wanted)
            store_state_rule(self.conn, rule)
            reason = upgrade_reason(old, wanted, old_rule, rule)
            # the entry is folded by append like any other: a reducer ignores ``@journal``
            upgraded = StateUpgraded(old=old, new=wanted, entries=(1, last), reason=reason)
            (entry,) = self.append([new_entry(upgraded, JOURNAL_MODULE, STATE_RID)])
        return entry

    # -- the append-only triggers -------------------------------------------------------------

    def missing_triggers(self) -> list[str]:
        """The append-only triggers that are gone or altered (empty when all are in place)."""
        return missing_triggers(self.conn)

    def repair_triggers(self) -> Entry | None:
        """Re-create missing or altered append-only triggers and journal the repair (None if
        nothing was missing).  The only place triggers are made for an existing journal."""
        with self.transaction():
            missing = self.missing_triggers()
            if not missing:
                return None
            for name in missing:
                self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
                self.conn.execute(TRIGGERS[name])
            repaired = TriggersRepaired(recreated=tuple(missing))
            (entry,) = self.append([new_entry(repaired, JOURNAL_MODULE, "@triggers")])
        return entry

    def head(self) -> tuple[int, str, dt.datetime | None]:
        """``(seq, hash, at)`` of the last entry (``(0, GENESIS, None)`` when empty)."""
        row = self.conn.execute("SELECT seq, hash, at FROM entries ORDER BY seq DESC LIMIT 1")
        found = row.fetchone()
        if found is None:
            return 0, GENESIS, None
        return int(found[0]), found[1], dt.datetime.fromisoformat(found[2])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Journal]:
        """One atomic unit; sqlite3 errors inside are translated to :class:`StorageError`.

        No cyclic garbage collection runs inside the outermost one (:func:`paused_gc`):
        its appends and their fold make many small acyclic containers."""
        if self._depth == 0:
            with paused_gc(), self._transaction() as journal:
                yield journal
        else:
            with self._transaction() as journal:
                yield journal

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Journal]:
        """A read transaction: every read inside sees the journal as it was when it began,
        whatever other connections commit meanwhile (a sync running beside a verify), and
        takes no write lock.  Nothing may be appended inside; inside a transaction already,
        that one is the moment."""
        if self._depth or self.conn.in_transaction:
            yield self
            return
        try:
            self.conn.execute("BEGIN")
            self._load_tail()  # the first read: the moment is now, and the tail is its own
        except sqlite3.Error as exc:
            raise StorageError(f"journal {self.path}: cannot begin a read: {exc}") from exc
        try:
            yield self
        finally:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")  # it wrote nothing: nothing to keep
            self._load_tail()  # the journal as it is now, for what follows

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Journal]:
        depth = self._depth
        try:
            if depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
                version = self.conn.execute("PRAGMA data_version").fetchone()[0]
                if version != self._data_version:
                    # another connection committed: our caches may be stale
                    self.view.forget()
                    self._load_tail()
                    self._data_version = version
            else:
                self.conn.execute(f"SAVEPOINT sp{depth}")
        except sqlite3.Error as exc:
            raise StorageError(f"journal {self.path}: cannot begin a transaction: {exc}") from exc
        self._depth += 1
        try:
            yield self
            if depth == 0:
                self.view.flush()
                self.conn.execute("COMMIT")
            else:
                self.conn.execute(f"RELEASE sp{depth}")
        except BaseException as exc:
            self._depth = depth
            try:
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO sp{depth}")
                    self.conn.execute(f"RELEASE sp{depth}")
            except sqlite3.Error:
                pass
            self.view.forget()
            self._load_tail()
            if isinstance(exc, sqlite3.Error):
                raise StorageError(f"journal {self.path}: {exc}") from exc
            raise
        finally:
            self._depth = depth

    @contextlib.contextmanager
    def bulk_state(self) -> Iterator[None]:
        """The block's transactions write ``records`` and ``links`` without their
        secondary indexes and tally triggers: each is made once (one sort) and the tallies
        counted once (:mod:`journal.bulk`) at its end, in a transaction of its own.  For a
        large batch of pulls (a first copy), whose queries read records and links by key
        alone; a query of another index (``attention``, ``with_keys``, ``labelled``)
        reads by a scan of the table until the block's end (:func:`journal.view.hinted`).

        A kill inside leaves them missing: the schema check of the next open makes them
        again and counts the tallies afresh.  Inside a transaction, the block is the
        caller's: nothing is put aside."""
        if self._depth:
            yield
            return
        with self.transaction():
            made = put_aside(self.conn, _BULK_TABLES)
        ok = False
        try:
            yield
            ok = True
        finally:
            try:
                with self.transaction():
                    restore(self.conn, _BULK_TABLES, made)
            except StorageError:
                if ok:
                    raise  # else the block's own error goes on: the next open restores

    # -- appending --------------------------------------------------------------------------

    def append(self, entries: Iterable[NewEntry]) -> list[Entry]:
        """Number, chain and store entries, and fold them into the materialised state."""
        if self._depth == 0:
            with self.transaction():
                return self.append(entries)
        key = self._append_key()
        try:
            # an applied write may refer to its record's observation (journal.names)
            entries = self.names.numbered(entries, self._last_seq)
            rows, stored = chained_rows(
                entries,
                seq=self._last_seq,
                prev=self._last_hash,
                key=key,
                now=self.now(),
                format=self.format,
                texts=self.names.texts,
            )
            self.names.done(stored[-1].seq if stored else self._last_seq)
            if not rows:
                return []
            self.conn.executemany(INSERT_ENTRIES[self.format], rows)
        except BaseException:
            self.names.forget()  # names the entries declared were not stored
            raise
        if getattr(self.reducer, "reads_state", True):
            self.view.prefetch(stored)  # the batch's records in bulk, not a query each
        apply = self.reducer.apply
        for entry in stored:
            apply(self.view, entry)
        self.view.flush_links()
        self._last_seq, self._last_hash = stored[-1].seq, stored[-1].hash
        return stored

    # -- reading ----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        return self._last_seq

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
        """Entries with ``seq > since`` (and ``seq <= until``), in order (newest first with
        ``descending``), optionally of one module / record (or ``rids``) / kinds;
        ``offset`` skips that many (with ``limit``: one page)."""
        where, params = self._where(since=since, module=module, rid=rid, rids=rids, kinds=kinds)
        if until is not None:
            where += " AND seq <= ?"
            params.append(until)
        sql = f"{where} ORDER BY seq"
        if descending:
            sql += " DESC"
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {max(int(offset), 0)}"
        for row in self._rows(sql, params):
            yield entry_from_row(row, self.names)

    def _rows(self, where: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """The stored rows (the columns of :data:`ENTRY_COLUMNS`) ``WHERE where`` (which
        may end with an order and a limit); for format 3, each ``prev_hash`` looked up
        and each time's text made here."""
        rows = self.conn.execute(
            f"SELECT {READ_COLUMNS[self.format]} FROM entries WHERE {where}", params
        )
        return rows if self.format != 3 else timed_rows(rows)

    def stream(
        self, *, since: int = 0, batch: int = 5_000, wire_fields: bool = False
    ) -> Iterator[Entry]:
        """Every entry with ``seq > since``, in order, read ``batch`` rows a query (each
        query starts past the last seq read: memory stays one batch however long the
        journal, and no statement stays open between batches).  ``wire_fields``: fields in
        their wire form (:class:`~journal.entry.EntryDecoder`)."""
        for rows in self.row_batches(since=since, batch=batch):
            decoder = EntryDecoder(wire_fields=wire_fields, names=self.names)
            yield from map(decoder.entry, rows)

    def row_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]:
        """The stored rows with ``seq > since`` in order, ``batch`` of them at a time (the
        columns of :data:`ENTRY_COLUMNS` in every format: :func:`entry_batches`)."""
        return entry_batches(self.conn, self.format, since=since, batch=batch)

    def chain_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]:
        """What a chain check reads of the rows with ``seq > since``, in order, ``batch``
        of them at a time: ``(seq, prev, digest, tail)``, the hashes as the format stores
        them and the canonical text after ``prev_hash``, made by SQLite from the stored
        bytes (:data:`~journal.schema.CHAIN_COLUMNS`, :func:`journal.anchors.chain_texts`)."""
        return chain_batches(self.conn, self.format, since=since, batch=batch)

    @staticmethod
    def _where(
        *,
        since: int = 0,
        module: str | None = None,
        rid: str | None = None,
        rids: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> tuple[str, list[Any]]:
        where = ["seq > ?"]
        params: list[Any] = [since]
        if module is not None:
            where.append("module = ?")
            params.append(module)
        if rid is not None:
            where.append("rid = ?")
            params.append(rid)
        if rids is not None:
            where.append(f"rid IN ({','.join('?' * len(rids))})")
            params.extend(rids)
        if kinds:
            where.append(kinds_where(kinds))  # so a partial kinds' index is used
            params.extend(str(k) for k in kinds)
        return " AND ".join(where), params

    def history(self, rid: str, *, module: str | None = None) -> Iterator[Entry]:
        """A record's entries, with the batch entries (``rid`` NULL) that name it, by seq."""
        needle = "%" + json.dumps(rid).replace("%", "").replace("_", "") + "%"
        if module is None:
            where = "(rid = ? OR (rid IS NULL AND kind = 'intent' AND meta LIKE ?))"
            sql = f"{where} ORDER BY seq"
            params: list[Any] = [rid, needle]
        else:
            # two lookups of the (module, rid) index, not a walk over the module's entries
            columns = READ_COLUMNS[self.format]
            sql = (
                "module = ? AND rid = ? UNION ALL "
                f"SELECT {columns} FROM entries WHERE module = ? AND rid IS NULL "
                "AND kind = 'intent' AND meta LIKE ? ORDER BY seq"
            )
            params = [module, rid, module, needle]
        for row in self._rows(sql, params):
            entry = entry_from_row(row, self.names)
            if entry.rid == rid:
                yield entry
                continue
            intent = payload_of(entry)
            if (isinstance(intent, WriteIntent) and rid in intent.writes) or (
                isinstance(intent, SettledIntent) and rid in intent.settled
            ):
                yield entry

    def count(self, *, module: str | None = None, rids: Sequence[str] | None = None) -> int:
        """How many entries the journal holds (of one module, and of these ``rids``)."""
        if module is None and rids is None:
            return int(self.conn.execute("SELECT count(*) FROM entries").fetchone()[0])
        where, params = self._where(module=module, rids=rids)
        sql = f"SELECT count(*) FROM entries WHERE {where}"
        return int(self.conn.execute(sql, params).fetchone()[0])

    def entry_counts(self) -> dict[str, int]:
        """Entries per module (the journal's own ``@``-modules included), by module name."""
        rows = self.conn.execute(
            "SELECT module, count(*) FROM entries GROUP BY module ORDER BY module"
        )
        return {module: int(n) for module, n in rows}

    def last_times(self, *, kinds: Sequence[str]) -> dict[str, dt.datetime]:
        """Per module, when its newest entry of one of ``kinds`` was written (modules
        without one are left out)."""
        if not kinds:
            return {}
        column = "micros" if self.format == 3 else "at"
        rows = self.conn.execute(
            f"SELECT module, max({column}) FROM entries WHERE {kinds_where(kinds)} "
            "GROUP BY module ORDER BY module",
            [str(k) for k in kinds],
        )
        # ``at`` is fixed-width UTC text (utc_text), so its text order is time order
        return {
            module: dt.datetime.fromisoformat(at if column == "at" else micros_text(at))
            for module, at in rows
        }

    def record(self, module: str, rid: str) -> Any | None:
        return self.view.record(module, rid)

    def preload(self, module: str, rids: Sequence[str]) -> None:
        self.view.preload(module, rids)

    def attention(self, module: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """Rids of records that need planning, in rid order (paged by ``after``)."""
        return self.view.attention(module, after=after, limit=limit)

    def with_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per match key, for the keys given."""
        return self.view.with_keys(module, keys)

    def with_refs(self, module: str, refs: Sequence[str]) -> dict[str, list[str]]:
        """Rids per reference (what a record belongs to, as its reducer said), for the
        references given."""
        return self.view.with_refs(module, refs)

    def with_near_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per near key (the looser second key a reducer may give), for the keys given."""
        return self.view.with_near_keys(module, keys)

    def records(
        self, module: str | None = None, *, marked: bool = False
    ) -> Iterator[tuple[str, str, Any]]:
        """Every record as ``(module, rid, state)``, streamed (``marked``: only those the
        reducer gave marks, the others never read)."""
        return self.view.records(module, marked=marked)

    def labelled(
        self, modules: Sequence[str], *, holding: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, list[tuple[str, str, str]]]:
        """Records of ``modules`` by the label their reducer stored (a folded name): how
        many hold ``holding`` in it ("" for all), and ``limit`` of them from ``offset``,
        as ``(label, rid, module)`` ordered so, with no state decoded."""
        return self.view.labelled(modules, holding=holding, limit=limit, offset=offset)

    def first_label(self, module: str) -> tuple[str, str] | None:
        """The first of ``module``'s labels in order and its record's rid (None: none)."""
        return self.view.first_label(module)

    def record_tallies(self) -> dict[str, RecordTally]:
        """Per module, its records counted by status and by mark (each word of the marks
        the reducer gave), from an index: no state is decoded, so it stays fast with
        100k records."""
        tallies: dict[str, RecordTally] = {}
        for module, counts in sorted(self.view.tallies().items()):
            tally = tallies[module] = RecordTally()
            for (status, marks), n in counts.items():
                tally.statuses[status] += n
                for word in (marks or "").split():
                    tally.marks[word] += n
        return tallies

    def rid_for(self, module: str, side: str, side_id: str) -> str | None:
        """The record a side's record is linked to (None: not linked)."""
        return self.view.rid_for(module, side, side_id)

    def rids_for(self, module: str, side: str, side_ids: Sequence[str]) -> dict[str, str]:
        """Side id -> rid for those of ``side_ids`` that are linked."""
        return self.view.rids_for(module, side, side_ids)

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]:
        """A record's links: side -> ``(side id, status)``."""
        return self.view.links(module, rid)

    def module_links(self, module: str) -> dict[tuple[str, str], tuple[str, str]]:
        """Every link of a module: ``(side, side id)`` -> ``(rid, status)``."""
        return self.view.module_links(module)

    def link_counts(self) -> dict[tuple[str, str, str], int]:
        """Links per ``(module, side, status)``."""
        return self.view.link_counts()

    def cursor(self, side: str, module: str) -> Any | None:
        return self.view.cursor(side, module)

    def cursors(self) -> dict[tuple[str, str], Any]:
        """Every cursor: ``(side, module)`` -> value."""
        return self.view.cursors()

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        return self.view.conflict(conflict_id)

    def conflicts(
        self,
        *,
        status: str | None = None,
        module: str | None = None,
        rid: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Conflicts by id, optionally of one status / module / record; ``limit`` and
        ``offset`` read one page of them in SQL (the console's list)."""
        return self.view.conflicts(
            status=status, module=module, rid=rid, limit=limit, offset=offset
        )

    def conflict_total(self, *, status: str | None = None, module: str | None = None) -> int:
        """How many conflicts there are of one ``status`` and ``module`` (None: any)."""
        return self.view.conflict_total(status=status, module=module)

    def conflict_counts(self, *, status: str | None = None) -> dict[str, int]:
        """Conflicts per module, of one ``status`` (``"open"``) or of all."""
        return self.view.conflict_counts(status=status)

    def state_counts(self) -> dict[str, dict[str, int]]:
        """Per module (sorted), how many records, links, cursors and conflicts it holds."""
        return self.view.table_counts()

    def anchor_log(self) -> AnchorFile | None:
        """``JOURNAL.anchors`` beside the file (None for an in-memory journal)."""
        if self.path == ":memory:":
            return None
        return AnchorFile(anchor_path(self.path))

    def hashes(self, seqs: Sequence[int]) -> dict[int, str]:
        """The stored hash of each of ``seqs`` the journal holds (what anchors are
        checked against)."""
        found: dict[int, str] = {}
        unique = sorted(set(seqs))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for seq, digest in self.conn.execute(
                f"SELECT seq, hash FROM entries WHERE seq IN ({marks})", chunk
            ):
                found[int(seq)] = digest
        return found

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _row_batches(
    conn: sqlite3.Connection, columns: str, since: int, batch: int, upto: int | None
) -> Iterator[list[Any]]:
    """``columns`` of the rows with ``seq`` (the first column) above ``since`` (and at most
    ``upto``), in order, ``batch`` rows a query: no statement stays open between batches."""
    bound = "" if upto is None else f" AND seq <= {int(upto)}"
    sql = f"SELECT {columns} FROM entries WHERE seq > ?{bound} ORDER BY seq LIMIT ?"
    while True:
        rows = conn.execute(sql, (since, batch)).fetchall()
        if not rows:
            return
        yield rows
        since = rows[-1][0]


def _digest_before(conn: sqlite3.Connection, seq: int) -> Any:
    """The stored digest of the row before entry ``seq + 1`` in a journal of format 3 (the
    link of the entry after ``seq``): the last row at or before ``seq``, the genesis's
    bytes when there is none."""
    row = conn.execute(
        "SELECT CAST(digest AS BLOB) FROM entries WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
        (seq,),
    ).fetchone()
    return _GENESIS_BYTES if row is None else row[0]


_GENESIS_BYTES = bytes.fromhex(GENESIS_HEX)


def _hex(digest: Any) -> str:
    """A stored digest's hex (``hash``); a value that is not 32 bytes never equals a hash
    made, as format 2's virtual column (the hex of whatever is stored) never does."""
    if type(digest) is bytes:
        return digest.hex()
    return f"not a hash: {digest!r}"


def entry_batches(
    conn: sqlite3.Connection,
    fmt: int,
    *,
    since: int = 0,
    batch: int = 5_000,
    upto: int | None = None,
) -> Iterator[list[Any]]:
    """The rows of a journal of entries format ``fmt`` with ``seq > since`` (and at most
    ``upto``) in order, ``batch`` of them at a time, as the columns of
    :data:`ENTRY_COLUMNS` in every format: for format 3 each row's ``prev_hash`` is the hash
    of the row before it, carried along, and its time's text is made from ``micros``
    (once for the rows that share it)."""
    if fmt != 3:
        yield from _row_batches(conn, ENTRY_COLUMNS, since, batch, upto)
        return
    # the digest as bytes whatever its storage class (an edit may store text, not UTF-8)
    columns = (
        "seq, micros, module, rid, side, kind, dot, context, fields, meta, CAST(digest AS BLOB)"
    )
    prev = _hex(_digest_before(conn, since))
    for rows in _row_batches(conn, columns, since, batch, upto):
        out = []
        for seq, at, module, rid, side, kind, dot, context, fields, meta, digest in timed_rows(
            rows
        ):
            digest_hex = _hex(digest)
            out.append(
                (seq, at, module, rid, side, kind, dot, context, fields, meta, prev, digest_hex)
            )
            prev = digest_hex
        yield out


def chain_batches(
    conn: sqlite3.Connection,
    fmt: int,
    *,
    since: int = 0,
    batch: int = 5_000,
    upto: int | None = None,
) -> Iterator[list[Any]]:
    """What a chain check reads of the rows with ``seq > since`` (and at most ``upto``) of
    a journal of entries format ``fmt``, in order, ``batch`` of them at a time: ``(seq,
    prev, digest, tail)``, the hashes as the format stores them and the canonical text
    after ``prev_hash`` (:data:`~journal.schema.CHAIN_COLUMNS`,
    :func:`journal.anchors.chain_texts`).  Format 3 stores no link: ``prev`` is the digest
    of the row before (carried along), and the tail's ``seq`` and time are put in front
    of what SQLite made here."""
    if fmt != 3:
        yield from _row_batches(conn, CHAIN_COLUMNS[fmt], since, batch, upto)
        return
    prev = _digest_before(conn, since)
    last_micros: Any = None
    at = b""
    for rows in _row_batches(conn, CHAIN_COLUMNS[3], since, batch, upto):
        out = []
        for seq, micros, digest, rest in rows:
            if micros != last_micros or type(micros) is not type(last_micros):
                at, last_micros = micros_text(micros).encode(), micros
            tail = b"%d\x1f%b\x1f%b" % (seq, at, b"" if rest is None else rest)
            out.append((seq, prev, digest, tail))
            prev = digest
        yield out


def _plain_hash(row: Sequence[Any]) -> str | None:
    """The unkeyed hash of a stored row, a blob's bytes hashed as SQLite's text of them (as
    the chain check reads them); None when a value cannot be hashed (a hand edit of its
    storage class: the file still opens, and verify names the entry)."""
    texts = [v.decode("utf-8", "surrogateescape") if type(v) is bytes else v for v in row]
    try:
        return row_hash(tuple(texts))  # type: ignore[arg-type]  # a hand edit's types
    except (TypeError, ValueError):
        return None


def timed_rows(
    rows: Iterable[Sequence[Any]], *, refuse_nul: bool = False
) -> Iterator[tuple[Any, ...]]:
    """Rows of :data:`~journal.schema.READ_COLUMNS` of format 3 (``micros`` second) as
    the columns of :data:`ENTRY_COLUMNS` (the time's text second), made once for the rows
    that share a time; with ``refuse_nul``, a :class:`ValueError` naming the entry whose
    time's text holds a NUL character (what a replay's checked rows refuse)."""
    last_micros: Any = None
    at = ""
    for row in rows:
        micros = row[1]
        if micros != last_micros or type(micros) is not type(last_micros):
            at, last_micros = micros_text(micros), micros
            if refuse_nul and "\0" in at:
                raise ValueError(f"entry {row[0]}: its time holds a NUL character")
        yield (row[0], at, *row[2:])


# ENTRY_COLUMNS, TRIGGERS, Reducer, View and cursor_order live in journal.schema,
# journal.protocols and journal.view; imported from here by older code.
__all__ = [
    "CHAIN",
    "CHAIN_RID",
    "ENTRY_COLUMNS",
    "JOURNAL_MODULE",
    "Journal",
    "Reducer",
    "STATE_RID",
    "TRIGGERS",
    "View",
    "chain_batches",
    "cursor_order",
    "entry_batches",
    "timed_rows",
]
