"""Errors of the replicator layer.

ReplicatorError
 +-- ConfigError          a configuration file that does not validate (file, key, reason)
 +-- MappingError         a value that does not convert (record, field, value, reason)
 +-- ConnectorError       a side could not be reached or answered nonsense
 |    +-- UnavailableError a side out of reach for now (limits, outage): retry later
 |    +-- ZohoError       a Zoho call failed (status, Zoho's code, retryable, details)
 |         +-- ZohoAuthError          OAuth refused, or a 401 a fresh token did not cure
 |         |    +-- ZohoRefreshLimitError  a refresh would exceed Zoho's token allowance
 |         |                               (also an UnavailableError)
 |         +-- ZohoLimitError         429 after the retries, or a client-side budget spent
 |         |                          (also an UnavailableError)
 |         +-- ZohoTransportError     no usable answer: timeout, connection, protocol
 |                                    (also an UnavailableError)
 +-- EngineError          a sync cycle could not run
 |    +-- SetupError      a side is not set up for the config (a field missing, currencies
 |    |                   differ): every problem found, each saying what to change
 |    +-- GuardStop       a first sync would create more records on a Zoho side than
 |                        ``[guard] first_sync_creates``: nothing pushed, `--yes` to go
 +-- DaemonError          the daemon cannot start or be reached (another holds the journal)
 +-- AssociationError     a person's deal association refused (deal, document, customer)

The Zoho errors are raised by :mod:`replicator.connectors.zoho`; an httpx exception
becomes one in one place only, :func:`replicator.connectors.zoho.http.translate`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ReplicatorError(Exception):
    """Base of the replicator layer's errors."""


class ConfigError(ReplicatorError):
    def __init__(self, path: str, key: str, reason: str) -> None:
        super().__init__(f"{path}: {key}: {reason}")
        self.path, self.key, self.reason = path, key, reason


class MappingError(ReplicatorError):
    """``reason`` reads after the value: "does not convert to decimal: it has a comma"."""

    def __init__(self, field: str, value: object, reason: str, record: str | None = None) -> None:
        where = f"record {record}, " if record else ""
        super().__init__(f"{where}field {field}: value {shown(value)} {reason}")
        self.field, self.value, self.reason, self.record = field, value, reason, record


SHOWN_CHARS = 80  # of a bad value in a message: enough to find it, never a whole document


def shown(value: object) -> str:
    """A side's raw value for a message, safely: bytes as an SQL hex literal (they may not
    be text at all), anything else as its repr, both cut to :data:`SHOWN_CHARS`."""
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        text = f"x'{data[: SHOWN_CHARS // 2].hex()}'"
        return text if len(data) <= SHOWN_CHARS // 2 else f"{text}... ({len(data)} bytes)"
    if isinstance(value, int) and value.bit_length() > 4 * SHOWN_CHARS:
        # its repr may be refused (Python limits int-to-text to 4300 digits), and is no help
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} chars)"


class ConnectorError(ReplicatorError):
    """A side failed as a whole (unreachable, unreadable)."""


class UnavailableError(ConnectorError):
    """A side is out of reach for now (a rate or token limit, an outage): a later run may
    succeed, so a cycle it stops is journaled as failed, even before the sides' checks."""


class ZohoError(ConnectorError):
    """A Zoho call failed; ``retryable`` says whether a later try may succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.retryable = status, code, retryable
        self.details = dict(details or {})


class ZohoAuthError(ZohoError):
    """OAuth refused, or the API refused a fresh token."""


class ZohoRefreshLimitError(ZohoAuthError, UnavailableError):
    """Refreshing now would exceed Zoho's access-token allowance for the refresh token."""


class ZohoLimitError(ZohoError, UnavailableError):
    """Zoho kept answering 429, or a client-side budget is spent."""


class ZohoTransportError(ZohoError, UnavailableError):
    """No usable answer: a timeout, a refused or dropped connection, a protocol error."""


class EngineError(ReplicatorError):
    """A sync cycle could not run."""


class GuardStop(EngineError):
    """A first sync stopped before pushing: it would create ``creates`` (side -> records)
    on Zoho sides, over ``limit``.  ``dry_run``: the dry run that found it (its plan)."""

    def __init__(self, creates: Mapping[str, int], limit: int, dry_run: Any = None) -> None:
        over = ", ".join(f"{n} on {side}" for side, n in sorted(creates.items()))
        super().__init__(
            f"a first sync would create {over} (more than [guard] first_sync_creates = "
            f"{limit}): nothing was pushed; look at the plan (`replicator plan`), then run "
            "`replicator sync --yes`"
        )
        self.creates, self.limit, self.dry_run = dict(creates), limit, dry_run


class DaemonError(ReplicatorError):
    """The daemon cannot start (another daemon holds the journal) or cannot be reached."""


class AssociationError(ReplicatorError):
    """A deal association a person asked for is refused: the deal or the document is not
    there, the deal is not the document's customer's, or a deal trigger owns it."""


class IntegrationUsersError(ReplicatorError):
    """An integration user change is refused: not an active CRM user, past the 1000 users,
    the transaction modules not all syncing, or no such integration user."""


class SetupError(EngineError):
    """The sides are not set up for the config; ``problems`` says each thing to change."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = f"{len(self.problems)} problems with the sides' setup:\n" + "\n".join(
                f"- {p}" for p in self.problems
            )
        super().__init__(text)


__all__ = [
    "AssociationError",
    "ConfigError",
    "ConnectorError",
    "DaemonError",
    "EngineError",
    "GuardStop",
    "IntegrationUsersError",
    "MappingError",
    "ReplicatorError",
    "SHOWN_CHARS",
    "SetupError",
    "UnavailableError",
    "ZohoAuthError",
    "ZohoError",
    "ZohoLimitError",
    "ZohoRefreshLimitError",
    "ZohoTransportError",
    "shown",
]
