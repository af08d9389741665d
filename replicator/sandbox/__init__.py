"""Local emulators of the Zoho CRM v8 and Books v3 APIs, on one loopback port.

A client written from Zoho's published spec talks to the sandbox as it would to Zoho:
OAuth refresh, the CRM record, search, metadata and notification endpoints, the Books
contact, item and transaction endpoints, their envelopes, error codes, page limits and
rate limits.  Behind that, the admin API (``/__admin__/``) switches faults on and off,
counts requests, moves the clock, adds custom fields and edits records directly.

Entry points::

    app = create_app(data_dir, seed="demo")          # a Starlette app (ASGI)
    with Sandbox(data_dir, seed="demo") as sandbox:  # uvicorn on a free loopback port
        sandbox.url, sandbox.credentials, sandbox.admin
    run_sandbox(port=8765, data_dir="sandbox", seed="demo")   # foreground, until SIGTERM
"""

from .admin_client import AdminClient
from .app import SandboxApp, SandboxState, create_app
from .clock import Clock
from .errors import (
    AdminError,
    ApiError,
    BooksError,
    CrmError,
    DropConnection,
    OAuthError,
    RecordRejected,
    SandboxError,
    StoreError,
)
from .server import CREDENTIAL_KEYS, Sandbox, run_sandbox
from .settings import Settings

__all__ = [
    "AdminClient",
    "AdminError",
    "ApiError",
    "BooksError",
    "CREDENTIAL_KEYS",
    "Clock",
    "CrmError",
    "DropConnection",
    "OAuthError",
    "RecordRejected",
    "Sandbox",
    "SandboxApp",
    "SandboxError",
    "SandboxState",
    "Settings",
    "StoreError",
    "create_app",
    "run_sandbox",
]
