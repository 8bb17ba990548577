"""Per-IP limits on the HTTP intake routes (staff API, Open311, the public portal's rating).

Counted in MongoDB (`gridlink.ratelimit`) so several web processes share one budget; past it
the answer is 429 with `Retry-After` and the usual JSON error body (api/errors.py).
"""

from __future__ import annotations

from aiohttp import web

from api.errors import Handler
from api.keys import CLOCK, DB, SETTINGS
from gridlink import ratelimit

# (method, canonical route) of every route that creates something on a citizen's or client's
# behalf; the test enumerates the router to keep this list honest.
INTAKE_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/v1/cases"),
    ("POST", "/open311/v2/requests.json"),
    ("POST", "/open311/v2/requests.xml"),
    ("POST", "/api/v1/portal/cases/{serial}/rating"),
    ("POST", "/desk/intake"),
})


def _route_of(request: web.Request) -> str | None:
    route = request.match_info.route
    resource = route.resource
    return None if resource is None else resource.canonical


@web.middleware
async def intake_rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST" and (request.method, _route_of(request) or "") in INTAKE_ROUTES:
        settings = request.app[SETTINGS]
        await ratelimit.hit(
            request.app[DB], key=f"ip:{request.remote or '?'}", limit=settings.rate_limit_ip_requests,
            window_s=settings.rate_limit_ip_window_s, now=request.app[CLOCK].now(),
            message="too many reports from this address; try again after Retry-After seconds")
    return await handler(request)
