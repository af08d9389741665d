"""A side that is a table in a SQLite database other programs write to with plain sqlite3.

Change capture: the connector installs, into that database, a change log
(``_replicator_changes``) and AFTER INSERT / UPDATE / DELETE triggers on each module's table
that append to it.  The triggers fire only while ``_replicator_mute`` holds 0.  A push runs
in one transaction that sets the mute to 1 first and back to 0 before COMMIT, so other
connections never see it set: their writes are always captured, ours never are (no echo).

``pull(since=None)`` logs an ``S`` row for every current row in the same transaction that
installs the triggers, then pages through the log; ``pull(since=N)`` first forgets the log
rows up to N (the caller has committed N).  Each page reads the current rows of its ids in
one query, so memory stays bounded by the page size whatever the table's size.

``_replicator_keys`` remembers which row each create made, so a retried create finds it.

Rows that cannot be records and values that cannot be held (DESIGN 5, poison isolation):

- text that is not UTF-8 is read as ``bytes`` (a per-field error for the field map), not an
  exception that stops the page;
- a row with a NULL id, or an id two rows share, comes as a change with a ``problem`` naming
  the rows (never silently left out), and an UPDATE that would change two rows is rolled
  back and refused: one record's values are never written to two rows;
- a value a column cannot hold exactly is refused, never rounded: a decimal with more
  digits than a double keeps, or an integer past 64 bits, written to a column of INTEGER,
  REAL or NUMERIC affinity (SQLite would store a double and give back another value, which
  the next read would take for a change).  An integer past 64 bits goes to a TEXT column
  as its digits.

The SQL (change log, triggers, each module's compiled statements) is in :mod:`.sqlite_plan`;
how values go in and out exactly is in :mod:`.sqlite_values`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from replicator.connectors.base import (
    SEARCH_LIMIT,
    BaseConnector,
    Change,
    Cursor,
    Outcome,
    Page,
    SideModule,
    Write,
    as_utc,
    utc_now,
)
from replicator.connectors.sqlite_plan import (
    FORGET_LOG,
    INSTALL,
    LAST_SEQ,
    LOGGED_LATER,
    RAISE_HWM,
    READ_LOG,
    REMEMBER_KEYS,
    Plan,
    SchemaMissing,
    install_triggers,
    quote,
    read_plan,
)
from replicator.connectors.sqlite_values import held_exactly, per_write, read_rows, text_or_bytes
from replicator.errors import ConnectorError, shown

Now = Callable[[], dt.datetime]


_DESCRIBED_ROWS = 5  # rows named in one problem: enough to find them
_NAMELESS_ROWS = 100  # rows without an id reported per page


class _Fallback(Exception):
    """The whole-batch fast path hit a write-level error: redo the batch write by write."""


class SQLiteConnector(BaseConnector):
    """A side stored in a SQLite database file; see the module docstring."""

    def __init__(
        self, side: str, path: str | Path, *, now: Now = utc_now, busy_timeout: float = 10.0
    ) -> None:
        self.side = side
        self.path = Path(path)
        self.now = now
        self._lock = threading.RLock()
        self._plans: dict[SideModule, Plan] = {}
        # the last change-log seq handed out per table: later rows are changes nobody read
        self._read_upto: dict[str, int] = {}
        with self._translate(None, "open"):
            self._db = sqlite3.connect(
                self.path,
                timeout=busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                self._db.executescript(INSTALL)
            except sqlite3.Error:
                self._db.close()
                raise
        self._chunk = min(self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1, 10_000)

    # -- reading -----------------------------------------------------------------------

    def pull(
        self, module: SideModule, since: Cursor | None, *, page_size: int = 1000
    ) -> Iterator[Page]:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            raise TypeError(f"{self.side}: a SQLite cursor is an int, not {since!r}")
        plan = self._plan(module)
        with self._transaction(module, "pull"):
            install_triggers(self._db, plan)
            if since is None:
                start = self._db.execute(LAST_SEQ).fetchone()[0]
                now = self.now().isoformat()
                self._db.execute(plan.snapshot, (module.table, now))
                # rows we created before this first pull and someone deleted since
                self._db.execute(plan.vanished, (now, module.table))
            else:
                start = since
                self._db.execute(FORGET_LOG, (module.table, since))
        cursor = start
        yielded = False
        while True:
            with self._lock, self._translate(module, "pull"):
                log = read_rows(self._db, READ_LOG, (module.table, cursor, page_size))
                if not log:
                    break
                changes = self._collapse(plan, log)
            cursor = log[-1][0]
            self._read_upto[module.table] = cursor
            yield Page(changes, cursor)
            yielded = True
            # asked for the next page: the caller committed this one, its log rows can go
            # (so a first pull of a million rows leaves no million-row log to the next sync).
            # The last page's too: left behind, they would look unread to the next process,
            # whose writes before its own pull would then be refused as "changed since read"
            with self._lock, self._translate(module, "pull"):
                self._db.execute(FORGET_LOG, (module.table, cursor))
            if len(log) < page_size:
                break
        if not yielded:
            self._read_upto[module.table] = max(start, self._read_upto.get(module.table, 0))
        if since is None and not yielded:
            # An empty snapshot still gives the caller a cursor to start from.
            yield Page((), start)

    def get(self, module: SideModule, id: str) -> Change | None:
        plan = self._plan(module)
        with self._lock, self._translate(module, "get"):
            rows = read_rows(self._db, plan.select_one, (id,))
            if len(rows) > 1:
                return self._shared(plan, str(id), rows[0])
        if not rows:
            return None
        return self._change(plan, rows[0], self.now())

    def search(self, module: SideModule, text: str) -> list[Change]:
        if not module.match:
            return []
        plan = self._plan(module)
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where = " OR ".join(f"{quote(c)} LIKE ? ESCAPE '\\'" for c in module.match)
        sql = f"SELECT {plan.read} FROM {plan.source} WHERE {where} LIMIT {SEARCH_LIMIT}"
        with self._lock, self._translate(module, "search"):
            rows = read_rows(self._db, sql, [pattern] * len(module.match))
        at = self.now()
        return [self._change(plan, row, at) for row in rows]

    def schema(self, module: SideModule) -> dict[str, str]:
        with self._lock, self._translate(module, "schema"):
            columns = self._db.execute(
                "SELECT name, type FROM pragma_table_info(?)", (module.table,)
            ).fetchall()
        if not columns:
            raise self._error(module, "schema", f"no table {module.table!r}")
        return dict(columns)

    def views(self, module: SideModule) -> list[str]:
        with self._lock, self._translate(module, "views"):
            rows = self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name"
            ).fetchall()
        return [name for (name,) in rows]

    def probabilities(self, module: SideModule, field: str) -> Mapping[str, int] | None:
        """The table ``<table>_stages (stage TEXT PRIMARY KEY, probability INTEGER)`` of
        the side's database: each stage's probability (None: there is no such table)."""
        stages = f"{module.table}_stages"
        with self._lock, self._translate(module, "read the stages"):
            found = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (stages,)
            ).fetchone()
            if found is None:
                return None
            rows = self._db.execute(
                f"SELECT stage, probability FROM {quote(stages)} ORDER BY stage"
            ).fetchall()
        answer: dict[str, int] = {}
        for stage, probability in rows:
            if (
                not isinstance(stage, str)
                or isinstance(probability, bool)
                or not isinstance(probability, int)
                or not 0 <= probability <= 100
            ):
                raise self._error(
                    module,
                    "read the stages",
                    f"table {stages}: stage {stage!r} has probability {probability!r}, "
                    "not a whole number 0-100",
                )
            answer[stage] = probability
        return answer

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -----------------------------------------------------------------------

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        if not writes:
            return []
        plan = self._plan(module)
        with self._transaction(module, "push"):
            self._db.execute("UPDATE _replicator_mute SET mute = 1")
            try:
                outcomes = self._push_batch(plan, writes)
            except _Fallback:
                outcomes = [self._push_one(plan, write) for write in writes]
            self._db.execute("UPDATE _replicator_mute SET mute = 0")
        return outcomes

    def _push_batch(self, plan: Plan, writes: Sequence[Write]) -> list[Outcome]:
        """All writes at once, runs of like inserts through executemany; _Fallback on error."""
        db = self._db
        table = plan.module.table
        creates = [write.key for write in writes if write.id is None]
        if len(set(creates)) != len(creates):
            raise _Fallback  # a key twice in one batch: the second must find the first
        known = self._known_keys(plan, creates)
        unread = self._unread(plan, [w.id for w in writes if w.id is not None] + [*known.values()])
        next_id = db.execute(plan.next_id).fetchone()[0] + 1 if plan.integer_ids else 0
        outcomes: list[Outcome] = []
        made: list[tuple[str, str, str]] = []
        run: list[tuple[Any, ...]] = []
        run_columns: tuple[str, ...] | None = None
        db.execute("SAVEPOINT batch")
        try:
            for write in writes:
                columns = tuple(write.values)
                id = write.id if write.id is not None else known.get(write.key)
                if id is not None and id in unread:
                    outcomes.append(self._changed_since_read(plan, write, id))
                    continue
                values, unfit = held_exactly(plan, self.side, write.values)
                if unfit is not None:
                    outcomes.append(Outcome(write.key, write.id, error=unfit))
                    continue
                if id is None:
                    if columns != run_columns and run:
                        db.executemany(plan.insert(run_columns or ()), run)
                        run = []
                    run_columns = columns
                    if plan.integer_ids:
                        new_id: Any = next_id
                        next_id += 1
                    else:
                        new_id = uuid.uuid4().hex
                    run.append((new_id, *values.values()))
                    id = str(new_id)
                    made.append((table, write.key, id))
                    outcomes.append(Outcome(write.key, id))
                    continue
                if run:
                    db.executemany(plan.insert(run_columns or ()), run)
                    run = []
                updated = db.execute(plan.update(columns), (*values.values(), id))
                if updated.rowcount > 1:  # rows sharing the id: undo, and refuse it alone
                    db.execute("ROLLBACK TO batch")
                    db.execute("RELEASE batch")
                    raise _Fallback
                outcomes.append(self._updated(plan, write, id, updated.rowcount))
            if run:
                db.executemany(plan.insert(run_columns or ()), run)
            db.executemany(REMEMBER_KEYS, made)
            if plan.integer_ids and made:
                db.execute(RAISE_HWM, (table, next_id - 1))
        except sqlite3.Error as exc:
            if not per_write(exc) or not db.in_transaction:
                raise
            db.execute("ROLLBACK TO batch")
            db.execute("RELEASE batch")
            raise _Fallback from exc
        db.execute("RELEASE batch")
        return outcomes

    def _push_one(self, plan: Plan, write: Write) -> Outcome:
        """One write in its own savepoint: a refusal becomes its outcome, not the batch's."""
        db = self._db
        table = plan.module.table
        db.execute("SAVEPOINT one")
        try:
            id = write.id
            if id is None:
                id = self._known_keys(plan, [write.key]).get(write.key)
            columns = tuple(write.values)
            values, unfit = held_exactly(plan, self.side, write.values)
            if id is not None and self._unread(plan, [id]):
                outcome = self._changed_since_read(plan, write, id)
            elif unfit is not None:
                outcome = Outcome(write.key, write.id, error=unfit)
            elif id is None:
                if plan.integer_ids:
                    new_id: Any = db.execute(plan.next_id).fetchone()[0] + 1
                else:
                    new_id = uuid.uuid4().hex
                db.execute(plan.insert(columns), (new_id, *values.values()))
                db.execute(REMEMBER_KEYS, (table, write.key, str(new_id)))
                if plan.integer_ids:
                    db.execute(RAISE_HWM, (table, new_id))
                outcome = Outcome(write.key, str(new_id))
            else:
                updated = db.execute(plan.update(columns), (*values.values(), id))
                if updated.rowcount > 1:
                    db.execute("ROLLBACK TO one")
                    db.execute("RELEASE one")
                    return self._refused_shared(plan, write, id)
                outcome = self._updated(plan, write, id, updated.rowcount)
        except sqlite3.Error as exc:
            if not per_write(exc) or not db.in_transaction:
                raise
            db.execute("ROLLBACK TO one")
            db.execute("RELEASE one")
            what = f"id {write.id}" if write.id is not None else f"key {write.key}"
            return Outcome(write.key, write.id, error=f"table {table}, {what}: {exc}")
        db.execute("RELEASE one")
        return outcome

    def _unread(self, plan: Plan, ids: list[str]) -> set[str]:
        """The ids among ``ids`` that another program changed after our last read of them."""
        if not ids:
            return set()
        table = plan.module.table
        after = self._read_upto.get(table, 0)
        found: set[str] = set()
        for i in range(0, len(ids), self._chunk):
            chunk = [str(x) for x in ids[i : i + self._chunk]]
            marks = ", ".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT DISTINCT row_id FROM _replicator_changes"
                f" WHERE tbl = ? AND seq > ? AND row_id IN ({marks})",
                (table, after, *chunk),
            )
            found.update(str(r[0]) for r in rows)
        return found

    def _changed_since_read(self, plan: Plan, write: Write, id: str) -> Outcome:
        """Never overwrite a change we have not read: it would be lost without a trace."""
        if write.id is None:
            # a retried create whose row was edited since: it is ours, leave the edit be
            return Outcome(write.key, str(id))
        return Outcome(
            write.key,
            id,
            retry=True,
            error=f"row {id} of table {plan.module.table} on {self.side} changed since it was "
            "last read; not overwritten (it is read and merged on the next cycle)",
        )

    def _refused_shared(self, plan: Plan, write: Write, id: str) -> Outcome:
        """An update whose id two rows share: rolled back, so no row took the values."""
        rows = [name for name, _values in self._described(plan, f"{plan.id} = ?", (id,))]
        return Outcome(
            write.key,
            id,
            retry=True,
            error=f"table {plan.module.table} on {self.side}: {len(rows)} rows share the id "
            f"{shown(id)}: {'; '.join(rows)}; not written (one record's values never go to "
            "two rows), retried once the id is unique",
        )

    @staticmethod
    def _updated(plan: Plan, write: Write, id: str, rowcount: int) -> Outcome:
        if rowcount:
            return Outcome(write.key, str(id))
        return Outcome(
            write.key, id, error=f"no row with id {id} in table {plan.module.table} (deleted?)"
        )

    def _known_keys(self, plan: Plan, keys: list[str]) -> dict[str, str]:
        known: dict[str, str] = {}
        for i in range(0, len(keys), self._chunk):
            chunk = keys[i : i + self._chunk]
            rows = self._db.execute(plan.known(len(chunk)), (plan.module.table, *chunk))
            known.update(rows)
        return known

    # -- internals ---------------------------------------------------------------------

    def _collapse(self, plan: Plan, log: list[tuple[int, Any, str, str]]) -> tuple[Change, ...]:
        """One page of the log as changes: the last op per id, with the row as it is now.

        A delete followed by an insert of the same id (SQLite reuses the largest rowid) is
        two changes, the delete first: the new row is another record, not an edit.  Rows
        that cannot be records (no id, an id shared) come as changes with a ``problem``.
        """
        last: dict[str, tuple[str, str]] = {}
        reused: dict[str, str] = {}  # id -> when its earlier row was deleted
        nameless = False  # a row with a NULL id changed (the log cannot say which one)
        unreadable: list[bytes] = []  # ids that are not UTF-8 text
        for _seq, row_id, op, at in log:
            if type(row_id) is not str:
                if row_id is None:
                    nameless = nameless or op != "D"
                elif op != "D":
                    unreadable.append(row_id)
                continue
            if op != "D" and last.get(row_id, ("",))[0] == "D":
                reused[row_id] = last[row_id][1]
            last[row_id] = (op, at)
        if plan.integer_ids and last:
            ids = [int(i) for i in last if i.lstrip("-").isdigit()]
            if ids:
                self._db.execute(RAISE_HWM, (plan.module.table, max(ids)))
        # deleted ids too: a row that still has the id means two rows shared it (one went)
        wanted = list(last)
        current: dict[str, tuple[Any, ...]] = {}
        shared: set[str] = set()
        for i in range(0, len(wanted), self._chunk):
            chunk = wanted[i : i + self._chunk]
            for found in read_rows(self._db, plan.select(len(chunk)), chunk):
                id = str(found[0])
                if id in current:
                    shared.add(id)
                current[id] = found
        # Hot loop (one pass per pulled row): locals, and each distinct time parsed once.
        columns, modified_at = plan.columns, plan.modified_at
        times: dict[Any, dt.datetime | None] = {}
        changes: list[Change] = []
        append = changes.append
        for id, (op, at) in last.items():
            captured = times.get(at)
            if captured is None:
                captured = times[at] = as_utc(at)
            row = current.get(id)
            if op == "D" and (row is None or self._logged_later(plan, id, log[-1][0])):
                # (a row with the id again, logged on a later page, is another record)
                append(Change(id, {}, modified=captured, deleted=True))
                continue
            if id in reused:
                append(Change(id, {}, modified=as_utc(reused[id]), deleted=True))
            if row is None:  # gone since: its D comes later in the log
                continue
            if id in shared:
                append(self._shared(plan, id, row))
                continue
            modified = captured
            if modified_at is not None:
                text = row[modified_at]
                if text in times:
                    modified = times[text] or captured
                else:
                    modified = times.setdefault(text, as_utc(text)) or captured
            append(Change(id, dict(zip(columns, row[1:], strict=False)), modified=modified))
        if nameless:
            changes += self._nameless(plan)
        for data in unreadable:
            append(
                Change(
                    "",
                    problem=f"table {plan.module.table} on {self.side}: a row's id "
                    f"{shown(data)} (column {plan.module.id}) is not UTF-8 text; "
                    "the row is not synced until its id is text",
                )
            )
        return tuple(changes)

    def _logged_later(self, plan: Plan, id: str, seq: int) -> bool:
        """Whether the log has a change of ``id`` after ``seq`` (a later page's)."""
        found = self._db.execute(LOGGED_LATER, (plan.module.table, id, seq)).fetchone()
        return found is not None

    def _described(
        self, plan: Plan, where: str, params: Sequence[Any], limit: int = _DESCRIBED_ROWS
    ) -> list[tuple[str, dict[str, Any]]]:
        """The table's rows matching ``where``: each named safely for a message (its rowid,
        when the table has one, and its values, cut) and its values by column."""
        table = plan.table
        try:
            cursor = self._db.execute(
                f"SELECT rowid, * FROM {table} WHERE {where} LIMIT {limit}", params
            )
        except sqlite3.OperationalError:  # WITHOUT ROWID
            cursor = self._db.execute(
                f"SELECT NULL, * FROM {table} WHERE {where} LIMIT {limit}", params
            )
        names = [d[0] for d in cursor.description][1:]
        self._db.text_factory = text_or_bytes
        try:
            rows = cursor.fetchall()
        finally:
            self._db.text_factory = str
        described = []
        for rowid, *values in rows:
            text = ", ".join(f"{n}={shown(v)}" for n, v in zip(names, values, strict=True))
            if len(text) > 200:
                text = text[:200] + "..."
            name = f"rowid {rowid} ({text})" if rowid is not None else f"({text})"
            described.append((name, dict(zip(names, values, strict=True))))
        return described

    def _shared(self, plan: Plan, id: str, row: tuple[Any, ...]) -> Change:
        """Two rows share ``id``: neither is a record until it is unique."""
        rows = [name for name, _values in self._described(plan, f"{plan.id} = ?", (id,))]
        return Change(
            id,
            dict(zip(plan.columns, row[1:], strict=False)),
            problem=f"table {plan.module.table} on {self.side}: {len(rows)} rows share the id "
            f"{shown(id)} (column {plan.module.id}): {'; '.join(rows)}; none of them is synced "
            "or written to until the id is unique",
        )

    def _nameless(self, plan: Plan) -> list[Change]:
        """The rows whose id is NULL, each a change with a problem (none is a record)."""
        rows = self._described(plan, f"{plan.id} IS NULL", (), _NAMELESS_ROWS)
        return [
            Change(
                "",
                {c: values[c] for c in plan.columns if c in values},
                problem=f"table {plan.module.table} on {self.side}: the row {name} has no id "
                f"(NULL in column {plan.module.id}); it is not synced until it has one",
            )
            for name, values in rows
        ]

    def _change(
        self,
        plan: Plan,
        row: tuple[Any, ...],
        at: dt.datetime | None,
        id: str | None = None,
    ) -> Change:
        values = dict(zip(plan.columns, row[1:], strict=False))
        modified = at
        if plan.modified_at is not None:
            modified = as_utc(row[plan.modified_at]) or at
        return Change(id if id is not None else str(row[0]), values, modified=modified)

    def _plan(self, module: SideModule) -> Plan:
        plan = self._plans.get(module)
        if plan is None:
            with self._lock, self._translate(module, "read the schema"):
                try:
                    plan = read_plan(self._db, module)
                except SchemaMissing as exc:
                    raise self._error(module, "read the schema", str(exc)) from None
            self._plans[module] = plan
        return plan

    @contextlib.contextmanager
    def _transaction(self, module: SideModule, action: str) -> Iterator[None]:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so it cannot deadlock."""
        with self._lock, self._translate(module, action):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _translate(self, module: SideModule | None, action: str) -> Iterator[None]:
        """The one place sqlite3 errors become ConnectorError."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(module, action, str(exc)) from exc

    def _error(self, module: SideModule | None, action: str, reason: str) -> ConnectorError:
        where = f", table {module.table}" if module is not None else ""
        return ConnectorError(f"side {self.side}: {action} in {self.path}{where}: {reason}")


__all__ = ["SQLiteConnector", "quote"]
