"""The sandbox's switches: limits, token lifetimes, callbacks, search lag, time zone, the
CRM org's base currency (a Books org's is its own: ``PATCH /__admin__/books/organizations/ID``).

A :class:`Settings` value is frozen; the admin API replaces it with an updated copy
(:meth:`Settings.updated`), which validates every key and refuses unknown ones.  The
defaults are the real services' published numbers, so a client that behaves well here
behaves well against Zoho.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from .clock import parse_offset


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


def _currency_code(_inst: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not (len(value) == 3 and value.isascii() and value.isalpha() and value.isupper()):
        raise ValueError(f"{attribute.name} must be an ISO currency code such as EUR")


@attrs.frozen
class Settings:
    """Every switch of a running sandbox."""

    # rate limits (off: counted and reported in headers, never refused)
    rate_limits: bool = True
    crm_credits_per_day: int = attrs.field(default=50_000, validator=_positive)
    crm_concurrency: int = attrs.field(default=10, validator=_positive)
    books_per_minute: int = attrs.field(default=100, validator=_positive)
    books_per_day: int = attrs.field(default=10_000, validator=_positive)
    # OAuth
    token_ttl: int = attrs.field(default=3600, validator=_positive)
    tokens_per_window: int = attrs.field(default=10, validator=_positive)
    token_window: int = attrs.field(default=600, validator=_positive)
    # CRM behaviour
    callbacks: bool = True
    search_lag: float = attrs.field(default=0.0, validator=_positive)
    timezone: str = "+00:00"
    crm_currency: str = attrs.field(default="USD", validator=_currency_code)  # the org's base
    # Books behaviour
    unique_contact_names: bool = True

    @property
    def tz(self) -> dt.tzinfo:
        return parse_offset(self.timezone)

    def updated(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with ``changes`` applied; ``ValueError`` names any bad key or value."""
        fields = {f.name: f for f in attrs.fields(Settings)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in fields:
                raise ValueError(f"unknown setting {key!r}")
            default = fields[key].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{key} must be an integer")
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{key} must be a number")
                value = float(value)
            elif isinstance(default, str) and not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            clean[key] = value
        result = attrs.evolve(self, **clean)
        result.tz  # noqa: B018 - validates the time zone
        return result

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


__all__ = ["Settings"]
