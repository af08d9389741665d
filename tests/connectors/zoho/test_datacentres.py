"""Zoho data centres by name."""

from __future__ import annotations

import pytest

from replicator.connectors.zoho.datacentres import data_centre


@pytest.mark.parametrize(
    "name, accounts",
    [
        ("com", "https://accounts.zoho.com"),
        ("eu", "https://accounts.zoho.eu"),
        ("in", "https://accounts.zoho.in"),
        ("com.au", "https://accounts.zoho.com.au"),
        ("jp", "https://accounts.zoho.jp"),
        ("com.cn", "https://accounts.zoho.com.cn"),
        ("zohocloud.ca", "https://accounts.zohocloud.ca"),
        ("sa", "https://accounts.zoho.sa"),
        ("AU", "https://accounts.zoho.com.au"),
    ],
)
def test_data_centres_are_selectable_by_name(name: str, accounts: str) -> None:
    """Each data centre's accounts server is found by its short name."""
    assert data_centre(name)[0] == accounts


def test_an_unknown_data_centre_lists_the_choices() -> None:
    """A typo in the data centre names the valid ones."""
    with pytest.raises(ValueError, match="com.au"):
        data_centre("mars")
