"""Lines laws: random documents with random lines (amounts with up to 6 decimal places, up
to 50 lines, in random order, in a side's varied notations) round-trip between a CRM held
in memory (lines as lists) and a Books SQLite file (lines as JSON text) with no line
changed, and a replay of the journal equals the live state."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from journal import verify
from journal.entry import to_wire
from replicator.config.mapping import to_canonical
from tests.sync.documents import Documents

ITEMS = 4  # products made on CRM and synced before the documents


def _amount(places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(-(10**9), 10**9).map(lambda n: Decimal(n).scaleb(-places))


amounts = st.integers(0, 6).flatmap(_amount)  # an amount with up to 6 decimal places
taxes = st.one_of(st.none(), st.integers(0, 100_000).map(lambda n: Decimal(n).scaleb(-3)))


@st.composite
def raw_amount(draw: st.DrawFn, values: st.SearchStrategy[Decimal | None]) -> Any:
    """An amount as a side may give it: text, a Decimal, or an int when whole."""
    value = draw(values)
    if value is None:
        return None
    form = draw(st.sampled_from(["text", "decimal", "int"]))
    if form == "text":
        return str(value)
    if form == "int" and value == value.to_integral_value():
        return int(value)
    return value


@st.composite
def lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A CRM document's lines: items among the synced products (or none), any text."""
    out = []
    for _ in range(draw(st.integers(0, 50))):
        line: dict[str, Any] = {
            "item": draw(st.one_of(st.none(), st.integers(0, ITEMS - 1))),
            "quantity": draw(raw_amount(amounts)),
            "rate": draw(raw_amount(amounts)),
        }
        if draw(st.booleans()):
            line["description"] = draw(
                st.one_of(
                    st.none(),
                    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
                )
            )
        if draw(st.booleans()):
            line["discount"] = draw(raw_amount(st.one_of(st.none(), amounts)))
        if draw(st.booleans()):
            line["tax"] = draw(raw_amount(taxes))
        out.append(line)
    return out


@contextlib.contextmanager
def documents() -> Iterator[tuple[Documents, list[str]]]:
    """A fresh world (temp folder) with ITEMS products synced; yields it and their CRM ids."""
    with tempfile.TemporaryDirectory(prefix="lines-") as folder:
        docs = Documents(Path(folder), books="sqlite")
        try:
            products = [
                docs.crm.insert("products", {"product_name": f"P{n}"}) for n in range(ITEMS)
            ]
            docs.sync()
            yield docs, products
        finally:
            docs.close()


def canonical(docs: Documents, side: str, raw: Any) -> Any:
    """A side's lines in canonical wire form, each item as our record id."""
    found = to_canonical("lines", raw)
    for line in found:
        if line["item"] is not None:
            line["item"] = docs.rid("items", side, str(line["item"]))
    return to_wire(found)


def resaved(text: str) -> str:
    """Books' JSON of the lines saved again in another notation: amounts with trailing
    zeros, keys in another order (the same lines)."""
    out = []
    for line in json.loads(text):
        line = {
            k: (f"{v}{'' if '.' in v else '.'}00" if k in ("quantity", "rate") and v else v)
            for k, v in reversed(line.items())
        }
        out.append(line)
    return json.dumps(out)


@settings(max_examples=max(settings.default.max_examples // 3, 10))
@given(lines(), st.randoms(use_true_random=False))
def test_lines_round_trip_crm_books_crm_unchanged_and_replay_equals_live(raw, random):
    """CRM -> Books: Books holds the same canonical lines; Books saving them again in its
    own notation changes no line on CRM; Books reordering them reaches CRM in that order;
    every cycle after is idle, and a replay of the journal gives the live state."""
    with documents() as (docs, products):
        for line in raw:
            if line["item"] is not None:
                line["item"] = products[line["item"]]
        crm_id = docs.crm.insert("crm_invoices", {"subject": "Q", "stage": "Draft", "items": raw})
        docs.sync()
        want = canonical(docs, "crm", raw)
        ((books_id, books_row),) = docs.books.rows("invoices").items()
        assert canonical(docs, "books", books_row["line_items"]) == want

        crm_writes = len(docs.writes("crm", "crm_invoices"))
        docs.books.update("invoices", books_id, {"line_items": resaved(books_row["line_items"])})
        docs.sync()
        assert len(docs.writes("crm", "crm_invoices")) == crm_writes  # no line changed
        assert docs.crm.rows("crm_invoices")[crm_id]["items"] == raw

        order = list(json.loads(books_row["line_items"]))
        random.shuffle(order)
        docs.books.update("invoices", books_id, {"line_items": json.dumps(order)})
        docs.sync()
        moved = canonical(docs, "books", json.dumps(order))
        assert canonical(docs, "crm", docs.crm.rows("crm_invoices")[crm_id]["items"]) == moved

        before = docs.journal.last_seq
        docs.sync()
        assert docs.journal.last_seq == before
        result = verify(docs.journal)
        assert result.ok, result.problem
