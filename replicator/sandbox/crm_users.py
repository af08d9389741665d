"""CRM v8 ``GET /users``: the org's users, by ``type`` as CRM answers it.

``AllUsers`` (the default) lists every user; ``ActiveUsers`` and ``ActiveConfirmedUsers``
the active ones; ``DeactiveUsers`` the deactivated one; ``CurrentUser`` the admin the
token belongs to.  Besides the two active users of :mod:`.crm_schema` (Sandbox Admin,
Sam Seller), the org has one deactivated user, :data:`DEACTIVATED` (Dee Parted), so that
a check of "an active CRM user" can be refused against it.  The Books organisations'
users stay the two active ones (Books lists the people who use Books).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .crm_schema import ADMIN, ID_BASE, USERS, User
from .errors import CrmError

DEACTIVATED = User(str(ID_BASE + 225029), "Dee Parted", "dee.parted@sandbox.example")
TYPES = (
    "AllUsers",
    "ActiveUsers",
    "ActiveConfirmedUsers",
    "DeactiveUsers",
    "ConfirmedUsers",
    "NotConfirmedUsers",
    "CurrentUser",
)


def _described(user: User, status: str) -> dict[str, Any]:
    return {
        "id": user.id,
        "full_name": user.full_name,
        "email": user.email,
        "first_name": user.full_name.split()[0],
        "last_name": user.full_name.split()[-1],
        "status": status,
        "confirm": True,
        "role": {"name": "CEO" if user is ADMIN else "Manager", "id": "4876876000000026005"},
        "profile": {"name": "Administrator", "id": "4876876000000026011"},
    }


async def users(request: Request) -> Response:
    kind = request.query_params.get("type", "AllUsers")
    if kind not in TYPES:
        raise CrmError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"param_name": "type", "supported_values": list(TYPES)},
        )
    active = [_described(u, "active") for u in USERS]
    inactive = [_described(DEACTIVATED, "disabled")]
    chosen = {
        "CurrentUser": [_described(ADMIN, "active")],
        "ActiveUsers": active,
        "ActiveConfirmedUsers": active,
        "DeactiveUsers": inactive,
        "NotConfirmedUsers": [],
    }.get(kind, active + inactive)
    if not chosen:
        return Response(status_code=204)
    return JSONResponse(
        {
            "users": chosen,
            "info": {"per_page": 200, "count": len(chosen), "page": 1, "more_records": False},
        }
    )


__all__ = ["DEACTIVATED", "users"]
