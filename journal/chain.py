"""The hash chain checked over stored rows, whatever stores them.

:func:`check_rows` is the rule :func:`journal.anchors.check_range` applies to a SQLite
journal, over any iterable of rows in the entries table's column order, so every backend
verifies its chain the same way: seqs without a gap from 1, each ``prev_hash`` the hash of
the entry before, plain sha256 before ``keyed_from`` and HMAC-SHA256 under the key from it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from journal.entry import GENESIS, ChainKey, chain_text
from journal.errors import IntegrityError


def check_rows(
    rows: Iterable[tuple[Any, ...]],
    *,
    key: ChainKey | None,
    keyed_from: int | None,
    last_seq: int,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Check every row of a whole journal, from entry 1; the number checked.  Raises
    :class:`IntegrityError` naming the first entry that does not check out."""
    if keyed_from is not None and key is None and last_seq >= keyed_from:
        raise IntegrityError(
            f"entries from {keyed_from} are keyed and no journal key was given: the chain "
            "cannot be checked",
            seq=keyed_from,
        )
    if key is not None and keyed_from is None and last_seq > 0:
        raise IntegrityError(
            "no entry is keyed although a journal key is in use: the chain was recomputed "
            "without the key, or the journal was made before keyed chains and not upgraded",
            seq=1,
        )
    first_keyed = keyed_from if keyed_from is not None else last_seq + 1
    prev_hash, expected = GENESIS, 1
    for row in rows:
        seq = row[0]
        if seq != expected:
            raise IntegrityError(
                f"entry {expected} is missing (next stored entry is {seq})", seq=expected
            )
        if row[10] != prev_hash:
            raise IntegrityError(
                f"entry {seq}: prev_hash does not match the hash of entry {seq - 1}", seq=seq
            )
        data = chain_text(row[10], *row[:10])
        if seq < first_keyed:
            if hashlib.sha256(data).hexdigest() != row[11]:
                raise IntegrityError(
                    f"entry {seq} ({row[5]} {row[2]}/{row[3]}): its content does not match "
                    "its hash (the row was edited)",
                    seq=seq,
                )
        elif key is not None and key.digest(data) != row[11]:
            raise IntegrityError(
                f"entry {seq} ({row[5]} {row[2]}/{row[3]}): its content does not match its "
                "keyed hash (the row was edited, or this is not the journal's key)",
                seq=seq,
            )
        prev_hash = row[11]
        expected += 1
        if progress is not None and seq % 10_000 == 0:
            progress(seq, last_seq)
    return expected - 1


__all__ = ["check_rows"]
