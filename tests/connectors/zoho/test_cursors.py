"""Zoho times as cursor texts."""

from __future__ import annotations

from replicator.connectors.zoho.cursors import parse_time, zoho_time


def test_zoho_times_become_fixed_width_utc_texts() -> None:
    """Both Zoho offset styles parse to aware UTC; cursor texts sort as times do."""
    crm = parse_time("2026-11-27T15:30:00+05:30")
    books = parse_time("2026-11-27T15:30:00+0530")
    assert crm == books and zoho_time(crm) == "2026-11-27T10:00:00+00:00"
    assert parse_time("not a time") is None
