"""The [daemon] table: durations, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicator.config.daemon import DaemonConfig, parse_duration, split_bind
from replicator.config.load import parse_config
from replicator.daemon.schedule import every, is_instant
from replicator.errors import ConfigError


def config_with(tmp_path: Path, daemon: dict | None = None, deals: bool = False):
    modules = {
        "customers": {
            "books": {"table": "customers"},
            "crm": {"table": "Accounts"},
            "fields": {"name": {"books": "contact_name", "crm": "Account_Name"}},
        }
    }
    if deals:
        modules["deals"] = {
            "sync": "one_way",
            "source": "crm",
            "books": {"table": "salesorders"},
            "crm": {"table": "Deals"},
            "fields": {"name": {"books": "reference_number", "crm": "Deal_Name"}},
        }
    data = {
        "sides": {"books": {"connector": "memory"}, "crm": {"connector": "memory"}},
        "modules": modules,
    }
    if daemon is not None:
        data["daemon"] = daemon
    return parse_config(data, tmp_path / "replicator.toml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), (45, 45), (0.5, 0.5)],
)
def test_durations_read_as_seconds(text, seconds):
    """A duration is a number of seconds or a text of s / m / h / d parts."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5 minutes", "h", "-5s", 0, True, "5x"])
def test_a_bad_duration_is_refused(bad):
    """Anything else is a ValueError."""
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_no_daemon_table_gives_the_defaults(tmp_path):
    """Without [daemon]: masters every 2 hours, transactions polled every 5 minutes and
    instant, loopback bind."""
    config = config_with(tmp_path, deals=True)
    assert config.daemon == DaemonConfig()
    assert config.daemon.host == "127.0.0.1"
    assert every(config, "customers") == 7200
    assert (every(config, "deals"), is_instant(config, "deals")) == (300, True)
    assert not is_instant(config, "customers")


def test_a_module_can_set_its_own_schedule(tmp_path):
    """[daemon.modules.NAME] overrides the interval and whether callbacks drive it."""
    config = config_with(
        tmp_path,
        {"masters_every": "10m", "modules": {"customers": {"every": "30s", "instant": True}}},
    )
    assert every(config, "customers") == 30
    assert is_instant(config, "customers")


@pytest.mark.parametrize(
    ("daemon", "key"),
    [
        ({"colour": "red"}, "daemon.colour"),
        ({"masters_every": "soon"}, "daemon.masters_every"),
        ({"bind": "localhost"}, "daemon.bind"),
        ({"public_url": "ftp://x"}, "daemon.public_url"),
        ({"channel_expiry": "8d"}, "daemon.channel_expiry"),
        ({"modules": {"vendors": {"every": "1h"}}}, "daemon.modules.vendors"),
        ({"modules": {"customers": {"often": 1}}}, "daemon.modules.customers.often"),
        ({"batch_size": 0}, "daemon.batch_size"),
    ],
)
def test_a_bad_daemon_setting_names_its_key(tmp_path, daemon, key):
    """A wrong [daemon] value is a ConfigError naming the file and the key."""
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, daemon)
    assert caught.value.key == key


def test_bind_splits_host_and_port():
    """HOST:PORT, with brackets for IPv6."""
    assert split_bind("127.0.0.1:0") == ("127.0.0.1", 0)
    assert split_bind("[::1]:8780") == ("::1", 8780)
