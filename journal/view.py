"""The materialised state over SQLite: records, links, cursors and conflicts.

:class:`SQLiteView` is the :class:`~journal.protocols.View` a reducer folds entries into
(the live journal's tables, or a replay's fresh ones), and the queries the journal answers
from those tables.  It is a cache of the entries: :func:`fold` is the one loop that
rebuilds it from them, for a replay and for a state upgrade alike.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import re
import sqlite3
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import attrs

from journal.entry import Entry, dumps, loads
from journal.errors import CursorError, StorageError
from journal.names import sqlite_names
from journal.protocols import Reducer, View
from journal.schema import (
    MAX_STATE_VERSION,
    STATE_SCHEMA,
    STATE_TABLES,
    TALLY_TABLES,
    TALLY_TRIGGERS,
    statements,
    tally_select,
)

Progress = Callable[[int, int], None]
# the columns of ``records`` that indexes hold besides (module, rid), as a flush writes them
_INDEXED = "key, near, status, marks, label, ref"
_INDEXED_COLUMNS = tuple(_INDEXED.split(", "))
# what a fold reads of a stored row (ENTRY_COLUMNS but the two hashes, which no fold reads)
FOLD_COLUMNS = "seq, at, module, rid, side, kind, dot, context, fields, meta"
# what a record's sketch may read of its rows (RecordReducer.sketch): FOLD_COLUMNS' places,
# the time, dot, context and fields left out
META_COLUMNS = "seq, NULL, module, rid, side, kind, NULL, NULL, NULL, meta"

# A record's state stored by reference to the entries it is the fold of (a reducer's
# ``references``), not as its text: ``@`` and their seqs, each after the first as its
# distance from the one before (``@1041,5000``: entries 1041 and 6041).  No reducer's text
# starts so (a state's text is JSON).
REFERENCE = "@"


def reference_text(seqs: Sequence[int]) -> str:
    """The ``state`` of a record stored by reference to the entries ``seqs`` (ascending)."""
    last = 0
    parts = []
    for seq in seqs:
        parts.append(str(seq - last))
        last = seq
    return REFERENCE + ",".join(parts)


def referenced(text: str) -> list[int]:
    """The seqs a state stored by reference (:func:`reference_text`) names."""
    seqs = []
    last = 0
    for part in text[1:].split(","):
        last += int(part)
        seqs.append(last)
    return seqs


@attrs.frozen
class RecordTally:
    """One module's records counted by the status and the marks their reducer gave: how
    many have each status, and how many carry each word of marks."""

    statuses: Counter[str | None] = attrs.field(factory=Counter)
    marks: Counter[str] = attrs.field(factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def cursor_order(value: Any) -> tuple[int, Any]:
    """Cursors compare within their type: numbers by value, text lexicographically."""
    if isinstance(value, bool):
        raise CursorError(f"not a cursor: {value!r}")
    if isinstance(value, int):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (2, tuple(cursor_order(v) for v in value))
    raise CursorError(f"not a cursor: {value!r}")


class SQLiteView:
    """A :class:`~journal.protocols.View` over the materialised tables of one SQLite
    connection, and the queries the journal answers from them.

    Record states are cached decoded and written back in one ``executemany`` at
    :meth:`flush`, so a batch that touches a record several times encodes it once.  A
    record whose row was read or written (its indexed columns -- key, near, status, marks,
    label, ref -- known as stored) gets its state, attention and the indexed columns that
    changed written, nothing else: an incremental cycle then rewrites no index entry it did
    not change (each rewritten one is a page of the file written again, wherever in the
    file it is), and a first copy's push takes a record out of the key index without taking
    it out of the label index and back (a full upsert cost twice the UPDATE at 100k).

    When the cache is full, the least recently used state of a record needing no attention
    goes first, unless it was read since the last flush (the batch at work needs it); then
    the least recently used of all.  The planner reads every record needing attention, in
    rid order, after the pulls: not the order they were pulled in, so under least recently
    used alone the states it has planned push out those it has yet to read (a first sync
    of 100k records decoded every state again; now only those the pulls left beyond the
    cache).

    A record whose reducer says its state is the fold of a few entries of its own (its
    ``references``) is stored by reference to them (:func:`reference_text`): its row keeps
    its indexed columns (from the reducer's ``columns``) and no state text, and reading it
    reads those entries by seq and folds them again (the reducer's ``unfold``), a batch of
    records in one query.  A first copy's records (an observation and the create it made)
    are so: no state encoded at commit, a third of the table's bytes.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        reducer: Reducer,
        cache_size: int = 20_000,
        *,
        entries: sqlite3.Connection | None = None,
    ):
        self.conn = conn
        self.reducer = reducer  # with the parts a state stored by reference needs
        self.cache_size = cache_size
        # where the entries a state stored by reference names are read (a replay folds
        # into tables of another file than the journal's)
        self.entries = conn if entries is None else entries
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        # the cached records needing no attention (as their rows hold it), least recently
        # used first, each with the flush count when it was last read (-1: written):
        # these are pushed out of a full cache before the others (see the class)
        self._calm: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._flushes = 0
        self._dirty: dict[tuple[str, str], Any] = {}
        # the indexed columns of cached records as their rows hold them (see flush)
        self._indexed: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._links: list[tuple[str, str, str, str, str]] = []
        # records known not to exist (a preload found no row): spares one query each
        self._absent: set[tuple[str, str]] = set()
        # a fold by record (fold_records): the links it made, with the seq that made each
        # (and their order), written to LINK_ORDER a batch at a time
        self._link_order: list[tuple[str, str, str, int, int, str, str]] | None = None
        self._link_n = 0
        self._seq = 0  # the seq of the row fold_records folds
        # the field names of the journal whose entries it reads (journal.names), for a
        # reducer's fold of rows with compact fields
        self.names: Any = sqlite_names(self.entries)

    # records
    def record(self, module: str, rid: str) -> Any | None:
        key = (module, rid)
        if key in self._dirty:
            return self._dirty[key]
        if key in self._cache:
            self._cache.move_to_end(key)
            if key in self._calm:
                self._calm[key] = self._flushes
                self._calm.move_to_end(key)
            return self._cache[key]
        if key in self._absent:
            return None
        row = self.conn.execute(
            f"SELECT state, attention, {_INDEXED} FROM records WHERE module = ? AND rid = ?",
            key,
        ).fetchone()
        if row is None:
            return None
        state = self._states({key: row[0]})[key]
        self._remember(key, state, row[2:], bool(row[1]))
        return state

    def preload(self, module: str, rids: Sequence[str], *, sketches: bool = False) -> None:
        """Decode many records in one query (the planner reads a batch at a time).

        ``sketches``: a record stored by reference may be read as its reducer's sketch
        (``sketch``: its entries read, not folded until its state is asked for, see
        :meth:`prefetch`); without, one read as a sketch before is folded now, with the
        others (a query for them all)."""
        missing = []
        sketched: dict[tuple[str, str], Any] = {}
        for r in rids:
            key = (module, r)
            if key in self._dirty:
                state = self._dirty[key]
            elif key in self._cache:
                state = self._cache[key]
            else:
                if key not in self._absent:
                    missing.append(r)
                continue
            if not sketches and getattr(state, "sketched", None) is not None:
                sketched[key] = state
        if sketched:
            unfolded = self._unfold({key: list(state.sketched) for key, state in sketched.items()})
            for key, state in sketched.items():
                state.fill(unfolded[key])
        self._absent.update((module, r) for r in missing)
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT rid, state, attention, {_INDEXED} FROM records "
                f"WHERE module = ? AND rid IN ({marks})",
                (module, *chunk),
            )
            found = [
                ((module, rid), text, attention, indexed) for rid, text, attention, *indexed in rows
            ]
            states = self._states(
                {key: text for key, text, _, _ in found},
                {key: (tuple(indexed), bool(attention)) for key, _, attention, indexed in found}
                if sketches
                else None,
            )
            for key, _, attention, indexed in found:
                self._absent.discard(key)
                self._remember(key, states[key], tuple(indexed), bool(attention))

    @property
    def reducer(self) -> Reducer:
        return self._reducer

    @reducer.setter
    def reducer(self, reducer: Reducer) -> None:
        """The reducer, and the parts of it a state stored by reference needs (see
        flush), or None: set again whenever the reducer is (a wrapper of it, say)."""
        self._reducer = reducer
        references = getattr(reducer, "references", None)
        columns = getattr(reducer, "columns", None)
        unfold = getattr(reducer, "unfold", None)
        self._by_reference = (
            (references, columns, unfold)
            if callable(references) and callable(columns) and callable(unfold)
            else None
        )
        sketch = getattr(reducer, "sketch", None)
        self._sketch = sketch if callable(sketch) and self._by_reference is not None else None

    def _states(
        self,
        texts: dict[tuple[str, str], str],
        sketches: dict[tuple[str, str], tuple[tuple[Any, ...], bool]] | None = None,
    ) -> dict[tuple[str, str], Any]:
        """The states of stored rows, ``{(module, rid): state text}``: each text decoded,
        or, stored by reference, folded again from its entries (one read for them all;
        ``sketches``: the rows' indexed columns and attention, to read them as the
        reducer's sketches where it makes one, see :meth:`prefetch`)."""
        referring = {key: referenced(t) for key, t in texts.items() if t[:1] == REFERENCE}
        if not referring:
            unfolded = {}
        elif sketches is not None and self._sketch is not None:
            unfolded = self._sketches(referring, sketches)
        else:
            unfolded = self._unfold(referring)
        decode = self.reducer.decode
        return {
            key: unfolded[key] if key in referring else decode(text) for key, text in texts.items()
        }

    def _unfold(self, referring: dict[tuple[str, str], list[int]]) -> dict[tuple[str, str], Any]:
        """The states of records stored by reference, ``{(module, rid): seqs}``: their
        entries read by seq (a query per 900 of them) and folded again by the reducer."""
        if self._by_reference is None:
            raise StorageError(
                f"records stored by reference (as {REFERENCE}...) need a reducer that folds "
                f"them: {type(self.reducer).__name__} does not"
            )
        unfold = self._by_reference[2]
        rows = self._referred_rows(referring)
        return {
            key: unfold([rows[seq] for seq in seqs], names=self.names)
            for key, seqs in referring.items()
        }

    def _sketches(
        self,
        referring: dict[tuple[str, str], list[int]],
        stored: dict[tuple[str, str], tuple[tuple[Any, ...], bool]],
    ) -> dict[tuple[str, str], Any]:
        """:meth:`_unfold`'s states as the reducer's sketches (its ``sketch(rows, names,
        load, stored)``: a state whose entries are read, not folded, until it is asked
        for, then folded by ``load``; ``stored`` the row's indexed columns and
        attention), the records it makes none of folded."""
        assert self._sketch is not None and self._by_reference is not None
        sketch, unfold = self._sketch, self._by_reference[2]
        # a record whose sketch its rows' metas make (the reducer's ``sketch_metas``):
        # those alone read, not the fields, the time or the dot
        metas = getattr(self.reducer, "sketch_metas", None)
        light = (
            {k: seqs for k, seqs in referring.items() if k in stored and metas(k[0])}
            if callable(metas)
            else {}
        )
        states = {}
        if light:
            rows = self._referred_rows(light, META_COLUMNS)
            for key, seqs in light.items():
                state = sketch(
                    [rows[seq] for seq in seqs], self.names, self._unfold_one, stored[key]
                )
                if state is not None:
                    states[key] = state
        rest = {k: seqs for k, seqs in referring.items() if k not in states}
        if rest:
            rows = self._referred_rows(rest)
            for key, seqs in rest.items():
                mine = [rows[seq] for seq in seqs]
                state = (
                    None
                    if key in light
                    else sketch(mine, self.names, self._unfold_one, stored.get(key))
                )
                states[key] = state if state is not None else unfold(mine, names=self.names)
        return states

    def _unfold_one(self, module: str, rid: str, seqs: Sequence[int]) -> Any:
        """The state of one record stored by reference to ``seqs``, folded (a sketch's)."""
        return self._unfold({(module, rid): list(seqs)})[(module, rid)]

    def _referred_rows(
        self, referring: dict[tuple[str, str], list[int]], columns: str = FOLD_COLUMNS
    ) -> dict[int, Sequence[Any]]:
        """The stored rows of the entries records stored by reference name, ``{(module,
        rid): seqs}``, by seq (a query per 900), each checked to be of its record
        (``columns``: :data:`FOLD_COLUMNS` or :data:`META_COLUMNS`)."""
        wanted = sorted({seq for seqs in referring.values() for seq in seqs})
        rows: dict[int, Sequence[Any]] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for row in self.entries.execute(
                f"SELECT {columns} FROM entries WHERE seq IN ({marks})", chunk
            ):
                rows[row[0]] = row
        for key, seqs in referring.items():
            missing = [seq for seq in seqs if seq not in rows]
            # a reference only ever names entries of its own record (a hand edit may not)
            foreign = [seq for seq in seqs if seq in rows and tuple(rows[seq][2:4]) != key]
            if missing or foreign:
                raise StorageError(
                    f"record {key[0]}/{key[1]} is stored by reference to entries "
                    f"{missing or foreign} "
                    + ("the journal does not hold" if missing else "of another record")
                    + ": its state is to be rebuilt (`replicator journal replay --rebuild`)"
                )
        return rows

    def prefetch(self, entries: Iterable[Entry]) -> None:
        """Read the stored states of the records ``entries`` are about that are not in
        memory yet, a query per module and 500 of them, before a batch is folded: the fold
        then finds each in memory instead of reading it with a query of its own."""
        wanted: dict[str, set[str]] = {}
        for entry in entries:
            if entry.rid is not None:
                wanted.setdefault(entry.module, set()).add(entry.rid)
        for module, rids in wanted.items():
            # a record stored by reference is read as the reducer's sketch: a batch of
            # observations and applied writes extends it, its entries folded only if
            # something asks for its state (a cache miss then costs a read of its rows)
            self.preload(module, sorted(rids), sketches=True)

    def _remember(
        self,
        key: tuple[str, str],
        state: Any,
        indexed: tuple[Any, ...],
        attention: bool,
        *,
        read: bool = True,
    ) -> None:
        self._cache[key] = state
        self._cache.move_to_end(key)
        self._indexed[key] = indexed
        if attention:
            self._calm.pop(key, None)
        else:
            self._calm[key] = self._flushes if read else -1
            self._calm.move_to_end(key)
        if len(self._cache) > self.cache_size:
            gone = next(iter(self._calm), None)
            if gone is None or self._calm[gone] == self._flushes:  # none, or all in use
                gone = next(iter(self._cache))
            self._cache.pop(gone, None)
            self._calm.pop(gone, None)
            self._indexed.pop(gone, None)

    def put_record(self, module: str, rid: str, state: Any) -> None:
        self._dirty[(module, rid)] = state
        self._absent.discard((module, rid))

    def flush(self) -> None:
        self.flush_links()
        # what a batch's bulk read found missing is kept for the batch only: the rids of
        # entries a reducer makes no record of would otherwise pile up for the process's life
        self._absent.clear()
        self._flushes += 1  # a batch's reads are done
        if not self._dirty:
            return
        encode = self.reducer.encode
        references, columns, _ = self._by_reference or (None, None, None)
        rows = []
        # records whose rows are known (their indexed columns as stored): an UPDATE of the
        # indexed columns that changed (by which ones), state and attention
        updates: dict[tuple[int, ...], list[tuple[Any, ...]]] = {}
        for (module, rid), state in self._dirty.items():
            seqs = references(state) if references is not None else None
            if seqs and columns is not None:  # stored by reference: no text made
                text = reference_text(seqs)
                key, attention, near, status, marks, label, ref = columns(state)
            else:
                text, key, attention, *more = encode(state)
                near, status, marks, label, ref = (*more, None, None, None, None, None)[:5]
            indexed = (key, near, status, marks, label, ref)
            stored = self._indexed.get((module, rid))
            if stored is None:
                rows.append(
                    (module, rid, key, 1 if attention else 0, text, near, status, marks, label, ref)
                )
            else:
                changed = tuple(i for i in range(6) if stored[i] != indexed[i])
                updates.setdefault(changed, []).append(
                    (*(indexed[i] for i in changed), 1 if attention else 0, text, module, rid)
                )
            self._remember((module, rid), state, indexed, bool(attention), read=False)
        self._dirty.clear()
        if rows:
            self.conn.executemany(
                "INSERT INTO records (module, rid, key, attention, state, near, status, marks, "
                "label, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (module, rid) DO UPDATE SET key = excluded.key, "
                "attention = excluded.attention, state = excluded.state, near = excluded.near, "
                "status = excluded.status, marks = excluded.marks, label = excluded.label, "
                "ref = excluded.ref",
                rows,
            )
        for changed, params in updates.items():
            # only the indexes of the columns set are written again (a first copy's push
            # takes a record out of the key index, not out of the label index and back)
            sets = "".join(f"{_INDEXED_COLUMNS[i]} = ?, " for i in changed)
            self.conn.executemany(
                f"UPDATE records SET {sets}attention = ?, state = ? WHERE module = ? AND rid = ?",
                params,
            )

    def forget(self) -> None:
        self._cache.clear()
        self._calm.clear()
        self._indexed.clear()
        self._dirty.clear()
        self._absent.clear()
        self._links.clear()

    # links
    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None:
        order = self._link_order
        if order is None:
            self._links.append((module, side, str(side_id), rid, status))
            return
        # folded by record: the entry of the highest seq that links a side's id wins (the
        # later of one entry's), as it does when entries are folded in seq order
        self._link_n += 1
        order.append((module, side, str(side_id), self._seq, self._link_n, rid, status))

    def flush_links(self) -> None:
        if self._links:
            # an upsert, not INSERT OR REPLACE: its update is what the tally's trigger sees
            self.conn.executemany(
                "INSERT INTO links (module, side, side_id, rid, status) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (module, side, side_id) DO UPDATE SET rid = excluded.rid, "
                "status = excluded.status",
                self._links,
            )
            self._links.clear()

    # cursors
    def cursor(self, side: str, module: str) -> Any | None:
        row = self.conn.execute(
            "SELECT value FROM cursors WHERE side = ? AND module = ?", (side, module)
        ).fetchone()
        return None if row is None else json.loads(row[0])

    def set_cursor(self, side: str, module: str, value: Any) -> None:
        current = self.cursor(side, module)
        if current is not None and cursor_order(value) < cursor_order(current):
            raise CursorError(
                f"cursor of {side}/{module} may not go back from {current!r} to {value!r}"
            )
        self.conn.execute(
            "INSERT OR REPLACE INTO cursors (side, module, value) VALUES (?, ?, ?)",
            (side, module, json.dumps(value)),
        )

    # conflicts
    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, module, rid, field, status, data FROM conflicts WHERE id = ?",
            (conflict_id,),
        ).fetchone()
        return None if row is None else _conflict_row(row)

    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO conflicts (id, module, rid, field, status, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (conflict_id, module, rid, field, status, dumps(data)),
        )

    # a deleted integration
    def drop_module(self, module: str) -> None:
        """Forget every record, link, cursor and conflict of ``module`` (the entries stay).

        The one way a cursor goes back: with its row gone, the module's next pull starts
        with a snapshot of each side, as on a first sync.
        """
        for cache in (self._cache, self._calm, self._dirty, self._indexed):
            for key in [k for k in cache if k[0] == module]:
                del cache[key]
        self._absent = {k for k in self._absent if k[0] != module}
        self._links = [link for link in self._links if link[0] != module]
        for table in (*STATE_TABLES, *TALLY_TABLES):
            self.conn.execute(f"DELETE FROM {table} WHERE module = ?", (module,))

    def clear(self) -> None:
        """Forget the whole materialised state (before a fold of every entry): its tables
        are made again as the schema has them now, so a journal rebuilt for a new state
        version takes the tables' new layout too (``records`` keyed WITHOUT ROWID, say)."""
        self.forget()
        for table in (*STATE_TABLES, *TALLY_TABLES):
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")  # its indexes and triggers too
        for statement in statements(STATE_SCHEMA):
            self.conn.execute(statement)

    # -- queries (the journal answers these for the layers above) ----------------------------

    def attention(self, module: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """Rids of records that need planning, in rid order (paged by ``after``)."""
        rows = hinted(
            self.conn,
            "SELECT rid FROM records INDEXED BY records_attention "
            "WHERE module = ? AND attention = 1 AND rid > ? ORDER BY rid LIMIT ?",
            (module, after, limit),
        )
        return [r[0] for r in rows]

    def with_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per match key, for the keys given."""
        return self._rids_by("key", "records_key", module, keys)

    def with_refs(self, module: str, refs: Sequence[str]) -> dict[str, list[str]]:
        """Rids per reference (what a record belongs to, as its reducer said), for the
        references given."""
        return self._rids_by("ref", "records_ref", module, refs)

    def with_near_keys(self, module: str, keys: Sequence[str]) -> dict[str, list[str]]:
        """Rids per near key (the looser second key a reducer may give), for the keys given."""
        return self._rids_by("near", "records_near", module, keys)

    def _rids_by(
        self, column: str, index: str, module: str, keys: Sequence[str]
    ) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, rid in hinted(
                self.conn,
                f"SELECT {column}, rid FROM records INDEXED BY {index} "
                f"WHERE module = ? AND {column} IN ({marks})",
                (module, *chunk),
            ):
                found.setdefault(key, []).append(rid)
        for rids in found.values():
            rids.sort()
        return found

    def records(
        self, module: str | None = None, *, holding: str | None = None, marked: bool = False
    ) -> Iterator[tuple[str, str, Any]]:
        """Every stored record as ``(module, rid, state)``, streamed (``holding``: only
        those whose stored state holds that text, ASCII letters in any case -- a cheap
        superset for a caller that then checks the field it means; ``marked``: only those
        the reducer gave marks, read through their index; the rest are never decoded)."""
        where: list[str] = []
        params: list[Any] = []
        if marked:
            where.append("marks IS NOT NULL")
        if module is not None:
            where.append("module = ?")
            params.append(module)
        if holding is not None:
            escaped = holding.replace("!", "!!").replace("%", "!%").replace("_", "!_")
            # a state stored by reference holds what its entries' fields and meta hold
            # (its values, ids and keys, as the same JSON text) and its rid (a compact
            # meta leaves out the side id that is the rid's own); any entry of the record
            # is looked at: a superset still
            like = f"LIKE ?{len(params) + 1} ESCAPE '!'"  # the one parameter, four times
            where.append(
                f"(state {like} OR (state GLOB '@*' AND (rid {like} OR EXISTS (SELECT 1 "
                "FROM entries INDEXED BY entries_record WHERE entries.module = records.module AND "
                f"entries.rid = records.rid AND (fields {like} OR meta {like})))))"
            )
            params.append(f"%{escaped}%")
        sql = "SELECT module, rid, state FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY module, rid"
        rows = self.conn.execute(sql, params)
        while chunk := rows.fetchmany(500):
            states = self._states({(mod, rid): text for mod, rid, text in chunk})
            for mod, rid, _ in chunk:
                yield mod, rid, states[(mod, rid)]

    def labelled(
        self, modules: Sequence[str], *, holding: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, list[tuple[str, str, str]]]:
        """Records of ``modules`` whose label holds ``holding`` (as stored: the reducer
        folds both; "" for any): how many, and ``limit`` of them from ``offset`` as
        ``(label, rid, module)`` in that order.  Read from the labels' index alone, each
        module's in order, merged by SQLite (no state decoded, no row sorted); counted by a
        second pass unless the first read them all."""
        names = sorted(set(modules))
        if not names:
            return 0, []
        where = "module = ? AND label IS NOT NULL"
        match: tuple[Any, ...] = ()
        if holding:
            # GLOB, not LIKE: the label is folded already, and GLOB compares bytes (faster)
            where += " AND label GLOB ?"
            match = ("*" + re.sub(r"([*?\[])", r"[\1]", holding) + "*",)
        arm = f"SELECT label, rid, module FROM records INDEXED BY records_label WHERE {where}"
        params = [p for module in names for p in (module, *match)]
        offset, limit = max(0, int(offset)), max(0, int(limit))
        rows = hinted(
            self.conn,
            " UNION ALL ".join([arm] * len(names)) + " ORDER BY 1, 2, 3 LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ).fetchall()
        if offset == 0 and len(rows) < limit:
            return len(rows), rows  # the pass read them all
        count = f"SELECT count(*) FROM records INDEXED BY records_label WHERE {where}"
        total = sum(int(hinted(self.conn, count, (m, *match)).fetchone()[0]) for m in names)
        return total, rows

    def first_label(self, module: str) -> tuple[str, str] | None:
        """The first of ``module``'s labels and its record's rid (None: it has none)."""
        row = hinted(
            self.conn,
            "SELECT label, rid FROM records INDEXED BY records_label "
            "WHERE module = ? AND label IS NOT NULL ORDER BY label, rid LIMIT 1",
            (module,),
        ).fetchone()
        return None if row is None else (row[0], row[1])

    def tallies(self) -> dict[str, dict[tuple[str | None, str | None], int]]:
        """Per module, how many records have each (status, marks), as the records' triggers
        counted them (no record is read)."""
        found: dict[str, dict[tuple[str | None, str | None], int]] = {}
        for module, status, marks, n in self._tally("records"):
            found.setdefault(module, {})[(status or None, marks or None)] = n
        return found

    def rid_for(self, module: str, side: str, side_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT rid FROM links WHERE module = ? AND side = ? AND side_id = ?",
            (module, side, str(side_id)),
        ).fetchone()
        return None if row is None else row[0]

    def rids_for(self, module: str, side: str, side_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        ids = [str(i) for i in side_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for side_id, rid in self.conn.execute(
                f"SELECT side_id, rid FROM links WHERE module = ? AND side = ? "
                f"AND side_id IN ({marks})",
                (module, side, *chunk),
            ):
                found[side_id] = rid
        return found

    def links(self, module: str, rid: str) -> dict[str, tuple[str, str]]:
        """The record's link on each side: ``{side: (side id, status)}``.

        No index of the links by rid is kept (it was a second copy of every link): the
        reducer names the ids the record's state holds (its ``linked_ids``), each looked
        up by its key and kept if it links this record (an id a merge moved to another
        record links that one).  A reducer that names none has the module's links read."""
        linked_ids = getattr(self.reducer, "linked_ids", None)
        state = self.record(module, rid) if callable(linked_ids) else None
        if state is None or linked_ids is None:
            rows = self.conn.execute(
                "SELECT side, side_id, status FROM links WHERE module = ? AND rid = ? "
                "ORDER BY side, side_id",
                (module, rid),
            )
            return {side: (side_id, status) for side, side_id, status in rows}
        found: dict[str, tuple[str, str]] = {}
        for side, side_id in sorted(linked_ids(state).items()):
            row = self.conn.execute(
                "SELECT rid, status FROM links WHERE module = ? AND side = ? AND side_id = ?",
                (module, side, str(side_id)),
            ).fetchone()
            if row is not None and row[0] == rid:
                found[side] = (str(side_id), row[1])
        return found

    def module_links(self, module: str) -> dict[tuple[str, str], tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT side, side_id, rid, status FROM links WHERE module = ?", (module,)
        )
        return {(side, side_id): (rid, status) for side, side_id, rid, status in rows}

    def link_counts(self) -> dict[tuple[str, str, str], int]:
        # the links' triggers keep the counts: a few rows read, whatever the links
        return {(m, s, st): n for m, s, st, n in self._tally("links")}

    def _tally(self, table: str) -> Iterable[tuple[Any, ...]]:
        """``table``'s tally rows ``(module, a, b, n)`` with ``n > 0``: read from its tally
        table, or counted from its rows while its counting triggers are missing (another
        connection's bulk block, :func:`journal.bulk.put_aside`, has them aside: its tally
        leaves out every row written since, and this connection, opened before, did not
        make them again)."""
        triggers = TALLY_TRIGGERS[table]
        held = self.conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
            f"AND name IN ({','.join('?' * len(triggers))})",
            triggers,
        ).fetchone()[0]
        if held == len(triggers):
            return self.conn.execute(f"SELECT * FROM {table}_tally WHERE n > 0")
        return self.conn.execute(f"SELECT * FROM ({tally_select(table)}) WHERE n > 0")

    def cursors(self) -> dict[tuple[str, str], Any]:
        rows = self.conn.execute("SELECT side, module, value FROM cursors")
        return {(side, module): json.loads(value) for side, module, value in rows}

    def conflicts(
        self,
        *,
        status: str | None = None,
        module: str | None = None,
        rid: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        where, params = self._conflict_filter(status=status, module=module, rid=rid)
        if limit is not None:
            # the page's ids from the index alone, then their rows: sorting every row of a
            # status (data and all) for one page costs 4x more with 200k of them
            page = f" LIMIT {max(int(limit), 0)} OFFSET {max(int(offset), 0)}"
            where = f" WHERE id IN (SELECT id FROM conflicts{where} ORDER BY id{page})"
        sql = f"SELECT id, module, rid, field, status, data FROM conflicts{where} ORDER BY id"
        return [_conflict_row(r) for r in self.conn.execute(sql, params)]

    def conflict_total(self, *, status: str | None = None, module: str | None = None) -> int:
        """How many conflicts there are of one status and module (None: any)."""
        where, params = self._conflict_filter(status=status, module=module, rid=None)
        return int(
            self.conn.execute(f"SELECT count(*) FROM conflicts{where}", params).fetchone()[0]
        )

    @staticmethod
    def _conflict_filter(
        *, status: str | None, module: str | None, rid: str | None
    ) -> tuple[str, list[Any]]:
        return conflict_filter(status=status, module=module, rid=rid)

    def conflict_counts(self, *, status: str | None = None) -> dict[str, int]:
        """Conflicts per module (of one status, or all)."""
        sql = "SELECT module, count(*) FROM conflicts"
        params: tuple[str, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        return dict(self.conn.execute(sql + " GROUP BY module ORDER BY module", params).fetchall())

    def table_counts(self) -> dict[str, dict[str, int]]:
        """Per module, the rows of each state table (records, links, cursors, conflicts)."""
        found: dict[str, dict[str, int]] = {}
        for table in STATE_TABLES:
            rows = self.conn.execute(f"SELECT module, count(*) FROM {table} GROUP BY module")
            for module, n in rows:
                found.setdefault(module, dict.fromkeys(STATE_TABLES, 0))[table] = n
        return dict(sorted(found.items()))


_HINT = re.compile(r" INDEXED BY \w+")


def hinted(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """``sql`` run on ``conn``; when an index it names (``INDEXED BY``) is missing -- put
    aside while a large batch of pulls writes the state in bulk
    (:meth:`journal.Journal.bulk_state`), in this process or another -- run without
    naming it: the same rows, read by a scan of the table."""
    try:
        return conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "no such index" not in str(exc):
            raise
        return conn.execute(_HINT.sub("", sql), params)


def _conflict_row(row: Sequence[Any]) -> dict[str, Any]:
    cid, module, rid, field, status, data = row
    return {
        "id": cid,
        "module": module,
        "rid": rid,
        "field": field,
        "status": status,
        "data": loads(data),
    }


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: a fold or a transaction makes many small
    acyclic containers (entries, record states; reference counting frees them), and the
    collector would walk every live one again and again, the more often the more a batch
    holds (a third of a replay's time).  What it would have found waits for the next
    collection after; one already paused (the engine's cycle) stays paused."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class BatchView(View, Protocol):
    """A view :func:`fold` works a batch at a time (SQLite's and PostgreSQL's)."""

    reducer: Reducer

    def prefetch(self, entries: Iterable[Entry]) -> None: ...

    def flush(self) -> None: ...


def fold(
    view: BatchView,
    entries: Iterable[Entry],
    *,
    total: int = 0,
    progress: Progress | None = None,
    every: int = 5_000,
) -> int:
    """Apply ``entries`` in order to ``view`` with its reducer, ``every`` of them a batch:
    the records a batch is about are read in bulk first (:meth:`SQLiteView.prefetch`), its
    states are worked on in memory and written once at its end (one encode and one row
    per record a batch, however many of its entries it has); the number folded.  The live
    append folds a batch of entries the same way."""
    apply = view.reducer.apply
    n = 0
    iterator = iter(entries)
    with paused_gc():
        while batch := list(itertools.islice(iterator, every)):
            view.prefetch(batch)
            for entry in batch:
                apply(view, entry)
            view.flush()
            n += len(batch)
            if progress is not None and len(batch) == every:
                progress(n, total)
    return n


def fold_rows(
    view: SQLiteView,
    batches: Iterable[Sequence[Sequence[Any]]],
    *,
    total: int = 0,
    progress: Progress | None = None,
) -> int:
    """:func:`fold` of stored rows (batches of :data:`~journal.schema.ENTRY_COLUMNS`), in
    order, for a reducer that folds rows itself (``apply_row``, see :func:`row_folder`):
    no entry is built for a row it folds from its text."""
    apply_row = row_folder(view.reducer)
    if apply_row is None:
        raise TypeError(f"reducer {type(view.reducer).__name__} folds no stored rows")
    n = 0
    with paused_gc():
        for rows in batches:
            wanted: dict[str, set[str]] = {}
            for row in rows:
                if row[3] is not None:
                    wanted.setdefault(row[2], set()).add(row[3])
            for module, rids in wanted.items():
                view.preload(module, sorted(rids))
            for row in rows:
                apply_row(view, row)
            view.flush()
            n += len(rows)
            if progress is not None:
                progress(n, total)
    return n


def fold_records(
    view: SQLiteView,
    batches: Iterable[Sequence[Sequence[Any]]],
    *,
    total: int = 0,
    progress: Progress | None = None,
    links: bool = True,
) -> int:
    """Fold stored rows ordered by record (module, rid, seq; a module's rows without a
    rid first) into an empty ``view``, each record's rows one after the other: its state
    is made in memory and written once (no state read back, however many records), for a
    reducer whose fold of a record reads and writes that record alone (it says so:
    ``folds_per_record``, see :func:`per_record`).  Links are the one table records share
    (an id a merge moved to another record): each link made is written with the seq that
    made it to :data:`LINK_ORDER` as the fold goes (nothing held), and ``links`` then
    written as the row of the highest seq left each (:func:`write_links`), which is what
    a fold in seq order leaves (``links`` False: left in :data:`LINK_ORDER`, for a fold
    of other records to join); the number folded."""
    apply_row = row_folder(view.reducer)
    if apply_row is None:
        raise TypeError(f"reducer {type(view.reducer).__name__} folds no stored rows")
    # a record whose state the reducer would store by reference to its rows: its stored
    # row made from them without the state (the reducer's ``referred``), when it can
    referred = getattr(view.reducer, "referred", None)
    limit = getattr(view.reducer, "reference_limit", 0) if callable(referred) else 0
    if type(limit) is not int or view._by_reference is None:
        limit = 0
    n = 0
    order: list[tuple[str, str, str, int, int, str, str]] = []
    view._link_order = order
    absent = view._absent
    current: tuple[str, str | None] = ("", None)
    pending: list[Sequence[Any]] = []  # the record's rows while it may be so stored
    deferring = False
    stored: list[tuple[Any, ...]] = []  # the records table's rows so made
    conn = view.conn
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {LINK_ORDER} (module TEXT, side TEXT, side_id TEXT, "
        "seq INTEGER, n INTEGER, rid TEXT, status TEXT)"
    )

    def settle() -> None:
        """Store the pending record by reference, or fold its rows."""
        made = referred(pending, view.names) if referred is not None else None
        if made is None:
            absent.add((pending[0][2], pending[0][3]))
            for row in pending:
                view._seq = row[0]
                apply_row(view, row)
        else:
            (key, attention, near, status, marks, label, ref), made_links = made
            module, rid = pending[0][2], pending[0][3]
            text = reference_text([row[0] for row in pending])
            stored.append(
                (module, rid, key, 1 if attention else 0, text, near, status, marks, label, ref)
            )
            for seq, side, side_id in made_links:
                view._link_n += 1
                order.append((module, side, str(side_id), seq, view._link_n, rid, "active"))
        pending.clear()

    def written() -> None:
        view.flush()
        # a record folded is not read again: none is kept (the one the next batch goes on
        # with, if any, is read back from the row the flush wrote)
        view.forget()
        if stored:
            conn.executemany(
                "INSERT INTO records (module, rid, key, attention, state, near, status, "
                "marks, label, ref) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                stored,
            )
            stored.clear()
        conn.executemany(f"INSERT INTO {LINK_ORDER} VALUES (?, ?, ?, ?, ?, ?, ?)", order)
        order.clear()

    try:
        with paused_gc():
            for rows in batches:
                for row in rows:
                    key = (row[2], row[3])
                    if key != current:
                        if pending:
                            settle()
                        current = key
                        deferring = key[1] is not None and limit > 0
                        if key[1] is not None:
                            absent.add(key)  # type: ignore[arg-type]  # the view is empty
                    if deferring:
                        kind = row[5]
                        if (kind == "observed" or kind == "applied") and len(pending) < limit:
                            pending.append(row)
                            continue
                        deferring = False  # folded: its pending rows first
                        if pending:
                            absent.add(key)  # type: ignore[arg-type]
                            for earlier in pending:
                                view._seq = earlier[0]
                                apply_row(view, earlier)
                            pending.clear()
                    view._seq = row[0]
                    apply_row(view, row)
                written()
                n += len(rows)
                if progress is not None:
                    progress(n, total)
            if pending:
                settle()
                written()
    finally:
        view._link_order = None
    if links:
        write_links(conn)
    return n


# the links a fold by record made, with the seq (and order) of the entry that made each
LINK_ORDER = "replay_link_order"


def write_links(conn: sqlite3.Connection) -> None:
    """Write the links of :data:`LINK_ORDER` (a fold by record's, of one process or
    more): each side's id as the highest seq, and the later link of one entry, left it;
    then drop the table.  The rows go in sorted by key, then seq and order, each
    overwriting the one before of its key: the last one stays (a third of the CPU of a
    window's ``row_number`` picking it first)."""
    conn.execute(
        "INSERT INTO links (module, side, side_id, rid, status) "
        f"SELECT module, side, side_id, rid, status FROM {LINK_ORDER} WHERE 1 "
        "ORDER BY module, side, side_id, seq, n "
        "ON CONFLICT (module, side, side_id) DO UPDATE SET rid = excluded.rid, "
        "status = excluded.status"
    )
    conn.execute(f"DROP TABLE {LINK_ORDER}")


def per_record(
    reducer: Reducer, kinds: Iterable[str], read: Callable[..., Iterable[Entry]]
) -> bool:
    """Whether the reducer may fold the journal's entries record by record
    (:func:`fold_records`): it folds stored rows and says so of entries of ``kinds``
    (its ``folds_per_record(kinds, read)``, ``read(kinds)`` the entries of those kinds
    in seq order); False for a reducer that says nothing."""
    ask = getattr(reducer, "folds_per_record", None)
    if row_folder(reducer) is None or not callable(ask):
        return False
    return ask(frozenset(kinds), read) is True


def row_folder(reducer: Reducer) -> Callable[[Any, Sequence[Any]], None] | None:
    """The reducer's ``apply_row`` (fold one stored row, the columns of
    :data:`~journal.schema.ENTRY_COLUMNS`, exactly as ``apply`` folds its entry), or None."""
    apply_row = getattr(reducer, "apply_row", None)
    return apply_row if callable(apply_row) else None


def wire_fields(reducer: Reducer) -> bool:
    """Whether the reducer takes entries whose fields are in wire form (its
    ``wire_fields`` attribute, False when it has none)."""
    return getattr(reducer, "wire_fields", False) is True


def conflict_filter(
    *, status: str | None, module: str | None, rid: str | None, mark: str = "?"
) -> tuple[str, list[Any]]:
    """The ``WHERE`` of a conflicts query by status, module and rid (None: any) and its
    parameters, ``mark`` the driver's placeholder (``?`` SQLite, ``%s`` psycopg)."""
    where, params = [], []
    for column, value in (("status", status), ("module", module), ("rid", rid)):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def reducer_rule(reducer: Reducer) -> str | None:
    """The settings the reducer folds with (its ``rule``: canonical text), or None if it
    declares none.  A state folded under another rule is rebuilt like one of another
    version: the same entries fold into other stored columns (e.g. another naming field)."""
    rule = getattr(reducer, "rule", None)
    if rule is None:
        return None
    if not isinstance(rule, str):
        raise TypeError(f"reducer {type(reducer).__name__}: rule must be text, not {rule!r}")
    return rule


def upgrade_reason(old: int, new: int, old_rule: str | None, rule: str | None) -> str:
    """Why a state upgrade rebuilt the state: another version, or the same version under
    other settings (``rule``)."""
    why = "the materialised state is the reducer's fold of the entries: rebuilt by replaying"
    if old != new:
        return f"{why} them with the new version"
    were = old_rule if old_rule is not None else "not recorded"
    return f"{why} them with the reducer's new settings {rule} (were {were})"


def reducer_version(reducer: Reducer) -> int | None:
    """The reducer's state version, or None if it declares none."""
    version = getattr(reducer, "version", None)
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int):
        raise TypeError(
            f"reducer {type(reducer).__name__}: version must be an int, not {version!r}"
        )
    if not 0 <= version <= MAX_STATE_VERSION:
        raise ValueError(
            f"reducer {type(reducer).__name__}: version {version} is outside 0..{MAX_STATE_VERSION}"
        )
    return version


__all__ = [
    "Progress",
    "RecordTally",
    "SQLiteView",
    "conflict_filter",
    "cursor_order",
    "fold",
    "fold_records",
    "fold_rows",
    "hinted",
    "FOLD_COLUMNS",
    "META_COLUMNS",
    "LINK_ORDER",
    "REFERENCE",
    "paused_gc",
    "per_record",
    "reducer_rule",
    "reference_text",
    "referenced",
    "upgrade_reason",
    "reducer_version",
    "row_folder",
    "wire_fields",
    "write_links",
]
