"""The two interfaces between the journal and the layer that gives its entries a meaning.

A :class:`Reducer` folds entries into the materialised state through a :class:`View`; the
journal calls it on every append and on replay, and knows nothing else of it.  Neither
interface names a storage: :class:`journal.view.SQLiteView` is the journal's own View,
and a pure package (``conflicts``) implements a Reducer against this module alone.
"""

from __future__ import annotations

from typing import Any, Protocol

from journal.entry import Entry

# What :meth:`Reducer.encode` gives: ``(state JSON, match key, needs attention)``,
# optionally followed by a near key (a looser second match key, indexed like the first),
# then a status and marks (words naming what a record has, counted without decoding it),
# then a label (the record's name, folded: searched and ordered without decoding it),
# then a reference (the record it belongs to: found by it without decoding it).
Encoded = (
    tuple[str, str | None, bool]
    | tuple[str, str | None, bool, str | None]
    | tuple[str, str | None, bool, str | None, str | None, str | None]
    | tuple[str, str | None, bool, str | None, str | None, str | None, str | None]
    | tuple[str, str | None, bool, str | None, str | None, str | None, str | None, str | None]
)


class View(Protocol):
    """What a reducer may read and write of the materialised state.

    Records are the reducer's own decoded states; links, cursors and conflicts are rows
    the journal indexes for lookups.  Everything written here commits with the entry
    being folded, or not at all.
    """

    def record(self, module: str, rid: str) -> Any | None:
        """The decoded state of a record, or None if no entry has made it yet."""
        ...

    def put_record(self, module: str, rid: str, state: Any) -> None:
        """Replace a record's state (encoded by :meth:`Reducer.encode` when stored)."""
        ...

    def link(self, module: str, side: str, side_id: str, rid: str, status: str) -> None:
        """Say that ``side``'s record ``side_id`` is the record ``rid`` (with a status)."""
        ...

    def cursor(self, side: str, module: str) -> Any | None:
        """How far ``side``'s pulls of ``module`` have read (None: never pulled)."""
        ...

    def set_cursor(self, side: str, module: str, value: Any) -> None:
        """Move a cursor forward; a cursor that would go back is refused."""
        ...

    def conflict(self, conflict_id: int) -> dict[str, Any] | None:
        """A conflict as ``{"id", "module", "rid", "field", "status", "data"}``, or None."""
        ...

    def put_conflict(
        self, conflict_id: int, module: str, rid: str, field: str, status: str, data: Any
    ) -> None:
        """Create or replace a conflict (``data`` is canonical JSON-able)."""
        ...

    def drop_module(self, module: str) -> None:
        """Forget every record, link, cursor and conflict of ``module`` (entries stay)."""
        ...


class Reducer(Protocol):
    """Folds entries into materialised state.  Must depend on the entries alone.

    A reducer may carry an integer ``version`` attribute, the format of the state it
    writes: a journal whose stored state was folded by another version rebuilds it by
    replay when opened, and journals the upgrade (see :meth:`journal.Journal.state_version`).
    A reducer without one never triggers a rebuild.

    A reducer may say ``wire_fields = True``: it passes every value of an entry's
    ``fields`` through :func:`journal.entry.to_wire` (so a value and its wire form fold
    alike), and a replay hands it the fields in wire form, as stored, instead of decoding
    them into Decimals and dates for it to encode them again.  Without it (or False),
    fields are canonical values.

    A reducer may say ``reads_state = False``: it never reads a record's stored state
    from the view, so an append skips the bulk read of a batch's records before folding it.
    """

    def apply(self, view: View, entry: Entry) -> None:
        """Fold one entry into the state ``view`` holds."""
        ...

    def encode(self, state: Any) -> Encoded:
        """``(state JSON, match key or None, needs attention)``, optionally followed by a
        *near key* (a looser second match key, indexed like the first) or None, then a
        *status* and *marks* (words apart by spaces, or None): the journal counts records
        by them without decoding a state (:meth:`journal.Journal.record_tallies`) and
        streams the marked ones alone (``records(marked=True)``), then a *label* (a name
        as a search matches it, or None: :meth:`journal.Journal.labelled` finds records
        by it without decoding them), then a *reference* (what it belongs to, or None:
        :meth:`journal.Journal.with_refs` finds records by it)."""
        ...

    def decode(self, text: str) -> Any:
        """The state :meth:`encode` stored as ``text``."""
        ...


__all__ = ["Encoded", "Reducer", "View"]
