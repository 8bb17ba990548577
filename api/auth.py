"""Bearer-token authentication for staff routes."""

from __future__ import annotations

from aiohttp import web

from api.keys import CLOCK, DB, SETTINGS
from cases.model import Actor
from gridlink import auth
from gridlink.errors import NotAuthenticated, PermissionDenied

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


def actor_of(principal: auth.Principal) -> Actor:
    """The staff member as the case workflow and visibility policy know principals."""
    return Actor(role=principal.role, unit=principal.unit, name=principal.name)
