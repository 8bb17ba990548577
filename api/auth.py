"""Bearer-token authentication for staff routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.keys import CLOCK, DB, SETTINGS
from cases.model import Actor
from gridlink import auth
from gridlink.errors import NotAuthenticated, PermissionDenied
from staff import audit

PRINCIPAL = "principal"


async def optional_principal(request: web.Request) -> auth.Principal | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Authorization must be 'Bearer <token>'")
    app = request.app
    return await auth.authenticate(app[DB], token=token.strip(),
                                   district=app[SETTINGS].district_code, now=app[CLOCK].now())


async def require(request: web.Request, *roles: auth.Role) -> auth.Principal:
    """The calling staff member, who must hold one of `roles` (any role when none given)."""
    principal = await optional_principal(request)
    if principal is None:
        raise NotAuthenticated("this route needs a staff token: Authorization: Bearer <token>")
    if roles and principal.role not in roles and principal.role != "admin":
        raise PermissionDenied(f"role {principal.role!r} may not do this; needs {' or '.join(roles)}")
    return principal


async def audit_change(request: web.Request, principal: auth.Principal, action: str, target: str,
                       **detail: Any) -> None:
    """An admin's change through the API in the audit log the desk's administration writes
    (staff.audit), by the token's name and marked `via: api`."""
    await audit.record(request.app[DB], by=principal.name or principal.token_id, action=action,
                       target=target, now=request.app[CLOCK].now(), tz=request.app[SETTINGS].tz,
                       detail={**detail, "via": "api"})


def actor_of(principal: auth.Principal) -> Actor:
    """The staff member as the case workflow and visibility policy know principals."""
    return Actor(role=principal.role, unit=principal.unit, name=principal.name)
