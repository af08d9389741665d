"""CRM users, as ``replicator users add`` checks an email against them.

One read through the CRM side's :class:`~.http.ApiClient` (its auth, limits and retries):
``GET /users?type=ActiveUsers`` (or ``AllUsers``), every page of 200 until
``info.more_records`` is false.  Only each user's email, name and status are kept.
"""

from __future__ import annotations

from typing import Any

import attrs

from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of

PER_PAGE = 200
MAX_PAGES = 100  # 20,000 users: past any org's size, so a server that never ends stops


@attrs.frozen
class CrmUser:
    """A CRM user: the email people are known by, the name and the status (active, ...)."""

    email: str
    name: str
    status: str


def users(client: ApiClient, *, side: str, active: bool = True) -> list[CrmUser]:
    """The CRM's users (``active``: only the active ones, as CRM's ``ActiveUsers``)."""
    found: list[CrmUser] = []
    for page in range(1, MAX_PAGES + 1):
        params = {"type": "ActiveUsers" if active else "AllUsers", "page": page}
        response = client.request(
            "GET", "/users", kind="meta", params={**params, "per_page": PER_PAGE}
        )
        if response.status_code in (204, 304):
            break
        if response.status_code >= 400:
            raise client.error(response, f"side {side}: GET /users")
        body: Any = body_of(response)
        for user in body.get("users") or []:
            if isinstance(user, dict) and isinstance(user.get("email"), str) and user["email"]:
                found.append(
                    CrmUser(
                        user["email"],
                        str(user.get("full_name") or ""),
                        str(user.get("status") or ""),
                    )
                )
        info = body.get("info") if isinstance(body, dict) else None
        if not (isinstance(info, dict) and info.get("more_records") is True):
            break
    return found


__all__ = ["CrmUser", "users"]
