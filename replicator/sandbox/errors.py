"""Errors of the sandbox, and how each one looks on the wire.

SandboxError
 +-- ApiError              an answer the emulated API gives instead of a success
 |    +-- CrmError         CRM v8 envelope: {code, details, message, status: "error"}
 |    +-- BooksError       Books v3 envelope: {code: <non-zero int>, message}
 |    +-- OAuthError       accounts server envelope: {error[, error_description]}
 |    +-- AdminError       the admin API's own envelope: {error, detail}
 +-- RecordRejected        one record of a bulk write refused (the others go on)
 +-- DropConnection        a fault: close the socket without sending any response
 +-- StoreError            the SQLite file could not be opened or written

The sandbox answers with whatever the real API answers, so each ``ApiError`` knows its HTTP
status, its JSON body and any extra headers (``Retry-After`` on a 429).  Handlers raise
them; one exception handler in :mod:`replicator.sandbox.app` turns them into responses.

Books error codes are not in the published spec, which only lists the HTTP statuses.  The
integer codes used here are the ones Zoho's Books and Invoice APIs are publicly reported to
send (see :data:`BOOKS_CODES`); where no report exists the code is ours and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response


class SandboxError(Exception):
    """Base of the sandbox's errors."""


class StoreError(SandboxError):
    """The sandbox's SQLite database could not be used."""


class DropConnection(SandboxError):
    """Raised by the fault layer: the connection is closed with no response at all."""


class RecordRejected(SandboxError):
    """One record of a CRM write refused: its entry in the per-record results."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any]) -> None:
        super().__init__(f"{code}: {message} {dict(details)}")
        self.code, self.message, self.details = code, message, dict(details)

    def result(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }


class ApiError(SandboxError):
    """An error answer of one of the emulated APIs."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


class CrmError(ApiError):
    """A CRM v8 error: ``{"code", "details", "message", "status": "error"}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.code = code
        body = {"code": code, "details": dict(details or {}), "message": message, "status": "error"}
        super().__init__(status, body, headers)


class BooksError(ApiError):
    """A Books v3 error: ``{"code": <int>, "message"}``."""

    def __init__(
        self, status: int, code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.code = code
        super().__init__(status, {"code": code, "message": message}, headers)


class OAuthError(ApiError):
    """An accounts-server error: ``{"error": ...}`` (Zoho sends most of them with HTTP 200)."""

    def __init__(
        self,
        error: str,
        *,
        status: int = 200,
        description: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.error = error
        body: dict[str, str] = {"error": error}
        if description is not None:
            body = {"error_description": description, "error": error, "status": "failure"}
        super().__init__(status, body, headers)


class AdminError(ApiError):
    """A refusal of the admin API (bad input, unknown record, not from loopback)."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(status, {"error": error, "detail": detail})


# Books codes by meaning.  "reported": seen in public reports of the live API;
# "ours": the sandbox's choice where nothing is reported.
BOOKS_CODES = {
    "invalid_param": 2,  # reported: "Invalid value passed for organization_id"
    "invalid_body": 4,  # reported: "Invalid value passed for JSONString"; ours for fields
    "invalid_url": 5,  # reported: "Invalid URL Passed"
    "unauthenticated": 14,  # reported: no or malformed Authorization header
    "method_not_allowed": 37,  # ours
    "rate_minute": 44,  # ours: the per-minute limit
    "rate_day": 45,  # reported: the daily limit
    "not_authorized": 57,  # reported: "You are not authorized to perform this operation"
    "internal": 1000,  # documented: "Internal error"
    "exists": 1001,  # ours: a duplicate name, SKU or unique custom field value
    "not_found": 1002,  # documented: "Invoice does not exist."
    "no_org": 6041,  # reported: "This user is not associated with the CompanyID..."
}


__all__ = [
    "AdminError",
    "ApiError",
    "BOOKS_CODES",
    "BooksError",
    "CrmError",
    "DropConnection",
    "OAuthError",
    "RecordRejected",
    "SandboxError",
    "StoreError",
]
