"""Per-IP limits on the HTTP intake routes (staff API, Open311, the public portal's rating).

Counted in MongoDB (`gridlink.ratelimit`) so several web processes share one budget; past it
the answer is 429 with `Retry-After` and the usual JSON error body (api/errors.py). The client
address is the one gridlink.proxy trusts (X-Forwarded-For only from TRUSTED_PROXIES). Desk
sign-ins have their own per-address budget (DESK_SIGNIN_PER_IP), whatever the username.
"""

from __future__ import annotations

from aiohttp import web

from api.errors import Handler
from api.keys import CLOCK, DB, SETTINGS
from gridlink import ratelimit
from gridlink.metrics import route_of
from gridlink.proxy import client_ip

# (method, canonical route) of every route that creates something on a citizen's or client's
# behalf; the test enumerates the router to keep this list honest.
INTAKE_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/v1/cases"),
    ("POST", "/open311/v2/requests.json"),
    ("POST", "/open311/v2/requests.xml"),
    ("POST", "/api/v1/portal/cases/{serial}/rating"),
    ("POST", "/desk/intake"),
})


async def per_client(request: web.Request, *, kind: str, limit: int, window_s: float,
                     message: str) -> None:
    """Count this request against its client address's budget of `kind` (shared by every
    process); RateLimited (429 with Retry-After) past it."""
    settings = request.config_dict[SETTINGS]
    await ratelimit.hit(request.config_dict[DB], key=f"{kind}:{client_ip(request, settings)}",
                        limit=limit, window_s=window_s, now=request.config_dict[CLOCK].now(),
                        message=message)


async def signin_throttle(request: web.Request) -> None:
    """Count one desk sign-in attempt from this client; RateLimited (429) past the budget.
    The desk's sign-in handler calls it (and answers with its page), not the middleware."""
    settings = request.app[SETTINGS]
    await per_client(request, kind="signin", limit=settings.desk_signin_per_ip,
                     window_s=settings.desk_signin_window_s,
                     message="too many sign-in attempts from this address; try again after "
                             "Retry-After seconds")


@web.middleware
async def intake_rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method == "POST" and (request.method, route_of(request)) in INTAKE_ROUTES:
        settings = request.app[SETTINGS]
        await per_client(request, kind="ip", limit=settings.rate_limit_ip_requests,
                         window_s=settings.rate_limit_ip_window_s,
                         message="too many reports from this address; try again after "
                                 "Retry-After seconds")
    return await handler(request)
