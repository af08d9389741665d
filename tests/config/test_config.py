import textwrap

import pytest

from replicator.config.load import load_config
from replicator.errors import ConfigError

GOOD = """
[journal]
path = "journal.db"

[sides.books]
connector = "sqlite"
path = "books.db"

[sides.crm]
connector = "sqlite"
path = "crm.db"

[modules.customers]
sync = "both_ways"
first = "crm"
duplicates = "overwrite"
conflicts = "newest"
books = { table = "customers", id = "id", match = "name", modified = "updated_at" }
crm = { table = "accounts", id = "id", match = "account_name" }

[modules.customers.fields]
name = { books = "name", crm = "account_name" }
email = { books = "email", crm = "email" }
credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }
"""


def write(tmp_path, text):
    path = tmp_path / "replicator.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_documented_config_loads(tmp_path):
    """The issue's example config validates into sides, modules, fields and policies."""
    config = load_config(write(tmp_path, GOOD))
    assert config.journal_path == tmp_path / "journal.db"
    assert config.sides["books"].path == tmp_path / "books.db"
    module = config.modules["customers"]
    assert module.order == ("crm", "books")
    assert module.match_fields == ("name",)
    assert module.side_module("books").modified == "updated_at"
    assert set(module.side_module("crm").columns) == {"account_name", "email", "credit_limit"}
    assert module.fields.kind("credit_limit") == "decimal"
    assert str(module.policy.direction) == "both_ways"


@pytest.mark.parametrize(
    "old, new, key, reason",
    [
        ('sync = "both_ways"', 'sync = "one_way"', "modules.customers.source", "source"),
        (
            'duplicates = "overwrite"',
            'duplicates = "merge"',
            "modules.customers.duplicates",
            "clone, overwrite",
        ),
        (
            'conflicts = "newest"',
            'conflicts = "prefer:erp"',
            "modules.customers.conflicts",
            "not one of the sides",
        ),
        ('first = "crm"', 'first = "erp"', "modules.customers.first", "not a side"),
        (
            'connector = "sqlite"\npath = "crm.db"',
            'connector = "soap"\npath = "crm.db"',
            "sides.crm.connector",
            "unknown connector",
        ),
        (
            'type = "decimal"',
            'type = "money"',
            "modules.customers.fields.credit_limit.type",
            "unknown type",
        ),
        (
            'match = "account_name"',
            'match = "website"',
            "modules.customers.crm.match",
            "not mapped",
        ),
    ],
)
def test_a_bad_value_names_file_key_and_reason(tmp_path, old, new, key, reason):
    """Every validation error says which file, which key and what is wrong."""
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(path) in str(info.value)


def test_syntax_errors_and_missing_files_are_config_errors(tmp_path):
    """A TOML syntax error or an absent file is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="syntax"):
        load_config(write(tmp_path, "[journal\npath = 1"))
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_one_way_puts_the_source_first(tmp_path):
    """A one-way module's source is the side applied first."""
    text = GOOD.replace('sync = "both_ways"', 'sync = "one_way"\nsource = "books"')
    module = load_config(write(tmp_path, text)).modules["customers"]
    assert module.order == ("books", "crm")
    assert module.policy.targets == ("crm",)


def test_items_default_to_books_first(tmp_path):
    """Without `first`, items take Books first and customers CRM first."""
    text = GOOD.replace('first = "crm"\n', "").replace("modules.customers", "modules.items")
    assert load_config(write(tmp_path, text)).modules["items"].order == ("books", "crm")


def test_validation_writes_nothing(tmp_path):
    """Loading a bad config creates no journal or database file."""
    path = write(tmp_path, GOOD.replace('duplicates = "overwrite"', 'duplicates = "x"'))
    with pytest.raises(ConfigError):
        load_config(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replicator.toml"]


def test_fingerprint_changes_with_settings(tmp_path):
    """The fingerprint journaled with config entries follows the settings."""
    a = load_config(write(tmp_path, GOOD)).fingerprint()
    b = load_config(write(tmp_path, GOOD.replace("newest", "manual"))).fingerprint()
    assert a != b


PICKLIST = GOOD.replace(
    'credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }',
    'credit_limit = { books = "credit_limit", crm = "credit_limit", type = "decimal" }\n'
    'kind = { books = "kind", crm = "Kind", type = "picklist", '
    'values = { crm = { Goods = "goods", Services = "service" } } }',
)


def test_a_picklist_with_a_value_map_loads(tmp_path):
    """`values` gives a picklist side its spelling of each canonical value."""
    fields = load_config(write(tmp_path, PICKLIST)).modules["customers"].fields
    assert fields.kind("kind") == "picklist"
    assert fields.value_map("kind", "crm") == {"Goods": "goods", "Services": "service"}
    assert fields.value_map("kind", "books") is None
    assert fields.to_side("crm", {"kind": "service"}) == {"Kind": "Services"}


@pytest.mark.parametrize(
    "old, new, key, reason",
    [
        ('type = "picklist"', 'type = "text"', "modules.customers.fields.kind.values", "picklist"),
        (
            "values = { crm =",
            "values = { erp =",
            "modules.customers.fields.kind.values.erp",
            "side",
        ),
        (
            'Goods = "goods"',
            "Goods = 1",
            "modules.customers.fields.kind.values.crm.Goods",
            "string",
        ),
        (
            'Services = "service"',
            'Services = "goods"',
            "modules.customers.fields.kind.values.crm.Services",
            "could not choose",
        ),
        (
            '{ Goods = "goods", Services = "service" }',
            "{}",
            "modules.customers.fields.kind.values.crm",
            "at least one",
        ),
        (
            "values = { crm = {",
            "values = { crm = 3, x = {",
            "modules.customers.fields.kind.values.crm",
            "table",
        ),
        (
            'kind = { books = "kind", crm = "Kind",',
            'kind = { books = "kind",',
            "modules.customers.fields.kind.values.crm",
            "no column",
        ),
    ],
)
def test_a_bad_value_map_names_file_key_and_reason(tmp_path, old, new, key, reason):
    """Value maps must belong to a picklist, name a side mapping it, and map text to text."""
    assert old in PICKLIST
    path = write(tmp_path, PICKLIST.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert reason in info.value.reason
    assert str(path) in str(info.value)
