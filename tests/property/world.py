"""A two-sided world for the laws: sides another program edits, an engine, a journal.

:class:`World` holds one ``customers`` module between ``books`` (table ``customers``) and
``crm`` (table ``accounts``, the name column is ``account_name``), over either two
:class:`MemoryConnector` or two :class:`SQLiteConnector` sides.  Every connector is wrapped
in a :class:`Flaky` proxy that records what the engine writes and fails once on cue (a
crash during a pull, between pages, before a push, after a push wrote some or all of its
rows but before the engine could journal the outcome), is down for a whole cycle (every
call a ConnectorError), or hands every page over twice; a SQLite side can be locked by
another connection for a whole cycle; a cycle can be asked to stop between any two pages
or batches (the daemon's SIGTERM); and the journal is a :class:`FlakyJournal` whose n-th
append can fail (a crash between any two journaled steps).  A callback step re-reads rows
through ``Engine.sync_ids``, maybe twice.

Another program may also write a *poison* into one field of a row (a value no sync can read
or convert: bytes that are not UTF-8, a lone surrogate, ``1,505``, ``12345abc``) and later
fix it: :meth:`World.poison` remembers where each one went, so the laws can leave that one
field of that one row out of convergence and check that nothing else ever held it.

The world also keeps which match keys another program made ambiguous (two rows with one
key on a side, a renamed or deleted row) or that raced a read (a row no pull could see
yet when a create went out): every other key must end up at most once per side
(:func:`tests.property.laws.check_each_key_once_per_side`).

Another program's edits are recorded (:class:`External`), with the journal's length at the
time, so the laws (:mod:`tests.property.laws`) can tell its changes from the engine's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from hypothesis import event
from hypothesis.errors import InvalidArgument

from conflicts import ACTIVE, RecordState, ResolutionError
from conflicts.duplicates import match_key
from journal import Journal, Kind
from replicator.config.load import Config, ModuleConfig, parse_config
from replicator.connectors.base import Outcome, Page, SideModule, Write
from replicator.connectors.memory import MemoryConnector
from replicator.connectors.sqlite import SQLiteConnector
from replicator.errors import ConnectorError
from replicator.sync.app import record_reducer
from replicator.sync.engine import Engine
from replicator.sync.resolve import resolve
from tests.strategies import (
    SIDES,
    Callback,
    Cycle,
    Delete,
    EditBoth,
    Fault,
    Fix,
    Insert,
    Poison,
    Resolve,
    Update,
    poisons_for,
)

MODULE = "customers"
TABLES = {"books": "customers", "crm": "accounts"}
COLUMNS = {
    "books": {"name": "name", "email": "email", "credit_limit": "credit_limit"},
    "crm": {"name": "account_name", "email": "email", "credit_limit": "credit_limit"},
}
MODIFIED = "updated_at"
LOCK_WAIT = 0.05  # seconds a SQLite side waits for another program's lock
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FULL = Cycle()


def note(text: str) -> None:
    """Count ``text`` in hypothesis' statistics (``--hypothesis-show-statistics``)."""
    try:
        event(text)
    except InvalidArgument:  # not inside a hypothesis test
        pass


class InjectedFault(Exception):
    """The failure a :class:`Flaky` connector was told to raise."""


class Ticker:
    """A deterministic clock: one second later at every call (so runs replay exactly)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> dt.datetime:
        self.n += 1
        return T0 + dt.timedelta(seconds=self.n)


def config(
    *,
    sync: str = "both_ways",
    source: str | None = None,
    duplicates: str = "overwrite",
    conflicts: str = "newest",
    page_size: int = 1000,
    connector: str = "memory",
) -> Config:
    """The ``customers`` module between books and crm, with the policies given."""
    module: dict[str, Any] = {
        "sync": sync,
        "first": "crm",
        "duplicates": duplicates,
        "conflicts": conflicts,
        "page_size": page_size,
        "books": {"table": "customers", "id": "id", "match": "name", "modified": MODIFIED},
        "crm": {"table": "accounts", "id": "id", "match": "account_name", "modified": MODIFIED},
        "fields": {
            "name": {"books": "name", "crm": "account_name"},
            "email": {"books": "email", "crm": "email"},
            "credit_limit": {"books": "credit_limit", "crm": "credit_limit", "type": "decimal"},
        },
    }
    if source is not None:
        module["source"] = source
    sides: dict[str, Any] = {
        side: (
            {"connector": "memory"}
            if connector == "memory"
            else {"connector": "sqlite", "path": f"{side}.db"}
        )
        for side in SIDES
    }
    return parse_config({"sides": sides, "modules": {MODULE: module}}, Path("/tmp/laws.toml"))


# -- sides another program edits ------------------------------------------------------------


class MemorySide:
    """A memory side edited through the connector's "another program" hooks."""

    def __init__(self, side: str, now: Ticker) -> None:
        self.side = side
        self.table = TABLES[side]
        self.connector = MemoryConnector(side, now=now)

    def insert(self, row: Mapping[str, Any]) -> str:
        return self.connector.insert(self.table, row)

    def update(self, id: str, row: Mapping[str, Any]) -> None:
        self.connector.update(self.table, id, row)

    def delete(self, id: str) -> None:
        self.connector.delete(self.table, id)

    def rows(self) -> dict[str, dict[str, Any]]:
        return self.connector.rows(self.table)

    def close(self) -> None:
        self.connector.close()


def _sql_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _sql_mark(value: Any) -> str:
    """A parameter's place: bytes go in as TEXT (``CAST(x'ff41' AS TEXT)``: text that is
    not UTF-8, as another program can store it), not as a BLOB."""
    return "CAST(? AS TEXT)" if isinstance(value, bytes) else "?"


def _text_or_bytes(data: bytes) -> str | bytes:
    """TEXT as str, or as its bytes when they are not UTF-8 (as the connector reads it)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class SQLiteSide:
    """A SQLite side: a table made and edited with plain sqlite3, as another program would.

    Books keeps amounts as TEXT; the CRM's column has NUMERIC affinity, so SQLite turns
    ``"10.50"`` into the REAL ``10.5`` and ``"10.00"`` into the INTEGER ``10`` behind our back.
    Ids are AUTOINCREMENT unless ``reuse_ids``: a plain ``INTEGER PRIMARY KEY`` gives the id
    of a deleted last row to the next insert.
    """

    def __init__(self, side: str, path: Path, now: Ticker, *, reuse_ids: bool = False) -> None:
        self.side = side
        self.table = TABLES[side]
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.text_factory = _text_or_bytes
        amount = "TEXT" if side == "books" else "NUMERIC"
        cols = COLUMNS[side]
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (id INTEGER PRIMARY KEY"
            f"{'' if reuse_ids else ' AUTOINCREMENT'}, "
            f"{cols['name']} TEXT, email TEXT, credit_limit {amount}, {MODIFIED} TEXT)"
        )
        self.connector = SQLiteConnector(side, path, now=now, busy_timeout=LOCK_WAIT)

    def insert(self, row: Mapping[str, Any]) -> str:
        names = ", ".join(row)
        marks = ", ".join(_sql_mark(v) for v in row.values())
        cur = self.db.execute(
            f"INSERT INTO {self.table} ({names}) VALUES ({marks})",
            [_sql_value(v) for v in row.values()],
        )
        return str(cur.lastrowid)

    def update(self, id: str, row: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{c} = {_sql_mark(v)}" for c, v in row.items())
        self.db.execute(
            f"UPDATE {self.table} SET {sets} WHERE id = ?",
            [*(_sql_value(v) for v in row.values()), int(id)],
        )

    def delete(self, id: str) -> None:
        self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", (int(id),))

    def rows(self) -> dict[str, dict[str, Any]]:
        cur = self.db.execute(f"SELECT * FROM {self.table} ORDER BY id")
        names = [d[0] for d in cur.description]
        return {str(r[0]): dict(zip(names[1:], r[1:], strict=True)) for r in cur}

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Another program holds the database file locked (``BEGIN EXCLUSIVE``)."""
        self.db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            self.db.execute("ROLLBACK")

    def close(self) -> None:
        self.connector.close()
        self.db.close()


# -- the fault injector ---------------------------------------------------------------------


class Flaky:
    """A connector proxy that records every write and fails once when armed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.side = inner.side
        self.fault: Fault | None = None
        self.shot = [False]
        self.writes: list[Write] = []  # every write the engine handed to the side
        self.pulled_through = False  # a pull of this side ran to its end at least once

    def arm(self, fault: Fault | None, shared: list[bool] | None = None) -> None:
        """Fail once at ``fault``; proxies given one ``shared`` flag fail once between them."""
        self.fault = fault
        self.shot = shared if shared is not None else [False]

    @property
    def fired(self) -> bool:
        return self.fault is not None and self.shot[0]

    def _take(self, *where: str) -> Fault | None:
        if self.fault is not None and not self.shot[0] and self.fault.where in where:
            self.shot[0] = True
            return self.fault
        return None

    def _down(self) -> None:
        """A side down (or locked) for the whole cycle fails every call, not just one."""
        if self.fault is not None and self.fault.where in ("down", "locked"):
            self.shot[0] = True
            raise ConnectorError(f"side {self.side}: unavailable ({self.fault.where})")

    def pull(self, module: SideModule, since: Any, *, page_size: int = 1000) -> Iterator[Page]:
        self._down()
        if self._take("blind"):
            return
        again = self._take("redeliver") is not None
        fault = self._take("pull")
        for n, page in enumerate(self.inner.pull(module, since, page_size=page_size)):
            if fault is not None and n >= fault.after:
                raise InjectedFault(f"{self.side}: pull failed before page {n}")
            yield page
            if again:  # the same changes, delivered a second time
                yield page
        if fault is not None:
            raise InjectedFault(f"{self.side}: pull failed after its last page")
        self.pulled_through = True

    def get(self, module: SideModule, id: str) -> Any:
        self._down()
        return self.inner.get(module, id)

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        self._down()
        self.writes.extend(writes)
        fault = self._take("push_before", "push_after", "push_partial")
        if fault is None:
            return self.inner.push(module, writes)
        if fault.where == "push_after":
            self.inner.push(module, writes)
        elif fault.where == "push_partial":
            self.inner.push(module, writes[: fault.after])
        raise InjectedFault(f"{self.side}: {fault.where} failed")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FlakyJournal(Journal):
    """A journal whose ``n``-th append from now fails: a crash between any two steps of a
    cycle that journal something (the transaction in hand rolls back)."""

    countdown: int | None = None

    def append(self, entries: Any) -> Any:
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown < 0:
                self.countdown = None
                raise InjectedFault("the journal failed")
        return super().append(entries)


def _never() -> bool:
    return False


def _stop_after(asks: int, shot: list[bool]) -> Any:
    """A ``stop_requested`` that says yes from the ``asks``-th question on (SIGTERM)."""
    count = [0]

    def stop() -> bool:
        count[0] += 1
        if count[0] > asks:
            shot[0] = True
        return shot[0]

    return stop


# -- the world ------------------------------------------------------------------------------


@attrs.define
class External:
    """One edit another program made: which row, what, and the journal's length then."""

    side: str
    id: str
    op: str  # insert | update | delete
    row: dict[str, Any]  # the columns written, as the side names them
    seq: int


@attrs.frozen
class Poisoned:
    """A poison another program wrote: the raw value, the journal's length and how many full
    cycles had completed then."""

    value: Any
    seq: int
    full_cycles: int


class World:
    """Two sides, their flaky connectors, a journal in ``folder`` and an engine over them."""

    def __init__(
        self,
        folder: Path,
        cfg: Config,
        *,
        connector: str = "memory",
        batch_size: int = 1000,
        reuse_ids: bool = False,
    ) -> None:
        self.folder = folder
        self.config = cfg
        self.module: ModuleConfig = cfg.modules[MODULE]
        self.now = Ticker()
        if connector == "memory":
            self.sides: dict[str, Any] = {s: MemorySide(s, self.now) for s in SIDES}
        else:
            self.sides = {
                s: SQLiteSide(s, folder / f"{s}.db", self.now, reuse_ids=reuse_ids) for s in SIDES
            }
        self.flaky = {s: Flaky(self.sides[s].connector) for s in SIDES}
        # the config's reducer: the laws (replay equals live) cover the names it stores
        self.journal = FlakyJournal(folder / "journal.db", record_reducer(cfg), now=self.now)
        self.engine = Engine(cfg, self.journal, self.flaky, batch_size=batch_size)
        self.external: list[External] = []
        self.cursor_log: list[dict[tuple[str, str], Any]] = [{}]  # after each cycle
        self.full_cycles = 0
        self.inserted: Counter[tuple[str, str]] = Counter()  # (side, key) -> rows made
        self.loose_keys: set[str] = set()  # keys made ambiguous or raced (see the docstring)
        self.connector = connector
        # (side, id, field) -> the poison another program wrote there (until it wrote again)
        self.poisons: dict[tuple[str, str, str], Poisoned] = {}

    def close(self) -> None:
        self.journal.close()
        for side in self.sides.values():
            side.close()

    # another program's edits, in canonical field names with raw values
    def _row(self, side: str, values: Mapping[str, Any]) -> dict[str, Any]:
        row = {COLUMNS[side][k]: v for k, v in values.items()}
        row[MODIFIED] = self.now().isoformat()
        return row

    def key(self, side: str, row: Mapping[str, Any]) -> str | None:
        """The match key of a side's row (None: it has none)."""
        values, _ = self.module.fields.to_canonical(side, row)
        return match_key([values.get(f) for f in self.module.match_fields])

    def _taken(self, side: str, key: str) -> bool:
        """Whether a new row with ``key`` on ``side`` asks for a second record: the side
        has a row with it already, or a record with it is on both sides."""
        for other in SIDES:
            for id, row in self.sides[other].rows().items():
                if self.key(other, row) != key:
                    continue
                if other == side:
                    return True
                rid = self.journal.rid_for(MODULE, other, id)
                state = self.journal.record(MODULE, rid) if rid is not None else None
                if state is not None and len(state.linked_sides) > 1:
                    return True
        return False

    def _loosen(self, side: str, id: str | None) -> None:
        row = self.sides[side].rows().get(id or "")
        if row is not None:
            key = self.key(side, row)
            if key is not None:
                self.loose_keys.add(key)

    def _loosen_unread(self, sides: Sequence[str]) -> None:
        """Rows of ``sides`` no record holds yet: a create now could not have seen them."""
        for side in sides:
            for id in self.sides[side].rows():
                if self.journal.rid_for(MODULE, side, id) is None:
                    self._loosen(side, id)

    def insert(self, side: str, values: Mapping[str, Any], **extra: Any) -> str:
        """Insert a row; ``extra`` columns (``updated_at``, a ``tag``) go in as given."""
        row = {**self._row(side, values), **extra}
        key = self.key(side, row)
        if key is not None:
            self.inserted[(side, key)] += 1
            if self._taken(side, key):
                self.loose_keys.add(key)
        id = self.sides[side].insert(row)
        self.external.append(External(side, id, "insert", row, self.journal.last_seq))
        return id

    def pick(self, side: str, pick: int) -> str | None:
        ids = sorted(self.sides[side].rows())
        return ids[pick % len(ids)] if ids else None

    def update(self, side: str, id: str, values: Mapping[str, Any]) -> None:
        row = self._row(side, values)
        if "name" in values:  # a rename: the old and the new key are no longer one row's
            self._loosen(side, id)
            key = self.key(side, row)
            if key is not None:
                self.loose_keys.add(key)
        self.sides[side].update(id, row)
        self.external.append(External(side, id, "update", row, self.journal.last_seq))
        for field in values:
            self.poisons.pop((side, id, field), None)

    def poison(self, side: str, id: str, field: str, value: Any) -> None:
        """Another program writes ``value`` (one no sync can read) into ``field`` of a row:
        an update like any other, and for a name a rename (the old key loses its row)."""
        self.update(side, id, {field: value})
        self.poisons[(side, id, field)] = Poisoned(value, self.journal.last_seq, self.full_cycles)
        note(f"poisoned {field} with {type(value).__name__}")

    def poisoned(self) -> dict[tuple[str, str, str], Poisoned]:
        """The poisons still in place: rows another program poisoned and nobody (another
        program or the engine) has written a valid value to since."""
        rows = self.snapshot()
        out = {}
        for (side, id, field), poisoned in self.poisons.items():
            row = rows[side].get(id)
            if row is not None and _same_raw(row.get(COLUMNS[side][field]), poisoned.value):
                out[(side, id, field)] = poisoned
        return out

    def delete(self, side: str, id: str) -> None:
        self._loosen(side, id)
        self.sides[side].delete(id)
        self.external.append(External(side, id, "delete", {}, self.journal.last_seq))

    def shared_rows(self) -> list[dict[str, str]]:
        """The row ids of every active record linked to an existing row on both sides."""
        rows = self.snapshot()
        out = []
        for state in self.records():
            ids = {
                side: held.id
                for side, held in state.sides.items()
                if held.id is not None and not held.deleted and held.id in rows[side]
            }
            if state.status == ACTIVE and set(ids) == set(SIDES):
                out.append(ids)
        return out

    def edited_only(self, side: str) -> dict[str, dict[str, Any]]:
        """What ``side`` would hold had nobody but the other program written to it."""
        model: dict[str, dict[str, Any]] = {}
        for e in self.external:
            if e.side != side:
                continue
            if e.op == "insert":
                model[e.id] = dict(e.row)
            elif e.op == "update":
                model[e.id].update(e.row)
            else:
                del model[e.id]
        return model

    def apply(self, step: Any) -> bool | None:
        """Play one step of an edit script; a cycle returns whether it completed."""
        if isinstance(step, Insert):
            self.insert(step.side, step.values)
        elif isinstance(step, Update):
            id = self.pick(step.side, step.pick)
            if id is not None:
                self.update(step.side, id, step.values)
        elif isinstance(step, EditBoth):
            shared = self.shared_rows()
            if shared:
                ids = shared[step.pick % len(shared)]
                self.update("books", ids["books"], step.books)
                self.update("crm", ids["crm"], step.crm)
        elif isinstance(step, Delete):
            id = self.pick(step.side, step.pick)
            if id is not None:
                self.delete(step.side, id)
        elif isinstance(step, Cycle):
            return self.cycle(step)
        elif isinstance(step, Resolve):
            self.resolve(step.pick, step.take)
        elif isinstance(step, Callback):
            self.callback(step)
        elif isinstance(step, Poison):
            id = self.pick(step.side, step.pick)
            choices = poisons_for(step.field, self.connector)
            if id is not None:
                self.poison(step.side, id, step.field, choices[step.which % len(choices)])
        elif isinstance(step, Fix):
            here = sorted(self.poisoned())
            if here:
                side, id, field = here[step.pick % len(here)]
                self.update(side, id, {field: step.values[field]})
                note("fixed a poison")
        else:  # pragma: no cover - a strategy out of step with the harness
            raise TypeError(step)
        return None

    def cycle(self, step: Cycle = FULL) -> bool:
        """One sync cycle, maybe partial, failing or stopped; returns whether it completed."""
        before = self.journal.cursors()
        fault = step.fault
        shot = [False]
        lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
        if fault is not None and fault.where == "journal":
            self.journal.countdown = fault.after
        elif fault is not None and fault.where == "stop":
            self.engine.stop_requested = _stop_after(fault.after, shot)
        elif (
            fault is not None
            and fault.where == "locked"
            and isinstance(self.sides[fault.side], SQLiteSide)
        ):
            lock = self.sides[fault.side].locked()
        elif fault is not None:
            for side in SIDES if fault.side == "*" else (fault.side,):
                self.flaky[side].arm(fault, shot)
        if step.only is not None and all(
            (s, MODULE) in before and self.flaky[s].pulled_through for s in SIDES
        ):
            # the other side's pull sees nothing: a cycle that syncs one side's changes.
            # Only once both sides were read to their end: a side is never written before
            # its first pull in a real cycle, and a snapshot cannot report earlier deletes.
            # What the blind side holds unread could not be seen by this cycle's creates.
            blind = [side for side in SIDES if side != step.only]
            self._loosen_unread(blind)
            for side in blind:
                self.flaky[side].arm(Fault(side, "blind"))
        failed = False
        try:
            with lock:
                self.engine.run()
        except (InjectedFault, ConnectorError):
            failed = True
        finally:
            if fault is not None:
                if fault.where == "journal":
                    shot[0] = self.journal.countdown is None
                    self.journal.countdown = None
                elif fault.where == "locked":
                    shot[0] = shot[0] or failed  # a real lock: the cycle failed on it
                note(f"fault {fault.where}: {'fired' if shot[0] else 'not reached'}")
            self.engine.stop_requested = _never
            for flaky in self.flaky.values():
                flaky.arm(None)
        self.cursor_log.append(self.journal.cursors())
        done = not failed and not (fault is not None and fault.where == "stop" and shot[0])
        if done and step.full:
            self.full_cycles += 1
        return done

    def callback(self, step: Callback) -> None:
        """A notification names some rows of a side: the engine re-reads them now, as
        often as the notification is delivered."""
        ids = list(dict.fromkeys(i for p in step.picks if (i := self.pick(step.side, p))))
        if not ids:
            return
        if all(f.pulled_through for f in self.flaky.values()):
            # once the module was read through, a callback settles at once every record
            # needing attention (not only those it names) without reading the sides: what
            # they hold unread it cannot see.  Before that it must wait (and is held to it)
            self._loosen_unread(SIDES)
        for _ in range(step.times):
            self.engine.sync_ids(MODULE, step.side, ids)
        note(f"callback delivered {step.times} time(s)")

    def resolve(self, pick: int, take: str) -> bool:
        """A person settles an open conflict, if there is one; returns whether there was."""
        open_ = self.journal.conflicts(status="open", module=MODULE)
        if not open_:
            return False
        conflict = open_[pick % len(open_)]
        data = conflict["data"]
        if data.get("duplicate"):
            choice = take if take in ("clone", "skip") else "skip"
            if choice == "clone" and data.get("key") is not None:
                self.loose_keys.add(data["key"])  # a person asked for both to stay
        else:
            sides = sorted({s["side"] for s in data.get("siblings", [])})
            choice = take if take in sides else sides[0]
        note(f"resolved a {'duplicate group' if data.get('duplicate') else 'field'} conflict")
        try:
            resolve(self.journal, self.config, conflict["id"], take=choice)
        except ResolutionError as exc:
            raise AssertionError(f"open conflict {conflict['id']} did not resolve: {exc}") from exc
        return True

    def quiesce(self, limit: int = 4) -> int:
        """Full cycles until one appends nothing; returns how many it took."""
        for n in range(1, limit + 1):
            before = self.journal.last_seq
            self.cycle()
            if self.journal.last_seq == before:
                return n
        raise AssertionError(f"no quiescence after {limit} full cycles with no edits")

    # what the world looks like
    def canonical(self, side: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row's canonical values; a field holding a poison the world wrote is left out
        (any other value that does not convert fails the law that asked)."""
        values, errors = self.module.fields.to_canonical(side, row)
        injected = [p.value for p in self.poisons.values()]
        stray = [e for e in errors if not any(_same_raw(e.value, v) for v in injected)]
        assert not stray, stray
        return values

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {side: self.sides[side].rows() for side in SIDES}

    def writes(self) -> int:
        return sum(len(f.writes) for f in self.flaky.values())

    def records(self) -> list[RecordState]:
        return [state for _, _, state in self.journal.records(MODULE)]

    def entries(self, *kinds: Kind) -> list[Any]:
        return list(self.journal.read(module=MODULE, kinds=[str(k) for k in kinds] or None))


def _same_raw(a: Any, b: Any) -> bool:
    """Raw values equal, and of one type (the bytes of a poison are not its text)."""
    return type(a) is type(b) and a == b


@contextlib.contextmanager
def open_world(folder: Path, cfg: Config | None = None, **kwargs: Any) -> Iterator[World]:
    w = World(folder, cfg or config(), **kwargs)
    try:
        yield w
    finally:
        w.close()
