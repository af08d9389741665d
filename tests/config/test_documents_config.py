"""A document module's settings: lines fields, lookups inside lines, the lock and totals."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from replicator.config.load import Lock, parse_config
from replicator.errors import ConfigError

BASE = """\
[sides.books]
connector = "memory"
[sides.crm]
connector = "memory"

[modules.items]
books = { table = "items" }
crm = { table = "products" }
[modules.items.fields]
name = { books = "name", crm = "name" }

[modules.invoices]
conflicts = "prefer:books"
books = { table = "invoices" }
crm = { table = "invoices" }
[modules.invoices.fields]
status = { books = "status", crm = "status", type = "picklist" }
lines = { books = "line_items", crm = "items", type = "lines" }
total_books = { books = "total", type = "decimal" }
total_crm = { crm = "grand_total", type = "decimal" }
"""

GOOD = (
    BASE.replace(
        "[modules.invoices.fields]",
        'totals = ["total_books", "total_crm"]\n[modules.invoices.fields]',
    )
    + """
[modules.invoices.lookups]
"lines.item" = "items"
[modules.invoices.lock]
side = "books"
field = "status"
open = ["draft"]
passes = ["void"]
"""
)


def parse(text: str, tmp_path: Path):
    return parse_config(tomllib.loads(text), tmp_path / "replicator.toml")


def refusal(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_document_module_reads_its_lock_totals_and_line_lookup(tmp_path):
    """The documented shape parses into the module's lock, totals and dotted lookup."""
    module = parse(GOOD, tmp_path).modules["invoices"]
    assert module.lock == Lock("books", "status", ("draft",), ("void",))
    assert module.totals == ("total_books", "total_crm")
    assert module.lookups == {"lines.item": "items"}
    assert module.fields.kind("lines") == "lines"


def test_a_module_without_them_has_no_lock_and_no_totals(tmp_path):
    """Both are optional; passes defaults to none."""
    module = parse(BASE, tmp_path).modules["invoices"]
    assert module.lock is None and module.totals == ()
    text = BASE + '[modules.invoices.lock]\nside = "books"\nfield = "status"\nopen = ["draft"]\n'
    assert parse(text, tmp_path).modules["invoices"].lock == Lock("books", "status", ("draft",))


LOCK = '[modules.invoices.lock]\nside = "books"\nfield = "status"\nopen = ["draft"]\n'


@pytest.mark.parametrize(
    "extra, key, said",
    [
        (LOCK.replace('"books"', '"erp"'), "lock.side", "not a side of this module"),
        (LOCK.replace('"status"', '"state"'), "lock.field", "not a field of this module"),
        (LOCK.replace('"status"', '"total_crm"'), "lock.field", "not mapped on side books"),
        (LOCK.replace('"status"', '"total_books"'), "lock.field", "text or picklist field"),
        (LOCK.replace('open = ["draft"]', "open = []"), "lock.open", "non-empty list"),
        (LOCK.replace('open = ["draft"]', 'open = "draft"'), "lock.open", "non-empty list"),
        (LOCK.replace('open = ["draft"]\n', ""), "lock.open", "is required"),
        (LOCK + "passes = [1]\n", "lock.passes", "a list of values"),
        (LOCK + "pases = []\n", "lock.pases", "did you mean 'passes'"),
        ('[modules.invoices.lock]\nfield = "status"\n', "lock.side", "is required"),
    ],
)
def test_a_bad_lock_is_refused_in_one_line_naming_its_key(tmp_path, extra, key, said):
    """Each mistake in [modules.M.lock] names the key and what is wrong."""
    message = refusal(BASE + extra, tmp_path)
    assert f"modules.invoices.{key}" in message and said in message


@pytest.mark.parametrize(
    "totals, said",
    [
        ('["total_books"]', "must name two fields"),
        ('["total_books", "total_books"]', "must name two fields"),
        ('"total_books"', "non-empty list"),
        ('["total_books", "nope"]', "'nope' is not a field"),
        ('["total_books", "status"]', "status must be a decimal field"),
        ('["total_books", "both"]', "both must be mapped on one side only"),
        ('["total_books", "books2"]', "both read from side books"),
    ],
)
def test_bad_totals_are_refused_in_one_line(tmp_path, totals, said):
    """totals names two decimal fields, each read on one side only, from different sides."""
    text = BASE.replace(
        "[modules.invoices.fields]",
        f"totals = {totals}\n[modules.invoices.fields]",
    )
    text += 'both = { books = "b", crm = "c", type = "decimal" }\n'
    text += 'books2 = { books = "total2", type = "decimal" }\n'
    message = refusal(text, tmp_path)
    assert "modules.invoices.totals" in message and said in message


@pytest.mark.parametrize(
    "lookups, key, said",
    [
        ('"lines.product" = "items"', '"lines.product"', 'write "lines.item"'),
        ('"status.item" = "items"', '"status.item"', "status is a picklist field"),
        ('"lines" = "items"', '"lines"', "is no lookup itself"),
        ("lines.item = 'items'", "lines", 'quote the key: "lines.item"'),
        ('"nope.item" = "items"', '"nope.item"', "'nope' is not a field"),
        ('"lines.item" = "orders"', '"lines.item"', "must be a module set up before"),
    ],
)
def test_a_bad_lookup_inside_lines_is_refused_in_one_line(tmp_path, lookups, key, said):
    """A dotted lookup names the item of a lines field, quoted, of a module set up before."""
    message = refusal(BASE + f"[modules.invoices.lookups]\n{lookups}\n", tmp_path)
    assert f"modules.invoices.lookups.{key.strip(chr(34))}" in message and said in message


def test_an_unknown_field_type_lists_lines_among_the_choices(tmp_path):
    """The type list the error gives includes the new type."""
    message = refusal(BASE.replace('type = "lines"', 'type = "rows"'), tmp_path)
    assert "lines" in message.split("choices:")[1]
