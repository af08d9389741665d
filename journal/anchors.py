"""Anchors: ``(seq, head hash, time)`` written outside the journal file after each cycle.

A hash chain proves that the entries up to its head were not edited; it cannot prove that
the head is the real one.  Entries deleted from the end (and the chain appended again), or
the whole file swapped for an older copy, still form a chain.  An anchor remembers a head
somewhere else: the journal's :class:`AnchorLog` (``JOURNAL.anchors`` beside a SQLite
journal, one JSON object a line, append-only, 0600: :class:`AnchorFile`; a table outside a
PostgreSQL journal's schema), the daemon's published state, and whatever copies the owner
ships elsewhere (a log the journal's owner cannot rewrite).  :func:`check_anchors`
compares the journal with every anchor it is given and names the last one that still
matches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from journal.entry import GENESIS, SEP, ChainKey, row_hash, utc_text
from journal.errors import IntegrityError, StorageError
from journal.schema import create_private

_HASH = re.compile(r"^[0-9a-f]{64}$")
# entries checked before a write when no anchor exists yet (a new or just-upgraded journal)
TAIL_WITHOUT_ANCHOR = 1_000
BATCH = 5_000  # rows a chain check reads a query


@attrs.frozen
class Anchor:
    """A head of the journal remembered outside it: entry ``seq`` had hash ``hash``."""

    seq: int
    hash: str
    at: dt.datetime | None = None
    source: str = "anchors file"  # where it came from, for messages

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": utc_text(self.at) if self.at else None}

    @property
    def expect(self) -> str:
        """``SEQ:HASH``, the form ``journal verify --expect`` takes."""
        return f"{self.seq}:{self.hash}"

    def describe(self) -> str:
        when = f" of {utc_text(self.at)}" if self.at is not None else ""
        return f"the anchor{when} ({self.source}: entry {self.seq}, hash {self.hash[:16]}...)"

    @classmethod
    def from_json(cls, data: Any, *, source: str = "anchors file") -> Anchor:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        seq, digest, at = data.get("seq"), data.get("hash"), data.get("at")
        if type(seq) is not int or seq < 1:
            raise ValueError("seq is not a positive integer")
        if not isinstance(digest, str) or not _HASH.match(digest):
            raise ValueError("hash is not 64 hex digits")
        when = None
        if at is not None:
            when = dt.datetime.fromisoformat(str(at))
            if when.tzinfo is None:
                raise ValueError("at is not an aware UTC time")
        return cls(seq, digest, when, source)

    @classmethod
    def parse(cls, text: str, *, source: str = "--expect") -> Anchor:
        """``SEQ:HASH`` (what ``journal head`` prints) as an anchor."""
        seq, _, digest = text.strip().partition(":")
        digest = digest.strip().lower()
        if not seq.strip().isdigit() or int(seq) < 1 or not _HASH.match(digest):
            raise ValueError(f"{text!r} is not SEQ:HASH (an entry number and 64 hex digits)")
        return cls(int(seq), digest, None, source)


def anchor_path(journal_path: str | Path) -> Path:
    """``JOURNAL.anchors`` beside the journal file."""
    path = Path(journal_path)
    return path.with_name(path.name + ".anchors")


def read_anchors(path: str | Path) -> tuple[list[Anchor], list[str]]:
    """The anchors of a file, in file order, and a problem per line that is not one."""
    anchors: list[Anchor] = []
    problems: list[str] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"anchors file {path} cannot be read: {exc}"]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            anchors.append(Anchor.from_json(json.loads(line)))
        except ValueError as exc:
            problems.append(f"anchors file {path} line {number} is not an anchor ({exc})")
    return anchors, problems


def last_anchor(path: str | Path) -> Anchor | None:
    """The last well-formed anchor of a file (reads only its end)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            tail = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(f"anchors file {path} cannot be read: {exc.strerror}") from exc
    for line in reversed(tail.splitlines()):
        try:
            return Anchor.from_json(json.loads(line))
        except ValueError:
            continue
    return None


class AnchorLog(Protocol):
    """Where a journal's heads are anchored outside it: ``JOURNAL.anchors`` beside a SQLite
    journal (:class:`AnchorFile`), a table outside a PostgreSQL journal's schema
    (:class:`journal.postgres.PostgresAnchors`)."""

    @property
    def where(self) -> str:
        """Where the anchors are, for messages."""
        ...

    def last(self) -> Anchor | None:
        """The last well-formed anchor (None: none yet)."""
        ...

    def read(self) -> tuple[list[Anchor], list[str]]:
        """Every anchor, oldest first, and a problem per stored anchor that is not one."""
        ...

    def add(self, anchor: Anchor) -> None:
        """Append ``anchor`` (raises :class:`StorageError` when it cannot)."""
        ...


@attrs.frozen
class AnchorFile:
    """The anchors in a file of one JSON object a line, append-only, 0600."""

    path: Path

    @property
    def where(self) -> str:
        return f"anchors file {self.path}"

    def last(self) -> Anchor | None:
        return last_anchor(self.path)

    def read(self) -> tuple[list[Anchor], list[str]]:
        return read_anchors(self.path)

    def add(self, anchor: Anchor) -> None:
        path = self.path
        line = json.dumps(anchor.to_json(), sort_keys=True, separators=(",", ":")) + "\n"
        try:
            create_private(path)
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            try:
                size = os.lseek(fd, 0, os.SEEK_END)
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = "\n" + line  # after a torn line: the new anchor stays readable
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"anchors file {path} cannot be written: {exc.strerror}") from exc


class ChainedRows(Protocol):
    """What a chain check reads of a journal, whatever stores it (SQLite's
    :class:`~journal.store.Journal`, :class:`journal.postgres.PostgresJournal`)."""

    @property
    def key(self) -> ChainKey | None: ...

    @property
    def keyed_from(self) -> int | None: ...

    @property
    def last_seq(self) -> int: ...

    @property
    def needs_upgrade(self) -> bool: ...

    def row_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]: ...

    def chain_batches(self, *, since: int = 0, batch: int = 5_000) -> Iterator[list[Any]]: ...


class Anchored(ChainedRows, Protocol):
    """What anchoring and the check before a write read of a journal, whatever stores it
    (every :class:`~journal.storage.JournalStorage` has it)."""

    def head(self) -> tuple[int, str, dt.datetime | None]: ...

    def now(self) -> dt.datetime: ...

    def anchor_log(self) -> AnchorLog | None: ...

    def hashes(self, seqs: Sequence[int]) -> dict[int, str]: ...

    def missing_triggers(self) -> list[str]: ...


def head_anchor(journal: Anchored) -> Anchor | None:
    """The journal's head as an anchor (None while it is empty): what ``journal head``
    prints, and what an auditor writes down to check a copy against later."""
    seq, digest, at = journal.head()
    if seq == 0:
        return None
    return Anchor(seq, digest, at, "journal head")


def write_anchor(journal: Anchored) -> Anchor | None:
    """Append the journal's head to its anchor log (``JOURNAL.anchors`` beside a SQLite
    journal, created 0600) and return it; None for a journal anchored nowhere (in memory),
    an empty one, or a head that is already the last anchor."""
    log = journal.anchor_log()
    if log is None:
        return None
    seq, digest, _ = journal.head()
    if seq == 0:
        return None
    last = log.last()
    if last is not None and last.seq == seq and last.hash == digest:
        return None
    anchor = Anchor(seq, digest, journal.now())
    log.add(anchor)
    return anchor


# -- checking -----------------------------------------------------------------------------


@attrs.frozen
class AnchorCheck:
    checked: int
    last_good: Anchor | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_anchors(journal: Anchored, anchors: Iterable[Anchor]) -> AnchorCheck:
    """Every anchor must name an entry the journal holds, with the hash it holds.

    A failing anchor is named with the last good one (the latest anchor, below the first
    failing seq, that matches): the entries up to it are as they were anchored.
    """
    ordered = sorted(anchors, key=lambda a: a.seq)
    if not ordered:
        return AnchorCheck(0)
    last_seq = journal.last_seq
    held = journal.hashes([a.seq for a in ordered if a.seq <= last_seq])
    bad: list[tuple[Anchor, str]] = []
    for anchor in ordered:
        if anchor.seq > last_seq:
            bad.append(
                (
                    anchor,
                    f"the journal ends at entry {last_seq} but {anchor.describe()} names "
                    f"entry {anchor.seq}: entries were deleted from its end, or the file was "
                    "rolled back to an older copy",
                )
            )
        elif held.get(anchor.seq) != anchor.hash:
            bad.append(
                (
                    anchor,
                    f"entry {anchor.seq} does not match {anchor.describe()}: the entries up "
                    "to it were rewritten, or deleted and written again",
                )
            )
    if not bad:
        return AnchorCheck(len(ordered), ordered[-1])
    first_bad = bad[0][0]
    good = [
        a
        for a in ordered
        if a.seq < first_bad.seq and a.seq <= last_seq and held.get(a.seq) == a.hash
    ]
    last_good = good[-1] if good else None
    since = (
        f"; last good anchor: entry {last_good.seq} ({last_good.describe()})"
        if last_good is not None
        else "; no earlier anchor matches"
    )
    more = f" (and {len(bad) - 1} more anchors fail)" if len(bad) > 1 else ""
    return AnchorCheck(len(ordered), last_good, bad[0][1] + more + since)


def check_tail(journal: Anchored, anchor: Anchor | None) -> str | None:
    """What is wrong with the journal's tail, or None: the cheap check before a write.

    The append-only triggers are in place, the chain is one a write may extend, the last
    anchor names an entry the journal holds with its hash, and every entry from that anchor
    to the head links and hashes correctly (without an anchor: the last
    :data:`TAIL_WITHOUT_ANCHOR` entries).
    """
    missing = journal.missing_triggers()
    if missing:
        return (
            f"the append-only triggers {', '.join(missing)} are missing or altered "
            "(repair them with `replicator journal repair-triggers`)"
        )
    if journal.needs_upgrade:
        return "its hash chain is unkeyed although a journal key is in use"
    if journal.keyed_from is not None and journal.key is None:
        return f"it is keyed from entry {journal.keyed_from} but no journal key was given"
    last_seq = journal.last_seq
    if anchor is not None:
        result = check_anchors(journal, [anchor])
        if not result.ok:
            return result.problem
        start = anchor.seq
    else:
        start = max(1, last_seq - TAIL_WITHOUT_ANCHOR + 1)
    try:
        check_range(journal, start)
    except IntegrityError as exc:
        return str(exc)
    return None


def check_range(journal: ChainedRows, start: int = 1, progress: Any = None) -> int:
    """Check seq continuity and every hash from entry ``start`` to the head (the link of
    entry ``start`` to its predecessor is checked only from entry 1); the number checked.

    Entries before ``journal.keyed_from`` are plain sha256 links, the rest HMAC-SHA256 under
    the journal key.  Raises :class:`IntegrityError` naming the first entry that fails.

    A batch is checked as a whole (the stored bytes hashed as they are, the links and the
    numbering compared column against column); only a batch that fails is read again row
    by row, to name the first entry at fault and why.
    """
    check_key(journal)
    prev_hash: str | None = GENESIS if start <= 1 else None
    return _check(journal, max(start, 1), prev_hash, journal.last_seq - start + 1, progress)


def check_key(journal: ChainedRows) -> None:
    """What :func:`check_range` checks before any entry: a key for a keyed chain, and a
    keyed chain when a key is in use (:class:`IntegrityError` if not)."""
    keyed_from = journal.keyed_from
    if keyed_from is not None and journal.key is None and journal.last_seq >= keyed_from:
        raise IntegrityError(
            f"entries from {keyed_from} are keyed and no journal key was given: the chain "
            "cannot be checked",
            seq=keyed_from,
        )
    if journal.needs_upgrade:
        raise IntegrityError(
            "no entry is keyed although a journal key is in use: the chain was recomputed "
            "without the key, or the journal was made before keyed chains and not upgraded "
            "(`replicator journal upgrade`)",
            seq=1,
        )


def check_span(journal: ChainedRows, since: int, count: int, progress: Any = None) -> int:
    """The part of :func:`check_range` from entry 1 that checks the ``count`` entries after
    entry ``since``, the first linked to the stored hash of entry ``since`` (or to the
    genesis): a check from entry 1 cut into spans, each checked on its own (by processes
    of their own), fails at the same first entry, with the same reason, as the whole.
    The caller has made :func:`check_key`'s checks first."""
    prev_hash: str | None = GENESIS
    if since > 0:
        # the stored hash of entry ``since`` (missing: a fault of the span before, which
        # this one's first link is not checked against)
        found = next(iter(journal.chain_batches(since=since - 1, batch=1)), [])
        prev_hash = _hex_column([found[0][2]])[0] if found and found[0][0] == since else None
    return _check(journal, since + 1, prev_hash, count, progress, limit=True)


def _check(
    journal: ChainedRows,
    expected: int,
    prev_hash: str | None,
    total: int,
    progress: Any,
    *,
    limit: bool = False,
) -> int:
    """Check the entries from ``expected`` (``total`` of them when ``limit``, else all),
    the first linked to ``prev_hash`` (None: not checked); the number checked."""
    key = journal.key
    keyed_from = journal.keyed_from
    first_keyed = keyed_from if keyed_from is not None else journal.last_seq + 1
    n = 0
    for read in journal.chain_batches(since=expected - 1, batch=BATCH):
        rows = read[: total - n] if limit else read
        count = len(rows)
        if count == 0:
            break
        last = _batch_head(rows, expected, prev_hash, first_keyed, key)
        if last is None:
            _first_fault(journal, expected, prev_hash, first_keyed, count)
            raise IntegrityError(  # the row by row check found nothing: never the case
                f"entries {expected} to {expected + count - 1} do not check out together "
                "although each does on its own",
                seq=expected,
            )
        prev_hash = last
        expected += count
        n += count
        if progress is not None:
            progress(n, total)
        if limit and n >= total:
            break
    return n


def _batch_head(
    rows: Sequence[Any],
    expected: int,
    prev_hash: str | None,
    first_keyed: int,
    key: ChainKey | None,
) -> str | None:
    """The hash (hex) of a batch's last entry if every entry of the batch checks out (its
    numbering from ``expected``, its links to ``prev_hash`` and to each other, its hashes),
    else None: the batch is checked as a whole, the links column against column in the
    form the hashes are stored in (hex text, or format 2's bytes), only the links' hex made
    in Python (for the texts hashed: :func:`chain_texts`)."""
    seqs, prevs, digests, tails = zip(*rows, strict=True)
    count = len(rows)
    if not (
        seqs[0] == expected
        and seqs[-1] == expected + count - 1  # seq is unique and ordered: no gap
        and prevs[1:] == digests[:-1]
    ):
        return None
    try:
        links, last = _hex_column(prevs), _hex_column(digests[-1:])[0]
        texts = chain_texts(links, tails)
    except TypeError:  # a hash of another type than the batch's first one: never equal
        return None
    if prev_hash is not None and links[0] != prev_hash:
        return None
    # the link of each entry but the first is the previous entry's stored hash (checked
    # above in its stored form): the hashes computed are compared with the links' hex
    if _digests(texts, seqs, first_keyed, key) != (*links[1:], last):
        return None
    return last


def _hex_column(hashes: Sequence[Any]) -> Sequence[str]:
    """Stored hashes as hex text: format 2's bytes made hex (a text among them raises
    TypeError), hex text as it is (bytes among them are never equal to a hash made)."""
    if type(hashes[0]) is bytes:
        return [bytes.hex(h) for h in hashes]
    return hashes


def chain_texts(links: Sequence[str], tails: Sequence[bytes]) -> list[bytes]:
    """The canonical texts hashed (:func:`journal.entry.chain_text`) of rows read by a
    chain check (``ChainedRows.chain_batches``): each link (``prev_hash``, hex), the
    separator, then the row's tail as its database made it."""
    return [(link + SEP).encode() + tail for link, tail in zip(links, tails, strict=True)]


def _digests(
    texts: Sequence[bytes], seqs: Sequence[int], first_keyed: int, key: ChainKey | None
) -> tuple[str | None, ...]:
    """The hashes of a batch's canonical texts: plain sha256 before ``first_keyed``,
    HMAC-SHA256 under ``key`` from it (None where no key can check it)."""
    plain = sum(1 for seq in seqs if seq < first_keyed) if seqs[0] < first_keyed else 0
    sha256 = hashlib.sha256
    found: list[str | None] = [sha256(text).hexdigest() for text in texts[:plain]]
    if key is None:
        found += [None] * (len(texts) - plain)
    else:
        digest = key.digest
        found += [digest(text) for text in texts[plain:]]
    return tuple(found)


def _first_fault(
    journal: ChainedRows, expected: int, prev_hash: str | None, first_keyed: int, count: int
) -> None:
    """Read a batch that failed row by row and raise the first entry's fault (returns
    when it finds none)."""
    key = journal.key
    for rows in journal.row_batches(since=expected - 1, batch=count):
        for row in rows:
            seq, module, rid, kind, prev, digest = row[0], row[2], row[3], row[5], row[10], row[11]
            if seq != expected:
                raise IntegrityError(
                    f"entry {expected} is missing (next stored entry is {seq})", seq=expected
                )
            if prev_hash is not None and prev != prev_hash:
                raise IntegrityError(
                    f"entry {seq}: prev_hash does not match the hash of entry {seq - 1}",
                    seq=seq,
                )
            if seq < first_keyed:
                if row_hash(row) != digest:
                    raise IntegrityError(
                        f"entry {seq} ({kind} {module}/{rid}): its content does not match "
                        "its hash (the row was edited)",
                        seq=seq,
                    )
            elif key is not None and row_hash(row, key) != digest:
                raise IntegrityError(
                    f"entry {seq} ({kind} {module}/{rid}): its content does not match its "
                    "keyed hash (the row was edited, or its hash was computed without the "
                    "journal key, or this is not the journal's key)",
                    seq=seq,
                )
            prev_hash = digest
            expected += 1
        return
    raise IntegrityError(f"entry {expected} is missing (the journal ends before it)", seq=expected)


__all__ = [
    "Anchor",
    "AnchorCheck",
    "AnchorFile",
    "AnchorLog",
    "TAIL_WITHOUT_ANCHOR",
    "anchor_path",
    "check_anchors",
    "check_key",
    "check_range",
    "check_span",
    "check_tail",
    "chain_texts",
    "head_anchor",
    "last_anchor",
    "read_anchors",
    "write_anchor",
]
